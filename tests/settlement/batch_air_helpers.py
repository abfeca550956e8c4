"""Shared helpers of the batch AIR tests: small settled batches, the 8 % crash batch, the
pre-states they settle over, republished forgeries and full trace checks."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.batch import BatchResult, RestingOrder, clear_batch
from sealbatch.auction.commit_reveal import Forfeit, RevealedOrder, SealedBatch
from sealbatch.auction.commitment import commitment_root, compute_commitment
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.eip712 import Address
from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.poseidon2 import hash_elements
from sealbatch.settlement.batch_air import settle_air
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.settle_witness import SettleStatement, SettleWitness
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
    statement_from_files,
)
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.config_digest import config_digest
from sealbatch.settlement.errors import BatchStatementError
from sealbatch.settlement.ledger import AccountKey, LedgerState, MarketState
from sealbatch.settlement.oracle import OracleRound
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.snapshot import config_from_dict, state_from_dict, state_to_dict
from sealbatch.settlement.transition import apply_batch, reference_prices
from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round

BTC, ETH = "BTC-PERP", "ETH-PERP"
PRICES = {BTC: 650_000, ETH: 350_000}
#: PRICES after an 8 % crash (the oracle round of the crash batch).
CRASHED = {m: p * (BPS - 800) // BPS for m, p in PRICES.items()}
#: The settlement AIR's trace length and bus challenges in the tests that build it alone.
SETTLE_ROWS = 4096
SETTLE_CHALLENGES = [Fp4.of((11, 22, 33, 44)), Fp4.of((5, 6, 7, 8))]


def with_marks(state: LedgerState, marks: Mapping[str, int | None]) -> LedgerState:
    """``state`` with each market's mark at ``marks[m]`` (0 for None): the state a batch
    cleared around the references ``marks`` settles on (the reference is the pre-state's
    mark, and none before a first mark)."""
    ms = tuple(replace(m, mark_price=marks.get(m.market) or 0) for m in state.market_states)
    return state.with_arrays(market_states=ms)


def small_batch_files(
    orders: Sequence[tuple[Address, Order]] | None = None,
    refs: Mapping[str, int | None] | None = None,
    forfeit_at: Sequence[int] = (),
    committed: Mapping[int, Order] | None = None,
) -> dict[str, str]:
    """A settled batch in two markets (by default: a rationed margin, market orders),
    cleared around ``refs`` (PRICES by default) on a pre-state whose marks they are.

    ``committed`` forges it: order ``i`` keeps the commitment (id and salt) of
    ``committed[i]`` — what its trader signed — while the batch clears and
    settles the order given (what a dishonest operator publishes)."""
    t = TRADERS
    orders = orders or [
        (t[0], Order(BTC, Side.BUY, 650_010, 5)),
        (t[1], Order(BTC, Side.BUY, 650_000, 4)),
        (t[2], Order(BTC, Side.BUY, 650_000, 6)),
        (t[3], Order(BTC, Side.SELL, 649_990, 7)),
        (t[4], Order(BTC, Side.SELL, None, 3)),
        (t[5], Order(BTC, Side.SELL, 650_050, 2)),
        (t[0], Order(ETH, Side.BUY, None, 2)),
        (t[1], Order(ETH, Side.SELL, 350_000, 1)),
        (t[2], Order(ETH, Side.SELL, 350_010, 4)),
    ]
    refs = refs or PRICES
    batch = committed_batch(1, orders, refs, forfeit_at, committed)
    state = with_marks(funded([10**12] * len(TRADERS)), refs)
    rnd = oracle_round(1, 1_000, PRICES)
    post, _ = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
    pub = BatchPublication(batch, rnd, state, post)
    return pub.files(DEFAULT_CONFIG, ORACLE)


def transfer_batch_files(
    deposits: Sequence[tuple[AccountKey, int]],
    withdrawals: Sequence[tuple[AccountKey, int]] = (),
    blocks: Sequence[BlockTrade] = (),
) -> dict[str, str]:
    """The default batch of :func:`small_batch_files` with L1 ``deposits``, RFQ ``blocks``
    and ``withdrawals`` settled in it (a deposit may open a new account)."""
    batch = crossing_batch()
    state = funded([10**12] * 6)
    rnd = oracle_round(1, 1_000, PRICES)
    post, _ = apply_batch(
        state,
        batch,
        rnd,
        DEFAULT_CONFIG,
        ORACLE,
        deposits=deposits,
        blocks=blocks,
        withdrawals=withdrawals,
    )
    pub = BatchPublication(
        batch, rnd, state, post, tuple(deposits), tuple(blocks), tuple(withdrawals)
    )
    return pub.files(DEFAULT_CONFIG, ORACLE)


def crossing_batch() -> BatchResult:
    """Batch 1: TRADERS[0] buys 5 BTC-PERP lots of TRADERS[1], TRADERS[2] 2 ETH-PERP lots
    (at market) of TRADERS[3]; a first batch (no marks yet), cleared without a reference
    at the midpoints 650 000 and 350 000."""
    t = TRADERS
    orders = [
        (t[0], Order(BTC, Side.BUY, 650_010, 5)),
        (t[1], Order(BTC, Side.SELL, 649_990, 5)),
        (t[2], Order(ETH, Side.BUY, None, 2)),
        (t[3], Order(ETH, Side.SELL, 350_000, 2)),
    ]
    return committed_batch(1, orders, {BTC: None, ETH: None})


def marked_state(equity: Sequence[int], positions: np.ndarray, **arrays: object) -> LedgerState:
    """Accounts ``0 … n-1`` holding ``positions`` with ``equity`` each at marks and indexes
    PRICES (no last price), batch 0 at t = 10 000 ms; ``arrays`` sets further fields."""
    s = funded([1] * len(equity))
    marks = np.array([PRICES[m] for m in DEFAULT_CONFIG.market_ids], dtype=np.int64)
    mult = np.array([r.multiplier for r in DEFAULT_CONFIG.markets], dtype=np.int64)
    pos = np.asarray(positions, dtype=np.int64)
    ms = tuple(
        replace(m, mark_price=PRICES[m.market], index_price=PRICES[m.market], last_price=0)
        for m in s.market_states
    )
    return s.with_arrays(
        collateral=np.array(equity, dtype=np.int64) - (pos * marks * mult).sum(axis=1),
        positions=pos,
        market_states=ms,
        batch_id=0,
        timestamp_ms=10_000,
        **arrays,
    )


def crash_inputs(prints: Mapping[str, int] = CRASHED) -> tuple[BatchResult, OracleRound]:
    """The crash, batch 1: TRADERS[2] buys one lot of TRADERS[3] at ``prints[m]`` in each
    market (references PRICES), under an oracle round at CRASHED (t = 20 000 ms)."""
    t = TRADERS
    orders = [
        o
        for m, p in prints.items()
        for o in ((t[2], Order(m, Side.BUY, p, 1)), (t[3], Order(m, Side.SELL, p, 1)))
    ]
    return committed_batch(1, orders, PRICES), oracle_round(1, 20_000, CRASHED)


def crash_publication(
    pre: LedgerState, prints: Mapping[str, int] = CRASHED
) -> tuple[dict[str, str], LedgerState]:
    """The published folder of the crash batch (:func:`crash_inputs`) over ``pre``, and
    its post-state."""
    batch, rnd = crash_inputs(prints)
    post, _ = apply_batch(pre, batch, rnd, DEFAULT_CONFIG, ORACLE)
    return BatchPublication(batch, rnd, pre, post).files(DEFAULT_CONFIG, ORACLE), post


def republish(
    files: Mapping[str, str], change: Callable[[LedgerState], LedgerState]
) -> dict[str, str]:
    """The folder with ``post_state.json`` replaced by ``change(post)`` (its root recomputed)."""
    doc = json.loads(files["post_state.json"])
    config = config_from_dict(doc["config"])
    post = change(state_from_dict(doc, config))
    return {**files, "post_state.json": json.dumps(state_to_dict(post, config))}


#: (equity at PRICES, positions, portfolio) of the margin crash: 0 is a leveraged long an
#: 8 % drop takes below maintenance; 1 the short against it; 2 and 3 print the crashed
#: prices; 4 holds both markets and stays healthy; 5 is a healthy portfolio-margin short.
MARGIN_BOOK = [
    (700_000_000, [100, 0], False),
    (10**12, [-200, 0], False),
    (10**12, [0, 0], False),
    (10**12, [0, 0], False),
    (3 * 10**9, [100, 50], False),
    (10**11, [0, -50], True),
]


def margin_pre() -> LedgerState:
    """The accounts of MARGIN_BOOK at marks PRICES (:func:`marked_state`)."""
    return marked_state(
        [b[0] for b in MARGIN_BOOK],
        np.array([b[1] for b in MARGIN_BOOK]),
        portfolio=np.array([b[2] for b in MARGIN_BOOK]),
    )


def margin_crash_files() -> dict[str, str]:
    """The published folder of the crash batch over :func:`margin_pre`: account 0 is
    below maintenance and staged for liquidation with one sell order."""
    return crash_publication(margin_pre())[0]


def healthy_state() -> LedgerState:
    """Six accounts of 10^12 each, no position, no price yet."""
    return funded([10**12] * 6)


def halted_btc_state() -> LedgerState:
    """:func:`healthy_state` with BTC-PERP's last trusted index at t = 1 000 (PRICES): the
    market is halted in a batch later than the oracle's maximum price age."""
    state = healthy_state()
    ms = tuple(
        replace(m, index_price=PRICES[m.market], index_time_ms=1_000) if m.market == BTC else m
        for m in state.market_states
    )
    return state.with_arrays(market_states=ms)


def committed_batch(
    batch_id: int,
    orders: Sequence[tuple[Address, Order]],
    refs: Mapping[str, int | None],
    forfeit_at: Sequence[int] = (),
    committed: Mapping[int, Order] | None = None,
    carried_in: Sequence[RestingOrder] = (),
    forfeit_markets: Sequence[str] = (),
    published_markets: Mapping[int, str] | None = None,
    leaf_markets: Mapping[int, str] | None = None,
) -> BatchResult:
    """Clear ``orders`` as revealed under real Poseidon2 commitments, with unrevealed
    commitments at the receipt sequence numbers ``forfeit_at``; the seed is their root.
    ``carried_in``: the pending orders of the pre-state (liquidation orders, GTC rests).

    Forfeit ``k`` commits in (its trader signs) ``forfeit_markets[k]`` (BTC-PERP by
    default). Forgeries: ``published_markets[k]`` publishes forfeit ``k`` under another
    market than the one its leaf binds; ``leaf_markets[i]`` builds revealed order ``i``'s
    leaf with another market than the one it committed to."""
    total = len(orders) + len(forfeit_at)
    free = iter(n for n in range(total) if n not in set(forfeit_at))
    revealed = []
    for n, (t, o) in enumerate(orders):
        salt = keccak256(b"batch air test salt", n.to_bytes(4, "big"))
        seq = next(free)
        commitment = compute_commitment((committed or {}).get(n, o), salt, t, batch_id)
        revealed.append(RevealedOrder(commitment, t, o, seq, n, 0, 500 + n, salt))
    # the leaves bind the markets published (a forger of ``committed`` builds its root so)
    slots: dict[int, tuple[bytes, str, str, int]] = {
        r.sequence: (r.commitment, (leaf_markets or {}).get(n, r.order.market), r.trader, r.bond)
        for n, r in enumerate(revealed)
    }
    lost = []
    for k, seq in enumerate(forfeit_at):
        market = forfeit_markets[k] if k < len(forfeit_markets) else BTC
        o = Order(market, Side.BUY, 650_000 if market == BTC else 350_000, 1)
        salt = keccak256(b"batch air test forfeit", k.to_bytes(4, "big"))
        trader = TRADERS[k]
        commitment = compute_commitment(o, salt, trader, batch_id)
        published = (published_markets or {}).get(k, market)
        lost.append(Forfeit(commitment, trader, published, seq, 1000))
        slots[seq] = (commitment, market, trader, 1000)
    leaves = [slots[n] for n in range(total)]
    seed = commitment_root([c for c, _, _, _ in leaves], [m for _, m, _, _ in leaves],
                           [t for _, _, t, _ in leaves], [b for _, _, _, b in leaves])  # fmt: skip
    sealed = SealedBatch(batch_id, seed, (), tuple(revealed), tuple(lost), ())
    return clear_batch(sealed, DEFAULT_CONFIG.auction_markets, dict(refs), carried_in)


def statement_of(files: Mapping[str, str]) -> BatchStatement:
    return statement_from_files(files)


def with_output_blocks(
    statement: BatchStatement, blocks: Sequence[tuple[int, ...]]
) -> BatchStatement:
    """The statement of a batch whose result.json lists ``blocks``: the verifier's outputs
    digest (public inputs 35–42) is the hash of exactly those blocks."""
    digest = [int(v) for v in hash_elements([v for b in blocks for v in b])]
    public = list(statement.public_inputs)
    public[35:43] = digest
    return replace(
        statement,
        output_blocks=tuple(blocks),
        output_fills=blocks[0][5],
        public_inputs=tuple(public),
    )


def settle_public_at(statement: BatchStatement, offset: int = 0) -> int:
    """The public input index of element ``offset`` of ``statement``'s settlement
    statement (it follows the header and the per-market block)."""
    return PUBLIC_HEADER + PUBLIC_PER_MARKET * len(statement.markets) + offset


def with_public(statement: BatchStatement, at: int, values: Sequence[int]) -> BatchStatement:
    """``statement`` with public inputs ``at …`` replaced by ``values`` (a forged
    statement: the verifier's own would differ)."""
    public = list(statement.public_inputs)
    public[at : at + len(values)] = values
    return replace(statement, public_inputs=tuple(public))


def column(air: Air, name: str) -> int:
    """The index of ``air``'s column ``name``."""
    return air.column_names.index(name)


def generated(files: Mapping[str, str]) -> tuple[BatchStatement, Air, np.ndarray]:
    """The statement of the published ``files``, and the AIR and honest trace of its proof."""
    statement = statement_of(files)
    air, trace = generate(statement, rows_for(statement))
    return statement, air, trace


def proved(statement: BatchStatement) -> None:
    """The prover writes a trace for ``statement`` and it satisfies every constraint."""
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)


def refused_and_rejected(
    forged: BatchStatement,
    refused: str,
    rejected: str,
    error: type[Exception] = BatchStatementError,
) -> None:
    """The prover refuses ``forged`` raising ``error`` matching ``refused``; written anyway
    (``refuse=False``), its trace is rejected with a violation matching ``rejected``."""
    rows = rows_for(forged)
    with pytest.raises(error, match=refused):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match=rejected):
        check_all(air, trace)


def settle_trace(
    st: SettleStatement, sw: SettleWitness, *, refuse: bool = True
) -> tuple[Air, np.ndarray]:
    """The settlement AIR alone over SETTLE_ROWS rows and its main trace for ``sw``."""
    main, public = settle_air.generate(st, sw, SETTLE_ROWS, refuse=refuse)
    return settle_air.build(SETTLE_ROWS, public), main


def check_settle(air: Air, main: np.ndarray) -> None:
    """Every constraint of the settlement AIR, the bus (range checks, permutations,
    tuples) included, under SETTLE_CHALLENGES."""
    air.check_trace(main)
    challenges = air.challenge_values(SETTLE_CHALLENGES)
    air.check_trace(main, air.build_aux(main, challenges), challenges)


def check_all(air: Air, trace: np.ndarray, seed: int = 1) -> None:
    """Check every constraint, the bus included, with random challenges."""
    rng = random.Random(seed)
    drawn = [Fp4.of(tuple(rng.randrange(P) for _ in range(4))) for _ in range(air.num_challenges)]
    challenges = air.challenge_values(drawn)
    aux = air.build_aux(trace, challenges)
    air.check_trace(trace, aux, challenges)


# --------------------------------------------------------------------------
# One BTC-PERP batch over a chosen pre-state (the mark and breaker rules' tests)
# --------------------------------------------------------------------------

#: A forgery of the post-state's BTC-PERP market state.
MarketEdit = Callable[[MarketState], MarketState]


def btc_book(price: int) -> list[tuple[Address, Order]]:
    """A BTC book that clears 5 lots at ``price``; ETH does not trade."""
    return [
        (TRADERS[0], Order(BTC, Side.BUY, price, 5)),
        (TRADERS[1], Order(BTC, Side.SELL, price, 5)),
    ]


def with_btc(state: LedgerState, **fields: int | bool) -> LedgerState:
    """``state`` with BTC-PERP's market state ``fields`` set."""
    ms = tuple(replace(m, **fields) if m.market == BTC else m for m in state.market_states)
    return state.with_arrays(market_states=ms)


def btc_config(**risk: int) -> SettlementConfig:
    """DEFAULT_CONFIG with BTC-PERP's risk terms ``risk`` set (what an operator publishes
    to settle under terms other than the exchange's)."""
    j = DEFAULT_CONFIG.column(BTC)
    markets = list(DEFAULT_CONFIG.markets)
    markets[j] = replace(markets[j], **risk)
    return replace(DEFAULT_CONFIG, markets=tuple(markets))


def btc_batch(
    pre: LedgerState,
    orders: Sequence[tuple[Address, Order]],
    oracle: Mapping[str, int] = PRICES,
    edit: MarketEdit | None = None,
    config: SettlementConfig = DEFAULT_CONFIG,
) -> BatchStatement:
    """One batch over ``pre`` (references: its marks, none without) under an oracle round
    at ``oracle``; ``edit`` forges the post-state's BTC-PERP market state, published
    consistently. ``pre`` is taken to run under ``config`` (its root commits to that
    config's digest), as an operator settling under other terms would have to state."""
    pre = replace(pre, config_digest=config_digest(config))
    batch = committed_batch(1, orders, reference_prices(pre))
    rnd = oracle_round(1, 1_000, oracle)
    post, _ = apply_batch(pre, batch, rnd, config, ORACLE)
    if edit is not None:
        post = post.with_arrays(
            market_states=tuple(edit(ms) if ms.market == BTC else ms for ms in post.market_states)
        )
    return statement_of(BatchPublication(batch, rnd, pre, post).files(config, ORACLE))


def btc_state(statement: BatchStatement) -> MarketState:
    """BTC-PERP's post-state market state."""
    return statement.post.market_states[statement.markets.index(BTC)]


def rejected_by_deployed(
    statement: BatchStatement, deployed: BatchStatement, rejected: str
) -> None:
    """The operator's own trace of ``statement`` (settled under its published terms) is
    rejected by the program of ``deployed`` (the exchange's terms), with a violation
    matching ``rejected``."""
    rows = rows_for(statement)
    air, _ = build_with_layout(rows, deployed)
    _, trace = generate(statement, rows)
    with pytest.raises(ConstraintViolation, match=rejected):
        check_all(air, trace)
