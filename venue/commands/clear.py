"""``sealbatch clear ORDERS.csv [--reference P] [--seed HEX] [--json]``."""

from __future__ import annotations

import argparse
import io
import json
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "clear",
        help="clear one market's orders from a CSV file at one uniform price",
        description="Clear ORDERS.csv (columns order_id,trader,side,limit_price,quantity; an "
        "empty limit_price is a market order) at the volume-maximising uniform price.",
    )
    p.add_argument("orders", metavar="ORDERS.csv", help="the orders to clear")
    p.add_argument("--reference", metavar="P", help="reference price in ticks (previous clearing)")
    p.add_argument(
        "--seed",
        metavar="HEX",
        default="00" * 32,
        help="32-byte batch seed for tie-breaking remainder lots (default: zero)",
    )
    p.add_argument("--market", metavar="M", help="clear only rows whose market column is M")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _order_id_bytes(order_id: str) -> bytes:
    """The 32 bytes an ``order_id`` enters the tie-break key as: a published id
    (``0x`` and 64 hex digits) is itself, any other text its Keccak-256."""
    from sealbatch.crypto.keccak import keccak256

    text = order_id.removeprefix("0x")
    if order_id.startswith("0x") and len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return keccak256(order_id.encode())


def _fail(message: str) -> int:
    print(f"sealbatch clear: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from sealbatch.auction.allocation import allocate
    from sealbatch.auction.batch import TieBreakKeys
    from sealbatch.auction.bounds import MAX_PRICE, bound_message, integer_in, is_integer_text
    from sealbatch.auction.clearing import aggregate_curves, discover_price
    from sealbatch.auction.orders_csv import OrdersCsvError, parse_orders_csv
    from sealbatch.settlement.input_files import BATCH_FILE_CAP, read_input_text

    reference: int | None = None
    if args.reference is not None:
        if not is_integer_text(args.reference):
            return _fail(
                f"--reference: expected an integer number of ticks, got {args.reference!r}"
            )
        reference = integer_in(args.reference, 1, MAX_PRICE)
        if reference is None:
            return _fail(bound_message("--reference", args.reference, 1, MAX_PRICE, "ticks"))
    try:
        seed = bytes.fromhex(args.seed.removeprefix("0x"))
    except ValueError:
        return _fail(f"--seed: expected 64 hex digits, got {args.seed!r}")
    if len(seed) != 32:
        return _fail(f"--seed: expected 32 bytes (64 hex digits), got {len(seed)} bytes")
    try:
        # An ORDERS.csv may be a batch's orders.csv: the cap of a published batch file.
        text = read_input_text(args.orders, BATCH_FILE_CAP, newline="")
        parsed = parse_orders_csv(io.StringIO(text, newline=""), market=args.market)
    except OrdersCsvError as exc:
        return _fail(f"{args.orders}: {exc}")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {args.orders}: {exc}")

    curves = aggregate_curves(parsed.book)
    discovery = discover_price(parsed.book, reference, curves)
    ids = [_order_id_bytes(oid) for oid in parsed.order_ids]
    fills = allocate(parsed.book, discovery, TieBreakKeys(seed, ids), curves)
    filled = [
        {"order_id": oid, "quantity": q}
        for oid, q in zip(parsed.order_ids, fills.tolist(), strict=True)
        if q
    ]
    if args.json:
        out = {
            "price": discovery.price,
            "volume": discovery.volume,
            "buy_volume": discovery.buy_volume,
            "sell_volume": discovery.sell_volume,
            "imbalance": discovery.imbalance,
            "fills": filled,
        }
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0
    price = "no trade" if discovery.price is None else f"{discovery.price} ticks"
    print(f"price      {price}")
    print(f"volume     {discovery.volume} lots")
    print(f"demand     {discovery.buy_volume} lots")
    print(f"supply     {discovery.sell_volume} lots")
    print(f"imbalance  {discovery.imbalance} lots")
    print(f"fills      {len(filled)} of {len(parsed.order_ids)} orders")
    width = max((len(f["order_id"]) for f in filled), default=8)
    for f in filled:
        print(f"  {f['order_id']:<{width}}  {f['quantity']}")
    return 0
