"""Liquidation penalties in the settlement AIR (statement 3): each liquidation fill owes
``⌈notional × penalty_bps / 10 000⌉``, an account pays ``min(Σ owed, max(equity, 0))``
(equity at the new marks before penalties) to the insurance fund. The batch is the
demo's fourth, whose liquidation order fills, settled at the demo's penalty rate (the
equity covers the penalty) and at ten times it (the equity caps it). Each forgery is
refused by the prover and rejected by the AIR, naming the statement that caught it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air import settle_air
from sealbatch.settlement.batch_air.settle_witness import (
    MarketTerms,
    SettleStatement,
    SettleWitness,
    settle_inputs,
)
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.params import BPS, SettlementConfig
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.transition import BatchWitness, apply_batch
from sealbatch.venue.demo import DemoConfig, demo_oracle, demo_settlement_config, run_demo
from tests.settlement.batch_air_helpers import (
    SETTLE_CHALLENGES,
    SETTLE_ROWS,
    check_settle,
    column,
    settle_trace,
)

Settled = tuple[BatchWitness, SettlementConfig]


@pytest.fixture(scope="module")
def demo_batch() -> tuple[object, SettlementConfig, object]:
    config = DemoConfig()
    settle, (oracle, _) = demo_settlement_config(config), demo_oracle(config.seed)
    return list(run_demo(config))[3], settle, oracle


def _settle(demo_batch: tuple[object, SettlementConfig, object], bps: int | None) -> Settled:
    b, settle, oracle = demo_batch
    cfg = settle
    if bps is not None:
        cfg = replace(
            settle,
            markets=tuple(replace(m, liquidation_penalty_bps=bps) for m in settle.markets),
        )
    _, w = apply_batch(b.pre_state, b.result, b.oracle_round, cfg, oracle)  # type: ignore[attr-defined]
    return w, cfg


@pytest.fixture(scope="module")
def covered(demo_batch: tuple[object, SettlementConfig, object]) -> Settled:
    """The demo's rate: the liquidated account's equity covers its penalty."""
    return _settle(demo_batch, None)


@pytest.fixture(scope="module")
def capped(demo_batch: tuple[object, SettlementConfig, object]) -> Settled:
    """1 000 bps: the penalty due exceeds the liquidated account's equity."""
    return _settle(demo_batch, 1_000)


def _liquidated(sw: SettleWitness) -> tuple[int, int]:
    """The liquidated account's row and the penalty due on its liquidation fills."""
    liq = [f for f in sw.fills if f.liquidation]
    assert len({f.account for f in liq}) == 1
    return liq[0].account, sum(f.penalty for f in liq)


def _fill_row(air: Air, main: np.ndarray, liquidation: bool) -> int:
    on, liq = main[column(air, "fill.on")], main[column(air, "fill.liq")]
    return int(np.flatnonzero((on == 1) & (liq == int(liquidation)))[0])


@pytest.mark.parametrize("case", ["covered", "capped"])
def test_honest_penalties_satisfy_the_air(case: str, request: pytest.FixtureRequest) -> None:
    """The penalty owed per liquidation fill, its sum, the cap and the equity before it are
    proved; the batch needs no adjustments table (nothing else adjusts an account)."""
    w, cfg = request.getfixturevalue(case)
    st, sw = settle_inputs(w, cfg)
    row, due = _liquidated(sw)
    ((key, charged),) = w.penalties
    assert w.post.row(key) == row and charged > 0
    assert (charged == due) == (case == "covered")
    assert not st.has_adjustments and not sw.adjust_rows()
    assert all(
        m.penalty_bps == cfg.markets[j].liquidation_penalty_bps for j, m in enumerate(st.markets)
    )
    air, main = settle_trace(st, sw)
    check_settle(air, main)
    assert int(main[column(air, "pen.capped"), row]) == (case == "capped")
    assert int(main[column(air, "fill.liq")].sum()) == sum(f.liquidation for f in sw.fills)


def test_a_penalty_on_a_fill_that_is_not_a_liquidation_is_caught(covered: Settled) -> None:
    """The operator charges a trader whose order was not a liquidation order a penalty on
    its fill (for the insurance fund): refused, and the fill row's penalty identity (owed
    only where ``fill.liq``) rejects it."""
    w, cfg = covered
    st, sw = settle_inputs(w, cfg)
    i = next(i for i, f in enumerate(sw.fills) if not f.liquidation)
    mt = st.markets[sw.fills[i].market]
    owed = -((-sw.fills[i].lots * mt.price * mt.multiplier * 100) // BPS)
    fills = list(sw.fills)
    fills[i] = replace(fills[i], penalty=owed)
    with pytest.raises(ValueError, match="statement 3: expected each liquidation fill's penalty"):
        settle_trace(st, replace(sw, fills=tuple(fills)))
    air, main = settle_trace(st, sw)
    main[column(air, "fill.pen[0]"), _fill_row(air, main, False)] += 1
    with pytest.raises(ConstraintViolation, match="statement 3: liquidation penalty rounded up"):
        air.check_trace(main)


@pytest.mark.parametrize("delta", [-1, 1, "all"])
def test_a_liquidation_fill_penalty_missing_or_off_by_one_is_caught(
    covered: Settled, delta: int | str
) -> None:
    """A liquidation fill's penalty left out, rounded down instead of up, or one more:
    refused, and the fill row's identity ``pen·10^4 − lots·K = r`` (``0 ≤ r < 10^4``)
    rejects it."""
    w, cfg = covered
    st, sw = settle_inputs(w, cfg)
    i = next(i for i, f in enumerate(sw.fills) if f.liquidation)
    forged = 0 if delta == "all" else sw.fills[i].penalty + int(delta)
    fills = list(sw.fills)
    fills[i] = replace(fills[i], penalty=forged)
    with pytest.raises(ValueError, match="statement 3: expected each liquidation fill's penalty"):
        settle_trace(st, replace(sw, fills=tuple(fills)))
    air, main = settle_trace(st, sw)
    r = _fill_row(air, main, True)
    if delta == "all":
        for k in range(6):
            main[column(air, f"fill.pen[{k}]"), r] = 0
    else:
        c = column(air, "fill.pen[0]")
        main[c, r] = (int(main[c, r]) + int(delta)) % P
    with pytest.raises(ConstraintViolation, match="statement 3: liquidation penalty rounded up"):
        air.check_trace(main)


def _charged(
    w: BatchWitness, cfg: SettlementConfig, amount: int
) -> tuple[SettleStatement, SettleWitness]:
    """The operator's statement and witness for a published post-state in which the
    liquidated account paid ``amount`` as its penalty (into the insurance fund)."""
    ((key, charged),) = w.penalties
    row = w.post.row(key)
    collateral = w.post.collateral.copy()
    collateral[row] -= amount - charged
    post: LedgerState = replace(
        w.post,
        collateral=collateral,
        insurance_fund=w.post.insurance_fund + amount - charged,
    )
    forged = replace(w, post=post, post_root=state_root(post), penalties=((key, amount),))
    return settle_inputs(forged, cfg)


def test_a_penalty_above_the_equity_cap_is_caught(capped: Settled) -> None:
    """The operator charges the whole penalty due although the account's equity is less
    (driving it negative, for the insurance fund): refused, and with the operator's trace
    every polynomial identity holds but the slack ``X = equity − due`` is negative, which
    its 12-bit range checks (the bus) reject."""
    w, cfg = capped
    _, sw0 = settle_inputs(w, cfg)
    row, due = _liquidated(sw0)
    st, sw = _charged(w, cfg, due)
    assert not sw.adjust_rows()  # the forged charge is claimed as the penalty, not adjusted
    with pytest.raises(ValueError, match="statement 3: liquidation penalty"):
        settle_trace(st, sw)
    air, main = settle_trace(st, sw, refuse=False)
    air.check_trace(main)
    assert int(main[column(air, "pen.capped"), row]) == 0
    challenges = air.challenge_values(SETTLE_CHALLENGES)
    with pytest.raises(ConstraintViolation, match="bus"):
        air.check_trace(main, air.build_aux(main, challenges), challenges)


@pytest.mark.parametrize("case", ["covered", "capped"])
def test_a_penalty_below_the_rule_is_caught(case: str, request: pytest.FixtureRequest) -> None:
    """The operator spares the liquidated account one unit of its penalty (what it keeps
    the insurance fund loses): neither branch fits — uncapped the charge must be what is
    due, capped it must be the whole equity — so the prover refuses and no honest-looking
    trace exists (the collateral identity or the slack's range checks reject it)."""
    w, cfg = request.getfixturevalue(case)
    ((_, charged),) = w.penalties
    st, sw = _charged(w, cfg, charged - 1)
    with pytest.raises(ValueError, match="statement 3: liquidation penalty"):
        settle_trace(st, sw)
    with pytest.raises((ValueError, ConstraintViolation), match=r"statement 3|bus"):
        air, main = settle_trace(st, sw, refuse=False)
        check_settle(air, main)


def test_a_lower_penalty_rate_than_the_statement_is_caught(
    demo_batch: tuple[object, SettlementConfig, object], covered: Settled
) -> None:
    """The penalty rate is the statement's (its per-market terms and derived digits): an
    operator who settles the batch at half the rate proves a statement the verifier does
    not derive, and against the verifier's the fill rows' penalty identity fails."""
    w, cfg = _settle(demo_batch, 50)
    st, sw = settle_inputs(w, cfg)
    main, _ = settle_air.generate(st, sw, SETTLE_ROWS)  # consistent with the operator's rate
    rate = covered[1].markets[0].liquidation_penalty_bps
    verifier = replace(st, markets=tuple(replace(m, penalty_bps=rate) for m in st.markets))
    air = settle_air.build(SETTLE_ROWS, settle_air.public_inputs(verifier, sw))
    with pytest.raises(ConstraintViolation, match="statement 3: liquidation penalty"):
        air.check_trace(main)


def test_penalty_terms_round_trip_and_a_rate_above_10_000_bps_is_refused(covered: Settled) -> None:
    w, cfg = covered
    st, _ = settle_inputs(w, cfg)
    again, _ = SettleStatement.from_elements(st.to_elements())
    assert again == st and all(m.penalty_bps == 100 for m in again.markets)
    bad = replace(st, markets=(replace(st.markets[0], penalty_bps=10_001), *st.markets[1:]))
    with pytest.raises(ValueError, match="penalty"):
        SettleStatement.from_elements(bad.to_elements())
    assert MarketTerms(1, 1, 0, 0).penalty_bps == 0
