"""The embedded demo: seeded traders sign, commit and reveal over several batches.

Everything is deterministic from one integer seed: keys, orders, salts and the
simulated clock, so two runs print the same batches. Two markets trade; in
each batch one trader commits and never reveals (its bond is forfeited) and
one reveals an order that does not match its commitment (rejected).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from auction.batch import BatchResult, RestingOrder, clear_batch
from auction.commit_reveal import (
    BatchWindows,
    Commit,
    CommitBook,
    NonceRegistry,
    Reveal,
    SignedCommit,
    compute_commitment,
)
from auction.errors import AuctionError
from auction.markets import DEFAULT_MARKETS, Market
from auction.orders import Order, Side, TimeInForce
from crypto.eip712 import Address, Eip712Domain, address_of
from crypto.keccak import keccak256

__all__ = ["DemoBatch", "DemoConfig", "DemoTrader", "run_demo"]

#: Starting reference prices in ticks: 65,000.0 USD and 3,500.00 USD.
START_PRICES: dict[str, int] = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}

BOND = 1_000_000  # 1 USDC in base units (6 decimals)


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


@dataclass(frozen=True)
class DemoBatch:
    """One demo batch: the cleared result and what was refused along the way."""

    result: BatchResult
    commitments: int
    rejected_commits: tuple[tuple[str, str], ...]
    rejected_reveals: tuple[tuple[str, str], ...]
    references: Mapping[str, int | None]


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
    traders = demo_traders(config.seed, config.traders)
    nonces = NonceRegistry()
    next_nonce = {t.address: 0 for t in traders}
    references: dict[str, int | None] = dict(START_PRICES)
    carried: list[RestingOrder] = []
    period = config.commit_ms + config.reveal_ms

    for batch_id in range(1, config.batches + 1):
        t0 = batch_id * period
        windows = BatchWindows(t0, t0 + config.commit_ms, t0 + period)
        book = CommitBook(
            batch_id, config.markets, domain, operator_key, windows, dict(references), nonces
        )
        pending: list[tuple[DemoTrader, Reveal]] = []
        rejected_commits: list[tuple[str, str]] = []
        withholder = traders[batch_id % len(traders)]
        mismatcher = traders[(batch_id + 3) % len(traders)]
        clock = t0
        for trader in traders:
            for _ in range(rng.randint(1, 2)):
                market = rng.choice(sorted(config.markets))
                ref = references[market] or START_PRICES[market]
                order = _random_order(rng, market, ref)
                salt = rng.randbytes(32)
                nonce = next_nonce[trader.address]
                next_nonce[trader.address] += 1
                cm = compute_commitment(domain, order, salt, trader.address, nonce)
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
        result = clear_batch(sealed, config.markets, references, carried)
        yield DemoBatch(
            result,
            len(sealed.receipts),
            tuple(rejected_commits),
            tuple(rejected_reveals),
            dict(references),
        )
        carried = list(result.carried)
        for market_id, m in result.markets.items():
            if m.price is not None:
                references[market_id] = m.price
