"""The funding rule in the batch AIR (``batch_air/funding_rule.py``): each market's funding
index step ``ΔF`` and its post-state premium terms are the transition's
``update_funding`` of the pre-state header, the batch's time and the post-state's index; the
sample is the pre-state's mark premium (the one in force over ``dt``), in every batch with a
trusted index, traded or not. An operator
who states another ``ΔF`` moves money between longs and shorts; it publishes a batch whose
every file agrees with the forged step (its own rule replayed), the prover refuses it and
the AIR rejects its trace, naming the constraint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import ConstraintViolation
from sealbatch.settlement import funding, transition
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.ledger import LedgerState, MarketState
from sealbatch.settlement.oracle import update_mark
from sealbatch.settlement.params import DEFAULT_CONFIG, MarketRisk, SettlementConfig
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch, reference_prices
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    check_all,
    committed_batch,
    proved,
    refused_and_rejected,
    statement_of,
)
from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round

Rule = Callable[..., tuple[MarketState, funding.FundingUpdate]]
INDEX = 649_000  # BTC-PERP's index in the second batch
#: BTC-PERP's mark premium after the first batch (its print 1 000 above the index of
#: 650 000, one step of 10 bps): the premium in force over the second batch's 2 000 ms.
PRE = 650


def _config(interval: int, cap_bps: int = 75) -> SettlementConfig:
    markets = tuple(
        replace(m, funding_interval_batches=interval, funding_cap_bps=cap_bps)
        for m in DEFAULT_CONFIG.markets
    )
    return replace(DEFAULT_CONFIG, markets=markets)


@contextmanager
def _operator_rule(rule: Rule | None) -> Iterator[None]:
    """Settle and publish under ``rule`` instead of ``update_funding`` (the operator's own
    post-state, replayed by the verifier from the published files consistently)."""
    if rule is None:
        yield
        return
    honest = transition.update_funding
    transition.update_funding = rule  # type: ignore[assignment]
    try:
        yield
    finally:
        transition.update_funding = honest  # type: ignore[assignment]


def _first(config: SettlementConfig, price: int = 651_000) -> LedgerState:
    """Batch 0 from genesis: BTC-PERP trades 5 lots at ``price`` against an index of 650 000
    (no premium sample: dt = 0); its mark premium steps from 0 toward ``price − 650 000`` by
    at most 650 (10 bps)."""
    orders = [
        (TRADERS[2], Order(BTC, Side.BUY, price, 5)),
        (TRADERS[3], Order(BTC, Side.SELL, price, 5)),
    ]
    batch = committed_batch(0, orders, {BTC: None, ETH: None})
    rnd = oracle_round(0, 1_000, {BTC: 650_000, ETH: 350_000})
    return apply_batch(funded([10**12] * 6, config), batch, rnd, config, ORACLE)[0]


def _second(
    price: int | None,
    interval: int = 2,
    rule: Rule | None = None,
    overrides: Any = None,
    cap_bps: int = 75,
    edit: Callable[[MarketState], MarketState] | None = None,
    first: int = 651_000,
) -> BatchStatement:
    """Batch 1, 2 000 ms later: BTC-PERP trades 3 lots at ``price`` (None: nothing) against
    an index of 649 000 (the interval of ``interval`` batches ends here when it is 2). Its
    sample is the mark premium batch 0 left (``first`` its print: 650 by default), in force
    over the 2 000 ms; its own mark premium steps from there toward ``price − index`` by at
    most 649 (10 bps), within ± 3 245 (50 bps), and counts from the next batch on. ``edit``
    forges the post-state's BTC-PERP market state."""
    config = _config(interval, cap_bps)
    pre = _first(config, first)
    orders = (
        []
        if price is None
        else [
            (TRADERS[2], Order(BTC, Side.BUY, price, 3)),
            (TRADERS[3], Order(BTC, Side.SELL, price, 3)),
        ]
    )
    batch = committed_batch(1, orders, reference_prices(pre))
    rnd = oracle_round(1, 3_000, {BTC: INDEX, ETH: 350_000}, overrides)
    with _operator_rule(rule):
        post, _ = apply_batch(pre, batch, rnd, config, ORACLE)
        if edit is not None:
            states = tuple(edit(ms) if ms.market == BTC else ms for ms in post.market_states)
            post = post.with_arrays(market_states=states)
        return statement_of(BatchPublication(batch, rnd, pre, post).files(config, ORACLE))


def _delta(st: BatchStatement, market: int = 0) -> int:
    return st.settle.markets[market].delta_funding


def _refused_and_rejected(forged: BatchStatement, rejected: str, refused: str) -> None:
    refused_and_rejected(forged, refused, rejected, ValueError)


@pytest.mark.parametrize(
    ("first", "cap_bps", "delta"),
    [(650_500, 75, 49_973), (656_000, 75, 64_964), (656_000, 5, 32_450), (644_000, 5, -32_450)],
    ids=["premium", "one step", "capped", "capped discount"],
)
def test_an_interval_end_steps_the_funding_index(first: int, cap_bps: int, delta: int) -> None:
    """The second batch of a two-batch interval: the average of the mark premium in force
    over it (500, or 650: batch 0's clearing premium of 500 or 6 000, the latter moving it
    by one step, 10 bps) over the index, the rate (770 or 1 001 ppm; capped at
    ± ``cap_bps``) and ΔF = ⌊rate·index·multiplier / 10^6⌋ are proved. The second batch
    trades at the index: its own premium moves after the sample."""
    st = _second(INDEX, cap_bps=cap_bps, first=first)
    pre = min(abs(first - 650_000), PRE) * (1 if first > 650_000 else -1)
    assert st.pre.market_states[0].premium == pre
    assert abs(st.post.market_states[0].premium) < abs(pre)  # one step back toward 0
    assert _delta(st) == delta
    assert st.post.market_states[0].premium_sum == 0
    assert st.post.market_states[0].interval_batches == 0
    proved(st)


def test_a_batch_inside_an_interval_accumulates_the_mark_premium() -> None:
    """Interval of three: the second batch adds its sample (the mark premium in force over
    dt × dt: not its own mark premium's 1 000 nor the clearing price's 1 000) and steps
    nothing."""
    st = _second(650_000, interval=3)
    ms = st.post.market_states[0]
    assert ms.premium == 1_000  # the print's, sampled from the next batch on
    assert (ms.premium_sum, ms.premium_time, ms.interval_batches) == (PRE * 2_000, 2_000, 2)
    assert _delta(st) == 0
    proved(st)


def test_a_quiet_batch_adds_its_sample() -> None:
    """Interval of three, BTC-PERP does not trade in the second batch: the mark premium in
    force over its 2 000 ms (650) is sampled all the same (its own decays to 1)."""
    st = _second(None, interval=3)
    ms = st.post.market_states[0]
    assert ms.premium == 1
    assert (ms.premium_sum, ms.premium_time, ms.interval_batches) == (PRE * 2_000, 2_000, 2)
    proved(st)


def test_a_flagged_batch_adds_no_sample() -> None:
    """The oracle's families disagree on BTC-PERP: no sample, no batch counted."""
    st = _second(None, interval=3, overrides=_FLAG)
    ms = st.post.market_states[0]
    assert (ms.premium_sum, ms.premium_time, ms.interval_batches) == (0, 0, 1)
    proved(st)


def _shift(by: int, at_end: bool = True) -> Rule:
    """The honest rule, with ΔF moved by ``by`` at an interval end (or inside one)."""

    def rule(state: MarketState, risk: MarketRisk, *args: Any) -> Any:
        new, upd = funding.update_funding(state, risk, *args)
        if state.market != BTC or (upd.delta_index != 0) != at_end:
            return new, upd
        new = replace(new, funding_index=new.funding_index + by)
        return new, replace(upd, delta_index=upd.delta_index + by, funding_index=new.funding_index)

    return rule


_STEP = r"funding: market 0: ΔF = ⌊rate·index·multiplier / 10\^6⌋"
_REFUSED_DF = "funding: BTC-PERP ΔF"


@pytest.mark.parametrize("by", [1, -1])
def test_a_step_off_by_one_at_an_interval_end_is_caught(by: int) -> None:
    forged = _second(650_000, rule=_shift(by))
    assert _delta(forged) == 64_964 + by
    _refused_and_rejected(forged, _STEP, _REFUSED_DF)


def test_a_step_before_the_interval_ends_is_caught() -> None:
    """Interval of three: the operator steps BTC-PERP's index by 5 in its second batch."""
    forged = _second(650_000, interval=3, rule=_shift(5, at_end=False))
    assert _delta(forged) == 5
    _refused_and_rejected(forged, "funding: market 0: ΔF = 0 outside an interval end", _REFUSED_DF)


def _uncapped(state: MarketState, risk: MarketRisk, *args: Any) -> Any:
    return funding.update_funding(state, replace(risk, funding_cap_bps=10_000), *args)


def test_a_rate_beyond_the_cap_is_caught() -> None:
    """The operator steps by the uncapped rate (a 0.1 % premium against a 0.05 % cap)."""
    forged = _second(656_000, rule=_uncapped, cap_bps=5)
    assert _delta(forged) == 64_964
    _refused_and_rejected(forged, "funding: market 0: the rate is within the cap", _REFUSED_DF)


def _no_sample(state: MarketState, risk: MarketRisk, premium: int, index: int, dt: int) -> Any:
    """The sample left out of the premium sum and time (weighted by no time)."""
    return funding.update_funding(state, risk, premium, index, 0)


def test_a_premium_not_accumulated_is_caught() -> None:
    """Interval of three: the second batch's sample is left out of the premium sum and time."""
    forged = _second(650_000, interval=3, rule=_no_sample)
    assert forged.post.market_states[0].premium_sum == 0
    _refused_and_rejected(
        forged, r"funding: market 0: post premium sum \(limb 0\)", "funding: BTC-PERP premium_sum"
    )


def _clearing_sample(price: int) -> Rule:
    """An older rule's sample: ``clearing − index`` in place of the mark premium."""

    def rule(state: MarketState, risk: MarketRisk, premium: int, index: int, dt: int) -> Any:
        sample = price - index if state.market == BTC else premium
        return funding.update_funding(state, risk, sample, index, dt)

    return rule


def test_a_sample_of_the_clearing_price_is_caught() -> None:
    """Interval of three: the operator samples the clearing premium (3 000) where the mark
    premium in force is 650: a thin print would set the interval's rate again."""
    forged = _second(652_000, interval=3, rule=_clearing_sample(652_000))
    assert forged.post.market_states[0].premium_sum == 3_000 * 2_000
    assert forged.pre.market_states[0].premium == PRE
    _refused_and_rejected(
        forged, r"funding: market 0: post premium sum \(limb 0\)", "funding: BTC-PERP premium_sum"
    )


def test_a_sample_of_the_clearing_price_at_an_interval_end_is_caught() -> None:
    """The same at the interval's end: the step of the clearing premium's rate."""
    forged = _second(650_000, rule=_clearing_sample(650_000))
    assert _delta(forged) == 99_946  # 1 000 / 649 000: 1 540 ppm, not 1 001
    _refused_and_rejected(forged, _STEP, _REFUSED_DF)


def _post_sample(price: int | None) -> Rule:
    """The previous rule's sample: the mark premium after the batch (its own print's step)
    in place of the one in force over ``dt`` before it."""

    def rule(state: MarketState, risk: MarketRisk, premium: int, index: int, dt: int) -> Any:
        if state.market != BTC:
            return funding.update_funding(state, risk, premium, index, dt)
        after = update_mark(index, premium, price, risk.mark_band_bps, risk.mark_step_bps)[1]
        return funding.update_funding(state, risk, after, index, dt)

    return rule


def test_a_sample_of_the_post_batch_premium_is_caught() -> None:
    """Interval of three: the second batch prints 7 000 above the index, so its mark
    premium steps from 650 to 1 299; the operator samples that (1 299 × 2 000 ms) where the
    premium in force over the batch's 2 000 ms was 650: a print after a long gap would
    weigh the whole gap again."""
    honest = _second(656_000, interval=3)
    forged = _second(656_000, interval=3, rule=_post_sample(656_000))
    assert honest.post.market_states[0].premium_sum == PRE * 2_000
    assert forged.post.market_states[0].premium_sum == 1_299 * 2_000
    assert forged.post.market_states[0].premium == 1_299
    _refused_and_rejected(
        forged, r"funding: market 0: post premium sum \(limb 0\)", "funding: BTC-PERP premium_sum"
    )


def test_a_sample_of_the_post_batch_premium_at_an_interval_end_is_caught() -> None:
    """The same at the interval's end: the step of the post-batch premium's rate."""
    forged = _second(656_000, rule=_post_sample(656_000))
    assert _delta(forged) == 129_864  # 1 299 / 649 000: 2 001 ppm, not 1 001
    _refused_and_rejected(forged, _STEP, _REFUSED_DF)


def _skip_quiet(state: MarketState, risk: MarketRisk, premium: int, index: int, dt: int) -> Any:
    """The old rule's gating: a batch that did not trade adds no sample."""
    return funding.update_funding(state, risk, premium, index, 0 if state.market == BTC else dt)


def test_a_quiet_batch_that_skips_its_sample_is_caught() -> None:
    """Interval of three, BTC-PERP's first batch trades at the index (no premium) and its
    second does not trade (index trusted): the operator leaves the second's sample
    (0 × 2 000 ms) out, so the interval's average would be the traded batches' alone."""
    honest = _second(None, interval=3, first=650_000)
    forged = _second(None, interval=3, rule=_skip_quiet, first=650_000)
    assert forged.pre.market_states[0].premium == 0
    assert honest.post.market_states[0].premium_time == 2_000
    assert forged.post.market_states[0].premium_time == 0
    _refused_and_rejected(
        forged,
        r"funding: market 0: post premium time \(low limb\)",
        "funding: BTC-PERP premium_time",
    )


#: The oracle's DEX family reports BTC-PERP 10 % off the CEX family's: flagged.
_FLAG = {(BTC, "dex"): 714_000}


def _sampled_while_flagged(ms: MarketState) -> MarketState:
    """The flagged batch's post-state with a sample added (its 2 000 ms at the premium in
    force)."""
    return replace(ms, premium_sum=ms.premium_sum + PRE * 2_000, premium_time=2_000)


def test_a_flagged_batch_that_adds_a_sample_is_caught() -> None:
    """Interval of three, BTC-PERP flagged in the second batch (it trades nothing): the
    operator adds a sample all the same."""
    forged = _second(None, interval=3, overrides=_FLAG, edit=_sampled_while_flagged)
    ms = forged.post.market_states[0]
    assert ms.index_time_ms == 1_000  # the index is not this batch's: not trusted
    assert (ms.premium_sum, ms.premium_time) == (PRE * 2_000, 2_000)
    _refused_and_rejected(
        forged,
        r"funding: market 0: post premium (sum|time)",
        "funding: BTC-PERP premium_(sum|time)",
    )


def _no_reset(state: MarketState, risk: MarketRisk, *args: Any) -> Any:
    new, upd = funding.update_funding(state, risk, *args)
    if upd.delta_index and state.market == BTC:
        new = replace(new, premium_sum=2_000_000, premium_time=2_000)
    return new, upd


def test_a_premium_sum_not_reset_at_the_interval_end_is_caught() -> None:
    forged = _second(650_000, rule=_no_reset)
    _refused_and_rejected(
        forged, r"funding: market 0: post premium sum \(limb 0\)", "funding: BTC-PERP premium_sum"
    )


def _stepped_untrusted(state: MarketState, risk: MarketRisk, *args: Any) -> Any:
    """The step of an interval end, in a post-state whose index time says no trusted index
    this batch (the premium terms carried as an untrusted market's are)."""
    new, upd = funding.update_funding(state, risk, *args)
    if state.market != BTC:
        return new, upd
    new = replace(
        state,
        index_time_ms=1_000,
        funding_index=new.funding_index,
    )
    return new, upd


def test_a_step_in_a_market_without_a_trusted_index_is_caught() -> None:
    forged = _second(650_000, rule=_stepped_untrusted)
    assert _delta(forged) == 64_964
    assert forged.post.market_states[0].index_time_ms == 1_000
    # the round trusted BTC-PERP: the header's index time is pinned to the round's reading
    # (public inputs, headers.py) before the funding rule reads it as untrusted
    pinned = "post index time 0 is the oracle's, limb 0"
    _refused_and_rejected(
        forged, f"{pinned}|funding: market 0: ΔF = 0 outside an interval end", pinned
    )


def test_a_wrong_dt_is_caught() -> None:
    """The honest batch's trace with BTC-PERP's dt one millisecond longer."""
    st = _second(650_000, interval=3)
    rows = rows_for(st)
    air, trace = generate(st, rows)
    _, layout = build_with_layout(rows, st)
    trace = np.array(trace)
    trace[layout.column("fund", "d0"), 0] += 1
    with pytest.raises(ConstraintViolation, match=r"funding: market 0: dt \(low limb\)"):
        check_all(air, trace)


def test_a_post_state_timestamp_other_than_the_batch_time_is_caught() -> None:
    """The next batch's dt starts at the post-state's timestamp: the operator publishes one
    5 ms late (so the next premium sample weighs less)."""
    config = _config(3)
    pre = _first(config)
    orders = [
        (TRADERS[2], Order(BTC, Side.BUY, 650_000, 3)),
        (TRADERS[3], Order(BTC, Side.SELL, 650_000, 3)),
    ]
    batch = committed_batch(1, orders, reference_prices(pre))
    rnd = oracle_round(1, 3_000, {BTC: INDEX, ETH: 350_000})
    post, _ = apply_batch(pre, batch, rnd, config, ORACLE)
    late = post.with_arrays(timestamp_ms=3_005)
    forged = statement_of(BatchPublication(batch, rnd, pre, late).files(config, ORACLE))
    _refused_and_rejected(
        forged, "funding: the post-state's timestamp is T", "funding: the post-state's timestamp"
    )
