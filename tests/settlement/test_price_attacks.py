"""The five ways a bad price took collateral from honest accounts, each replayed batch by
batch: now no honest account loses collateral to the bad price, and value is conserved.

1. one thin trade set the mark (and steered the next batch's tie-break);
2. withdrawals priced at a flagged mark;
3. one source moved the index without a flag;
4. no maximum price age, oracle rounds not bound to their batch;
5. liquidations that fed themselves in a thin book, bankrupt positions sold down.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.clearinghouse import Clearinghouse
from sealbatch.settlement.collateral import transfer, withdraw
from sealbatch.settlement.errors import MarketFlagged, MarketHalted
from sealbatch.settlement.ledger import LedgerState, equity, total_value
from sealbatch.settlement.liquidation import _limit
from sealbatch.settlement.margin import RevealMarginCheck
from sealbatch.settlement.oracle import OracleRound
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.transition import (
    BatchWitness,
    apply_batch,
    halted_markets,
    reference_prices,
)
from tests.settlement.conftest import (
    ORACLE,
    TRADERS,
    funded,
    key,
    make_batch,
    oracle_round,
    report,
)

BTC = "BTC-PERP"
PRICES = {BTC: 650_000, "ETH-PERP": 350_000}
MULT = 100
T0 = 10_000  # time of the pre-state's batch 0
RICH = 10**11


def _book(equities: list[int], btc: list[int]) -> LedgerState:
    """A settled ledger at PRICES (batch 0, trusted index at T0) holding BTC positions;
    collateral such that each account has the given equity at PRICES."""
    s = funded([1] * len(equities))
    pos = np.zeros((len(equities), 2), dtype=np.int64)
    pos[:, 0] = btc
    marks = np.array([PRICES[m] for m in s.markets], dtype=np.int64)
    collateral = np.array(equities, dtype=np.int64) - (pos * marks * MULT).sum(axis=1)
    ms = tuple(
        replace(
            m,
            mark_price=PRICES[m.market],
            index_price=PRICES[m.market],
            last_price=PRICES[m.market],
            index_time_ms=T0,
        )
        for m in s.market_states
    )
    return s.with_arrays(
        collateral=collateral, positions=pos, market_states=ms, batch_id=0, timestamp_ms=T0
    )


def _settle(
    state: LedgerState,
    b: int,
    orders: list[tuple[str, Order]],
    rnd: OracleRound | None = None,
    config: SettlementConfig = DEFAULT_CONFIG,
    references: dict[str, int | None] | None = None,
) -> tuple[LedgerState, BatchWitness]:
    carried = [lo.resting for lo in state.pending_liquidations]
    refs = reference_prices(state) if references is None else references
    batch = make_batch(b, orders, config, carried, references=refs)
    rnd = rnd or oracle_round(b, T0 + 1_300 * b, PRICES)
    new, w = apply_batch(state, batch, rnd, config, ORACLE)
    assert total_value(new) == total_value(state)  # value conserved in every batch
    assert not new.positions.sum(axis=0).any()
    return new, w


def _cross(buyer: int, seller: int, price: int, lots: int = 1) -> list[tuple[str, Order]]:
    return [
        (TRADERS[buyer], Order(BTC, Side.BUY, price, lots)),
        (TRADERS[seller], Order(BTC, Side.SELL, price, lots)),
    ]


def _without(rnd: OracleRound, family: str, i: int) -> tuple:
    src = report(family, i, BTC, 1, 1).report.source
    return tuple(r for r in rnd.reports if not (r.report.source == src and r.report.market == BTC))


# --- 1. one thin trade sets the mark ---------------------------------------------------------


def test_one_thin_trade_cannot_set_the_mark_nor_steer_the_next_clearing() -> None:
    """Every source at 650 000; a 1-lot cross at 588 250 (-9.5 %). Before: the mark became
    588 250, a healthy long was closed by ADL and another trader was sold 87 lots at
    588 250 although a maker bid 643 500."""
    long_equity = 400_000_000  # 100 lots: maintenance 325 000 000 at 650 000
    state = _book([long_equity, RICH, RICH, RICH, RICH, RICH], [100, -100, 0, 0, 0, 0])
    after, w = _settle(state, 1, _cross(2, 3, 588_250))
    ms = after.market_state(BTC)
    assert ms.last_price == 588_250  # the print happened
    step = 650_000 * DEFAULT_CONFIG.risk(BTC).mark_step_bps // BPS
    assert 650_000 - step <= ms.mark_price <= 650_000
    assert not w.liquidations and not w.deficits
    assert int(equity(after, DEFAULT_CONFIG)[0]) >= long_equity - step * 100 * MULT
    assert int(after.collateral[0]) == int(state.collateral[0])  # nothing taken from the long

    # The next batch: a maker bids 643 500 for 87 lots, a trader sells 87 at 588 250 or
    # better. The tie-break reference is the mark, so the trader gets the maker's bid.
    book = [
        (TRADERS[4], Order(BTC, Side.BUY, 643_500, 87)),
        (TRADERS[5], Order(BTC, Side.SELL, 588_250, 87)),
    ]
    _, w2 = _settle(after, 2, book)
    assert w2.fills and {f.fill.price for f in w2.fills} == {643_500}
    # (the attack's reference, the last print, would have sold at the attacker's price)
    steered = make_batch(2, book, references={BTC: 588_250, "ETH-PERP": None})
    assert steered.markets[BTC].price == 588_250


def test_a_run_of_thin_trades_moves_the_mark_one_step_per_batch_and_stops_at_the_band() -> None:
    # account 2 is healthy at the index (340M against 325M) but not at index − band
    state = _book([RICH, RICH, 340_000_000, RICH], [0, 0, 100, -100])
    risk = DEFAULT_CONFIG.risk(BTC)
    step = 650_000 * risk.mark_step_bps // BPS
    band = 650_000 * risk.mark_band_bps // BPS
    marks = []
    for b in range(1, 8):
        state, _ = _settle(state, b, _cross(0, 1, 588_250))
        marks.append(state.market_state(BTC).mark_price)
    assert marks[:5] == [650_000 - step * k for k in range(1, 6)]
    assert min(marks) == 650_000 - band
    assert int(equity(state, DEFAULT_CONFIG)[2]) < 325_000_000  # below maintenance at the mark
    assert not state.pending_liquidations  # yet healthy at the index: not liquidated
    assert int(state.collateral[2]) == int(_book([340_000_000], [100]).collateral[0])


# --- 2. withdrawals priced at a flagged mark -------------------------------------------------


@pytest.mark.parametrize(
    "bad_reports",
    [
        "family 20 % low",  # one family at 520 000: the families diverge
        "one source 50 % low",  # one of four sources at 325 000: its family loses its quorum
    ],
)
def test_no_withdrawal_or_risk_on_a_flagged_mark(bad_reports: str) -> None:
    short_equity = 2_000_000_000
    state = _book([short_equity, 2_000_000_000, RICH, RICH], [-100, 100, 0, 0])
    rnd = oracle_round(1, T0 + 1_300, PRICES)
    if bad_reports.startswith("family"):
        rnd = oracle_round(1, T0 + 1_300, PRICES, {(BTC, "dex"): 520_000})
    else:
        low = report("dex", 1, BTC, 325_000, T0 + 1_300)
        rnd = OracleRound(1, rnd.timestamp_ms, (*_without(rnd, "dex", 1), low))
    flagged, w = _settle(state, 1, [], rnd)
    assert w.readings[BTC].flagged
    ms = flagged.market_state(BTC)
    assert ms.index_price == 650_000 and ms.mark_price == 650_000  # the last trusted ones
    # the short cannot take out what the bad price would credit it ...
    with pytest.raises(MarketFlagged) as e:
        withdraw(flagged, key(0), 1_190_000_000, DEFAULT_CONFIG)
    assert e.value.code == "market_flagged"
    with pytest.raises(MarketFlagged):
        transfer(flagged, key(0), key(0)._replace(subaccount=1), 1, DEFAULT_CONFIG)
    batch = make_batch(2, [], references=reference_prices(flagged))
    with pytest.raises(MarketFlagged):
        apply_batch(
            flagged,
            batch,
            oracle_round(2, T0 + 2_600, PRICES),
            DEFAULT_CONFIG,
            ORACLE,
            withdrawals=[(key(0), 1_190_000_000)],
        )
    # ... nor raise its risk; it may still reduce it
    check = RevealMarginCheck(flagged, DEFAULT_CONFIG)
    with pytest.raises(MarketFlagged):
        check(TRADERS[0], Order(BTC, Side.SELL, 650_000, 1))
    with pytest.raises(MarketFlagged):  # not even in another market
        check(TRADERS[0], Order("ETH-PERP", Side.BUY, 350_000, 1))
    with pytest.raises(MarketFlagged):  # nor a newcomer in the flagged market
        check(TRADERS[2], Order(BTC, Side.BUY, 650_000, 1))
    check(TRADERS[0], Order(BTC, Side.BUY, 650_000, 10, reduce_only=True))
    check(TRADERS[3], Order("ETH-PERP", Side.BUY, 350_000, 1))  # no BTC position: free
    # ... and its forced withdrawal from L1 is served with nothing (consumed, so the L1
    # queue moves on and nobody can freeze the exchange for want of a trusted price)
    house = Clearinghouse(DEFAULT_MARKETS, ORACLE, DEFAULT_CONFIG)
    house.state = flagged
    assert house.forced_withdrawal(TRADERS[0], 0, 1_000, T0 + 2_000) == 0
    assert house.pending_withdrawals == [(key(0), 0)]
    # The feed recovers: no deficit to cover, nobody deleveraged, equity as before.
    healed, w2 = _settle(flagged, 2, [])
    assert not w2.readings[BTC].flagged and not w2.deficits
    assert equity(healed, DEFAULT_CONFIG)[:2].tolist() == [short_equity, 2_000_000_000]
    withdraw(healed, key(0), 100_000_000, DEFAULT_CONFIG)  # and withdrawals work again


def test_an_account_without_a_position_in_the_flagged_market_may_withdraw() -> None:
    state = _book([RICH, RICH, 5_000_000_000], [-1, 1, 0])
    flagged, _ = _settle(state, 1, [], oracle_round(1, T0 + 1_300, PRICES, {(BTC, "dex"): 1}))
    after = withdraw(flagged, key(2), 1_000_000_000, DEFAULT_CONFIG)
    assert int(after.collateral[2]) == 4_000_000_000


# --- 3. one source moves the index -----------------------------------------------------------


def test_one_source_cannot_move_the_index_and_liquidate_a_healthy_account() -> None:
    """Before: one source at -1.9 % moved the index to 637 650 unflagged and a healthy
    account was liquidated (53 lots sold, 34.4M penalty)."""
    state = _book([330_000_000, RICH, RICH, RICH], [100, -100, 0, 0])
    rnd = oracle_round(1, T0 + 1_300, PRICES)
    liar = report("dex", 1, BTC, 637_650, T0 + 1_300)
    rnd = OracleRound(1, rnd.timestamp_ms, (*_without(rnd, "dex", 1), liar))
    after, w = _settle(state, 1, _cross(2, 3, 650_000), rnd)
    assert w.readings[BTC].trusted is None
    assert after.market_state(BTC).index_price == 650_000
    assert not w.liquidations and not w.penalties
    assert int(after.collateral[0]) == int(state.collateral[0])


# --- 4. no maximum price age; rounds not bound to batches ------------------------------------


def test_silent_sources_freeze_the_mark_and_funding_then_halt_the_market() -> None:
    """Before: with every source silent for 62 batches the mark followed the prints down
    44 %, an account reached -1.8B equity unliquidated and funding stepped at its cap."""
    state = _book([2_000_000_000, RICH, RICH, RICH], [100, -100, 0, 0])
    funding = state.market_state(BTC).funding_index
    price, b, t = 650_000, 0, T0
    max_age = ORACLE.max_price_age_ms
    while True:
        b, t, price = b + 1, t + 1_300, price * 97 // 100
        rnd = OracleRound(b, t, ())
        if halted_markets(state, ORACLE, t):
            break
        state, w = _settle(state, b, _cross(2, 3, price), rnd)
        ms = state.market_state(BTC)
        assert ms.flagged and ms.mark_price == 650_000 and ms.funding_index == funding
        assert ms.interval_batches == 0 and not w.liquidations and not w.deficits
    assert t - T0 > max_age >= t - 1_300 - T0
    assert int(state.collateral[0]) == int(_book([2_000_000_000], [100]).collateral[0])
    # Halted: a batch with fills in the market is refused, one without settles.
    with pytest.raises(MarketHalted) as e:
        apply_batch(state, make_batch(b, _cross(2, 3, price)), rnd, DEFAULT_CONFIG, ORACLE)
    assert e.value.code == "market_halted"
    state, _ = _settle(state, b, [], rnd)
    assert BTC in halted_markets(state, ORACLE, t + 1_300)
    # Fresh prices arrive: the round lifts the halt for the batch after it.
    state, w = _settle(state, b + 1, [], oracle_round(b + 1, t + 1_300, PRICES))
    assert not w.readings[BTC].flagged and not halted_markets(state, ORACLE, t + 2_600)
    state, w = _settle(state, b + 2, _cross(2, 3, 650_000), oracle_round(b + 2, t + 2_600, PRICES))
    assert w.fills


# --- 5. liquidations that feed themselves ----------------------------------------------------


def test_liquidation_in_a_thin_book_spares_every_account_healthy_at_the_index() -> None:
    """Before: liquidation orders pushed the clearing price 334 bps under the index and
    accounts healthy at the index were liquidated in turn."""
    equities = [300_000_000, 400_000_000, 360_000_000, RICH, RICH, RICH]
    state = _book(equities, [100, 100, 100, -300, 0, 0])
    assert int(equity(state, DEFAULT_CONFIG)[0]) < 325_000_000  # only account 0 is underwater
    planned, w = _settle(state, 1, [])
    assert [lo.account for lo in w.liquidations] == [key(0)]
    sell = w.liquidations[0].resting.order
    assert sell.limit_price == 650_000 * (BPS - 200) // BPS  # index − max slippage
    # A thin book: one bid far below the index, and attackers printing there too.
    thin = [(TRADERS[4], Order(BTC, Side.BUY, 617_500, 300)), *_cross(4, 5, 617_500)]
    after, w2 = _settle(planned, 2, thin)
    assert not [f for f in w2.fills if f.liquidation]  # nothing sold 5 % under the index
    assert {lo.account for lo in w2.liquidations} == {key(0)}
    for row in (1, 2):  # healthy at the index: untouched
        assert int(after.collateral[row]) == int(state.collateral[row])
        assert after.positions[row, 0] == 100


def test_a_liquidation_limit_is_held_to_the_index_when_the_mark_strays() -> None:
    # a sell never below index − slippage, a buy never above index + slippage
    assert _limit(600_000, 650_000, Side.SELL, 200) == 637_000
    assert _limit(700_000, 650_000, Side.BUY, 200) == 663_000
    assert _limit(650_000, 0, Side.SELL, 200) == 637_000  # no index yet: the mark alone


def test_flagging_the_oracle_does_not_cost_honest_traders_their_bonds() -> None:
    """The attack: deny the quorum (one lying source) so that every reveal in the market
    is refused (market_flagged) and its commitment forfeits its bond. The forfeit is
    waived where the oracle refused the reveal; elsewhere it is charged as always."""
    state = _book([RICH, RICH, RICH, RICH], [-1, 1, 0, 0])
    liar = report("dex", 1, BTC, 600_000, T0 + 1_300)
    rnd = oracle_round(1, T0 + 1_300, PRICES)
    flagged, _ = _settle(
        state, 1, [], OracleRound(1, rnd.timestamp_ms, (*_without(rnd, "dex", 1), liar))
    )
    assert flagged.market_state(BTC).frozen
    forfeits = [(TRADERS[2], BTC, 5_000_000), (TRADERS[0], "ETH-PERP", 5_000_000)]
    forfeits.append((TRADERS[3], "ETH-PERP", 5_000_000))  # no BTC position: charged
    batch = make_batch(2, [], forfeits=forfeits, references=reference_prices(flagged))
    rnd2 = OracleRound(
        2, T0 + 2_600, tuple(r for r in rnd.reports if r.report.source != liar.report.source)
    )
    after, w = apply_batch(flagged, batch, rnd2, DEFAULT_CONFIG, ORACLE)
    assert total_value(after) == total_value(flagged)
    assert w.forfeits == ((key(3), 5_000_000),)
    assert int(after.collateral[2]) == int(flagged.collateral[2])
    assert int(after.collateral[0]) == int(flagged.collateral[0])
