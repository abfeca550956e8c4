"""Scenarios: a 30 % correlated crash (portfolio vs cross margin), stale / divergent /
missing oracle family, a liquidation cascade contained, insurance exhaustion → ADL."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.ledger import LedgerState, equity, total_value
from sealbatch.settlement.margin import RevealMarginCheck, requirements
from sealbatch.settlement.params import (
    BPS,
    DEFAULT_CONFIG,
    DeleverageMode,
    SettlementConfig,
    default_config,
)
from sealbatch.settlement.transition import BatchWitness, apply_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, key, make_batch, oracle_round

PRICES = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}


def _book(
    equities: list[int],
    positions: list[list[int]],
    config: SettlementConfig = DEFAULT_CONFIG,
    portfolio: list[bool] | None = None,
    insurance: int = 0,
) -> LedgerState:
    """A settled ledger at PRICES (batch 0, time 10 000 ms) holding the given book.

    Collateral is set so that each account has the given equity at PRICES (a long has
    paid for its position: its collateral is its equity minus the notional).
    """
    s = funded([1] * len(equities), config)
    marks = np.array([PRICES[m] for m in config.market_ids], dtype=np.int64)
    mult = np.array([r.multiplier for r in config.markets], dtype=np.int64)
    pos = np.array(positions, dtype=np.int64)
    collateral = np.array(equities, dtype=np.int64) - (pos * (marks * mult)).sum(axis=1)
    ms = tuple(
        replace(
            m,
            mark_price=PRICES[m.market],
            index_price=PRICES[m.market],
            last_price=PRICES[m.market],
        )
        for m in s.market_states
    )
    return s.with_arrays(
        collateral=collateral,
        positions=pos,
        portfolio=np.array(portfolio or [False] * len(equities)),
        market_states=ms,
        insurance_fund=insurance,
        batch_id=0,
        timestamp_ms=10_000,
    )


def _prints(b: int, prices: dict[str, int], buyer: int, seller: int) -> list[tuple[str, Order]]:
    """One lot per market between two funded bystanders at ``prices``: a clearing print."""
    return [
        o
        for m, p in prices.items()
        for o in (
            (TRADERS[buyer], Order(m, Side.BUY, p, 1)),
            (TRADERS[seller], Order(m, Side.SELL, p, 1)),
        )
    ]


def _settle(
    state: LedgerState,
    b: int,
    prices: dict[str, int],
    config: SettlementConfig = DEFAULT_CONFIG,
    orders: list | None = None,
    oracle_prices: dict[str, int] | None = None,
    overrides: dict | None = None,
    age_ms: int = 0,
    bystanders: tuple[int, int] | None = None,
) -> tuple[LedgerState, BatchWitness]:
    orders = list(orders or [])
    if bystanders:
        orders += _prints(b, prices, *bystanders)
    carried = [lo.resting for lo in state.pending_liquidations]
    batch = make_batch(b, orders, config, carried, pre=state)
    before = total_value(state)
    rnd = oracle_round(b, 10_000 * (b + 1), oracle_prices or prices, overrides, age_ms)
    new, w = apply_batch(state, batch, rnd, config, ORACLE)
    assert total_value(new) == before  # conservation in every scenario
    assert not new.positions.sum(axis=0).any()  # zero net position in every scenario
    return new, w


def _crash(p: dict[str, int], bps: int) -> dict[str, int]:
    return {m: v * (BPS - bps) // BPS for m, v in p.items()}


# --- a 30 % crash in one batch, correlated markets, portfolio vs cross margin -----------------


def test_correlated_crash_portfolio_vs_cross() -> None:
    hedge = [1_000, -1_857]  # long 65 000 000 000 of BTC, short 64 995 000 000 of ETH
    need_cross = 13_000_000_000  # about the cross initial requirement of the hedge
    state = _book(
        [4_000_000_000, need_cross, 10_000_000_000, 10**12, 10**12, 10**12],
        [hedge, hedge, [1_000, 0], [-3_000, 3_714], [0, 0], [0, 0]],
        portfolio=[True, False, False, False, False, False],
    )
    req = requirements(state, DEFAULT_CONFIG)
    eq = equity(state, DEFAULT_CONFIG)
    # the same hedge needs far less under portfolio margin ...
    assert req.initial[0] * 3 < req.initial[1]
    assert eq[0] >= req.initial[0]
    # ... so the portfolio account may add to it where a cross account with the same equity may not
    RevealMarginCheck(state, DEFAULT_CONFIG)(
        key(0).address, Order("BTC-PERP", Side.BUY, 650_000, 10)
    )
    # the crash: both markets −30 % in one batch, prints at the crashed prices
    crashed = _crash(PRICES, 3_000)
    new, w = _settle(state, 1, crashed, bystanders=(4, 5))
    eq2 = equity(new, DEFAULT_CONFIG)
    req2 = requirements(new, DEFAULT_CONFIG)
    # the hedged accounts barely move and stay healthy, under either margin
    assert abs(int(eq2[0] - eq[0])) < 10**8 and eq2[0] >= req2.maintenance[0]
    assert eq2[1] >= req2.maintenance[1]
    # the unhedged long lost 30 % of 65 000 000 000 with 10 000 000 000 of collateral:
    # bankrupt; the insurance fund is empty, so ADL closes it against the shorts
    assert [d.account for d in w.deficits] == [key(2)]
    assert new.positions[2].tolist() == [0, 0] and int(eq2[2]) == 0
    # both markets moved 30 %: the circuit breaker trips in each
    assert set(w.tripped) == {"BTC-PERP", "ETH-PERP"}
    assert all(ms.protective for ms in new.market_states)
    liquidated = {lo.account for lo in new.pending_liquidations}
    assert key(0) not in liquidated and key(1) not in liquidated


# --- the oracle: stale, divergent, missing family --------------------------------------------


def _underwater() -> LedgerState:
    # account 0 long 100 BTC lots with equity 700 000 000; maintenance 325 000 000 at
    # 650 000; an 8 % drop (−520 000 000) leaves it below maintenance, not bankrupt
    return _book([700_000_000, 10**12, 10**12, 10**12], [[100, 0], [-100, 0], [0, 0], [0, 0]])


def test_healthy_oracle_liquidates_an_account_below_maintenance() -> None:
    new, w = _settle(_underwater(), 1, _crash(PRICES, 800), bystanders=(2, 3))
    assert [lo.account for lo in w.liquidations] == [key(0)]
    lo = w.liquidations[0].resting
    assert lo.order.reduce_only and lo.order.side is Side.SELL and lo.origin_batch == 2
    mark = new.market_state("BTC-PERP").mark_price
    assert lo.order.limit_price == -((-mark * (BPS - 200)) // BPS)


@pytest.mark.parametrize(
    ("overrides", "age_ms", "reason"),
    [
        ({("BTC-PERP", "dex"): 650_000}, 0, "diverge"),  # dex still at the old price
        ({("BTC-PERP", "dex"): None}, 0, "dex 0/2"),  # dex silent: short of its quorum
    ],
)
def test_flagged_oracle_stops_liquidation_and_trips_the_breaker(
    overrides: dict, age_ms: int, reason: str
) -> None:
    crashed = _crash(PRICES, 800)
    new, w = _settle(_underwater(), 1, crashed, overrides=overrides, bystanders=(2, 3))
    r = w.readings["BTC-PERP"]
    assert r.flagged and reason in r.reason
    assert new.market_state("BTC-PERP").protective and "BTC-PERP" in w.tripped
    assert not w.liquidations  # no liquidation on a flagged price
    # once the oracle is healthy again, the account is liquidated (in protective mode: small slices)
    new2, w2 = _settle(new, 2, crashed, bystanders=(2, 3))
    assert [lo.account for lo in w2.liquidations] == [key(0)]
    assert new2.market_state("BTC-PERP").protective  # calm batches still to come


def test_stale_reports_keep_the_last_index() -> None:
    crashed = _crash(PRICES, 800)
    new, w = _settle(
        _underwater(),
        1,
        crashed,
        oracle_prices=crashed,
        age_ms=ORACLE.stale_ms + 1,
        bystanders=(2, 3),
    )
    r = w.readings["BTC-PERP"]
    assert r.index is None and r.dropped == 4 and r.flagged
    assert new.market_state("BTC-PERP").index_price == PRICES["BTC-PERP"]
    assert not w.liquidations


def test_breaker_releases_after_calm_batches() -> None:
    state = _book([10**12, 10**12], [[0, 0], [0, 0]])
    crashed = _crash(PRICES, 1_500)
    state, _ = _settle(state, 1, crashed, bystanders=(0, 1))
    assert state.market_state("BTC-PERP").protective
    for b in range(2, 2 + DEFAULT_CONFIG.risk("BTC-PERP").calm_batches):
        assert state.market_state("BTC-PERP").protective
        state, _w = _settle(state, b, crashed, bystanders=(0, 1))
    assert not state.market_state("BTC-PERP").protective


# --- a would-be liquidation cascade, contained ------------------------------------------------


def test_cascade_is_contained_by_staged_liquidation_and_the_breaker() -> None:
    n = 10
    # ten longs of 2 000 BTC lots (notional 130 000 000 000) with equity about 19 000 000 000,
    # shorted by one whale; a 12 % drop costs each 15 600 000 000 and leaves all of them
    # below maintenance (5 % of 114 400 000 000) but solvent
    longs = [[2_000, 0]] * n
    coll = [19_000_000_000 + i * 100_000_000 for i in range(n)]
    state = _book(
        [*coll, 10**14, 10**12, 10**12],
        [*longs, [-2_000 * n, 0], [0, 0], [0, 0]],
    )
    # batch 1: a 12 % drop — every long falls below maintenance at once
    drop = _crash(PRICES, 1_200)
    state, w = _settle(state, 1, drop, bystanders=(n + 1, n + 2))
    risk = DEFAULT_CONFIG.risk("BTC-PERP")
    assert "BTC-PERP" in w.tripped
    assert len(w.liquidations) == n
    mark = state.market_state("BTC-PERP").mark_price
    for lo in w.liquidations:
        # staged: one slice per account, the small protective cap, a limit near the mark
        assert lo.resting.order.quantity <= risk.protective_liquidation_lots
        assert (lo.resting.order.limit_price or 0) >= mark * (BPS - risk.max_slippage_bps) // BPS
    # batch 2: the liquidation orders meet buyers far below the mark; they cannot sell there
    buyers = [(TRADERS[n + 1], Order("BTC-PERP", Side.BUY, mark * 80 // 100, 5_000))]
    state2, w2 = _settle(state, 2, drop, orders=buyers)
    assert not any(f.liquidation for f in w2.fills)
    # batch 3: buyers near the mark: the slices fill, with penalties to the insurance fund,
    # and the clearing price stays within the slippage limit of the mark
    buyers = [(TRADERS[n + 1], Order("BTC-PERP", Side.BUY, mark, 5_000))]
    state3, w3 = _settle(state2, 3, drop, orders=buyers)
    liq_fills = [f for f in w3.fills if f.liquidation]
    assert (
        liq_fills
        and sum(f.fill.quantity for f in liq_fills) <= n * risk.protective_liquidation_lots
    )
    price = w3.fills[0].fill.price
    assert price >= mark * (BPS - risk.max_slippage_bps) // BPS
    assert state3.insurance_fund > state2.insurance_fund
    assert sum(a for _, a in w3.penalties) == state3.insurance_fund - state2.insurance_fund
    # positions shrink step by step instead of all at once
    assert all(0 < int(p) < 2_000 for p in state3.positions[:n, 0])


# --- insurance exhaustion → auto-deleveraging / socialised loss ------------------------------


def _bankrupt_book(config: SettlementConfig) -> LedgerState:
    # account 0: long 1 000 BTC lots with 5 000 000 000 — a 20 % drop costs 13 000 000 000.
    # shorts: account 1 (highly leveraged), account 2 (lightly), account 3 (bystander buyer)
    return _book(
        [5_000_000_000, 72_000_000_000, 10**12, 10**12, 10**12],
        [[1_000, 0], [-600, 0], [-400, 0], [0, 0], [0, 0]],
        config,
        insurance=1_000_000_000,
    )


def test_insurance_exhaustion_leads_to_adl() -> None:
    cfg = default_config(deleverage=DeleverageMode.ADL)
    state = _bankrupt_book(cfg)
    new, w = _settle(state, 1, _crash(PRICES, 2_000), cfg, bystanders=(3, 4))
    (flow,) = w.deficits
    assert flow.account == key(0)
    assert flow.insurance == 1_000_000_000 and new.insurance_fund == 0
    assert flow.deficit > flow.insurance
    # the bankrupt long is closed at the mark against the shorts, most leveraged first
    assert new.positions[0].tolist() == [0, 0]
    assert [(k, q) for k, _, q, _ in flow.deleveraged] == [(key(1), 600), (key(2), 400)]
    assert new.positions[1:3, 0].tolist() == [0, 0]
    shares = [s for *_, s in flow.deleveraged]
    assert sum(shares) == flow.deficit - flow.insurance
    assert int(equity(new, cfg)[0]) == 0


def test_insurance_exhaustion_with_socialised_loss() -> None:
    cfg = default_config(deleverage=DeleverageMode.SOCIALISE)
    state = _bankrupt_book(cfg)
    new, w = _settle(state, 1, _crash(PRICES, 2_000), cfg, bystanders=(3, 4))
    (flow,) = w.deficits
    shortfall = flow.deficit - flow.insurance
    assert new.socialised_loss == shortfall > 0
    assert int(equity(new, cfg)[0]) == 0
    # the bankrupt long is closed at the mark (not left to be sold down below it);
    # the loss is spread over equity
    assert new.positions[0].tolist() == [0, 0]
    assert new.positions[:, 0].sum() == 0
    assert sum(s for *_, s in flow.deleveraged) == shortfall


def test_no_deficit_cover_on_a_flagged_price() -> None:
    cfg = default_config(deleverage=DeleverageMode.ADL)
    state = _bankrupt_book(cfg)
    crashed = _crash(PRICES, 2_000)
    # the dex family disagrees: the BTC price is doubtful, the bankrupt account waits
    new, w = _settle(
        state, 1, crashed, cfg, overrides={("BTC-PERP", "dex"): 650_000}, bystanders=(3, 4)
    )
    assert w.readings["BTC-PERP"].flagged
    assert not w.deficits and new.insurance_fund == state.insurance_fund
    # the doubtful price does not move the mark at all: the last trusted one holds
    assert new.market_state("BTC-PERP").mark_price == state.market_state("BTC-PERP").mark_price
    # the next round agrees: the deficit is covered then
    _, w2 = _settle(new, 2, crashed, cfg, bystanders=(3, 4))
    assert [d.account for d in w2.deficits] == [key(0)]


def test_insurance_covers_a_small_deficit() -> None:
    cfg = default_config()
    state = replace(_bankrupt_book(cfg), insurance_fund=10**11)
    new, w = _settle(state, 1, _crash(PRICES, 2_000), cfg, bystanders=(3, 4))
    (flow,) = w.deficits
    assert flow.insurance == flow.deficit and not flow.deleveraged
    assert new.positions[0, 0] == 1_000  # still open: liquidated in stages
    assert [lo.account for lo in w.liquidations] == [key(0)]
