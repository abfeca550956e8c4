"""Ledger: deposits, withdrawals of free collateral only, transfers, equity, fees."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.collateral import transfer, withdraw
from sealbatch.settlement.errors import InsufficientCollateral, SettlementError, UnknownAccount
from sealbatch.settlement.ledger import (
    AccountKey,
    deposit,
    empty_state,
    equity,
    fill_fee,
    open_account,
    total_value,
)
from sealbatch.settlement.params import DEFAULT_CONFIG
from tests.settlement.conftest import TRADERS, funded, key


def test_deposit_opens_and_credits() -> None:
    s = deposit(empty_state(DEFAULT_CONFIG), key(0), 5_000_000)
    s = deposit(s, key(0), 1)
    assert s.accounts == (key(0),)
    assert int(s.collateral[0]) == 5_000_001
    assert total_value(s) == 5_000_001


def test_state_is_immutable() -> None:
    s = funded([100])
    with pytest.raises(ValueError):
        s.collateral[0] = 5
    s2 = deposit(s, key(0), 7)
    assert int(s.collateral[0]) == 100 and int(s2.collateral[0]) == 107


@pytest.mark.parametrize("amount", [0, -5, 1 << 62, True, 1.5])
def test_deposit_rejects_bad_amounts(amount: object) -> None:
    with pytest.raises(SettlementError, match="amount"):
        deposit(empty_state(DEFAULT_CONFIG), key(0), amount)  # type: ignore[arg-type]


def test_bad_keys_and_duplicates() -> None:
    s = empty_state(DEFAULT_CONFIG)
    with pytest.raises(SettlementError, match="address"):
        deposit(s, AccountKey(Address("0x12"), 0), 1)
    with pytest.raises(SettlementError, match="subaccount"):
        deposit(s, AccountKey(TRADERS[0], -1), 1)
    s = open_account(s, key(0))
    with pytest.raises(SettlementError, match="existing"):
        open_account(s, key(0))


def test_withdraw_free_collateral_only() -> None:
    s = funded([10_000_000])
    s = withdraw(s, key(0), 4_000_000, DEFAULT_CONFIG)
    assert int(s.collateral[0]) == 6_000_000
    with pytest.raises(InsufficientCollateral, match="free collateral 6000000"):
        withdraw(s, key(0), 6_000_001, DEFAULT_CONFIG)
    with pytest.raises(UnknownAccount):
        withdraw(s, key(5), 1, DEFAULT_CONFIG)


def test_withdraw_keeps_initial_margin() -> None:
    from dataclasses import replace

    s = funded([100_000_000_000, 100_000_000_000])
    pos = np.array([[10, 0], [-10, 0]], dtype=np.int64)
    ms = tuple(
        replace(m, mark_price=p) for m, p in zip(s.market_states, (650_000, 350_000), strict=True)
    )
    s = s.with_arrays(positions=pos, market_states=ms)
    # 10 lots × 650 000 ticks × 100 = 650 000 000 notional, 10% initial = 65 000 000
    eq = int(equity(s, DEFAULT_CONFIG)[0])
    free = eq - 65_000_000
    withdraw(s, key(0), free, DEFAULT_CONFIG)
    with pytest.raises(InsufficientCollateral):
        withdraw(s, key(0), free + 1, DEFAULT_CONFIG)


def test_transfer_between_subaccounts() -> None:
    s = funded([1_000])
    s = transfer(s, key(0), key(0, 3), 400, DEFAULT_CONFIG)
    assert int(s.collateral[s.row(key(0))]) == 600
    assert int(s.collateral[s.row(key(0, 3))]) == 400
    with pytest.raises(SettlementError, match="one address"):
        transfer(s, key(0), key(1), 1, DEFAULT_CONFIG)


def _equity_reference(collateral: int, positions: list[int], marks: list[int]) -> int:
    mults = [r.multiplier for r in DEFAULT_CONFIG.markets]
    return collateral + sum(p * m * k for p, m, k in zip(positions, marks, mults, strict=True))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(10**12), 10**12),
            st.integers(-(10**6), 10**6),
            st.integers(-(10**6), 10**6),
        ),
        min_size=1,
        max_size=20,
    ),
    st.integers(1, 10**7),
    st.integers(1, 10**7),
)
def test_equity_matches_scalar_reference(
    rows: list[tuple[int, int, int]], m0: int, m1: int
) -> None:
    from dataclasses import replace

    s = funded([1] * len(rows))
    s = s.with_arrays(
        collateral=np.array([r[0] for r in rows], dtype=np.int64),
        positions=np.array([[r[1], r[2]] for r in rows], dtype=np.int64),
        market_states=tuple(
            replace(m, mark_price=p) for m, p in zip(s.market_states, (m0, m1), strict=True)
        ),
    )
    got = equity(s, DEFAULT_CONFIG).tolist()
    assert got == [_equity_reference(c, [a, b], [m0, m1]) for c, a, b in rows]


def test_notional_overflow_is_refused() -> None:
    from dataclasses import replace

    s = funded([1])
    s = s.with_arrays(
        positions=np.array([[1 << 40, 0]], dtype=np.int64),
        market_states=tuple(replace(m, mark_price=1 << 30) for m in s.market_states),
    )
    with pytest.raises(SettlementError, match="2\\^62"):
        equity(s, DEFAULT_CONFIG)


@pytest.mark.parametrize(
    ("q", "p", "mult", "bps", "want"),
    [(1, 1, 1, 5, 1), (10, 650_000, 100, 5, 325_000), (3, 7, 1, 5, 1), (1, 1, 1, 0, 0)],
)
def test_fill_fee_rounds_up(q: int, p: int, mult: int, bps: int, want: int) -> None:
    assert fill_fee(q, p, mult, bps) == want
