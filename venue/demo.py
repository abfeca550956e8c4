"""The embedded demo: seeded traders sign, commit and reveal over several batches,
and every batch is settled.

Everything is deterministic from one integer seed: keys, orders, salts, oracle
reports and the simulated clock, so two runs print the same batches and the
same state roots. Two markets trade; in each batch one trader commits and
never reveals (its bond is forfeited to the insurance fund) and one reveals an
order that does not match its commitment (rejected). Traders deposit
collateral first; one of them is thinly funded, so the initial-margin check
at reveal refuses some of its orders. Each batch is settled with
:func:`sealbatch.settlement.transition.apply_batch` against a signed oracle round of two
families of two sources each.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from sealbatch.auction.batch import BatchResult, RestingOrder, clear_batch
from sealbatch.auction.commit_reveal import (
    BatchWindows,
    Commit,
    CommitBook,
    NonceRegistry,
    Reveal,
    SignedCommit,
    compute_commitment,
)
from sealbatch.auction.errors import AuctionError
from sealbatch.auction.markets import DEFAULT_MARKETS, Market
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import Address, Eip712Domain, address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.ledger import AccountKey, LedgerState, deposit, empty_state
from sealbatch.settlement.margin import RevealMarginCheck
from sealbatch.settlement.oracle import (
    OracleConfig,
    OracleRound,
    OracleSource,
    PriceReport,
    SignedReport,
)
from sealbatch.settlement.params import SettlementConfig, default_config
from sealbatch.settlement.transition import BatchWitness, apply_batch, reference_prices

__all__ = [
    "DemoBatch",
    "DemoConfig",
    "DemoTrader",
    "demo_oracle",
    "demo_settlement_config",
    "run_demo",
]

#: The traders' starting fair prices in ticks: 65,000.0 USD and 3,500.00 USD (what the
#: first batch's orders are quoted around; not a clearing reference: a market has none
#: before its first mark).
START_PRICES: dict[str, int] = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}

BOND = 1_000_000  # 1 USDC in base units (6 decimals)
COLLATERAL = 10_000_000_000  # 10 000 USDC per trader
THIN_COLLATERAL = 150_000_000  # 150 USDC for the last trader: some orders break margin
LEVERED_COLLATERAL = 700_000_000  # 700 USDC behind a 100-lot BTC long: about 9x leverage
LEVERED_LOTS = 100
ORACLE_FAMILIES = ("exchanges", "aggregators")


@dataclass(frozen=True)
class DemoTrader:
    name: str
    key: bytes
    address: Address


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 2026
    batches: int = 4
    traders: int = 8
    commit_ms: int = 1_000
    reveal_ms: int = 300
    markets: Mapping[str, Market] = field(default_factory=lambda: dict(DEFAULT_MARKETS))
    funding_interval_batches: int = 2
    #: In this batch BTC-PERP's fair price (what traders quote around and the
    #: oracle reports) moves by ``shock_bps``; the levered long opened in batch 1
    #: then falls below maintenance and is liquidated in the next batch.
    shock_batch: int = 3
    shock_bps: int = -650

    def all_traders(self) -> list[DemoTrader]:
        """The random-flow traders, then the two scripted ones (levered long, its seller)."""
        return demo_traders(self.seed, self.traders + 2)


@dataclass(frozen=True)
class DemoBatch:
    """One demo batch: the cleared result and what was refused along the way."""

    result: BatchResult
    commitments: int
    rejected_commits: tuple[tuple[str, str], ...]
    rejected_reveals: tuple[tuple[str, str], ...]
    references: Mapping[str, int | None]
    oracle_round: OracleRound
    pre_state: LedgerState
    post_state: LedgerState
    witness: BatchWitness


def demo_settlement_config(config: DemoConfig) -> SettlementConfig:
    """The embedded settlement rules, with a funding interval short enough to show."""
    base = default_config(config.markets)
    return replace(
        base,
        markets=tuple(
            replace(r, funding_interval_batches=config.funding_interval_batches)
            for r in base.markets
        ),
    )


def demo_oracle(seed: int) -> tuple[OracleConfig, list[bytes]]:
    """Two families of two sources each, keys ``keccak("sealbatch demo oracle", seed, i)``."""
    keys = [
        keccak256(b"sealbatch demo oracle", seed.to_bytes(8, "big"), i.to_bytes(4, "big"))
        for i in range(4)
    ]
    sources = tuple(
        OracleSource(address_of(k), ORACLE_FAMILIES[i // 2]) for i, k in enumerate(keys)
    )
    return OracleConfig(sources), keys


def _oracle_round(
    rng: random.Random, keys: list[bytes], round_id: int, now_ms: int, prices: Mapping[str, int]
) -> OracleRound:
    reports = []
    for market in sorted(prices):
        for key in keys:
            # each source sees the market within about ±0.03 % of the last price
            price = max(1, prices[market] + rng.randint(-3, 3) * prices[market] // 10_000)
            at = now_ms - rng.randint(0, 400)
            reports.append(SignedReport.sign(PriceReport(market, price, at, address_of(key)), key))
    return OracleRound(round_id, now_ms, tuple(reports))


def demo_traders(seed: int, count: int) -> list[DemoTrader]:
    """Deterministic trader keys: ``keccak("sealbatch demo", seed, i)``."""
    names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
    out = []
    for i in range(count):
        key = keccak256(b"sealbatch demo trader", seed.to_bytes(8, "big"), i.to_bytes(4, "big"))
        name = names[i] if i < len(names) else f"trader{i}"
        out.append(DemoTrader(name, key, address_of(key)))
    return out


def _random_order(rng: random.Random, market: str, reference: int) -> Order:
    side = rng.choice((Side.BUY, Side.SELL))
    if rng.random() < 0.1:
        return Order(market, side, None, rng.randint(1, 20))
    # Buyers bid a little below the reference on average, sellers ask a little above,
    # with enough spread across traders that the books cross.
    offset = rng.randint(-40, 60) * reference // 100_000  # about -0.04% .. +0.06%
    limit = reference + offset if side is Side.BUY else reference - offset
    tif = TimeInForce.GTC if rng.random() < 0.3 else TimeInForce.IOC
    return Order(market, side, max(limit, 1), rng.randint(1, 50), tif)


def run_demo(config: DemoConfig) -> Iterator[DemoBatch]:
    """Run the demo batches one by one (a generator: print as they clear)."""
    rng = random.Random(config.seed)
    domain = Eip712Domain(chain_id=31337)
    operator_key = keccak256(b"sealbatch demo operator", config.seed.to_bytes(8, "big"))
    everyone = config.all_traders()
    traders, (levered, seller) = everyone[:-2], everyone[-2:]
    nonces = NonceRegistry()
    next_nonce = {t.address: 0 for t in everyone}
    last_prices: dict[str, int] = dict(START_PRICES)  # what the traders quote around
    carried: list[RestingOrder] = []
    period = config.commit_ms + config.reveal_ms
    settle_cfg = demo_settlement_config(config)
    oracle_cfg, oracle_keys = demo_oracle(config.seed)
    state = empty_state(settle_cfg)
    for i, t in enumerate(traders):
        amount = THIN_COLLATERAL if i == len(traders) - 1 else COLLATERAL
        state = deposit(state, AccountKey(t.address, 0), amount)
    state = deposit(state, AccountKey(levered.address, 0), LEVERED_COLLATERAL)
    state = deposit(state, AccountKey(seller.address, 0), COLLATERAL)

    for batch_id in range(1, config.batches + 1):
        # The clearing reference is each market's mark, and none before a first mark:
        # the first batch clears at the midpoint of its optimal prices (the transition
        # and the proof take no other reference; the start prices only seed the flow).
        references = reference_prices(state)
        t0 = batch_id * period
        windows = BatchWindows(t0, t0 + config.commit_ms, t0 + period)
        book = CommitBook(
            batch_id,
            config.markets,
            domain,
            operator_key,
            windows,
            dict(references),
            nonces,
            reveal_check=RevealMarginCheck(state, settle_cfg, resting=carried),
        )
        pending: list[tuple[DemoTrader, Reveal]] = []
        rejected_commits: list[tuple[str, str]] = []
        withholder = traders[batch_id % len(traders)]
        mismatcher = traders[(batch_id + 3) % len(traders)]
        fair = {m: last_prices[m] for m in sorted(config.markets)}
        if batch_id == config.shock_batch and "BTC-PERP" in fair:
            fair["BTC-PERP"] += fair["BTC-PERP"] * config.shock_bps // 10_000
        flow: list[tuple[DemoTrader, Order]] = []
        if batch_id == 1 and "BTC-PERP" in fair:
            # The levered long and the trader who sells it to them, both keen to trade.
            ref = fair["BTC-PERP"]
            flow.append((levered, Order("BTC-PERP", Side.BUY, ref + ref // 500, LEVERED_LOTS)))
            flow.append((seller, Order("BTC-PERP", Side.SELL, ref - ref // 500, LEVERED_LOTS)))
        for trader in traders:
            for _ in range(rng.randint(1, 2)):
                market = rng.choice(sorted(config.markets))
                flow.append((trader, _random_order(rng, market, fair[market])))
        clock = t0
        for trader, order in flow:
            market = order.market
            salt = rng.randbytes(32)
            nonce = next_nonce[trader.address]
            next_nonce[trader.address] += 1
            cm = compute_commitment(order, salt, trader.address, batch_id)
            commit = Commit(trader.address, batch_id, market, cm, nonce, 0, BOND, t0 + period)
            clock += rng.randint(1, 40)
            book.commit(SignedCommit.sign(commit, trader.key, domain), clock)
            pending.append((trader, Reveal(cm, order, salt)))
        # A replayed commitment (same signed message again) is refused.
        first_trader, first = pending[0]
        replay = Commit(first_trader.address, batch_id, first.order.market, first.commitment, 0)
        try:
            book.commit(SignedCommit.sign(replay, first_trader.key, domain), clock + 1)
        except AuctionError as err:
            rejected_commits.append((first_trader.name, f"{err.code}: {err}"))

        rejected_reveals: list[tuple[str, str]] = []
        clock = windows.commit_close_ms
        for trader, reveal in pending:
            clock += rng.randint(1, 5)
            if trader is withholder:
                continue  # never reveals: the bond is forfeited
            if trader is mismatcher:
                lie = reveal.order.with_quantity(reveal.order.quantity + 100)
                try:
                    book.reveal(Reveal(reveal.commitment, lie, reveal.salt), clock)
                except AuctionError as err:
                    rejected_reveals.append((trader.name, f"{err.code}: {err}"))
                continue
            try:
                book.reveal(reveal, clock)
            except AuctionError as err:
                rejected_reveals.append((trader.name, f"{err.code}: {err}"))
        sealed = book.close(windows.reveal_close_ms)
        liquidations = [lo.resting for lo in state.pending_liquidations]
        result = clear_batch(sealed, config.markets, references, carried + liquidations)
        oracle_round = _oracle_round(rng, oracle_keys, batch_id, t0 + period, fair)
        post, witness = apply_batch(state, result, oracle_round, settle_cfg, oracle_cfg)
        yield DemoBatch(
            result,
            len(sealed.receipts),
            tuple(rejected_commits),
            tuple(rejected_reveals),
            dict(references),
            oracle_round,
            state,
            post,
            witness,
        )
        state = post
        # The transition capped and re-checked the GTC remainders (the root binds them).
        carried = list(post.resting_orders)
        for market_id, m in result.markets.items():
            if m.price is not None:
                last_prices[market_id] = m.price
