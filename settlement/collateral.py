"""Collateral that leaves an account or moves between subaccounts: free collateral only.

Deposits only add (:func:`sealbatch.settlement.ledger.deposit`); taking
collateral out is checked against the margin the account's positions need,
so it lives beside :mod:`sealbatch.settlement.margin`, above the ledger.
"""

from __future__ import annotations

from sealbatch.settlement.errors import InsufficientCollateral, SettlementError
from sealbatch.settlement.ledger import (
    AccountKey,
    LedgerState,
    check_amount,
    check_key,
    check_not_frozen,
    deposit,
)
from sealbatch.settlement.margin import free_collateral
from sealbatch.settlement.params import SettlementConfig

__all__ = ["apply_withdrawal", "transfer", "withdraw"]


def withdraw(
    state: LedgerState, key: AccountKey, amount: int, config: SettlementConfig
) -> LedgerState:
    """Debit ``amount`` from ``key``'s collateral: free collateral only.

    Free collateral is ``min(collateral, equity − initial requirement)``: a
    withdrawal never leaves the account below initial margin. An account
    holding a position in a flagged market withdraws nothing: its equity
    there is measured at a mark the oracle no longer vouches for.

    Raises:
        InsufficientCollateral: ``amount`` exceeds the free collateral.
        MarketFlagged: the account holds a position in a flagged market.
        UnknownAccount: no such account.
    """
    amount = check_amount("amount", amount)
    row = state.row(check_key(key))
    check_not_frozen(state, row, "withdrawal")
    free = int(free_collateral(state, config)[row])
    if amount > free:
        raise InsufficientCollateral(
            f"expected a withdrawal of at most the free collateral {free}, got {amount}"
        )
    collateral = state.collateral.copy()
    collateral[row] -= amount
    return state.with_arrays(collateral=collateral)


def apply_withdrawal(
    state: LedgerState, key: AccountKey, amount: int, config: SettlementConfig
) -> LedgerState:
    """A batch's withdrawal: :func:`withdraw` of ``amount``, or, for ``amount == 0``,
    nothing — a forced withdrawal from L1 that the account could not serve (no free
    collateral); the account must exist.

    Raises:
        UnknownAccount: no such account.
        and what :func:`withdraw` raises.
    """
    if amount == 0:
        state.row(check_key(key))
        return state
    return withdraw(state, key, amount, config)


def transfer(
    state: LedgerState,
    source: AccountKey,
    target: AccountKey,
    amount: int,
    config: SettlementConfig,
) -> LedgerState:
    """Move free collateral between two subaccounts of one address."""
    source, target = check_key(source), check_key(target)
    if source.address != target.address or source == target:
        raise SettlementError(f"expected two subaccounts of one address, got {source} and {target}")
    state = withdraw(state, source, amount, config)
    return deposit(state, target, amount)
