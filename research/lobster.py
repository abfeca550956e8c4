"""LOBSTER message and order-book files: export a run, import and replay order flow.

Format (https://lobsterdata.com/info/DataStructure.php): the message file has
one row per book event, ``Time, Type, Order ID, Size, Price, Direction`` —
time in seconds after midnight (here: nanosecond precision from 09:30:00),
type 1 new limit order, 2 partial cancel, 3 delete, 4 execution of a visible
order, 5 hidden execution, 6 cross trade (an auction), 7 halt; price in
dollars × 10 000; direction 1 buy, −1 sell. The order-book file has, per
message, ``Ask Price 1, Ask Size 1, Bid Price 1, Bid Size 1, ...`` after
the event; empty levels read 9999999999 / −9999999999 with size 0.

Batch clearings are type 6 rows with order id −3 (LOBSTER's id for other
intra-day crosses) carrying the uniform price and volume; the executions of
resting orders in the batch come first as type 4 rows, as LOBSTER does for
the executions a cross aggregates. A commit-reveal run has no visible book:
its file holds only the type-6 clearings over an empty book. Prices are lab
ticks × the scenario's ``price_scale``.

Import reads a message file and replays its order flow through the batch
auction (:func:`sealbatch.auction.batch.clear_market`): type 1 adds a resting order,
2 reduces it, 3 deletes it, and each run of type-4/5 executions at one
timestamp and direction becomes one marketable order of the opposite side
(the aggressor that caused them), limited at the worst executed price.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sealbatch.auction.batch import clear_market
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.keccak import keccak256
from sealbatch.research.errors import ConservationError, LobsterFormatError
from sealbatch.research.mechanisms.base import Mechanism
from sealbatch.settlement.input_files import FileCap, RefusedFile, read_input_text

__all__ = [
    "EMPTY_ASK",
    "EMPTY_BID",
    "LOBSTER_FILE_CAP",
    "LobsterMessage",
    "ReplayResult",
    "Replayed",
    "aggressor_flow",
    "export_lobster",
    "read_lobster_messages",
    "replay_batch_auction",
]

EMPTY_ASK = 9_999_999_999
EMPTY_BID = -9_999_999_999
#: 09:30:00, the usual start of a LOBSTER file, in seconds after midnight.
DAY_OFFSET_S = 34_200
#: A message file :func:`read_lobster_messages` reads: a liquid stock's trading day
#: is some hundreds of MB (its rows are read into memory, several times the file).
LOBSTER_FILE_CAP = FileCap("a LOBSTER message file", 4 << 30)


@dataclass(frozen=True)
class LobsterMessage:
    """One row of a LOBSTER message file (price in LOBSTER units)."""

    time_ns: int
    kind: int
    order_id: int
    size: int
    price: int
    direction: int


def _time_text(t_ns: int) -> str:
    total = DAY_OFFSET_S * 1_000_000_000 + t_ns
    return f"{total // 1_000_000_000}.{total % 1_000_000_000:09d}"


def export_lobster(
    mechanism: Mechanism, out_dir: Path, name: str, price_scale: int, levels: int = 10
) -> tuple[Path, Path]:
    """Write ``<name>_message_<levels>.csv`` and ``<name>_orderbook_<levels>.csv``.

    Raises:
        LobsterFormatError: the mechanism did not record (see ``enable_recording``).
    """
    if mechanism.log is None or mechanism.book_log is None:
        raise LobsterFormatError("expected a run recorded with enable_recording(), got none")
    out_dir.mkdir(parents=True, exist_ok=True)
    msg_path = out_dir / f"{name}_message_{levels}.csv"
    book_path = out_dir / f"{name}_orderbook_{levels}.csv"
    with msg_path.open("w", newline="") as fm, book_path.open("w", newline="") as fb:
        wm, wb = csv.writer(fm), csv.writer(fb)
        for (t, kind, oid, size, price, direction), (asks, bids) in zip(
            mechanism.log, mechanism.book_log, strict=True
        ):
            wm.writerow([_time_text(t), kind, oid, size, price * price_scale, direction])
            row: list[int] = []
            for i in range(levels):
                ap, asz = asks[i] if i < len(asks) else (None, 0)
                bp, bsz = bids[i] if i < len(bids) else (None, 0)
                row += [
                    EMPTY_ASK if ap is None else ap * price_scale,
                    asz,
                    EMPTY_BID if bp is None else bp * price_scale,
                    bsz,
                ]
            wb.writerow(row)
    return msg_path, book_path


def _parse_time(text: str, row: int) -> int:
    try:
        whole, _, frac = text.strip().partition(".")
        frac = (frac + "000000000")[:9]
        return int(whole) * 1_000_000_000 + int(frac or "0")
    except ValueError as exc:
        raise LobsterFormatError(
            f"row {row}, column Time: expected seconds after midnight, got {text!r}"
        ) from exc


def read_lobster_messages(path: str | Path) -> list[LobsterMessage]:
    """Read a LOBSTER message file (no header, six columns).

    Raises:
        LobsterFormatError: naming the file, and the row and column of the first
            bad field.
    """
    try:
        text = read_input_text(path, LOBSTER_FILE_CAP)
    except RefusedFile as exc:  # a FIFO, a device, or over the cap
        raise LobsterFormatError(f"{path}: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LobsterFormatError(f"{path}: expected a readable text file, got {exc}") from exc
    try:
        return _messages(text)
    except LobsterFormatError as exc:
        raise LobsterFormatError(f"{path}: {exc}") from exc


def _messages(text: str) -> list[LobsterMessage]:
    names = ("Type", "Order ID", "Size", "Price", "Direction")
    out: list[LobsterMessage] = []
    for n, rec in enumerate(csv.reader(text.splitlines()), start=1):
        if not rec:
            continue
        if len(rec) != 6:
            raise LobsterFormatError(f"row {n}: expected 6 columns, got {len(rec)}")
        t = _parse_time(rec[0], n)
        vals = []
        for name, field_text in zip(names, rec[1:], strict=True):
            try:
                vals.append(int(field_text))
            except ValueError as exc:
                raise LobsterFormatError(
                    f"row {n}, column {name}: expected an integer, got {field_text!r}"
                ) from exc
        kind, oid, size, price, direction = vals
        if not 1 <= kind <= 7:
            raise LobsterFormatError(f"row {n}, column Type: expected 1 to 7, got {kind}")
        if direction not in (-1, 1):
            raise LobsterFormatError(
                f"row {n}, column Direction: expected 1 or -1, got {direction}"
            )
        if size < 0:
            raise LobsterFormatError(f"row {n}, column Size: expected >= 0, got {size}")
        out.append(LobsterMessage(t, kind, oid, size, price, direction))
    return out


@dataclass(frozen=True)
class ReplayResult:
    """Per batch: time, uniform price (LOBSTER units), volume and orders taking part."""

    batches: pd.DataFrame
    volume: int
    orders_submitted: int
    aggressors: int


class Replayed:
    """An order of a replayed flow: id, side ±1, limit (LOBSTER units), lots left, IOC."""

    __slots__ = ("ioc", "oid", "price", "rem", "side")

    def __init__(self, oid: int, side: int, price: int, rem: int, ioc: bool) -> None:
        self.oid, self.side, self.price, self.rem, self.ioc = oid, side, price, rem, ioc


def aggressor_flow(
    messages: Sequence[LobsterMessage],
) -> Iterable[tuple[int, LobsterMessage | Replayed]]:
    """The order flow of time-sorted messages: (time ns, row) for book messages as
    they are; each run of type-4/5 executions at one timestamp and direction
    folded into one aggressor :class:`Replayed` order (its side the opposite of
    the executed orders', its size their sum, its limit the worst executed
    price, a negative synthetic id)."""
    i = 0
    synthetic = -1_000_000
    while i < len(messages):
        m = messages[i]
        if m.kind in (4, 5):
            j = i
            size, worst = 0, m.price
            while (
                j < len(messages)
                and messages[j].kind in (4, 5)
                and messages[j].time_ns == m.time_ns
                and messages[j].direction == m.direction
            ):
                size += messages[j].size
                worst = (
                    max(worst, messages[j].price)
                    if m.direction < 0
                    else min(worst, messages[j].price)
                )
                j += 1
            synthetic -= 1
            # executing a sell (direction -1) limit order means a buyer initiated it
            yield m.time_ns, Replayed(synthetic, -m.direction, worst, size, True)
            i = j
        else:
            yield m.time_ns, m
            i += 1


def replay_batch_auction(
    messages: list[LobsterMessage], interval_ms: int, market: str = "LOBSTER"
) -> ReplayResult:
    """Replay a LOBSTER order flow through a frequent batch auction.

    Resting orders persist across batches (partially filled ones keep their
    rest); aggressor orders last one batch. Prices stay in LOBSTER units
    (integers), which the auction treats as ticks.

    Raises:
        LobsterFormatError: ``interval_ms`` is not positive.
        ConservationError: a batch's bought and sold lots differ.
    """
    if interval_ms < 1:
        raise LobsterFormatError(f"interval_ms: expected >= 1, got {interval_ms}")
    interval = interval_ms * 1_000_000
    resting: dict[int, Replayed] = {}
    incoming: list[Replayed] = []
    rows = []
    reference: int | None = None
    total = submitted = aggressors = 0
    flow = list(aggressor_flow(sorted(messages, key=lambda m: m.time_ns)))
    if not flow:
        return ReplayResult(
            pd.DataFrame(columns=["batch", "time_ns", "price", "volume", "orders"]), 0, 0, 0
        )
    start = flow[0][0]
    batch = 0
    k = 0

    def clear(b: int, close_ns: int) -> None:
        nonlocal reference, total, incoming
        book = [o for o in resting.values() if o.rem > 0 and o.price > 0] + [
            o for o in incoming if o.rem > 0 and o.price > 0
        ]
        incoming = []
        if not book or all(o.side == book[0].side for o in book):
            return
        orders = [
            Order(
                market,
                Side.BUY if o.side > 0 else Side.SELL,
                o.price,
                o.rem,
                TimeInForce.IOC if o.ioc else TimeInForce.GTC,
            )
            for o in book
        ]
        ids = [keccak256(o.oid.to_bytes(16, "big", signed=True)) for o in book]
        seed = keccak256(b"sealbatch.lab.lobster", b.to_bytes(8, "big"))
        disc, _, fills = clear_market(orders, ids, reference, seed)
        if disc.price is None or disc.volume == 0:
            return
        signed = int(np.sum(np.where([o.side > 0 for o in book], fills, -fills)))
        if signed != 0:
            raise ConservationError(f"batch {b}: expected bought = sold, got imbalance {signed}")
        for o, q in zip(book, fills.tolist(), strict=True):
            o.rem -= q
            if not o.ioc and o.rem == 0:
                resting.pop(o.oid, None)
        reference = int(disc.price)
        total += disc.volume
        rows.append((b, close_ns, int(disc.price), disc.volume, len(book)))

    while k < len(flow):
        t, m = flow[k]
        b = (t - start) // interval
        if b > batch:
            clear(batch, start + (batch + 1) * interval)
            batch = b
            continue
        k += 1
        if isinstance(m, Replayed):
            incoming.append(m)
            aggressors += 1
        elif m.kind == 1:
            resting[m.order_id] = Replayed(m.order_id, m.direction, m.price, m.size, False)
            submitted += 1
        elif m.kind == 2:
            o = resting.get(m.order_id)
            if o is not None:
                o.rem = max(o.rem - m.size, 0)
        elif m.kind == 3:
            resting.pop(m.order_id, None)
    clear(batch, start + (batch + 1) * interval)
    df = pd.DataFrame(rows, columns=["batch", "time_ns", "price", "volume", "orders"])
    return ReplayResult(df, total, submitted, aggressors)
