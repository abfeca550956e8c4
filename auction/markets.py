"""Market specifications: tick, lot, size limits, block minimum, price band.

Prices are integer ticks, quantities integer lots. What a tick and a lot are
worth in collateral is fixed by ``contract_multiplier``: the notional of
``q`` lots at ``p`` ticks is ``q * p * contract_multiplier`` collateral base
units, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from sealbatch.auction import bounds
from sealbatch.auction.errors import InvalidOrder, OutsideBand, SizeOutOfRange
from sealbatch.auction.orders import Order

__all__ = ["DEFAULT_MARKETS", "MAX_LOTS", "MAX_MULTIPLIER", "MAX_TICKS", "Market"]

#: Highest price in ticks and largest quantity in lots (:mod:`sealbatch.auction.bounds`).
MAX_TICKS = bounds.MAX_PRICE
MAX_LOTS = bounds.MAX_LOTS
#: Largest ``contract_multiplier``: a notional of MAX_LOTS at MAX_TICKS stays
#: below 2^62 base units, the balance bound (:mod:`sealbatch.auction.bounds`).
MAX_MULTIPLIER = bounds.MAX_MULTIPLIER


@dataclass(frozen=True)
class Market:
    """One perpetual market's trading rules.

    Attributes:
        market_id: short name, e.g. ``"BTC-PERP"``.
        tick_size: human-readable value of one tick, e.g. ``"0.1 USD"``.
        lot_size: human-readable size of one lot, e.g. ``"0.001 BTC"``.
        contract_multiplier: collateral base units per lot per tick.
        min_order_lots: smallest order quantity accepted.
        max_order_lots: largest order quantity accepted.
        block_min_lots: smallest size of an RFQ block trade.
        band_bps: a limit price may differ from the reference price by at most
            this many basis points; 0 disables the band.
    """

    market_id: str
    tick_size: str = "1"
    lot_size: str = "1"
    contract_multiplier: int = 1
    min_order_lots: int = 1
    max_order_lots: int = 1_000_000
    block_min_lots: int = 10_000
    band_bps: int = 1_000

    def __post_init__(self) -> None:
        if not self.market_id or len(self.market_id) > 32:
            raise InvalidOrder(f"market_id: expected 1 to 32 characters, got {self.market_id!r}")
        for name in ("contract_multiplier", "min_order_lots", "max_order_lots", "block_min_lots"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidOrder(f"{name}: expected a positive integer, got {value!r}")
        if self.contract_multiplier > MAX_MULTIPLIER:
            raise InvalidOrder(
                bounds.bound_message(
                    "contract_multiplier", self.contract_multiplier, 1, MAX_MULTIPLIER
                )
            )
        if self.max_order_lots < self.min_order_lots or self.max_order_lots > MAX_LOTS:
            raise InvalidOrder(
                f"max_order_lots: expected between {self.min_order_lots} and {MAX_LOTS}, "
                f"got {self.max_order_lots}"
            )
        if isinstance(self.band_bps, bool) or not isinstance(self.band_bps, int):
            raise InvalidOrder(f"band_bps: expected an integer, got {self.band_bps!r}")
        if not 0 <= self.band_bps <= 10_000:
            raise InvalidOrder(f"band_bps: expected 0 to 10000, got {self.band_bps}")

    def band(self, reference: int | None) -> tuple[int, int] | None:
        """The inclusive price band ``(low, high)`` in ticks, or None when unbounded.

        ``low`` rounds up and ``high`` rounds down, so the band never admits a
        price further than ``band_bps`` from the reference.
        """
        if reference is None or self.band_bps == 0:
            return None
        low = -((-reference * (10_000 - self.band_bps)) // 10_000)
        high = reference * (10_000 + self.band_bps) // 10_000
        return max(low, 1), min(high, MAX_TICKS)

    def check_order(self, order: Order, reference: int | None) -> None:
        """Raise if ``order`` breaks this market's size limits or price band.

        Raises:
            SizeOutOfRange: quantity outside ``[min_order_lots, max_order_lots]``.
            OutsideBand: a limit price outside :meth:`band` of ``reference``.
        """
        if not self.min_order_lots <= order.quantity <= self.max_order_lots:
            raise SizeOutOfRange(
                f"quantity: expected {self.min_order_lots} to {self.max_order_lots} lots "
                f"in {self.market_id}, got {order.quantity}"
            )
        band = self.band(reference)
        if band is not None and order.limit_price is not None:
            low, high = band
            if not low <= order.limit_price <= high:
                raise OutsideBand(
                    f"limit_price: expected {low} to {high} ticks in {self.market_id} "
                    f"(reference {reference} ± {self.band_bps} bps), got {order.limit_price}"
                )


DEFAULT_MARKETS: dict[str, Market] = {
    m.market_id: m
    for m in (
        Market("BTC-PERP", tick_size="0.1 USD", lot_size="0.001 BTC", contract_multiplier=100),
        Market("ETH-PERP", tick_size="0.01 USD", lot_size="0.01 ETH", contract_multiplier=100),
    )
}
"""Markets of the embedded defaults (demo, tests). Collateral has 6 decimals:
a BTC-PERP lot of 0.001 BTC moves 0.001 × 0.1 USD = 100 base units per tick."""
