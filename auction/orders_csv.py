"""Parse an ORDERS.csv file (the ``sealbatch clear`` input) into one market's book.

Columns (header required, any order, each named once, extra columns ignored
except ``market``; a row has no value past the header's last column):
``order_id,trader,side,limit_price,quantity``. ``side`` is ``buy`` or
``sell``; ``limit_price`` an integer number of ticks, or empty for a market
order; ``quantity`` an integer number of lots. A ``market`` column, when
present, must name one market (or be filtered with ``market=``).

Every problem raises :class:`OrdersCsvError` naming the data row (1-based,
the header is not a row) and the field, and nothing is returned.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sealbatch.auction.book import MARKET, OrderArrays
from sealbatch.auction.bounds import (
    MAX_LOTS,
    MAX_PRICE,
    bound_message,
    integer_in,
    is_integer_text,
)
from sealbatch.auction.errors import InvalidOrder

__all__ = ["COLUMNS", "CsvBook", "OrdersCsvError", "parse_orders_csv"]

COLUMNS = ("order_id", "trader", "side", "limit_price", "quantity")
_BOM = "\ufeff"


class OrdersCsvError(InvalidOrder):
    """A row or field of ORDERS.csv is invalid."""

    code = "invalid_orders_csv"

    def __init__(self, message: str, row: int | None = None, field: str | None = None) -> None:
        where = ""
        if row is not None:
            where = f"row {row}" + (f", field '{field}'" if field else "") + ": "
        elif field is not None:
            where = f"field '{field}': "
        super().__init__(where + message)
        self.row = row
        self.field = field


@dataclass(frozen=True)
class CsvBook:
    """The parsed orders: ids and traders in file order, plus the column arrays."""

    order_ids: tuple[str, ...]
    traders: tuple[str, ...]
    book: OrderArrays
    market: str | None


def _int_field(text: str, row: int, field: str, high: int, unit: str) -> int:
    # ASCII digits only: int() would also take "1_000" and non-ASCII digits.
    if not is_integer_text(text):
        raise OrdersCsvError(f"expected an integer, got {text!r}", row, field)
    value = integer_in(text, 1, high)
    if value is None:
        raise OrdersCsvError(
            bound_message(field, text, 1, high, unit).split(": ", 1)[1], row, field
        )
    return value


def parse_orders_csv(lines: Iterable[str], market: str | None = None) -> CsvBook:
    """Parse ORDERS.csv text lines.

    Args:
        lines: the file's lines (e.g. an open text file).
        market: keep only rows of this market (needs a ``market`` column).

    Raises:
        OrdersCsvError: a missing column, an empty or duplicate order id, an
            unknown side, a non-integer or out-of-range price or quantity, or
            several markets in one file without ``market=``.
    """
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise OrdersCsvError(
            f"expected a header with columns {','.join(COLUMNS)}, got an empty file"
        ) from None
    except csv.Error as exc:
        raise OrdersCsvError(f"unreadable CSV header: {exc}") from None
    # A spreadsheet's "UTF-8 CSV" starts with a byte-order mark; it is not part of a name.
    names = [h.strip().lower() for h in [h.removeprefix(_BOM) for h in header[:1]] + header[1:]]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise OrdersCsvError(
            f"expected columns {','.join(COLUMNS)}, missing {','.join(missing)}",
            field=missing[0],
        )
    twice = [c for c in (*COLUMNS, "market") if names.count(c) > 1]
    if twice:
        raise OrdersCsvError(f"column {twice[0]!r} appears twice in the header", field=twice[0])
    col = {c: names.index(c) for c in COLUMNS}
    market_col = names.index("market") if "market" in names else None
    if market is not None and market_col is None:
        raise OrdersCsvError(f"expected a 'market' column to select {market!r}", field="market")

    ids: list[str] = []
    traders: list[str] = []
    is_buy: list[bool] = []
    limits: list[int] = []
    qtys: list[int] = []
    seen: set[str] = set()
    markets: set[str] = set()
    others: set[str] = set()  # markets of the rows a ``market=`` selection skipped
    row = 0
    try:
        for fields in reader:
            row += 1
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) < len(names):
                raise OrdersCsvError(
                    f"expected {len(names)} fields, got {len(fields)}", row, names[len(fields)]
                )
            if any(f.strip() for f in fields[len(names) :]):
                # A value past the header's last column belongs to no column: a shifted row.
                raise OrdersCsvError(
                    f"expected {len(names)} fields (the header's {','.join(names)}), "
                    f"got {len(fields)}",
                    row,
                )
            if market_col is not None:
                m = fields[market_col].strip()
                if market is not None and m != market:
                    others.add(m)
                    continue
                markets.add(m)
            oid = fields[col["order_id"]].strip()
            if not oid:
                raise OrdersCsvError("expected a non-empty order id", row, "order_id")
            if oid in seen:
                raise OrdersCsvError(f"duplicate order id {oid!r}", row, "order_id")
            trader = fields[col["trader"]].strip()
            if not trader:
                raise OrdersCsvError("expected a non-empty trader", row, "trader")
            side = fields[col["side"]].strip().lower()
            if side not in ("buy", "sell"):
                raise OrdersCsvError(
                    f"expected 'buy' or 'sell', got {fields[col['side']]!r}", row, "side"
                )
            lp = fields[col["limit_price"]]
            limit = (
                MARKET if not lp.strip() else _int_field(lp, row, "limit_price", MAX_PRICE, "ticks")
            )
            qty = _int_field(fields[col["quantity"]], row, "quantity", MAX_LOTS, "lots")
            seen.add(oid)
            ids.append(oid)
            traders.append(trader)
            is_buy.append(side == "buy")
            limits.append(limit)
            qtys.append(qty)
    except csv.Error as exc:
        raise OrdersCsvError(f"unreadable CSV: {exc}", row + 1) from None
    if market is not None and not markets and others:
        # A selection that matches no row is a typo, not an empty book.
        raise OrdersCsvError(
            f"expected rows of market {market!r}, got only {', '.join(sorted(others))}",
            field="market",
        )
    if len(markets) > 1:
        raise OrdersCsvError(
            f"expected one market per clearing, got {', '.join(sorted(markets))} "
            "(select one with --market)",
            field="market",
        )
    book = OrderArrays(
        np.array(is_buy, dtype=np.bool_),
        np.array(limits, dtype=np.int64),
        np.array(qtys, dtype=np.int64),
    )
    return CsvBook(tuple(ids), tuple(traders), book, next(iter(markets), None))
