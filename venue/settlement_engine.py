"""The venue's one door into the settlement layer (ledger, margin, funding).

The operator talks to settlement only through :class:`SettlementEngine`:
a margin check on every matching reveal, deposits, applying a cleared batch
(fills, block trades, forfeited bonds) and account / market views. Which
implementation runs is chosen in :func:`make_settlement_engine`; while the
ledger is not wired in, :class:`NoSettlement` answers every account query
with an honest ``settlement_unavailable`` problem and batches stop at the
``cleared`` status instead of ``settled``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from auction.batch import BatchResult
from auction.markets import Market
from auction.orders import Order
from crypto.eip712 import Address
from venue.errors import SettlementUnavailable
from venue.rfq import Acceptance

__all__ = ["NoSettlement", "SettlementEngine", "make_settlement_engine"]


class SettlementEngine(Protocol):
    """What the operator needs from settlement; every method is deterministic
    in the sequence of calls, so a replay of the durable log rebuilds it."""

    name: str

    def reveal_check(self, trader: Address, order: Order) -> None:
        """Raise an ``AuctionError`` (e.g. InsufficientMargin) to refuse a reveal."""
        ...

    def deposit(self, trader: Address, amount: int, at_ms: int) -> None:
        """Credit collateral; raises SettlementUnavailable without a ledger."""
        ...

    def settle(
        self, result: BatchResult, blocks: Sequence[Acceptance], at_ms: int
    ) -> dict[str, Any] | None:
        """Apply a cleared batch; returns a JSON summary (state root, ...), or None
        when nothing was settled."""
        ...

    def account(self, trader: Address) -> dict[str, Any]:
        """Collateral, positions, equity, margin requirements, liquidation prices."""
        ...

    def market_state(self, market: str) -> dict[str, Any]:
        """Oracle index, mark price and funding of one market."""
        ...


class NoSettlement:
    """No ledger wired in: reveals are not margin-checked, nothing settles."""

    name = "none"

    def __init__(self, markets: Mapping[str, Market]) -> None:
        self.markets = markets

    def reveal_check(self, trader: Address, order: Order) -> None:
        return None

    def deposit(self, trader: Address, amount: int, at_ms: int) -> None:
        raise SettlementUnavailable("deposits need the settlement ledger, which is not wired in")

    def settle(
        self, result: BatchResult, blocks: Sequence[Acceptance], at_ms: int
    ) -> dict[str, Any] | None:
        return None

    def account(self, trader: Address) -> dict[str, Any]:
        raise SettlementUnavailable("accounts need the settlement ledger, which is not wired in")

    def market_state(self, market: str) -> dict[str, Any]:
        return {"oracle": None, "mark_price": None, "funding": None, "settlement": self.name}


def make_settlement_engine(markets: Mapping[str, Market]) -> SettlementEngine:
    """The settlement engine this build of the venue runs with."""
    return NoSettlement(markets)
