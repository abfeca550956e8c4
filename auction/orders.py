"""Orders: side, integer limit price (or market), integer lots, time in force.

An order is a frozen value; it validates its own fields on construction.
Its fields are what a trader signs in the EIP-712 ``Reveal``
(:meth:`Order.typed_fields`, so a wallet shows the order itself, never an
opaque hash) and what the Poseidon2 commitment hashes
(:mod:`sealbatch.auction.commitment`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sealbatch.auction.bounds import MAX_LOTS, MAX_PRICE, bound_message, within
from sealbatch.auction.errors import InvalidOrder

__all__ = ["ORDER_FIELDS", "Order", "Side", "TimeInForce"]

#: The order's EIP-712 fields, in the order the ``Reveal`` type lists them
#: (docs/signing.md, "Reveal"): sides and time in force as their JSON strings,
#: a market order's limit price as 0 (a limit price is at least 1).
ORDER_FIELDS: tuple[tuple[str, str], ...] = (
    ("market", "string"),
    ("side", "string"),
    ("limitPrice", "uint64"),
    ("quantity", "uint64"),
    ("timeInForce", "string"),
    ("reduceOnly", "bool"),
    ("clientId", "uint64"),
)

_MAX_U64 = (1 << 64) - 1


class Side(Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the change of position per lot filled."""
        return 1 if self is Side.BUY else -1


class TimeInForce(Enum):
    """How long an order takes part.

    IOC: this batch only (the default). GTC: the unfilled rest carries into
    later batches until filled or cancelled. Market orders are always IOC.
    """

    IOC = "ioc"
    GTC = "gtc"


def _check_int(name: str, value: object, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOrder(f"{name}: expected an integer, got {value!r}")
    if not within(value, low, high):
        raise InvalidOrder(bound_message(name, value, low, high, unit))
    return value


@dataclass(frozen=True)
class Order:
    """A trader's order in one market.

    Attributes:
        market: market id, e.g. ``"BTC-PERP"``.
        side: buy or sell.
        limit_price: worst acceptable price in ticks; None for a market order,
            which takes part at every price.
        quantity: lots, at least 1.
        time_in_force: IOC (default) or GTC.
        reduce_only: may only reduce the trader's position.
        client_id: the trader's own reference (uint64), echoed in reports.
    """

    market: str
    side: Side
    limit_price: int | None
    quantity: int
    time_in_force: TimeInForce = TimeInForce.IOC
    reduce_only: bool = False
    client_id: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.market, str) or not 1 <= len(self.market) <= 32:
            raise InvalidOrder(f"market: expected 1 to 32 characters, got {self.market!r}")
        if not isinstance(self.side, Side):
            raise InvalidOrder(f"side: expected 'buy' or 'sell', got {self.side!r}")
        if self.limit_price is not None:
            _check_int("limit_price", self.limit_price, 1, MAX_PRICE, "ticks")
        _check_int("quantity", self.quantity, 1, MAX_LOTS, "lots")
        if not isinstance(self.time_in_force, TimeInForce):
            raise InvalidOrder(
                f"time_in_force: expected 'ioc' or 'gtc', got {self.time_in_force!r}"
            )
        if self.limit_price is None and self.time_in_force is TimeInForce.GTC:
            raise InvalidOrder(
                "time_in_force: a market order cannot rest; expected 'ioc', got 'gtc'"
            )
        if not isinstance(self.reduce_only, bool):
            raise InvalidOrder(f"reduce_only: expected a bool, got {self.reduce_only!r}")
        _check_int("client_id", self.client_id, 0, _MAX_U64)

    @property
    def is_market(self) -> bool:
        return self.limit_price is None

    def typed_fields(self) -> dict[str, object]:
        """The order as the EIP-712 fields :data:`ORDER_FIELDS` names.

        Every field a wallet shows is the order's own value: ``side`` and
        ``timeInForce`` are the strings of the JSON order, ``limitPrice`` is
        0 for a market order. Two different orders never give the same fields.
        """
        return {
            "market": self.market,
            "side": self.side.value,
            "limitPrice": self.limit_price or 0,
            "quantity": self.quantity,
            "timeInForce": self.time_in_force.value,
            "reduceOnly": self.reduce_only,
            "clientId": self.client_id,
        }

    def with_quantity(self, quantity: int) -> Order:
        """The same order for another quantity (the unfilled rest of a GTC order)."""
        return Order(
            self.market,
            self.side,
            self.limit_price,
            quantity,
            self.time_in_force,
            self.reduce_only,
            self.client_id,
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "market": self.market,
            "side": self.side.value,
            "limit_price": self.limit_price,
            "quantity": self.quantity,
            "time_in_force": self.time_in_force.value,
            "reduce_only": self.reduce_only,
            "client_id": self.client_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Order:
        """Build an order from its :meth:`to_dict` form; raises InvalidOrder."""
        try:
            side = Side(data["side"])
            tif = TimeInForce(data.get("time_in_force", "ioc"))
        except ValueError as exc:
            raise InvalidOrder(str(exc)) from exc
        except KeyError as exc:
            raise InvalidOrder(f"missing field {exc}") from exc
        try:
            return cls(
                market=data["market"],  # type: ignore[arg-type]
                side=side,
                limit_price=data.get("limit_price"),  # type: ignore[arg-type]
                quantity=data["quantity"],  # type: ignore[arg-type]
                time_in_force=tif,
                reduce_only=data.get("reduce_only", False),  # type: ignore[arg-type]
                client_id=data.get("client_id", 0),  # type: ignore[arg-type]
            )
        except KeyError as exc:
            raise InvalidOrder(f"missing field {exc}") from exc
