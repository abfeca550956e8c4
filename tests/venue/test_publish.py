"""The venue publishes every settled batch (deposits, withdrawals, RFQ blocks
included) as a folder that ``sealbatch replay`` re-derives exactly."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sealbatch.settlement.publication import BATCH_FILES
from sealbatch.venue.app import create_app
from sealbatch.venue.cli import main
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.persistence import Store
from tests.venue.conftest import T0, Venue, make_settings
from tests.venue.test_rfq import _auction_trade, _prime_price, _rfq_until_revealed


@pytest.fixture
def published(db_url: str, clock: ManualClock, tmp_path: Path) -> Iterator[tuple[Venue, Path]]:
    """A venue publishing into ``tmp_path/pub`` that ran deposits (batch 0), an
    auction trade and an RFQ block, and then a withdrawal."""
    out = tmp_path / "pub"
    app = create_app(make_settings(db_url, publish_dir=str(out)), clock)
    with TestClient(app) as tc:
        v = Venue(tc, clock)
        v.fund()
        _prime_price(v, 100)
        rfq, _ = _rfq_until_revealed(v)
        acc = v.traders["alice"].accept_best(rfq["rfq_id"], "buy")
        _auction_trade(v, acc["batch_id"], 99)
        rec = v.to_cleared(acc["batch_id"])
        assert [b["status"] for b in rec["blocks"]] == ["filled"]
        v.traders["bob"].withdraw(1_000_000)
        clock.set(clock.now_ms() + 2_500)
        assert tc.get("/v1/batches").status_code == 200  # the clock advances
        withdrawn = [
            r.settlement["withdrawals"]
            for r in v.service.core.records.values()
            if r.settlement and r.settlement["withdrawals"]
        ]
        assert withdrawn == [[[v.traders["bob"].address, 1_000_000]]]
        v.service.wait_published()
        yield v, out


def _batches(out: Path) -> list[int]:
    return sorted(int(p.name.removeprefix("batch-")) for p in out.glob("batch-*"))


def test_every_settled_batch_is_published_and_replays(
    published: tuple[Venue, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    venue, out = published
    ids = _batches(out)
    settled = sorted(b for b, r in venue.service.core.records.items() if r.status == "settled")
    assert ids == settled and len(ids) >= 3
    kinds = {"deposits": 0, "blocks": 0, "withdrawals": 0}
    for b in ids:
        transfers = json.loads((out / f"batch-{b}" / "transfers.json").read_text())
        for k in kinds:
            kinds[k] += len(transfers[k])
        assert main(["replay", str(out / f"batch-{b}")]) == 0, capsys.readouterr().out
    assert kinds["deposits"] == 5 and kinds["blocks"] == 1 and kinds["withdrawals"] == 1
    assert main(["replay", str(out), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert verdict["ok"] and [v["batch_id"] for v in verdict["batches"]] == ids
    assert all(v["checks"]["chain"] == "ok" for v in verdict["batches"][1:])
    assert not list(out.glob(".*"))  # no temporary folder left behind


def test_a_changed_deposit_amount_fails_replay_naming_it(
    published: tuple[Venue, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = published
    first = out / f"batch-{_batches(out)[0]}"
    path = first / "transfers.json"
    doc = json.loads(path.read_text())
    doc["deposits"][0]["amount"] += 1  # one base unit more for the first trader
    path.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["replay", str(first)]) == 1
    text = capsys.readouterr().out
    assert "MISMATCH" in text and "collateral" in text and "does NOT replay" in text
    assert main(["replay", str(out)]) == 1


def test_a_dropped_block_fails_replay(
    published: tuple[Venue, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = published
    for b in _batches(out):
        path = out / f"batch-{b}" / "transfers.json"
        doc = json.loads(path.read_text())
        if doc["blocks"]:
            doc["blocks"] = []
            path.write_text(json.dumps(doc))
            assert main(["replay", str(path.parent)]) == 1
            assert "post_state.json" in capsys.readouterr().out
            return
    pytest.fail("expected a published block")


def test_published_folders_match_the_published_format(published: tuple[Venue, Path]) -> None:
    """The outsider's checker of docs/formats.md (tests/test_published_format.py) on a venue's
    folders, which have the deposits, RFQ block and withdrawal the demo's lack."""
    from tests.test_published_format import check_published

    _, out = published
    check_published(out)


def test_archive_is_the_published_folder(published: tuple[Venue, Path]) -> None:
    venue, out = published
    for b in _batches(out):
        r = venue.tc.get(f"/v1/batches/{b}/archive")
        assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
        with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
            names = tar.getnames()
            assert names == [f"batch-{b}/{n}" for n in BATCH_FILES]
            for n in BATCH_FILES:
                member = tar.extractfile(f"batch-{b}/{n}")
                assert member is not None
                assert member.read().decode() == (out / f"batch-{b}" / n).read_text()
    collecting = venue.service.schedule.collecting(venue.clock.now_ms())
    r = venue.tc.get(f"/v1/batches/{collecting}/archive")
    assert r.status_code == 409 and r.json()["code"] == "batch_not_settled"
    assert venue.tc.get(f"/v1/batches/{collecting + 50}/archive").status_code == 404


def test_a_restart_writes_what_a_crash_left_unpublished(
    published: tuple[Venue, Path], db_url: str, clock: ManualClock
) -> None:
    _, out = published
    last = _batches(out)[-1]
    kept = (out / f"batch-{last}" / "post_state.json").read_text()
    for p in (out / f"batch-{last}").iterdir():
        p.unlink()
    (out / f"batch-{last}").rmdir()  # as if the venue died before writing it
    app = create_app(make_settings(db_url, publish_dir=str(out)), clock)
    with TestClient(app):
        pass
    assert (out / f"batch-{last}" / "post_state.json").read_text() == kept


def test_a_restart_writes_the_proof_a_crash_left_unwritten(
    published: tuple[Venue, Path], db_url: str, clock: ManualClock
) -> None:
    """A proof and the proven record are stored together before ``proof.bin`` is written
    beside the folder: a venue that stops in between writes the file at its restart."""
    venue, out = published
    last = _batches(out)[-1]
    proof = b"a stand-in for the stored proof"
    store = Store(db_url)  # what the venue stores as a batch becomes proven
    store.write([], [dataclasses.replace(venue.service.core.records[last], status="proven")],
                proofs=[(last, proof)])  # fmt: skip
    store.close()
    assert not (out / f"batch-{last}" / "proof.bin").exists()
    app = create_app(make_settings(db_url, publish_dir=str(out)), clock)
    with TestClient(app) as tc:
        assert tc.get(f"/v1/batches/{last}").json()["status"] == "proven"
    assert (out / f"batch-{last}" / "proof.bin").read_bytes() == proof


def test_the_archive_from_memory_is_byte_for_byte_the_folder_written_at_settlement(
    published: tuple[Venue, Path],
) -> None:
    """The archive of a batch whose folder is gone (a write that failed) is made again
    from memory, batches later: the same bytes as the folder written when it settled
    (nothing in it may depend on what changed since, e.g. the marks or the oracle)."""
    venue, out = published
    for b in _batches(out):
        folder = out / f"batch-{b}"
        written = {p.name: p.read_text() for p in folder.iterdir()}
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
        r = venue.tc.get(f"/v1/batches/{b}/archive")
        assert r.status_code == 200, r.text
        with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
            served = {
                m.name.removeprefix(f"batch-{b}/"): tar.extractfile(m).read().decode()  # type: ignore[union-attr]
                for m in tar.getmembers()
            }
        assert served == written, b


def test_a_folder_another_venue_left_in_dir_is_kept_reported_and_not_served(
    published: tuple[Venue, Path], tmp_path: Path
) -> None:
    """The attack: a venue restarted on a new database with the same ``--publish DIR``
    meets the old venue's ``batch-0/``. It must not overwrite what was published, nor
    take it for its own batch 0 in the archive: it counts a publish failure."""
    _, out = published
    old = {p.name: p.read_text() for p in (out / "batch-0").iterdir()}
    clock = ManualClock(T0 + 100)
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'new.db'}", publish_dir=str(out)), clock)
    with TestClient(app) as tc:
        v = Venue(tc, clock)
        v.fund(12_345_000_000)
        assert v.to_cleared(0)["status"] == "settled"
        v.service.wait_published()
        assert {p.name: p.read_text() for p in (out / "batch-0").iterdir()} == old
        assert "sealbatch_publish_failures_total 1.0" in tc.get("/metrics").text
        r = tc.get("/v1/batches/0/archive")
        assert r.status_code == 200, r.text
        with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
            member = tar.extractfile("batch-0/transfers.json")
            assert member is not None
            deposits = json.loads(member.read())["deposits"]
    assert {d["amount"] for d in deposits} == {12_345_000_000}


def test_a_restart_removes_what_a_venue_killed_mid_write_left_half_written(
    published: tuple[Venue, Path], db_url: str, clock: ManualClock
) -> None:
    """Killed while writing a folder, a venue leaves its temporary folder (named for its
    process) in DIR; the restart that writes the folder removes it."""
    import subprocess
    import sys

    _, out = published
    last = _batches(out)[-1]
    folder = out / f"batch-{last}"
    kept = (folder / "post_state.json").read_text()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = out / f".batch-{last}.tmp-{int(dead.stdout)}"
    folder.rename(stale)
    (stale / "post_state.json").write_text(kept[:10])  # half written
    app = create_app(make_settings(db_url, publish_dir=str(out)), clock)
    with TestClient(app):
        pass
    assert (folder / "post_state.json").read_text() == kept
    assert not list(out.glob(".*"))
