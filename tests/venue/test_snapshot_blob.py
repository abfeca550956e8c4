"""The stored form of a snapshot: an intact blob opens to its pickle; a blob damaged
anywhere, of another format version, or without the header is refused, saying why."""

from __future__ import annotations

import hashlib
import pickle

import pytest

from sealbatch.venue.errors import SnapshotDamaged
from sealbatch.venue.snapshot_blob import (
    DIGEST_SIZE,
    MAGIC,
    VERSION,
    SnapshotLabel,
    open_snapshot_blob,
    seal_snapshot_blob,
)

PICKLED = pickle.dumps({"BTC-PERP": [1, 2, 3], "nonces": {b"\x01" * 20: 7}}, protocol=5)
HEADER = len(MAGIC) + 1
LABEL = SnapshotLabel(8, 61, "0x" + "ab" * 32)


def test_a_sealed_blob_opens_to_its_pickle() -> None:
    blob = seal_snapshot_blob(PICKLED, LABEL)
    assert blob[:HEADER] == MAGIC + bytes([VERSION])
    row = (8).to_bytes(8, "big") + (61).to_bytes(8, "big") + bytes([0xAB]) * 32
    assert blob[HEADER : HEADER + DIGEST_SIZE] == hashlib.sha256(row + PICKLED).digest()
    assert bytes(open_snapshot_blob(blob, LABEL)) == PICKLED


@pytest.mark.parametrize(
    "where", [0, HEADER - 1, HEADER, HEADER + DIGEST_SIZE - 1, HEADER + DIGEST_SIZE, -1]
)
def test_one_flipped_bit_anywhere_is_refused(where: int) -> None:
    blob = bytearray(seal_snapshot_blob(PICKLED, LABEL))
    blob[where] ^= 0x01
    with pytest.raises(SnapshotDamaged, match="expected"):
        open_snapshot_blob(bytes(blob), LABEL)


def test_a_flipped_bit_in_the_pickle_names_both_digests() -> None:
    blob = bytearray(seal_snapshot_blob(PICKLED, LABEL))
    blob[HEADER + DIGEST_SIZE + len(PICKLED) // 2] ^= 0x01
    with pytest.raises(SnapshotDamaged, match=hashlib.sha256(LABEL.encode() + PICKLED).hexdigest()):
        open_snapshot_blob(bytes(blob), LABEL)


def test_a_bare_pickle_is_refused_as_written_by_an_older_version() -> None:
    with pytest.raises(SnapshotDamaged, match="older version"):
        open_snapshot_blob(PICKLED, LABEL)


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"", "starting with"),
        (b"not a snapshot", "starting with"),
        (MAGIC, "version 1, got None"),
        (MAGIC + bytes([VERSION + 1]) + bytes(40), "version 1, got 2"),
        (MAGIC + bytes([VERSION]) + bytes(DIGEST_SIZE), "more than 39 bytes"),
    ],
    ids=["empty", "text", "magic only", "other version", "no pickle"],
)
def test_a_blob_of_another_form_is_refused(blob: bytes, match: str) -> None:
    with pytest.raises(SnapshotDamaged, match=match):
        open_snapshot_blob(blob, LABEL)


def test_the_refusal_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        open_snapshot_blob(b"", LABEL)


@pytest.mark.parametrize(
    "row",
    [
        LABEL._replace(batch_id=7),
        LABEL._replace(event_seq=62),
        LABEL._replace(state_root="0x" + "ab" * 31 + "ac"),
    ],
    ids=["batch", "event", "root"],
)
def test_a_row_whose_other_columns_changed_is_refused(row: SnapshotLabel) -> None:
    """The log is replayed from the row's event number: a damaged one would replay
    from the wrong place, so the digest covers the row's columns too."""
    blob = seal_snapshot_blob(PICKLED, LABEL)
    with pytest.raises(SnapshotDamaged, match=f"batch {row.batch_id}, event {row.event_seq}"):
        open_snapshot_blob(blob, row)


@pytest.mark.parametrize(
    "row",
    [
        LABEL._replace(state_root="0x1234"),
        LABEL._replace(state_root="zz"),
        LABEL._replace(event_seq=1 << 63),
        LABEL._replace(state_root="0x" + "AB" * 32),
        LABEL._replace(state_root="ab" * 32),
        LABEL._replace(state_root=bytes(32)),  # type: ignore[arg-type]
        LABEL._replace(event_seq="61"),  # type: ignore[arg-type]
    ],
    ids=["short root", "not hex", "event too large", "upper case", "no 0x", "bytes", "text id"],
)
def test_a_row_that_cannot_be_encoded_is_refused(row: SnapshotLabel) -> None:
    blob = seal_snapshot_blob(PICKLED, LABEL)
    with pytest.raises(SnapshotDamaged):
        open_snapshot_blob(blob, row)
