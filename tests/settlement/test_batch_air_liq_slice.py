"""Statement 4 in the batch AIR: each cross-margin account's liquidation slices are
``plan_liquidations``'s (:mod:`sealbatch.settlement.batch_air.liq_slice`): its initial
requirement per market at the indexes, the notional order at the indexes, the last staged
slice at most the ceiling of the shortfall, and ``per_lot`` a derived public input at the
index.

The first tests take test_batch_air_margin's crash: account 0 (long 100 BTC lots) is
below maintenance. The initial requirement is not published (it is a figure of the prover's
witness, like the maintenance requirement), so each forgery edits the honest trace: an
initial requirement one unit off that still satisfies the digit identity (``δ`` moved by
``maintenance_bps``) leaves its remainder out of ``[0, 10 000 × maintenance_bps)``, and
the AIR names the constraint or the range lookup that fails.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.orders import Side
from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.solidity import compile_constraints
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.headers import _margin_at
from sealbatch.settlement.batch_air.limbs import AMOUNT_DIGITS
from sealbatch.settlement.batch_air.liq_slice import initial_witness
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.settle_witness import SettleStatement
from sealbatch.settlement.batch_air.statement import (
    BatchStatement,
)
from sealbatch.settlement.ledger import LedgerState, LiquidationOrder
from sealbatch.settlement.liquidation import _limit, liquidation_order_id
from sealbatch.settlement.margin import cross_requirements
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG
from tests.settlement.batch_air_helpers import (
    BTC,
    CRASHED,
    ETH,
    check_all,
    column,
    crash_publication,
    marked_state,
    proved,
    refused_and_rejected,
    republish,
    settle_public_at,
    statement_of,
    with_public,
)


def _initial(air: Air, trace: np.ndarray, j: int, row: int) -> int:
    return sum(
        int(trace[column(air, f"slice.i{j}[{k}]"), row]) << (12 * k) for k in range(AMOUNT_DIGITS)
    )


def test_the_initial_requirements_are_cross_requirements(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """Every account's proved initial requirements add up to ``cross_requirements``'s
    initial requirement at the post-state marks, and the trace satisfies the AIR."""
    statement, air, trace = margin_honest
    check_all(air, trace)
    post, m = statement.post, len(statement.markets)
    marks = np.array([ms.mark_price for ms in post.market_states], dtype=np.int64)
    want = cross_requirements(post.positions, marks, DEFAULT_CONFIG).initial
    got = [sum(_initial(air, trace, j, a) for j in range(m)) for a in range(len(post.accounts))]
    assert got == [int(v) for v in want]
    assert got[0] > 0


def test_the_initial_bps_are_part_of_the_program(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """Another tier's initial bps is another AIR (the verifier builds it from the
    published configuration); tier 0's is a public input (the margin terms')."""
    statement, _, _ = margin_honest
    bps = statement.liquidation_initial_bps
    other = dataclasses.replace(
        statement, liquidation_initial_bps=((bps[0][0], 2_001, *bps[0][2:]), bps[1])
    )
    air_a, _ = build_with_layout(rows_for(statement), statement)
    air_o, _ = build_with_layout(rows_for(other), other)
    assert compile_constraints(air_a).code != compile_constraints(air_o).code


def _forged(air: Air, trace: np.ndarray, statement: BatchStatement, step: int) -> np.ndarray:
    """Account 1's BTC initial requirement (short 200 lots, not staged: no slice reads
    it) moved by ``step`` with ``δ`` moved by ``step × maintenance_bps`` (the digit
    identity still holds)."""
    j, row = 0, 1
    size = abs(int(statement.settle_witness.positions_post[row, j]))
    k_mult = statement.settle.margins[j].mark * statement.settle.markets[j].multiplier
    tier = next(t for t, (lots, _) in enumerate(statement.settle.margins[j].tiers) if size <= lots)
    mbps = statement.settle.margins[j].tiers[tier][1]
    ibps = statement.liquidation_initial_bps[j][tier]
    x = size * k_mult * mbps
    q = -(-x // BPS)
    honest_wit = initial_witness(size * k_mult, ibps, mbps, q, BPS * q - x)
    big_i = honest_wit["I"] + step
    delta = mbps * big_i - ibps * q
    rem = BPS * delta + (BPS * q - x) * ibps
    room = BPS * mbps - 1 - rem
    out = trace.copy()
    for name, value, count in (
        ("i", big_i, AMOUNT_DIGITS),
        ("delta", delta + BPS, 2),
        ("rem", rem, 3),
        ("room", room, 3),
    ):
        for k in range(count):
            digit = (value >> (12 * k)) % 4096 if k < count - 1 else value >> (12 * k)
            out[column(air, f"slice.{name}{j}[{k}]"), row] = digit % P
    return out


@pytest.mark.parametrize("step", [1, -1])
def test_an_initial_requirement_one_off_is_rejected(
    margin_honest: tuple[BatchStatement, Air, np.ndarray], step: int
) -> None:
    """One unit more: the remainder reaches 10 000 × maintenance bps (its room goes
    negative); one unit less: the remainder goes negative. Every polynomial constraint
    still holds; only the range lookups of those digits cannot balance the bus."""
    statement, air, trace = margin_honest
    forged = _forged(air, trace, statement, step)
    assert _initial(air, forged, 0, 1) == _initial(air, trace, 0, 1) + step
    air.check_trace(forged)  # the identities hold
    with pytest.raises(ConstraintViolation, match=r"bus: Σ = −public sum"):
        check_all(air, forged)


def test_an_initial_requirement_off_the_identity_is_rejected(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """One unit more with ``δ`` left as it was: the digit identity fails."""
    _, air, trace = margin_honest
    out = trace.copy()
    at = column(air, "slice.i0[0]")
    out[at, 1] = (int(out[at, 1]) + 1) % P
    with pytest.raises(ConstraintViolation, match=r"initial requirement \[0\] \(digit"):
        check_all(air, out)


# --------------------------------------------------------------------------
# The slice: account 0 long 5 BTC and 10 ETH lots, 10 M of equity after the crash
# (initial requirement 62.1 M, shortfall 52.1 M): ETH first (notional 322 M against BTC's
# 299 M), clamped at its 10 lots (32.2 M at per_lot 3.22 M), then BTC ⌈19.9 M / 5.98 M⌉
# = 4 lots. With 30 M of equity (shortfall 32.1 M) ETH's 10 lots cover it: no BTC order.
# --------------------------------------------------------------------------


def _two_market(equity: int) -> dict[str, str]:
    pre = marked_state(
        [equity, 10**12, 10**12, 10**12], np.array([[5, 10], [-5, -10], [0, 0], [0, 0]])
    )
    return crash_publication(pre)[0]


@pytest.fixture(scope="module")
def split() -> dict[str, str]:
    return _two_market(64_000_000)


@pytest.fixture(scope="module")
def covered() -> dict[str, str]:
    return _two_market(84_000_000)


def _slices(post: LedgerState) -> dict[str, int]:
    return {lo.resting.order.market: lo.resting.order.quantity for lo in post.pending_liquidations}


def _with_slices(post: LedgerState, slices: dict[str, int]) -> LedgerState:
    """Account 0's liquidation orders with the quantities ``slices`` (a market missing:
    no order; a new one: a copy of the first order in it, at the rule's limit)."""
    (first, *_) = post.pending_liquidations
    out = []
    for market, qty in slices.items():
        lo = next((x for x in post.pending_liquidations if x.resting.order.market == market), None)
        if lo is None:
            ms = next(m for m in post.market_states if m.market == market)
            risk = next(r for r in DEFAULT_CONFIG.markets if r.market_id == market)
            order = replace(
                first.resting.order,
                market=market,
                limit_price=_limit(ms.mark_price, ms.index_price, Side.SELL, risk.max_slippage_bps),
            )
            oid = liquidation_order_id(post.batch_id, first.account, market)  # the rule's
            lo = LiquidationOrder(first.account, replace(first.resting, order=order, order_id=oid))
        order = replace(lo.resting.order, quantity=qty)
        out.append(replace(lo, resting=replace(lo.resting, order=order)))
    return replace(post, pending_liquidations=tuple(out))


def test_a_shortfall_split_across_two_markets_is_proved(split: dict[str, str]) -> None:
    """ETH (the larger notional) clamped at the position, BTC the ceiling of the rest."""
    statement = statement_of(split)
    assert _slices(statement.post) == {ETH: 10, BTC: 4}
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)
    assert int(trace[column(air, "slice.w01"), 0]) == 0  # ETH before BTC
    assert [int(trace[column(air, f"slice.clamp{j}"), 0]) for j in range(2)] == [0, 1]
    assert int(trace[column(air, "slice.v"), 0]) == 1  # BTC unclamped: the shortfall ran out


def test_a_shortfall_one_market_covers_is_proved(covered: dict[str, str]) -> None:
    statement = statement_of(covered)
    assert _slices(statement.post) == {ETH: 10}
    proved(statement)


_CEILING = r"the last slice at most the ceiling"
_RAN_OUT = r"the shortfall runs out"
_BTC = r"account row 0 in BTC-PERP: expected a slice of 4 lots .*"


@pytest.mark.parametrize(
    ("slices", "refused", "rejected"),
    [
        # one lot larger in BTC: (5 − 1) × 5.98 M ≥ 19.9 M
        ({ETH: 10, BTC: 5}, _BTC + "got 5", _CEILING),
        # one lot smaller: unclamped, and 19.9 M − 3 × 5.98 M is still owed
        ({ETH: 10, BTC: 3}, _BTC + "got 3", _RAN_OUT),
        # the order swapped (BTC first: 5, then ETH ⌈22.2 M / 3.22 M⌉ = 7)
        ({BTC: 5, ETH: 7}, _BTC + "got 5", r"unclamped slice \[1\] is the last"),
        # per_lot from tier 1 (2 000 bps: 6.44 M): ETH 9 lots cover 52.1 M, no BTC order
        ({ETH: 9}, _BTC + "got 0", _RAN_OUT),
    ],
)
def test_a_slice_off_the_rule_is_refused_and_rejected(
    split: dict[str, str], slices: dict[str, int], refused: str, rejected: str
) -> None:
    forged = statement_of(republish(split, lambda post: _with_slices(post, slices)))
    refused_and_rejected(forged, refused, rejected)


def test_an_order_the_shortfall_no_longer_reaches_is_refused_and_rejected(
    covered: dict[str, str],
) -> None:
    """ETH's 10 lots leave the shortfall at −0.1 M: a 1-lot BTC order is one too many."""
    forged = statement_of(republish(covered, lambda post: _with_slices(post, {ETH: 10, BTC: 1})))
    refused_and_rejected(forged, r"in BTC-PERP: expected a slice of 0 lots .*got 1", _CEILING)


# --------------------------------------------------------------------------
# per_lot: a derived public input (the verifier's and Exchange.sol's) from the margin
# terms' index price, which the headers section pins to the post-state's, and tier 0's
# initial bps, which the initial requirement reads
# --------------------------------------------------------------------------


def test_per_lot_is_the_rules_at_the_proved_index(split: dict[str, str]) -> None:
    """The public per_lot digits are ``plan_liquidations``'s ``max(1, ⌊index × multiplier
    × initial_bps₀ / 10 000⌋)`` at the post-state index (ETH 3.22 M, BTC 5.98 M)."""
    statement = statement_of(split)
    ix = statement.settle.derived_index(settle_public_at(statement), 3)
    for j, risk in enumerate(DEFAULT_CONFIG.markets[: len(statement.markets)]):
        index = statement.post.market_states[j].index_price
        want = max(1, index * risk.multiplier * risk.tiers[0].initial_bps // BPS)
        got = sum(int(statement.public_inputs[ix.per_lot(j) + k]) << (12 * k) for k in range(5))
        assert got == want
    assert statement.settle.margins[1].initial_bps == DEFAULT_CONFIG.markets[1].tiers[0].initial_bps


def test_a_per_lot_off_the_mark_is_rejected(split: dict[str, str]) -> None:
    """ETH's public per_lot doubled (tier 1's 2 000 bps instead of tier 0's, 6.44 M): ETH's
    honest 10 lots now count for 64.4 M, beyond the ceiling of the 52.1 M shortfall, and
    leave BTC's 4 lots beyond that of a negative one (the first constraint to fail); the
    verifier, which derives per_lot from the statement's index and bps, refuses the
    elements before any proof."""
    statement = statement_of(split)
    start = settle_public_at(statement)
    ix = statement.settle.derived_index(start, 3)
    margin = statement.settle.margins[1]
    doubled = 2 * max(1, margin.index_mark * statement.settle.markets[1].multiplier * 1_000 // BPS)
    digits = [(doubled >> (12 * k)) % 4096 for k in range(5)]
    forged = with_public(statement, ix.per_lot(1), digits)
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match=r"the last slice at most the ceiling"):
        check_all(air, trace)
    elements = forged.public_inputs[start:]
    with pytest.raises(ValueError, match="derived values"):
        SettleStatement.from_elements(elements)


def test_a_tier_0_initial_bps_off_the_terms_is_rejected(split: dict[str, str]) -> None:
    """ETH's tier 0 initial bps in the public margin terms one more than the honest
    witness's: the initial requirement identity the AIR reads it in fails."""
    statement = statement_of(split)
    at = settle_public_at(statement) + _margin_at(statement, 1)
    at += 4 + 2 * len(statement.settle.margins[1].tiers)
    assert statement.public_inputs[at] == statement.settle.margins[1].initial_bps
    forged = with_public(statement, at, [statement.public_inputs[at] + 1])
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match=r"initial (remainder|requirement) \[1\]"):
        check_all(air, trace)


# --------------------------------------------------------------------------
# The slice is counted at the index, not the mark. The crash with a 1-lot BTC print 1 %
# above the crashed index (598 000): the mark is 598 598, one step above it. Account 0,
# long 100 BTC lots with 185 M of equity after the crash, owes 598 M − 185 M = 413 M toward
# initial margin: ⌈413 M / 5 980 000⌉ = 70 lots at the index, where at the mark (per_lot
# 5 985 980) it would be 69.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def printed() -> dict[str, str]:
    pre = marked_state(
        [705_000_000, 10**12, 10**12, 10**12], np.array([[100, 0], [-100, 0], [0, 0], [0, 0]])
    )
    return crash_publication(pre, {BTC: 603_980, ETH: CRASHED[ETH]})[0]


def test_a_slice_is_sized_at_the_index_and_proved(printed: dict[str, str]) -> None:
    statement = statement_of(printed)
    btc = statement.post.market_states[0]
    assert (btc.mark_price, btc.index_price) == (598_598, 598_000)
    assert _slices(statement.post) == {BTC: 70}
    proved(statement)


def test_a_slice_sized_at_the_mark_is_refused_and_rejected(printed: dict[str, str]) -> None:
    """69 lots, the slice at the mark: 413 M − 69 × 5.98 M is still owed, the slice is
    neither the position nor the cap, and the shortfall has not run out."""
    forged = statement_of(republish(printed, lambda post: _with_slices(post, {BTC: 69})))
    refused_and_rejected(
        forged, r"account row 0 in BTC-PERP: expected a slice of 70 lots .*got 69", _RAN_OUT
    )


def test_a_per_lot_at_the_mark_is_refused(printed: dict[str, str]) -> None:
    """The public per_lot digits at the mark (5 985 980) instead of the index: the
    verifier, which derives them from the margin terms' index price, refuses the
    statement's elements before any proof (as the exchange contract does, whose check is
    the same derivation: tests/contracts/test_exchange.py)."""
    statement = statement_of(printed)
    start = settle_public_at(statement)
    ix = statement.settle.derived_index(start, 3)
    at_mark = 598_598 * 100 * 1_000 // BPS
    digits = [(at_mark >> (12 * k)) % 4096 for k in range(5)]
    assert [statement.public_inputs[ix.per_lot(0) + k] for k in range(5)] != digits
    forged = with_public(statement, ix.per_lot(0), digits)
    with pytest.raises(ValueError, match="derived values"):
        SettleStatement.from_elements(forged.public_inputs[start:])


# The notional order at the index: account 0 long 161 BTC and 299 ETH lots, 9 627.8 M of
# notional each at the crashed indexes (a tie: BTC, the first market, is sold first), 900 M
# of equity after the crash: 1 025.56 M short of initial margin, so BTC's 161 lots (962.78
# M) then ⌈62.78 M / 3.22 M⌉ = 20 ETH lots. A 1-lot ETH print 1 % above its index steps
# ETH's mark up: at the marks ETH came first, 299 lots, then 11 BTC lots.


@pytest.fixture(scope="module")
def tied() -> dict[str, str]:
    pre = marked_state(
        [2_574_400_000, 10**13, 10**12, 10**12],
        np.array([[161, 299], [-161, -299], [0, 0], [0, 0]]),
    )
    return crash_publication(pre, {BTC: CRASHED[BTC], ETH: 325_220})[0]


def test_the_notional_order_is_at_the_index_and_proved(tied: dict[str, str]) -> None:
    statement = statement_of(tied)
    eth = statement.post.market_states[1]
    assert (eth.mark_price, eth.index_price) == (322_322, 322_000)
    assert _slices(statement.post) == {BTC: 161, ETH: 20}
    proved(statement)


def test_slices_in_the_order_at_the_marks_are_refused_and_rejected(tied: dict[str, str]) -> None:
    """ETH first (its notional at the mark is the larger), 299 lots, then BTC 11: BTC's
    slice is no longer clamped, and a staged market follows it in the order at the index."""
    forged = statement_of(republish(tied, lambda post: _with_slices(post, {ETH: 299, BTC: 11})))
    refused_and_rejected(
        forged,
        r"account row 0 in BTC-PERP: expected a slice of 161 lots .*got 11",
        r"unclamped slice \[0\] is the last",
    )
