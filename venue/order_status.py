"""Order statuses: what happened to each commitment, and why it did not fill."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sealbatch.auction.batch import BatchResult
from sealbatch.auction.frozen import frozen_instance
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address

__all__ = ["OrderState", "OrderStatus", "update_order_statuses"]

OrderState = Literal[
    "committed", "revealed", "filled", "partially_filled", "resting", "not_filled", "forfeited"
]
"""Where an order stands: open (``committed``, ``revealed``) or what its batch did."""

_OPEN: tuple[OrderState, ...] = ("committed", "revealed")


@dataclass(frozen=True)
class OrderStatus:
    """What happened to one commitment so far (``GET /v1/orders/{commitment}``).

    Attributes:
        commitment: the commitment hash (the order's id).
        trader: the committing trader (checksummed).
        market, batch_id, sequence, bond: from the commitment and its receipt.
        status: see :data:`OrderState`.
        reason: why it did not (fully) fill, or a recorded reveal refusal's reason.
        detail: the reason in words (may quote the trader's margin or order).
        order: the revealed order.
        filled: lots filled so far, over every batch it took part in.
        price: the clearing price of its last fill.
        share: ``filled/quantity`` once it took part in a batch.
        last_batch_id: the last batch it took part in (a GTC rest may take part in several).
    """

    commitment: bytes
    trader: Address
    market: str
    batch_id: int
    sequence: int
    bond: int
    status: OrderState = "committed"
    reason: str | None = None
    detail: str | None = None
    order: Order | None = None
    filled: int = 0
    price: int | None = None
    share: str | None = None
    last_batch_id: int | None = None

    @classmethod
    def committed(
        cls,
        commitment: bytes,
        trader: Address,
        market: str,
        batch_id: int,
        sequence: int,
        bond: int,
    ) -> OrderStatus:
        """A commitment just taken: ``OrderStatus(commitment, trader, market, batch_id,
        sequence, bond)``, every other field at its default, built without the frozen
        dataclass's fourteen ``object.__setattr__`` calls (every commitment makes one;
        ``tests/venue/test_bulk_cpu.py`` checks it equals the constructor's value)."""
        return frozen_instance(
            cls,
            {
                "commitment": commitment,
                "trader": trader,
                "market": market,
                "batch_id": batch_id,
                "sequence": sequence,
                "bond": bond,
                **_DEFAULTS,
            },
        )

    @property
    def is_open(self) -> bool:
        """Its batch has not cleared yet."""
        return self.status in _OPEN

    def sealed(self) -> OrderStatus:
        """What the venue shows of it: an open order's revealed order and the
        detail of a refused reveal stay hidden until its batch clears (showing
        them during the reveal window would tell late revealers what the
        others did)."""
        return dataclasses.replace(self, order=None, detail=None) if self.is_open else self

    def to_json(self) -> dict[str, Any]:
        """The answer's JSON object (docs/api.md); ``last_batch_id`` only once set."""
        out: dict[str, Any] = {
            "commitment": "0x" + self.commitment.hex(),
            "trader": self.trader,
            "market": self.market,
            "batch_id": self.batch_id,
            "sequence": self.sequence,
            "bond": self.bond,
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail,
            "order": self.order.to_dict() if self.order is not None else None,
            "filled": self.filled,
            "price": self.price,
            "share": self.share,
        }
        if self.last_batch_id is not None:
            out["last_batch_id"] = self.last_batch_id
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> OrderStatus:
        """A status from its :meth:`to_json` form (as stored)."""
        order = d["order"]
        return cls(
            commitment=bytes.fromhex(d["commitment"].removeprefix("0x")),
            trader=Address(d["trader"]),
            market=d["market"],
            batch_id=d["batch_id"],
            sequence=d["sequence"],
            bond=d["bond"],
            status=d["status"],
            reason=d["reason"],
            detail=d["detail"],
            order=Order.from_dict(order) if order is not None else None,
            filled=d["filled"],
            price=d["price"],
            share=d["share"],
            last_batch_id=d.get("last_batch_id"),
        )


#: The fields a new commitment's status leaves at their defaults (:meth:`OrderStatus.committed`).
_DEFAULTS: dict[str, Any] = {
    f.name: f.default
    for f in dataclasses.fields(OrderStatus)
    if f.name not in ("commitment", "trader", "market", "batch_id", "sequence", "bond")
}


def update_order_statuses(statuses: dict[bytes, OrderStatus], result: BatchResult) -> None:
    """Record in each order's status what the batch did to it, and why.

    A fully filled order is ``filled``; otherwise the reason is ``no_trade``
    (no price), ``limit_not_reached`` (its limit is on the wrong side of the
    price) or ``rationed`` (at the marginal price, with ``share`` =
    filled/quantity), and the status ``resting`` (GTC rest carried),
    ``partially_filled`` or ``not_filled``. Unrevealed commitments become
    ``forfeited``, keeping the reason of a recorded reveal refusal.
    """
    filled: dict[bytes, int] = {}
    for mr in result.markets.values():
        for f in mr.fills:
            filled[f.order_id] = filled.get(f.order_id, 0) + f.quantity
    carried = {r.order_id for r in result.carried}
    for r in result.orders:
        old = statuses.get(r.order_id)
        if old is None:
            continue
        q = filled.get(r.order_id, 0)
        mr = result.markets[r.order.market]
        total = old.order.quantity if old.order is not None else r.order.quantity
        done = old.filled + q
        new = dataclasses.replace(
            old,
            filled=done,
            price=mr.price if q else old.price,
            share=f"{done}/{total}",
            last_batch_id=result.batch_id,
        )
        limit = r.order.limit_price
        if done == total:
            statuses[r.order_id] = dataclasses.replace(
                new, status="filled", reason="filled", detail=None
            )
            continue
        if mr.price is None:
            reason, detail = "no_trade", f"no crossing orders in {r.order.market}"
        elif limit is not None and (
            (r.order.side is Side.BUY and limit < mr.price)
            or (r.order.side is Side.SELL and limit > mr.price)
        ):
            reason = "limit_not_reached"
            detail = f"limit {limit} did not reach the clearing price {mr.price}"
        else:
            reason = "rationed"
            detail = f"rationed at the margin: received {done} of {total} lots at {mr.price}"
        status: OrderState = (
            "resting" if r.order_id in carried else ("partially_filled" if done else "not_filled")
        )
        statuses[r.order_id] = dataclasses.replace(new, status=status, reason=reason, detail=detail)
    for forfeit in result.forfeited:
        old = statuses.get(forfeit.commitment)
        if old is None:
            continue
        statuses[forfeit.commitment] = dataclasses.replace(
            old,
            status="forfeited",
            reason=old.reason or "not_revealed",
            detail=old.detail or "the commitment was not revealed in the reveal window",
        )
