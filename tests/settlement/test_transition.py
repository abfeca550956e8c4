"""apply_batch: conservation and zero net position over random batches, per-account
cash flows against a scalar reference, determinism, and the witness."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement.errors import InsufficientCollateral, SettlementError
from sealbatch.settlement.ledger import LedgerState, total_value
from sealbatch.settlement.margin import cap_reduce_only, check_carried
from sealbatch.settlement.params import DEFAULT_CONFIG, DeleverageMode, default_config
from sealbatch.settlement.transition import BatchWitness, apply_batch, check_invariants
from tests.settlement.conftest import ORACLE, TRADERS, funded, key, make_batch, oracle_round

PRICES = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}


def _order(rng: np.random.Generator, market: str, center: int) -> Order:
    side = Side.BUY if rng.integers(2) else Side.SELL
    limit = int(center * (1 + rng.integers(-300, 301) / 10_000))
    tif = TimeInForce.GTC if rng.integers(4) == 0 else TimeInForce.IOC
    return Order(market, side, limit, int(rng.integers(1, 400)), tif)


def _reference_collateral(state: LedgerState, witness: BatchWitness) -> np.ndarray:
    """Each account's collateral recomputed from the witness's flows, one by one."""
    w = witness  # BatchWitness
    mults = {r.market_id: r.multiplier for r in DEFAULT_CONFIG.markets}
    out = {
        k: int(c)
        for k, c in zip(
            w.post.accounts,
            w.pre.collateral.tolist() + [0] * (w.post.size - w.pre.size),
            strict=True,
        )
    }
    for k, a in w.deposits:
        out[k] += a
    for j, mid in enumerate(w.pre.markets):
        d = w.funding[mid].delta_index
        for k, p in zip(w.pre.accounts, w.pre.positions[:, j].tolist(), strict=True):
            out[k] -= p * d
    for k, a in w.forfeits:
        out[k] -= a
    for sf in w.fills:
        f = sf.fill
        out[sf.account] -= f.side.sign * f.quantity * f.price * mults[f.market] + sf.fee
    for k, a in w.penalties:
        out[k] -= a
    return np.array([out[k] for k in w.post.accounts], dtype=np.int64)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from(list(DeleverageMode)))
def test_random_batches_conserve_value_and_net_to_zero(seed: int, mode: DeleverageMode) -> None:
    rng = np.random.default_rng(seed)
    cfg = default_config(deleverage=mode)
    n = 8
    state = funded([int(rng.integers(10**8, 10**11)) for _ in range(n)], cfg)
    carried: list = []
    prices = dict(PRICES)
    for b in range(1, 5):
        for m in prices:
            prices[m] = max(1_000, int(prices[m] * (1 + rng.integers(-1_500, 1_501) / 10_000)))
        orders = [
            (TRADERS[int(rng.integers(n))], _order(rng, m, prices[m]))
            for m in prices
            for _ in range(int(rng.integers(0, 12)))
        ]
        liq = [lo.resting for lo in state.pending_liquidations]
        batch = make_batch(
            b,
            orders,
            cfg,
            carried + liq,
            forfeits=[(TRADERS[b % n], "ETH-PERP", 10**6)],
            pre=state,
        )
        rnd = oracle_round(b, 1_000 * b, prices)
        deposits = [(key(int(rng.integers(n + 2))), 5_000_000)] if rng.integers(2) else []
        before = total_value(state)
        new, w = apply_batch(state, batch, rnd, cfg, ORACLE, deposits=deposits)
        assert total_value(new) - before == sum(a for _, a in deposits)
        assert new.positions.sum(axis=0).tolist() == [0, 0]
        check_invariants(state, new, sum(a for _, a in deposits))
        if not w.deficits:
            assert _reference_collateral(state, w).tolist() == new.collateral.tolist()
        else:
            assert sum(d.deficit for d in w.deficits) > 0
        # the rests are the remainders that pass the check on the state they rest on
        # (its liquidation orders included), as the next batch's reveals are checked
        liq_next = [lo.resting for lo in new.pending_liquidations]
        capped = cap_reduce_only(new, cfg, batch.carried, liq_next)
        assert list(new.resting_orders) == check_carried(new, cfg, capped)
        state, carried = new, list(new.resting_orders)


def test_apply_batch_is_pure_and_deterministic() -> None:
    state = funded([10**10, 10**10])
    batch = make_batch(
        1,
        [
            (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_100, 5)),
            (TRADERS[1], Order("BTC-PERP", Side.SELL, 649_900, 5)),
        ],
    )
    rnd = oracle_round(1, 1_000, PRICES)
    before = state.collateral.copy()
    a, wa = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
    b, wb = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
    assert state.collateral.tolist() == before.tolist()
    assert wa.post_root == wb.post_root and wa.pre_root != wa.post_root
    assert a.collateral.tolist() == b.collateral.tolist()
    assert wa.oracle_digest == rnd.digest()
    assert wa.fees == a.fee_pool > 0


def test_fills_move_positions_and_cash_exactly() -> None:
    state = funded([10**10, 10**10])
    batch = make_batch(
        1,
        [
            (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_000, 7)),
            (TRADERS[1], Order("BTC-PERP", Side.SELL, 650_000, 7)),
        ],
    )
    new, _w = apply_batch(state, batch, oracle_round(1, 1_000, PRICES), DEFAULT_CONFIG, ORACLE)
    notional = 7 * 650_000 * 100
    fee = -((-notional * 5) // 10_000)
    assert new.positions.tolist() == [[7, 0], [-7, 0]]
    assert new.collateral.tolist() == [10**10 - notional - fee, 10**10 + notional - fee]
    assert new.fee_pool == 2 * fee


def test_forfeited_bond_goes_to_insurance() -> None:
    cfg = replace(DEFAULT_CONFIG, forfeit_bond=2_000_000)
    state = funded([10**9, 500_000], cfg)
    batch = make_batch(
        1, [], cfg, forfeits=[(TRADERS[0], "BTC-PERP", 1_000_000), (TRADERS[1], "ETH-PERP", 0)]
    )
    new, w = apply_batch(state, batch, oracle_round(1, 1_000, PRICES), cfg, ORACLE)
    # at least the configured bond, all of it even beyond the collateral: trader 1's
    # deficit (1 500 000) is covered by the insurance fund, which received the bonds
    assert w.forfeits == ((key(0), 2_000_000), (key(1), 2_000_000))
    assert [(d.account, d.deficit) for d in w.deficits] == [(key(1), 1_500_000)]
    assert new.insurance_fund == 4_000_000 - 1_500_000
    assert new.collateral.tolist() == [10**9 - 2_000_000, 0]


def test_deposits_and_withdrawals_in_a_batch() -> None:
    state = funded([1_000_000])
    batch = make_batch(1, [])
    new, _w = apply_batch(
        state,
        batch,
        oracle_round(1, 1_000, PRICES),
        DEFAULT_CONFIG,
        ORACLE,
        deposits=[(key(1), 300)],
        withdrawals=[(key(0), 1_000)],
    )
    assert total_value(new) - total_value(state) == 300 - 1_000
    with pytest.raises(InsufficientCollateral):
        apply_batch(
            state,
            batch,
            oracle_round(1, 1_000, PRICES),
            DEFAULT_CONFIG,
            ORACLE,
            withdrawals=[(key(0), 10**7)],
        )


def test_batch_ids_and_round_times_move_forward() -> None:
    state = funded([1])
    new, _ = apply_batch(
        state, make_batch(3, []), oracle_round(3, 5_000, PRICES), DEFAULT_CONFIG, ORACLE
    )
    with pytest.raises(SettlementError, match="batch_id"):
        apply_batch(new, make_batch(3, []), oracle_round(3, 6_000, PRICES), DEFAULT_CONFIG, ORACLE)
    with pytest.raises(SettlementError, match="round time"):
        apply_batch(new, make_batch(4, []), oracle_round(4, 4_000, PRICES), DEFAULT_CONFIG, ORACLE)


def test_oracle_rounds_are_bound_to_their_batch() -> None:
    """Issue scenario 4: one round (same id and time) was accepted for every batch, and
    round 3 after round 7; now the round id is the batch id and time strictly moves on."""
    state = funded([1])
    rnd = oracle_round(3, 5_000, PRICES)
    new, _ = apply_batch(state, make_batch(3, []), rnd, DEFAULT_CONFIG, ORACLE)
    with pytest.raises(SettlementError, match="round_id 4"):
        apply_batch(new, make_batch(4, []), rnd, DEFAULT_CONFIG, ORACLE)  # the same round again
    with pytest.raises(SettlementError, match="round time"):
        apply_batch(new, make_batch(4, []), oracle_round(4, 5_000, PRICES), DEFAULT_CONFIG, ORACLE)
    with pytest.raises(SettlementError, match="round_id 8"):
        apply_batch(new, make_batch(8, []), oracle_round(7, 9_000, PRICES), DEFAULT_CONFIG, ORACLE)


#: A book whose optimal interval is 649 990 … 650 010 (5 lots a side, each price
#: executes all of them): the reference alone picks the price inside it.
WIDE = [
    (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_010, 5)),
    (TRADERS[1], Order("BTC-PERP", Side.SELL, 649_990, 5)),
]


def test_a_first_batch_clears_without_a_reference() -> None:
    """Before a first mark the operator may state no reference: one inside the optimal
    interval would move the price off the midpoint (here to its top, an operator
    buying cheaper from itself were it the seller); the honest batch settles."""
    state = funded([10**10, 10**10])
    rnd = oracle_round(1, 1_000, PRICES)
    steered = make_batch(1, WIDE, references={"BTC-PERP": 650_010, "ETH-PERP": None})
    assert steered.markets["BTC-PERP"].price == 650_010
    with pytest.raises(
        SettlementError, match=r"BTC-PERP reference price: expected None .* got 650010"
    ):
        apply_batch(state, steered, rnd, DEFAULT_CONFIG, ORACLE)
    honest = make_batch(1, WIDE, pre=state)
    assert honest.markets["BTC-PERP"].price == 650_000  # the midpoint
    apply_batch(state, honest, rnd, DEFAULT_CONFIG, ORACLE)


@pytest.mark.parametrize("delta", [-1, 1, None], ids=["tick-below", "tick-above", "none"])
def test_a_batch_clears_around_the_pre_states_mark(delta: int | None) -> None:
    """With a mark the reference is the mark: one tick off, or none, is refused."""
    state = funded([10**10, 10**10])
    first = make_batch(1, WIDE, pre=state)
    state, _ = apply_batch(state, first, oracle_round(1, 1_000, PRICES), DEFAULT_CONFIG, ORACLE)
    mark = state.market_state("BTC-PERP").mark_price
    assert mark
    ref = None if delta is None else mark + delta
    forged = make_batch(2, WIDE, references={"BTC-PERP": ref, "ETH-PERP": None})
    rnd = oracle_round(2, 2_000, PRICES)
    with pytest.raises(SettlementError, match=rf"expected {mark} .* got {ref}"):
        apply_batch(state, forged, rnd, DEFAULT_CONFIG, ORACLE)
    apply_batch(state, make_batch(2, WIDE, pre=state), rnd, DEFAULT_CONFIG, ORACLE)


def test_fill_of_unknown_account_is_refused() -> None:
    from sealbatch.settlement.errors import UnknownAccount

    state = funded([10**10])
    batch = make_batch(
        1,
        [
            (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_000, 1)),
            (TRADERS[5], Order("BTC-PERP", Side.SELL, 650_000, 1)),
        ],
    )
    with pytest.raises(UnknownAccount):
        apply_batch(state, batch, oracle_round(1, 1_000, PRICES), DEFAULT_CONFIG, ORACLE)


def test_funding_is_charged_on_positions_held() -> None:
    cfg = default_config()
    state = funded([10**11, 10**11], cfg)
    open_batch = make_batch(
        1,
        [
            (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_065, 100)),
            (TRADERS[1], Order("BTC-PERP", Side.SELL, 650_065, 100)),
        ],
    )
    state, _ = apply_batch(state, open_batch, oracle_round(1, 1_000, PRICES), cfg, ORACLE)
    assert state.market_state("BTC-PERP").premium == 65  # in force from batch 2 on
    paid = 0
    for b in range(2, 2 + 8):
        # the batch trades 65 ticks (100 ppm) above the index every time
        batch = make_batch(
            b,
            [
                (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_065, 1)),
                (TRADERS[1], Order("BTC-PERP", Side.SELL, 650_065, 1)),
            ],
            pre=state,
        )
        state, w = apply_batch(state, batch, oracle_round(b, 1_000 * b, PRICES), cfg, ORACLE)
        paid += w.funding["BTC-PERP"].delta_index
    # interval 8 batches: the first had no Δt (no sample), so the interval ending at batch 8
    # averages 7 samples of the +65 ticks in force before each batch; rate 100 ppm;
    # Δ = 100 × 650 000 × 100 / 10^6 = 6 500
    assert paid == 6_500
    assert state.market_state("BTC-PERP").funding_index == 6_500
