"""The forfeits' waivers in the batch AIR (``batch_air/waivers.py``): a forfeit is charged
0 exactly when its market is halted or flagged in the pre-state, or its trader holds a
pre-state position in a flagged market. An operator colluding with a trader who waives a
forfeit the rule charges (the trader keeps the bond the insurance fund is owed), or who
charges one the rule waives, publishes a batch whose every file agrees with the forged
charge; the prover refuses it and the AIR rejects its trace, naming statement 3."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement import transition
from sealbatch.settlement.batch_air import statement as statement_module
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.ledger import AccountKey, LedgerState, deposit, empty_state
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch, reference_prices
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    PRICES,
    check_all,
    committed_batch,
    halted_btc_state,
    healthy_state,
    refused_and_rejected,
    statement_of,
)
from tests.settlement.conftest import ORACLE, TRADERS, oracle_round

_BTC_ORDERS = [
    (TRADERS[2], Order(BTC, Side.BUY, 650_010, 5)),
    (TRADERS[3], Order(BTC, Side.SELL, 649_990, 7)),
    (TRADERS[4], Order(BTC, Side.SELL, None, 3)),
    (TRADERS[5], Order(BTC, Side.BUY, 650_000, 4)),
]
_ETH_ORDERS = [
    (TRADERS[2], Order(ETH, Side.BUY, None, 2)),
    (TRADERS[3], Order(ETH, Side.SELL, 350_000, 1)),
    (TRADERS[4], Order(ETH, Side.SELL, 350_010, 4)),
]
Rule = Callable[..., int]


@contextmanager
def _operator_rule(rule: Rule | None) -> Iterator[None]:
    """Settle and publish under ``rule`` instead of the transition's ``forfeit_charge``
    (the operator's own post-state, replayed and published consistently)."""
    if rule is None:
        yield
        return
    honest = transition.forfeit_charge
    transition.forfeit_charge = rule  # type: ignore[assignment]
    statement_module.forfeit_charge = rule  # type: ignore[assignment]
    try:
        yield
    finally:
        transition.forfeit_charge = honest  # type: ignore[assignment]
        statement_module.forfeit_charge = honest  # type: ignore[assignment]


def _waive_all(*args: object) -> int:
    return 0


def _charge_all(
    state: LedgerState, config: object, halted: object, trader: Address, market: str, bond: int
) -> int:
    return max(bond, DEFAULT_CONFIG.forfeit_bond)


def _batch(
    state: LedgerState,
    orders: Sequence[tuple[Address, Order]],
    ts: int = 1_000,
    rule: Rule | None = None,
    deposits: tuple[tuple[AccountKey, int], ...] = (),
) -> BatchStatement:
    """One batch over ``state`` with ``orders`` and TRADERS[0]'s forfeit in BTC-PERP."""
    batch = committed_batch(1, orders, reference_prices(state), forfeit_at=(1,))
    rnd = oracle_round(1, ts, PRICES)
    with _operator_rule(rule):
        post, _ = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE, deposits=deposits)
        published = BatchPublication(batch, rnd, state, post, deposits)
        return statement_of(published.files(DEFAULT_CONFIG, ORACLE))


def _frozen_btc() -> LedgerState:
    """BTC-PERP flagged after a trusted index (frozen), no position in it."""
    state = healthy_state()
    ms = tuple(
        replace(m, index_price=PRICES[m.market], flagged=True) if m.market == BTC else m
        for m in state.market_states
    )
    return state.with_arrays(market_states=ms)


def _opened_in_the_batch() -> LedgerState:
    """TRADERS[1 … 5] funded; TRADERS[0]'s account is opened by a deposit in the batch."""
    state = empty_state(DEFAULT_CONFIG)
    for i in range(1, 6):
        state = deposit(state, AccountKey(TRADERS[i], 0), 10**12)
    return state


_OPENING = ((AccountKey(TRADERS[0], 0), 10**12),)


def _late() -> int:
    return 1_000 + ORACLE.max_price_age_ms + 1


def _flagged_eth_position() -> LedgerState:
    """ETH-PERP flagged after a trusted index; TRADERS[0] long 1 lot of it, TRADERS[1]
    short (the forfeit is in BTC-PERP, which trades)."""
    state = healthy_state()
    ms = tuple(
        replace(m, mark_price=PRICES[m.market], index_price=PRICES[m.market], flagged=True)
        if m.market == ETH
        else replace(m, mark_price=PRICES[m.market])
        for m in state.market_states
    )
    positions = np.zeros((6, 2), np.int64)
    positions[0, 1], positions[1, 1] = 1, -1
    return state.with_arrays(market_states=ms, positions=positions)


def _third_row(statement: BatchStatement) -> int:
    return 1 + 2 * statement.output_fills + 2


def _refused_and_rejected(
    forged: BatchStatement, rejected: str, refused: str = "statement 3: a forfeit in BTC-PERP"
) -> None:
    refused_and_rejected(forged, refused, rejected, ValueError)


_WAIVER = "statement 3: a forfeit is waived exactly when the oracle refused its reveal"


@pytest.mark.parametrize(
    ("state", "orders", "ts", "charged"),
    [
        (healthy_state, _BTC_ORDERS + _ETH_ORDERS, 1_000, True),
        (halted_btc_state, _ETH_ORDERS, _late(), False),
        (_frozen_btc, _ETH_ORDERS, 1_000, False),
        (_flagged_eth_position, _BTC_ORDERS, 1_000, False),
    ],
    ids=["healthy", "halted market", "flagged market", "position in a flagged market"],
)
def test_the_honest_waiver_is_proved(
    state: Callable[[], LedgerState],
    orders: list[tuple[Address, Order]],
    ts: int,
    charged: bool,
) -> None:
    """Charged in a healthy market, waived in a halted one or for a trader holding a
    position in a flagged market: the honest trace satisfies the AIR with the waiver the
    rule gives."""
    st = _batch(state(), orders, ts)
    ((_, charge),) = st.forfeit_charges
    assert (charge > 0) == charged
    rows = rows_for(st)
    air, trace = generate(st, rows)
    check_all(air, trace)
    _, layout = build_with_layout(rows, st)
    assert int(trace[layout.column("odig", "waived"), _third_row(st)]) == int(not charged)


def test_a_forfeit_waived_in_a_healthy_market_is_caught_by_statement_3() -> None:
    """The operator waives a forfeit in a trading, unflagged market by a trader without a
    flagged position (its post-state keeps the bond with the trader): nothing the AIR
    proves says waived."""
    forged = _batch(healthy_state(), _BTC_ORDERS + _ETH_ORDERS, rule=_waive_all)
    assert forged.forfeit_charges[0][1] == 0
    _refused_and_rejected(forged, _WAIVER)


def test_a_charge_in_a_halted_market_is_caught_by_statement_3() -> None:
    """The operator charges a forfeit in a halted market (the oracle refused the reveal):
    the market's halted flag, picked by the record's market code, says waived."""
    forged = _batch(halted_btc_state(), _ETH_ORDERS, _late(), rule=_charge_all)
    assert forged.forfeit_charges[0][1] > 0
    _refused_and_rejected(forged, _WAIVER)


def test_a_charge_in_a_flagged_market_is_caught_by_statement_3() -> None:
    """The operator charges a forfeit in a market flagged (after a trusted index) in the
    pre-state: its pre-state flags, picked by the record's market code, say waived."""
    forged = _batch(_frozen_btc(), _ETH_ORDERS, rule=_charge_all)
    assert forged.forfeit_charges[0][1] > 0
    _refused_and_rejected(forged, _WAIVER)


def test_a_forfeit_waived_as_if_its_trader_had_no_account_is_caught_by_statement_3() -> None:
    """A deposit opens the trader's account in the batch, before the forfeits are taken,
    so the transition charges it; the operator waives it as if the trader had no account
    (the transition's other waiver): the account row is there, the lookup finds it, and
    nothing it proves says waived."""
    honest = _batch(_opened_in_the_batch(), _BTC_ORDERS, deposits=_OPENING)
    ((account, charge),) = honest.forfeit_charges
    assert charge > 0 and account >= len(honest.pre.accounts)
    air, trace = generate(honest, rows_for(honest))
    check_all(air, trace)
    forged = _batch(_opened_in_the_batch(), _BTC_ORDERS, rule=_waive_all, deposits=_OPENING)
    assert forged.forfeit_charges[0][1] == 0
    _refused_and_rejected(forged, _WAIVER)


def test_a_charge_to_a_trader_with_a_flagged_position_is_caught_by_statement_3() -> None:
    """The operator charges a trader holding a pre-state position in a flagged market:
    the bit the account row sends with the trader's lookup says waived."""
    forged = _batch(_flagged_eth_position(), _BTC_ORDERS, rule=_charge_all)
    assert forged.forfeit_charges[0][1] > 0
    _refused_and_rejected(forged, _WAIVER)


def test_the_flag_bit_forged_on_the_account_row_is_caught_by_statement_3() -> None:
    """The operator waives a healthy forfeit and claims, on the trader's account row and
    the forfeit's row, that the trader holds a flagged position: the account holds none,
    so the bit's inverse constraint fails."""
    forged = _batch(healthy_state(), _BTC_ORDERS + _ETH_ORDERS, rule=_waive_all)
    rows = rows_for(forged)
    air, layout = build_with_layout(rows, forged)
    _, trace = generate(forged, rows, refuse=False)
    r = _third_row(forged)
    account = int(trace[layout.column("odig", "forfeit_account"), r])
    trace[layout.column("waive", "flagged"), account] = np.uint64(1)
    trace[layout.column("odig", "has_orders"), r] = np.uint64(1)
    with pytest.raises(ConstraintViolation, match="a position in a flagged market"):
        check_all(air, trace)


def test_a_forged_pre_state_flag_is_caught_by_the_header() -> None:
    """The operator claims BTC-PERP frozen in the pre-state (flagged with an index: its
    column 3) to waive a forfeit there: the pre-state header's flag and index price, read
    on their rows, say 0."""
    forged = _batch(healthy_state(), _BTC_ORDERS + _ETH_ORDERS, rule=_waive_all)
    rows = rows_for(forged)
    air, layout = build_with_layout(rows, forged)
    _, trace = generate(forged, rows, refuse=False)
    trace[layout.column("waive", "oracle0")] = np.uint64(3)
    trace[layout.column("odig", "orders_inv"), _third_row(forged)] = np.uint64(1)
    with pytest.raises(ConstraintViolation, match="waivers: market 0's"):
        check_all(air, trace)
