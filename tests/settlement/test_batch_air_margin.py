"""Statement 4 in the batch AIR: margin after the batch at the indexes, and liquidation
staging for exactly the accounts below maintenance there.

The batch: a published folder where an 8 % crash leaves one leveraged long below
maintenance (staged for liquidation), a two-market account healthy, a portfolio account
healthy. Each forgery is written with the prover's ``refuse=False`` path so that the
AIR itself rejects it, and the test names the statement that catches it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air.air import rows_for
from sealbatch.settlement.batch_air.limbs import DIGIT
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.settle_witness import SettleStatement
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.ledger import LedgerState, LiquidationOrder, equity
from sealbatch.settlement.margin import requirements
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG
from tests.settlement.batch_air_helpers import (
    CRASHED,
    MARGIN_BOOK,
    PRICES,
    check_all,
    column,
    crash_publication,
    margin_pre,
    refused_and_rejected,
    republish,
    statement_of,
)
from tests.settlement.conftest import funded, key


def test_the_batch_stages_exactly_the_account_below_maintenance(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    statement, air, trace = margin_honest
    post = statement.post
    idx = np.array([ms.index_price or ms.mark_price for ms in post.market_states])
    eq = equity(post, DEFAULT_CONFIG, idx)
    req = requirements(post, DEFAULT_CONFIG, idx)
    below = [r for r in range(post.size) if eq[r] < req.maintenance[r]]
    # the batch exercises the rule: one account below, positions held by healthy ones
    assert below == [0] and [r for r, _ in statement.settle_witness.staged] == [0]
    assert post.positions[4].all() and post.portfolio[5]
    check_all(air, trace)
    flags = trace[column(air, "health.index.below"), : post.size]
    assert flags.tolist() == [int(r in below) for r in range(post.size)]
    # the AIR's maintenance digits are margin.py's requirement, rounded up alike
    q = sum(int(trace[column(air, f"health.index.q[0][{k}]"), 0]) << (12 * k) for k in range(6))
    assert q == int(req.maintenance[0])


def _unstaged(post: LedgerState) -> LedgerState:
    return replace(post, pending_liquidations=())


def _healthy_staged(post: LedgerState) -> LedgerState:
    """Account 4 (healthy) staged with a liquidation order like account 0's."""
    lo = post.pending_liquidations[0]
    resting = replace(lo.resting, trader=key(4).address)
    extra = LiquidationOrder(key(4), resting)
    return replace(post, pending_liquidations=(*post.pending_liquidations, extra))


@pytest.mark.parametrize(
    "change",
    [_unstaged, _healthy_staged],
    ids=["under-margined-not-liquidated", "healthy-liquidated"],
)
def test_a_wrong_staging_is_caught_by_statement_4(
    margin_files: dict[str, str], change: Callable[[LedgerState], LedgerState]
) -> None:
    """The operator publishes a post-state whose pending liquidation orders leave out
    the account below maintenance, or add one for a healthy account (its root and
    header recomputed: every other statement holds)."""
    forged = statement_of(republish(margin_files, change))
    refused_and_rejected(forged, "statement 4", "statement 4: staged for liquidation iff")


def test_a_wrong_maintenance_is_caught_by_statement_4(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """A maintenance requirement one unit lower (rounded down, not up), or taken from a
    cheaper tier than the position's size."""
    _, air, honest_trace = margin_honest
    trace = honest_trace.copy()
    trace[column(air, "health.index.q[0][0]"), 0] -= 1
    with pytest.raises(ConstraintViolation, match="statement 4: maintenance \\[0\\] at index"):
        check_all(air, trace)
    trace = honest_trace.copy()  # account 4 (100 lots, tier 0) claims tier 1
    trace[column(air, "health.tier[0][0]"), 4] = 0
    trace[column(air, "health.tier[0][1]"), 4] = 1
    with pytest.raises(ConstraintViolation, match="statement 4: position \\[0\\]"):
        check_all(air, trace)


def test_an_equity_off_by_one_is_caught_by_statement_4(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """The staged account's shortfall one unit off; an account at exactly zero distance
    (a padding row) claimed below maintenance (a negative zero)."""
    statement, air, honest_trace = margin_honest
    trace = honest_trace.copy()
    d = [column(air, f"health.index.d[{k}]") for k in range(6)]
    trace[d[0], 0] = (int(trace[d[0], 0]) + 1) % DIGIT
    total = sum(int(trace[c, 0]) for c in d)  # the non-zero helper kept consistent
    trace[column(air, "health.index.d_inv"), 0] = pow(total, P - 2, P)
    with pytest.raises(ConstraintViolation, match="statement 4: equity against maintenance"):
        check_all(air, trace)
    trace = honest_trace.copy()
    pad = statement.settle.n_post
    trace[column(air, "health.index.below"), pad] = 1
    with pytest.raises(ConstraintViolation, match="statement 4: below maintenance at index"):
        check_all(air, trace)


def test_a_limb_out_of_range_in_the_health_section_is_caught_by_the_range_check(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """The staged account's shortfall written with a digit of 2^12 + d and the next one
    lower (its carry and inverse helper adjusted): the same integer, every polynomial
    constraint holds — only the 12-bit range lookup refuses it."""
    _, air, honest_trace = margin_honest
    trace = honest_trace.copy()
    d = [column(air, f"health.index.d[{k}]") for k in range(6)]
    assert trace[column(air, "health.index.below"), 0] == 1 and trace[d[1], 0] > 0
    trace[d[0], 0] += DIGIT
    trace[d[1], 0] -= 1
    trace[column(air, "health.index.d_carry[0][0]"), 0] += 1
    total = sum(int(trace[c, 0]) for c in d)
    trace[column(air, "health.index.d_inv"), 0] = pow(total, P - 2, P)
    # the liquidation slice reads the shortfall's digits too (liq_slice.py): its carries
    # out of digit 0 move by the same unit (+1 in the last slice's ceiling identity, −v in
    # the shortfall-ran-out one)
    v = int(trace[column(air, "slice.v"), 0])
    for name, delta in (("slice.gac[0]", 1), ("slice.gec[0]", -v)):
        lo, hi = column(air, f"{name}.lo"), column(air, f"{name}.hi")
        carry = int(trace[lo, 0]) + DIGIT * int(trace[hi, 0]) + delta
        trace[lo, 0], trace[hi, 0] = carry % DIGIT, carry // DIGIT
    air.check_trace(trace)  # every polynomial constraint still holds
    with pytest.raises(ConstraintViolation, match="bus: Σ = −public sum"):
        check_all(air, trace)


def test_a_staged_account_left_out_of_the_trace_fails_its_liquidation_orders(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """A staged account receives its liquidation orders from the post-state root's
    pending records: a trace that does not stage it fails."""
    _, air, honest_trace = margin_honest
    trace = honest_trace.copy()
    trace[column(air, "health.staged"), 0] = 0
    with pytest.raises(ConstraintViolation):
        check_all(air, trace)


# --- the boundary: the indexes decide, the marks do not -----------------------------------


def _boundary_publication(
    collateral_shift: int, print_bps: int = -50
) -> tuple[dict[str, str], LedgerState]:
    """The crash batch with prints ``print_bps`` off the index (the mark steps that way)
    and a sixth account, a 100-lot long, whose collateral is moved by ``collateral_shift``."""
    prints = {m: p * (BPS + print_bps) // BPS for m, p in CRASHED.items()}
    base = margin_pre()
    s = funded([1] * (len(MARGIN_BOOK) + 1))
    pos = np.zeros((len(MARGIN_BOOK) + 1, 2), dtype=np.int64)
    pos[: len(MARGIN_BOOK)] = base.positions
    pos[1, 0] -= 100
    pos[6, 0] = 100
    coll = np.zeros(len(MARGIN_BOOK) + 1, dtype=np.int64)
    coll[: len(MARGIN_BOOK)] = base.collateral
    coll[1] += 100 * PRICES["BTC-PERP"] * DEFAULT_CONFIG.markets[0].multiplier
    coll[6] = 10**9 + collateral_shift
    pre = s.with_arrays(
        collateral=coll,
        positions=pos,
        portfolio=np.array([b[2] for b in MARGIN_BOOK] + [False]),
        market_states=base.market_states,
        batch_id=0,
        timestamp_ms=10_000,
    )
    return crash_publication(pre, prints)


def _at_index(post: LedgerState) -> tuple[int, int]:
    idx = np.array([ms.index_price or ms.mark_price for ms in post.market_states])
    eq = equity(post, DEFAULT_CONFIG, idx)
    need = requirements(post, DEFAULT_CONFIG, idx).maintenance
    return int(eq[6]), int(need[6])


def _below_at_marks(post: LedgerState) -> bool:
    return bool(equity(post, DEFAULT_CONFIG)[6] < requirements(post, DEFAULT_CONFIG).maintenance[6])


def _stage_6(p: LedgerState) -> LedgerState:
    lo = p.pending_liquidations[0]
    extra = LiquidationOrder(key(6), replace(lo.resting, trader=key(6).address))
    return replace(p, pending_liquidations=(*p.pending_liquidations, extra))


def _unstage_6(p: LedgerState) -> LedgerState:
    kept = tuple(lo for lo in p.pending_liquidations if lo.account != key(6))
    return replace(p, pending_liquidations=kept)


@pytest.fixture(scope="module")
def boundary() -> tuple[dict[str, str], LedgerState]:
    """Account 6 exactly at maintenance at the indexes; prints 0.5 % below the index."""
    _, first = _boundary_publication(0)
    eq, need = _at_index(first)
    return _boundary_publication(need - eq)


@pytest.fixture(scope="module")
def above_the_index() -> tuple[dict[str, str], LedgerState]:
    """Account 6 one unit below maintenance at the indexes; prints 0.5 % above the index."""
    _, first = _boundary_publication(0, 50)
    eq, need = _at_index(first)
    return _boundary_publication(need - eq - 1, 50)


def test_an_account_below_maintenance_at_the_marks_only_is_not_staged(
    boundary: tuple[dict[str, str], LedgerState],
) -> None:
    """Account 6 sits exactly at maintenance at the indexes (healthy) and below it at
    the marks (a print below the index stepped the mark down): the rule does not stage
    it, and a post-state that stages it is caught by statement 4."""
    files, post = boundary
    eq, need = _at_index(post)
    assert eq == need and _below_at_marks(post)
    statement = statement_of(files)
    assert [r for r, _ in statement.settle_witness.staged] == [0]
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)
    assert trace[column(air, "health.index.below"), 6] == 0
    assert all(trace[column(air, f"health.index.d[{k}]"), 6] == 0 for k in range(6))
    forged = statement_of(republish(files, _stage_6))
    refused_and_rejected(forged, "statement 4", "statement 4: staged for liquidation iff")


def test_an_account_below_maintenance_at_the_indexes_only_is_staged(
    above_the_index: tuple[dict[str, str], LedgerState],
) -> None:
    """Account 6 is one unit below maintenance at the indexes and above it at the marks
    (a print above the index stepped the mark up): the rule stages it — its slice sized
    by the shortfall at the indexes — the honest trace holds, and a post-state that
    leaves it out is caught by statement 4."""
    files, post = above_the_index
    eq, need = _at_index(post)
    assert eq == need - 1 and not _below_at_marks(post)
    statement = statement_of(files)
    assert [r for r, _ in statement.settle_witness.staged] == [0, 6]
    assert [lo.resting.order.quantity for lo in post.pending_liquidations][1] >= 1
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)
    assert trace[column(air, "health.index.below"), 6] == 1
    forged = statement_of(republish(files, _unstage_6))
    refused_and_rejected(forged, "statement 4", "statement 4: staged for liquidation iff")


def test_an_equity_one_below_the_boundary_is_caught_by_statement_4(
    boundary: tuple[dict[str, str], LedgerState],
) -> None:
    """At the boundary (equity = maintenance at the indexes) a prover claims a
    shortfall of one base unit, so that the account would be staged."""
    files, _ = boundary
    statement = statement_of(files)
    air, trace = generate(statement, rows_for(statement))
    d = [column(air, f"health.index.d[{k}]") for k in range(6)]
    trace[column(air, "health.index.below"), 6] = 1
    trace[d[0], 6] = 1
    trace[column(air, "health.index.d_inv"), 6] = 1
    with pytest.raises(
        ConstraintViolation, match="statement 4: equity against maintenance at index"
    ):
        check_all(air, trace)


def test_margin_terms_round_trip_and_malformed_ones_are_refused(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """The margin terms travel in the public inputs; a flag that is not a bit, a tier of
    0 bps or a price beyond 2^30 is refused when the statement is read (nothing is built
    from it). The staged accounts do not: the post-state root's liquidation orders say."""
    statement, _, _ = margin_honest
    st = statement.settle
    elements = list(st.to_elements())
    again, used = SettleStatement.from_elements(elements)
    assert again == st and used == len(elements)
    m = len(st.markets)
    first = 4 + 16 + 6 * 4 + 8 * m  # the first market's margin terms
    assert elements[first : first + 4] == [
        st.margins[0].mark,
        st.margins[0].index_mark,
        0,
        len(st.margins[0].tiers),
    ]
    cases = {
        first + 2: (2, "flag bit"),
        first + 5: (0, "1 to 10 000 bps"),
        first: (1 << 30, "below 2\\^30"),
    }
    for index, (value, message) in cases.items():
        bad = list(elements)
        bad[index] = value
        with pytest.raises(ValueError, match=message):
            SettleStatement.from_elements(bad)
