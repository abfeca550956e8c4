"""The pro-rata tie-break in the batch AIR (statement S7, :mod:`.tiekeys`): among
marginal orders whose remainders tie at the threshold, the leftover lots go to the
smallest Poseidon2 keys ``compress(seed, order id)``. Each forgery is refused by the
prover and, when it skips that refusal, rejected by the constraint named after S7."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

import sealbatch.auction.batch as auction_batch
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.poseidon2_ints import compress_ints
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.clearing import tied_count
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.errors import BatchStatementError
from tests.settlement.batch_air_helpers import BTC, ETH, check_all, small_batch_files, statement_of
from tests.settlement.conftest import TRADERS

T = TRADERS
# BTC: order 0 (650 010 ×5) is better than the margin and fills; orders 1–3 buy 3 lots
# each at the marginal 650 000 and share the R = 4 lots left: ⌊3·4/9⌋ = 1 each, all
# three with remainder 3, and the one leftover lot goes to the smallest key.
TIED_ORDERS = [
    (T[0], Order(BTC, Side.BUY, 650_010, 5)),
    (T[1], Order(BTC, Side.BUY, 650_000, 3)),
    (T[2], Order(BTC, Side.BUY, 650_000, 3)),
    (T[5], Order(BTC, Side.BUY, 650_000, 3)),
    (T[3], Order(BTC, Side.SELL, 649_990, 7)),
    (T[4], Order(BTC, Side.SELL, None, 2)),
    (T[0], Order(ETH, Side.BUY, None, 2)),
    (T[1], Order(ETH, Side.SELL, 350_000, 1)),
    (T[2], Order(ETH, Side.SELL, 350_010, 4)),
]


@pytest.fixture(scope="module")
def honest() -> BatchStatement:
    return statement_of(small_batch_files(TIED_ORDERS))


@pytest.fixture(scope="module")
def wrong_winner() -> BatchStatement:
    """The same batch cleared by an operator who hands the leftover lot to the tied order
    with the *largest* key (its allocation's keys inverted), published consistently."""
    original = auction_batch.tiebreak_key

    def inverted(seed: bytes, order_id: bytes) -> bytes:
        return bytes(255 - v for v in original(seed, order_id))

    patch = pytest.MonkeyPatch()
    patch.setattr(auction_batch, "tiebreak_key", inverted)
    patch.setattr(auction_batch, "tiebreak_keys", lambda s, ids: [inverted(s, i) for i in ids])
    try:
        return statement_of(small_batch_files(TIED_ORDERS))
    finally:
        patch.undo()


def _tied(statement: BatchStatement) -> Iterator[tuple[int, list[int]]]:
    """(fill, tie-break key) of the three tied BTC orders; the seed is public inputs 19–26."""
    seed = list(statement.public_inputs[19:27])
    for o in statement.orders:
        if o.market == 0 and o.has_limit and o.is_buy and o.limit == 650_000:
            yield o.fill, compress_ints(seed, list(o.id_elements()))


def _winner_rank(pairs: Sequence[tuple[int, list[int]]]) -> int:
    ranked = sorted(pairs, key=lambda p: p[1])
    return next(i for i, (fill, _) in enumerate(ranked) if fill == 2)


def test_the_honest_tie_is_proved_with_one_key_row_per_tied_order(
    honest: BatchStatement,
) -> None:
    pairs = list(_tied(honest))
    assert sorted(f for f, _ in pairs) == [1, 1, 2]
    assert _winner_rank(pairs) == 0  # the smallest key won the leftover lot
    assert tied_count(honest) == 3
    air, trace = generate(honest, rows_for(honest))
    check_all(air, trace)
    _, layout = build_with_layout(rows_for(honest), honest)
    tk = trace[layout.column("ctree", "tk")]
    assert int(tk.sum()) == 3


def test_a_leftover_lot_to_the_wrong_tied_order_is_caught_by_s7_tie_break(
    wrong_winner: BatchStatement,
) -> None:
    pairs = list(_tied(wrong_winner))
    assert sorted(f for f, _ in pairs) == [1, 1, 2]
    assert _winner_rank(pairs) == 2  # the operator gave it to the largest key
    rows = rows_for(wrong_winner)
    with pytest.raises(BatchStatementError, match="S7 tie-break"):
        generate(wrong_winner, rows)
    air, trace = generate(wrong_winner, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match="S7 tie-break"):
        check_all(air, trace)


def test_a_key_row_with_another_seed_is_rejected(honest: BatchStatement) -> None:
    """The operator computes the keys under a seed of its choosing (one that ranks its
    favourite first): the key row's seed is pinned to the commitment root."""
    rows = rows_for(honest)
    air, layout = build_with_layout(rows, honest)
    _, trace = generate(honest, rows)
    tk = trace[layout.column("ctree", "tk")]
    row = int(tk.nonzero()[0][0])
    forged = trace.copy()
    forged[layout.column("ctree", "l0"), row] = int(forged[layout.column("ctree", "l0"), row]) + 1
    with pytest.raises(ConstraintViolation, match="S7 tie-break: the seed is the root"):
        check_all(air, forged)


def test_key_rows_out_of_key_order_are_rejected(honest: BatchStatement) -> None:
    """Swapping two key rows (so that the winner sits after a loser with a smaller key)
    breaks the rows' order: the sorted comparison fails."""
    rows = rows_for(honest)
    air, layout = build_with_layout(rows, honest)
    _, trace = generate(honest, rows)
    tk = trace[layout.column("ctree", "tk")]
    first, second = (int(r) for r in tk.nonzero()[0][:2])
    forged = trace.copy()
    names = [f"{p}{k}" for p in "lro" for k in range(16 if p == "o" else 8)]
    for name in [*names, "tk_mkt", "tk_bonus"]:
        i = layout.column("ctree", name)
        forged[i, first], forged[i, second] = trace[i, second], trace[i, first]
    with pytest.raises(ConstraintViolation, match=r"S7 tie-break|bus"):
        check_all(air, forged)
