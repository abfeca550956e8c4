"""Shared helpers of the batch AIR tests: a small settled batch, full trace checks."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from sealbatch.auction.batch import BatchResult, RestingOrder, clear_batch
from sealbatch.auction.commit_reveal import Forfeit, RevealedOrder, SealedBatch
from sealbatch.auction.commitment import commitment_root, compute_commitment
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import Air
from sealbatch.crypto.eip712 import Address
from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.poseidon2 import hash_elements
from sealbatch.settlement.batch_air.statement import BatchStatement, statement_from_files
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.ledger import AccountKey
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round

BTC, ETH = "BTC-PERP", "ETH-PERP"


def small_batch_files(
    orders: Sequence[tuple[Address, Order]] | None = None,
    refs: Mapping[str, int | None] | None = None,
    forfeit_at: Sequence[int] = (),
    committed: Mapping[int, Order] | None = None,
) -> dict[str, str]:
    """A settled batch in two markets (by default: a rationed margin, market orders).

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
    refs = refs or {BTC: 650_000, ETH: 350_000}
    batch = committed_batch(1, orders, refs, forfeit_at, committed)
    state = funded([10**12] * len(TRADERS))
    rnd = oracle_round(1, 1_000, {BTC: 650_000, ETH: 350_000})
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
    t = TRADERS
    orders = [
        (t[0], Order(BTC, Side.BUY, 650_010, 5)),
        (t[1], Order(BTC, Side.SELL, 649_990, 5)),
        (t[2], Order(ETH, Side.BUY, None, 2)),
        (t[3], Order(ETH, Side.SELL, 350_000, 2)),
    ]
    batch = committed_batch(1, orders, {BTC: 650_000, ETH: 350_000})
    state = funded([10**12] * 6)
    rnd = oracle_round(1, 1_000, {BTC: 650_000, ETH: 350_000})
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


def check_all(air: Air, trace: np.ndarray, seed: int = 1) -> None:
    """Check every constraint, the bus included, with random challenges."""
    rng = random.Random(seed)
    drawn = [Fp4.of(tuple(rng.randrange(P) for _ in range(4))) for _ in range(air.num_challenges)]
    challenges = air.challenge_values(drawn)
    aux = air.build_aux(trace, challenges)
    air.check_trace(trace, aux, challenges)
