"""Order statuses: what happened to each commitment, and why it did not fill."""

from __future__ import annotations

from typing import Any

from sealbatch.auction.batch import BatchResult
from sealbatch.auction.orders import Side

__all__ = ["update_order_statuses"]


def update_order_statuses(fates: dict[bytes, dict[str, Any]], result: BatchResult) -> None:
    """Record in each order's fate what the batch did to it, and why.

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
        fate = fates.get(r.order_id)
        if fate is None:
            continue
        q = filled.get(r.order_id, 0)
        mr = result.markets[r.order.market]
        total = fate["order"]["quantity"] if fate["order"] else r.order.quantity
        fate["filled"] += q
        fate["price"] = mr.price if q else fate["price"]
        fate["share"] = f"{fate['filled']}/{total}"
        fate["last_batch_id"] = result.batch_id
        limit = r.order.limit_price
        if fate["filled"] == total:
            fate.update(status="filled", reason="filled", detail=None)
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
            detail = (
                f"rationed at the margin: received {fate['filled']} of {total} lots at {mr.price}"
            )
        status = (
            "resting"
            if r.order_id in carried
            else ("partially_filled" if fate["filled"] else "not_filled")
        )
        fate.update(status=status, reason=reason, detail=detail)
    for forfeit in result.forfeited:
        fate = fates.get(forfeit.commitment)
        if fate is None:
            continue
        reason = fate["reason"] or "not_revealed"
        detail = fate["detail"] or "the commitment was not revealed in the reveal window"
        fate.update(status="forfeited", reason=reason, detail=detail)
