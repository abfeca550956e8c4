"""Group commits: every submitted write is durable when its future resolves."""

from __future__ import annotations

import threading
from concurrent.futures import wait
from pathlib import Path

from sealbatch.auction.commit_reveal import BatchWindows, Forfeit
from sealbatch.crypto.eip712 import Address
from sealbatch.venue.batch_record import BatchRecord
from sealbatch.venue.errors import StorageUnavailable
from sealbatch.venue.persistence import GroupCommitter, LoggedEvent, Store


def test_group_commit_persists_everything_in_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store = Store(url)
    gc = GroupCommitter(store, max_group=64)
    futs = [
        gc.submit([LoggedEvent(i, "commit", 1_000 + i, f'{{"i": {i}}}')]) for i in range(1, 501)
    ]
    record = BatchRecord(
        batch_id=3,
        status="settled",
        windows=BatchWindows(0, 1_000, 1_300),
        seed=bytes(32),
        commitments=0,
        revealed=0,
        carried_in=0,
        carried_out=0,
        markets={},
        forfeits=(),
        rejections=(),
        blocks=(),
        settlement=None,
    ).hashed()
    futs.append(gc.submit(batches=[record]))
    wait(futs, timeout=30)
    assert all(f.done() and f.exception() is None for f in futs)
    assert gc.transactions < 501  # grouped
    gc.close()
    store.close()
    reopened = Store(url)
    events = reopened.load_events()
    assert [e.seq for e in events] == list(range(1, 501))
    assert events[41].payload == '{"i": 42}'
    assert reopened.load_batches()[3] == (record.result_hash, record.to_json())
    reopened.close()


def test_a_failed_write_fails_its_waiters_and_later_ones(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    gc = GroupCommitter(store)
    ok = gc.submit([LoggedEvent(1, "commit", 1, "{}")])
    ok.result(timeout=10)
    dup = gc.submit([LoggedEvent(1, "commit", 2, "{}")])  # primary key taken
    assert dup.exception(timeout=10) is not None
    later = gc.submit([LoggedEvent(2, "commit", 3, "{}")])
    assert later.exception(timeout=10) is not None
    gc.close()
    store.close()


def test_a_writer_that_hits_a_bug_fails_its_waiters_instead_of_dying(tmp_path: Path) -> None:
    """Not only a database error: any exception in a write (here a bug's AttributeError)
    fails that group's waiters and every later write, loudly; the writer thread does not
    die with waiters left hanging."""
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    gc = GroupCommitter(store)
    gc.submit([LoggedEvent(1, "commit", 1, "{}")]).result(timeout=10)
    write = store.write

    def broken(*args: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'seq'")

    store.write = broken  # type: ignore[method-assign]
    hit = gc.submit([LoggedEvent(2, "commit", 2, "{}")])
    exc = hit.exception(timeout=10)
    assert isinstance(exc, StorageUnavailable) and "no attribute 'seq'" in str(exc)
    store.write = write  # type: ignore[method-assign]
    later = gc.submit([LoggedEvent(3, "commit", 3, "{}")])
    assert isinstance(later.exception(timeout=10), StorageUnavailable)  # refused, not hung
    assert isinstance(gc.failed, AttributeError)
    gc.close()
    assert [e.seq for e in store.load_events()] == [1]  # nothing after the failure written
    store.close()


def test_a_waiter_that_goes_away_cancels_neither_the_write_nor_the_other_waiters(
    tmp_path: Path,
) -> None:
    """A request whose task is cancelled while it waits for durability (``asyncio.wrap_future``
    then cancels the future it wraps) must not cancel the write, kill the writer thread
    (whose ``set_result`` would raise on a cancelled future), or cancel another request
    waiting on the same future (``last``)."""
    import asyncio

    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    gc = GroupCommitter(store)
    release = threading.Event()
    write = store.write

    def slow(*args: object) -> None:
        release.wait(timeout=30)
        write(*args)  # type: ignore[arg-type]

    store.write = slow  # type: ignore[method-assign]
    fut = gc.submit([LoggedEvent(1, "commit", 1, "{}")])
    assert gc.last is fut

    async def waiters() -> None:
        gone = asyncio.ensure_future(asyncio.wrap_future(fut))
        staying = asyncio.ensure_future(asyncio.wrap_future(fut))
        await asyncio.sleep(0.05)
        gone.cancel()
        await asyncio.sleep(0.05)
        assert not fut.cancelled()
        release.set()
        await asyncio.wait_for(staying, timeout=30)  # the other waiter still completes
        assert gone.cancelled()

    asyncio.run(waiters())
    assert fut.result(timeout=10) is None and not fut.cancelled()
    assert not fut.cancel()  # a write's future cannot be cancelled at all
    store.write = write  # type: ignore[method-assign]
    gc.submit([LoggedEvent(2, "commit", 2, "{}")]).result(timeout=10)  # the writer lives on
    assert gc.failed is None
    gc.close()
    assert [e.seq for e in store.load_events()] == [1, 2]
    store.close()


def test_a_stored_record_keeps_a_quote_forfeits_rfq_id() -> None:
    """A forfeited sealed quote stays a quote's forfeit when read back (not an order's)."""
    trader = Address("0x" + "11" * 20)
    quote = Forfeit(b"\x01" * 32, trader, "BTC-PERP", 2, 1_000_000, rfq_id=b"\x02" * 32)
    order = Forfeit(b"\x03" * 32, trader, "BTC-PERP", 5, 0)
    record = BatchRecord(
        batch_id=4,
        status="settled",
        windows=BatchWindows(0, 1_000, 1_300),
        seed=bytes(32),
        commitments=1,
        revealed=0,
        carried_in=0,
        carried_out=0,
        markets={},
        forfeits=(quote, order),
        rejections=(),
        blocks=(),
        settlement=None,
    ).hashed()
    doc = record.to_json()
    assert [f["rfq_id"] for f in doc["forfeits"]] == ["0x" + "02" * 32, None]
    back = BatchRecord.from_json(doc)
    assert back.forfeits == (quote, order)
    assert back.forfeits[0].rfq_id == b"\x02" * 32 and back.forfeits[1].rfq_id is None
