"""Value bounds at the ledger's entry points: deposits, withdrawals, oracle
prices, the rules, and the batch transition's last check on positions and
pools (sealbatch.auction.bounds)."""

from __future__ import annotations

import pytest

from sealbatch.auction.bounds import MAX_BALANCE, MAX_LOTS, MAX_PRICE
from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.collateral import withdraw
from sealbatch.settlement.errors import InvariantViolation, OracleError, SettlementError
from sealbatch.settlement.ledger import deposit, empty_state
from sealbatch.settlement.oracle import PriceReport
from sealbatch.settlement.params import DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.transition import apply_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, key, make_batch, oracle_round

TOO_MUCH = (
    f"amount: expected an integer from 1 to {MAX_BALANCE} base units (below 2^62), "
    f"got {MAX_BALANCE + 1}"
)


def test_deposit_bound() -> None:
    state = empty_state(DEFAULT_CONFIG)
    with pytest.raises(SettlementError) as err:
        deposit(state, key(0), MAX_BALANCE + 1)
    assert str(err.value) == TOO_MUCH
    full = deposit(state, key(0), MAX_BALANCE)
    assert int(full.collateral[0]) == MAX_BALANCE
    with pytest.raises(SettlementError, match=r"collateral: expected at most .* \(below 2\^62\)"):
        deposit(full, key(0), 1)  # the balance, not only the amount, stays bounded
    assert int(full.collateral[0]) == MAX_BALANCE  # nothing changed


def test_withdrawal_bound() -> None:
    state = funded([10**9])
    with pytest.raises(SettlementError) as err:
        withdraw(state, key(0), MAX_BALANCE + 1, DEFAULT_CONFIG)
    assert str(err.value) == TOO_MUCH


def test_oracle_price_bound() -> None:
    PriceReport("BTC-PERP", MAX_PRICE, 1, TRADERS[0])
    with pytest.raises(OracleError) as err:
        PriceReport("BTC-PERP", MAX_PRICE + 1, 1, TRADERS[0])
    assert str(err.value) == (
        f"price: expected an integer from 1 to {MAX_PRICE} ticks (below 2^30), got {MAX_PRICE + 1}"
    )


def test_forfeit_bond_rule_bound() -> None:
    with pytest.raises(SettlementError, match="forfeit_bond"):
        SettlementConfig(
            DEFAULT_CONFIG.markets, DEFAULT_CONFIG.correlation_bps, forfeit_bond=MAX_BALANCE + 1
        )


def test_a_batch_built_around_the_reveal_check_cannot_exceed_the_position_bound() -> None:
    """The attack: an operator (or a replayed file) settles fills that the reveal
    check would have refused, to open a position the proof cannot range-check.
    The transition refuses the whole batch and the ledger is unchanged."""
    state = funded([10**15, 10**15])
    batch = make_batch(
        1,
        [
            (TRADERS[0], Order("BTC-PERP", Side.BUY, 1_000, MAX_LOTS)),
            (TRADERS[0], Order("BTC-PERP", Side.BUY, 1_000, 1)),
            (TRADERS[1], Order("BTC-PERP", Side.SELL, 1_000, MAX_LOTS)),
            (TRADERS[1], Order("BTC-PERP", Side.SELL, 1_000, 1)),
        ],
        pre=state,
    )
    rnd = oracle_round(1, 1_000, {"BTC-PERP": 1_000, "ETH-PERP": 1_000})
    with pytest.raises(InvariantViolation) as err:
        apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
    assert f"position: expected at most {MAX_LOTS} lots (below 2^22)" in str(err.value)
    assert int(state.positions.sum()) == 0
    # one lot less on each side settles
    ok = make_batch(
        1,
        [
            (TRADERS[0], Order("BTC-PERP", Side.BUY, 1_000, MAX_LOTS)),
            (TRADERS[1], Order("BTC-PERP", Side.SELL, 1_000, MAX_LOTS)),
        ],
        pre=state,
    )
    post, _ = apply_batch(state, ok, rnd, DEFAULT_CONFIG, ORACLE)
    assert post.positions[:, 0].tolist() == [MAX_LOTS, -MAX_LOTS]


@pytest.mark.parametrize(
    ("price", "quantity", "message"),
    [
        (MAX_PRICE + 1, 5, "block price: expected an integer from 1 to 1073741823 ticks"),
        (1_000, MAX_LOTS + 1, "block quantity: expected an integer from 1 to 4194303 lots"),
    ],
)
def test_block_trade_bounds(price: int, quantity: int, message: str) -> None:
    """An RFQ block handed to the transition directly (not through the RFQ book)
    is held to the same bounds as an order, and the batch is refused whole."""
    state = funded([10**15, 10**15])
    batch = make_batch(1, [], pre=state)
    block = BlockTrade(bytes(32), "BTC-PERP", TRADERS[0], TRADERS[1], price, quantity, 1)
    rnd = oracle_round(1, 1_000, {"BTC-PERP": 1_000, "ETH-PERP": 1_000})
    with pytest.raises(SettlementError, match=message):
        apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE, blocks=[block])
