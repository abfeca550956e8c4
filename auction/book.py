"""Column form of one market's orders for one batch: the arrays clearing works on.

``OrderArrays`` holds one row per order: ``is_buy`` (bool), ``limit``
(int64 ticks, ``MARKET`` = 0 for a market order) and ``quantity`` (int64
lots). Clearing and allocation are pure functions of these arrays (plus the
reference price and the tie-break keys), so they vectorise and can be
replayed by anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sealbatch.auction.bounds import MAX_LOTS, MAX_PRICE
from sealbatch.auction.errors import InvalidOrder
from sealbatch.auction.orders import Order, Side

__all__ = ["MARKET", "OrderArrays"]

#: The ``limit`` value that marks a market order (prices are >= 1 tick).
MARKET = 0


@dataclass(frozen=True)
class OrderArrays:
    """One market's orders as parallel numpy arrays (row i is order i)."""

    is_buy: npt.NDArray[np.bool_]
    limit: npt.NDArray[np.int64]
    quantity: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        n = len(self.is_buy)
        if len(self.limit) != n or len(self.quantity) != n:
            raise InvalidOrder(
                f"expected arrays of one length, got is_buy {n}, limit {len(self.limit)}, "
                f"quantity {len(self.quantity)}"
            )
        if self.is_buy.dtype != np.bool_:
            raise InvalidOrder(f"is_buy: expected dtype bool, got {self.is_buy.dtype}")
        for name in ("limit", "quantity"):
            arr = getattr(self, name)
            if arr.dtype != np.int64:
                raise InvalidOrder(f"{name}: expected dtype int64, got {arr.dtype}")
        if n:
            if self.quantity.min() < 1 or self.quantity.max() > MAX_LOTS:
                raise InvalidOrder(f"quantity: expected 1 to {MAX_LOTS} lots in every row")
            if self.limit.min() < 0 or self.limit.max() > MAX_PRICE:
                raise InvalidOrder(
                    f"limit: expected 0 (market) or 1 to {MAX_PRICE} ticks in every row"
                )

    def __len__(self) -> int:
        return len(self.is_buy)

    @classmethod
    def from_orders(cls, orders: Sequence[Order]) -> OrderArrays:
        """Column form of ``orders`` (which must all be in one market)."""
        n = len(orders)
        is_buy = np.fromiter((o.side is Side.BUY for o in orders), dtype=np.bool_, count=n)
        limit = np.fromiter(
            (MARKET if o.limit_price is None else o.limit_price for o in orders),
            dtype=np.int64,
            count=n,
        )
        quantity = np.fromiter((o.quantity for o in orders), dtype=np.int64, count=n)
        return cls(is_buy, limit, quantity)

    @classmethod
    def empty(cls) -> OrderArrays:
        return cls(np.zeros(0, np.bool_), np.zeros(0, np.int64), np.zeros(0, np.int64))
