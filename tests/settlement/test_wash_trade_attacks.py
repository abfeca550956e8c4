"""Self-dealing between one trader's own accounts against the settlement rules.

A trader holding both sides of a 1-lot cross pays only the two fees: the fill
itself moves nothing between its accounts. What such a print may still move:

1. the funding premium, within the mark rule's bounds: the premium sample of a
   batch is the mark premium in force over its Δt, the one before it, in every
   batch with a trusted index (traded or not), so one 1-lot print counts from
   the next batch on, by one mark step (10 bps) for one batch of eight (a rate
   of 124 ppm, not the cap's 7 500: a 100-lot short gains 740 502 for 65 498 of
   fees, where it gained 48 684 502 when a print's ``clearing − index`` was the
   sample and quiet batches took none); after a 29 999 ms gap the same print
   gains less, 142 502 (32 ppm), where it gained 4 913 502 (766 ppm) when a
   batch sampled its own mark premium weighted by the gap before it; and a
   print every batch walks it one step a batch up to the band (50 bps; 3 124
   ppm in the first interval, 19 783 312 for 522 688 of fees);
2. the circuit breaker: it compared the clearing price with the last print,
   while the price band is around the mark, so two thin prints on either edge
   of the band moved the "last price" by twice the breaker's threshold and put
   the market in protective mode (smaller liquidation slices, wider band)
   (fixed in the rule: the breaker compares the trusted indexes before and
   after the batch, so no print has a say in it; an index move beyond
   ``breaker_bps`` trips it). When it compared the marks, a print still
   decided a move within one mark step of the threshold: the index one tick
   beyond 10 % with a print at the band's bottom left the marks 9.89 % apart
   (calm), the index one tick under 10 % after a print the batch before left
   them 10.11 % apart without a print (protective) and 9.90 % with one;
3. the liquidation test, which took an account only below maintenance at
   the mark and at the index: a print above the index stepped the mark up, so
   one print a batch kept an account below maintenance at the index open
   (fixed in the rule: an account is judged at the index alone, so a print
   can neither keep it open nor, stepping the mark down, liquidate it); and
   the slice, whose lots were counted at the mark and whose markets were
   sold in order of notional at the mark: a print 1 % above the index took a
   lot off a 51-lot slice and, between two positions of equal notional, chose
   the one sold first (fixed in the rule: the slice is counted at the index).

These are rules the batch proof proves (docs/stark.md: the funding rule, the
breaker, the liquidation flag), so the fixes changed the proved statement;
the tests assert the attacks fail (1: that the gain stays within the mark
rule's bound). Fixed at intake (not proved):

4. the reveal margin check of a market order, which judged it at the edge of
   a band around the last print while the batch's band is around the mark: a
   print below the mark hid the top of the band from a market buy (fixed at
   intake: the check now takes the band around the mark);
5. a reduce-only close at the edge of the band against a sibling account: the
   reveal check took every reduce-only order that reduced, whatever its limit,
   so an account just above maintenance sold its position 10 % below the mark
   to its sibling and left the loss beyond its equity to the insurance fund and
   the other traders (fixed at intake: refused when its worst case leaves
   negative equity).
"""

from __future__ import annotations

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.errors import InsufficientMargin
from sealbatch.settlement.funding import PPM
from sealbatch.settlement.ledger import LedgerState, equity
from sealbatch.settlement.liquidation import liquidation_slice_lots
from sealbatch.settlement.margin import RevealMarginCheck, requirements
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG
from tests.settlement.conftest import ORACLE, TRADERS, key, oracle_round
from tests.settlement.test_price_attacks import (
    BTC,
    MULT,
    PRICES,
    RICH,
    T0,
    _book,
    _cross,
    _settle,
)

INDEX = PRICES[BTC]


def _at_index(state: LedgerState, rows: list[int]) -> int:
    """The equity of ``rows`` valued at the (unchanged) oracle index: what the accounts
    would have after closing at the index, free of the mark's premium."""
    j = state.markets.index(BTC)
    return sum(int(state.collateral[r]) + int(state.positions[r, j]) * INDEX * MULT for r in rows)


def _one_print(gap_ms: int) -> tuple[int, int, int, int, list[int | None]]:
    """One 1-lot wash print in the first batch of an interval, which follows the pre-state
    by ``gap_ms``; the other batches follow 1 300 ms apart. Account 0 is an honest 100-lot
    long; accounts 1-3 belong to the attacker: 1 short 100 lots, 2 and 3 cross 1 lot at
    index + 0.77 % (inside the band; the breaker stays quiet). The index never moves.

    Returns the interval's rate (ppm), the honest long's loss, the fees and the attacker's
    gain, each valued at the index, and each batch's premium sample."""
    risk = DEFAULT_CONFIG.risk(BTC)
    state = _book([RICH, RICH, RICH, RICH], [100, -100, 0, 0])
    attacker = [1, 2, 3]
    before, honest_before = _at_index(state, attacker), _at_index(state, [0])
    price = INDEX + INDEX * risk.funding_cap_bps // BPS + 100  # just above the cap
    rate, t, samples = 0, T0, []
    for b in range(1, risk.funding_interval_batches + 1):
        t += gap_ms if b == 1 else 1_300
        orders = _cross(2, 3, price) if b == 1 else []
        state, w = _settle(state, b, orders, oracle_round(b, t, PRICES))
        assert not state.market_state(BTC).protective
        samples.append(w.funding[BTC].premium)
        rate = w.funding[BTC].rate_ppm
    gain = _at_index(state, attacker) - before
    loss = honest_before - _at_index(state, [0])
    assert gain == loss - state.fee_pool  # the honest long's funding, less the fees
    return rate, loss, state.fee_pool, gain, samples


def test_wash_prints_do_not_pay_a_funding_position() -> None:
    """One print in the interval's first batch, every batch 1 300 ms apart.

    The sample is the mark premium in force over each batch's Δt, the one before it: the
    print moves it by one step (``mark_step_bps`` of the index, 650 ticks), which holds for
    the next batch's 1 300 ms, and that (quiet) batch takes it back to 0. So the rate is at
    most one step over the interval's batches (125 ppm; 124 after the floors), whatever the
    print's price: a 100-lot short takes 806 000 of funding for 65 498 of fees (7 500 ppm
    and 48 750 000 when the print's ``clearing − index`` set the interval's rate). The gain
    still scales with the short, so a short above ~8 lots gains a little: bounded by the
    step, not by the cap."""
    risk = DEFAULT_CONFIG.risk(BTC)
    n = risk.funding_interval_batches
    rate, loss, fees, gain, samples = _one_print(1_300)
    # the sample is the premium in force before each batch: the print's step in batch 2
    # (held its 1 300 ms), none before it, and back to 0 after the quiet batch 2
    step = INDEX * risk.mark_step_bps // BPS
    assert samples == [step if b == 2 else 0 for b in range(1, n + 1)]
    # one step held for one batch of n equal ones: rate ≤ step_bps·100 / n, not the cap
    assert 0 < rate <= risk.mark_step_bps * 100 // n < risk.funding_cap_bps * 100
    per_lot = risk.mark_step_bps * 100 // n * INDEX * MULT // PPM
    assert loss <= 100 * per_lot
    assert (rate, loss, fees, gain) == (124, 806_000, 65_498, 740_502)


def test_a_wash_print_after_a_long_gap_gets_no_more_than_after_a_normal_one() -> None:
    """The same print in a batch that follows the pre-state by 29 999 ms (the longest gap
    before the market halts at ``max_price_age_ms``: a protective batch, or one the operator
    delays). When a batch's sample was its own mark premium after it, weighted by the time
    before it, the print's step weighed the whole gap: 766 ppm, not 124. The premium in
    force over that gap was the one before the print (0): the print's step still holds for
    one 1 300 ms batch only, now diluted by the gap's 29 999 ms of 0."""
    risk = DEFAULT_CONFIG.risk(BTC)
    gap = ORACLE.max_price_age_ms - 1
    normal, long = _one_print(1_300), _one_print(gap)
    assert long[2] == normal[2] and long[4] == normal[4]  # the same print, fees and samples
    # the print holds one batch of the interval's time, which the gap only lengthens
    assert 0 < long[0] <= normal[0] <= risk.mark_step_bps * 100 // risk.funding_interval_batches
    assert long[1] <= normal[1] and long[3] <= normal[3]


def test_a_wash_print_every_batch_walks_funding_to_the_band_at_most() -> None:
    """The attacker of the test above prints 1 lot every batch of the interval, at the
    band's edge (index + 0.52 %): the mark premium walks one step (650) a batch up to the
    band (3 250) and stays there; each batch samples the premium in force before it, so the
    interval's average is (0 + 650 + 1 300 + 1 950 + 2 600 + 3 × 3 250) / 8 = 2 031 ticks,
    a rate of 3 124 ppm (an interval of prints that all start at the band gives the band's
    5 000 ppm: the rate can never pass it, nor the cap), for the fees of eight prints. A
    100-lot short takes 20 306 000 of funding for 522 688 of fees (the cost of a print a
    batch; the gain scales with the short)."""
    risk = DEFAULT_CONFIG.risk(BTC)
    state = _book([RICH, RICH, RICH, RICH], [100, -100, 0, 0])
    attacker = [1, 2, 3]
    before, honest_before = _at_index(state, attacker), _at_index(state, [0])
    step, band = INDEX * risk.mark_step_bps // BPS, INDEX * risk.mark_band_bps // BPS
    price = INDEX + band + 100
    n = risk.funding_interval_batches
    rate = 0
    for b in range(1, n + 1):
        state, w = _settle(state, b, _cross(2, 3, price))
        assert not state.market_state(BTC).protective
        # the premium in force before the batch: a step a batch, to the band
        assert w.funding[BTC].premium == min((b - 1) * step, band)
        rate = w.funding[BTC].rate_ppm
    gain = _at_index(state, attacker) - before
    loss = honest_before - _at_index(state, [0])
    assert gain == loss - state.fee_pool
    average = sum(min((b - 1) * step, band) for b in range(1, n + 1)) // n
    assert rate == average * PPM // INDEX
    assert 0 < rate <= risk.mark_band_bps * 100 <= risk.funding_cap_bps * 100
    assert (rate, loss, state.fee_pool, gain) == (3_124, 20_306_000, 522_688, 19_783_312)


def test_wash_prints_cannot_hold_the_circuit_breaker() -> None:
    """1-lot crosses alternating at mark − 9.5 % and mark + 10 % (inside the band) move
    the last price by 21 % a batch; the mark moves by at most mark_step_bps (0.1 %) a
    batch and the breaker compares the indexes (no print has a say), so the market stays
    calm."""
    risk = DEFAULT_CONFIG.risk(BTC)
    state = _book([RICH, RICH, RICH, RICH], [0, 0, 5_000, -5_000])
    protective = []
    for b in range(1, 9):
        mark = state.market_state(BTC).mark_price
        low = -((-mark * (BPS - 950)) // BPS)
        high = mark * (BPS + risk.market.band_bps) // BPS
        state, _ = _settle(state, b, _cross(0, 1, high if b % 2 == 0 else low))
        protective.append(state.market_state(BTC).protective)
    # The property the venue should have: 1-lot wash prints inside the band never
    # put the market in protective mode (nor shrink its liquidation slices).
    assert not any(protective), f"protective after each batch: {protective}"
    assert liquidation_slice_lots(state.market_state(BTC), risk) == risk.max_liquidation_lots


def _breaker_after(index: int, prints: bool, primed: bool = False) -> tuple[bool, bool, int]:
    """BTC-PERP's protective flag, whether it tripped, and its liquidation slice cap after
    a batch whose oracle index moves from 650 000 to ``index``. ``prints``: accounts 0 and
    1 (one owner) cross 1 lot at the bottom of the band in that batch; ``primed``: a batch
    before it, at the unchanged index, with such a print (premium −650, mark 649 350)."""
    risk = DEFAULT_CONFIG.risk(BTC)
    state = _book([RICH, RICH, RICH, RICH], [0, 0, 5_000, -5_000])

    def low(state: LedgerState) -> list[tuple[str, Order]]:
        mark = state.market_state(BTC).mark_price
        return _cross(0, 1, -((-mark * (BPS - risk.market.band_bps)) // BPS))

    b = 1
    if primed:
        state, _ = _settle(state, b, low(state))
        assert not state.market_state(BTC).protective
        b = 2
    rnd = oracle_round(b, T0 + 1_300 * b, {**PRICES, BTC: index})
    state, w = _settle(state, b, low(state) if prints else [], rnd)
    ms = state.market_state(BTC)
    assert ms.index_price == index
    return ms.protective, BTC in w.tripped, liquidation_slice_lots(ms, risk)


def test_a_wash_print_does_not_decide_a_trip_on_the_threshold() -> None:
    """``breaker_bps`` is 1 000 (10 % of 650 000: 65 000 ticks). The index one tick beyond
    (715 001) trips the market with or without a 1-lot print at the band's bottom (on the
    marks, the print left them 9.89 % apart: calm). One tick under (714 999) after a print
    the batch before it stays calm with or without another print (on the marks: 10.11 %
    apart without a print, a trip, and 9.90 % with one)."""
    risk = DEFAULT_CONFIG.risk(BTC)
    tripped = (True, True, risk.protective_liquidation_lots)
    calm = (False, False, risk.max_liquidation_lots)
    assert [_breaker_after(715_001, p) for p in (False, True)] == [tripped, tripped]
    assert [_breaker_after(714_999, p, primed=True) for p in (False, True)] == [calm, calm]


def test_a_thin_print_below_the_mark_does_not_hide_the_band_from_a_market_buy() -> None:
    """Batch 1: the attacker prints 1 lot at 588 250 (mark − 9.5 %); the mark stays near
    650 000, the band of batch 2 is around it. Batch 2: account 4 sends a market buy of
    100 lots with the collateral of a fill at mark + 2 %, account 0 sells 100 at the top of
    the band. The reveal check judged the market buy around the last print (top 647 075)
    and took it; the fill at 714 285 left the account below maintenance, staged for
    liquidation one batch after it was judged to hold initial margin."""
    state = _book([RICH, RICH, RICH, RICH, RICH], [0, 0, 0, 0, 0])
    state, _ = _settle(state, 1, _cross(2, 3, 588_250))
    ms = state.market_state(BTC)
    mark, lots = ms.mark_price, 100
    assert ms.last_price == 588_250 and mark > 640_000
    at_slip = lots * (mark * 10_200 // BPS - mark) * MULT + lots * mark * MULT // 10 + 10**7
    collateral = state.collateral.copy()
    collateral[4] = at_slip
    state = state.with_arrays(collateral=collateral)
    buy = Order(BTC, Side.BUY, None, lots)
    with pytest.raises(InsufficientMargin):
        RevealMarginCheck(state, DEFAULT_CONFIG)(TRADERS[4], buy)
    # what the fill would have done: taken, it fills at the band's top
    top = mark * (BPS + DEFAULT_CONFIG.risk(BTC).market.band_bps) // BPS
    after, _ = _settle(
        state, 2, [(TRADERS[4], buy), (TRADERS[0], Order(BTC, Side.SELL, top, lots))]
    )
    assert int(after.positions[4, 0]) == lots
    assert [lo.account for lo in after.pending_liquidations] == [key(4)]


def test_a_reduce_only_close_cannot_hand_a_sibling_the_loss_beyond_its_equity() -> None:
    """Account 4 (the attacker's) is long 100 lots on 340 000 000 of equity (maintenance
    325 000 000); account 0 (its sibling) bids 100 lots at 585 000, mark − 10 %. Taken,
    the reduce-only sell filled there: account 4 ended with a deficit of 312 925 000,
    spread over the honest accounts 1-3 (about 78 000 000 each), and the pair gained
    about 222 000 000."""
    state = _book([RICH, RICH, RICH, RICH, 340_000_000], [0, 0, -100, 0, 100])
    sell = Order(BTC, Side.SELL, 585_000, 100, reduce_only=True)
    with pytest.raises(InsufficientMargin):
        RevealMarginCheck(state, DEFAULT_CONFIG)(TRADERS[4], sell)
    # what the fill would have done
    honest = _at_index(state, [1, 2, 3])
    after, w = _settle(
        state, 1, [(TRADERS[4], sell), (TRADERS[0], Order(BTC, Side.BUY, 585_000, 100))]
    )
    assert [d.account for d in w.deficits] == [key(4)]
    assert honest - _at_index(after, [1, 2, 3]) > 200_000_000


def _liquidated_after(
    prints: bool, equity_at_index: int = 324_000_000, bps: int = 10_100
) -> tuple[bool, bool]:
    """Whether account 4 is staged for liquidation after batch 1, and whether it is below
    maintenance at the post-state's mark.

    Account 4 is long 100 lots with ``equity_at_index`` (324 000 000: 1 000 000 below
    maintenance there, 325 000 000); accounts 0 and 1 are its owner's too and print 1 lot
    at index × bps / 10 000, account 3 is the honest short."""
    state = _book([RICH, RICH, RICH, RICH, equity_at_index], [0, 0, 0, -100, 100])
    orders = _cross(0, 1, INDEX * bps // BPS) if prints else []
    after, _ = _settle(state, 1, orders)
    assert after.market_state(BTC).index_price == INDEX
    below_at_mark = bool(
        equity(after, DEFAULT_CONFIG)[4] < requirements(after, DEFAULT_CONFIG).maintenance[4]
    )
    return key(4) in [lo.account for lo in after.pending_liquidations], below_at_mark


def test_an_account_below_maintenance_at_the_index_is_liquidated() -> None:
    assert _liquidated_after(prints=False) == (True, True)


def test_a_wash_print_cannot_keep_an_account_below_maintenance_at_the_index_open() -> None:
    """A 1-lot print 1 % above the index steps the mark up 10 bps: account 4 is above
    maintenance at the mark, still 1 000 000 below it at the index, and is liquidated."""
    assert _liquidated_after(prints=True) == (True, False)


def test_a_wash_print_below_the_index_cannot_liquidate_an_account_healthy_there() -> None:
    """Account 4 holds 1 000 000 above maintenance at the index; a 1-lot print 1 % below
    the index steps the mark down 10 bps, below maintenance at the mark: not liquidated."""
    assert _liquidated_after(prints=False, equity_at_index=326_000_000) == (False, False)
    assert _liquidated_after(prints=True, equity_at_index=326_000_000, bps=9_900) == (False, True)


_ETH = "ETH-PERP"


def _slices_after(
    equity_at_index: int, btc: int, eth: int, prints: dict[str, int]
) -> dict[str, int]:
    """Account 4's liquidation slices (lots by market) staged in batch 1. Account 4 is
    long ``btc`` BTC and ``eth`` ETH lots with ``equity_at_index``, accounts 2 and 3 hold
    the honest shorts; accounts 0 and 1 are account 4's owner's and cross 1 lot at
    ``index × bps / 10 000`` in each market of ``prints`` (market: bps)."""
    indexes = {BTC: INDEX, _ETH: PRICES[_ETH]}
    state = _book([RICH, RICH, RICH, RICH, equity_at_index], [0, 0, -btc, 0, btc])
    positions = state.positions.copy()
    positions[3, 1], positions[4, 1] = -eth, eth
    collateral = state.collateral.copy()
    collateral[3] += eth * indexes[_ETH] * MULT
    collateral[4] -= eth * indexes[_ETH] * MULT
    state = state.with_arrays(positions=positions, collateral=collateral)
    orders = [
        o
        for market, bps in prints.items()
        for o in (
            (TRADERS[0], Order(market, Side.BUY, indexes[market] * bps // BPS, 1)),
            (TRADERS[1], Order(market, Side.SELL, indexes[market] * bps // BPS, 1)),
        )
    ]
    after, _ = _settle(state, 1, orders)
    assert [after.market_state(m).index_price for m in (BTC, _ETH)] == [INDEX, PRICES[_ETH]]
    return {
        lo.resting.order.market: lo.resting.order.quantity
        for lo in after.pending_liquidations
        if lo.account == key(4)
    }


def test_a_wash_print_does_not_change_a_slices_size() -> None:
    """Long 100 BTC lots with 324 800 000 at the index: 325 200 000 short of initial
    margin, ⌈325.2 M / 6 500 000⌉ = 51 lots at the index. A 1-lot print 1 % above the index
    steps the mark up 650 ticks; at the mark (per_lot 6 506 500) the slice would be 50."""
    honest = _slices_after(324_800_000, 100, 0, {})
    assert honest == {BTC: 51}
    for bps in (10_100, 9_900):
        assert _slices_after(324_800_000, 100, 0, {BTC: bps}) == honest


def test_a_wash_print_does_not_choose_the_market_sold_first() -> None:
    """Long 7 BTC and 13 ETH lots, 455 M of notional each at the index, 40 M of equity:
    51 M short of initial margin. Equal notionals: BTC (the first market) is sold first,
    all 7 lots (45.5 M), then ⌈5.5 M / 3.5 M⌉ = 2 ETH lots. A 1-lot ETH print 1 % above
    the index steps ETH's mark up; at the marks ETH came first: 13 ETH lots and 1 BTC."""
    honest = _slices_after(40_000_000, 7, 13, {})
    assert honest == {BTC: 7, _ETH: 2}
    assert _slices_after(40_000_000, 7, 13, {_ETH: 10_100}) == honest
    assert _slices_after(40_000_000, 7, 13, {BTC: 10_100, _ETH: 9_900}) == honest
