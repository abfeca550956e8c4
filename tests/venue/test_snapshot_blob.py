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
    open_snapshot_blob,
    seal_snapshot_blob,
)

PICKLED = pickle.dumps({"BTC-PERP": [1, 2, 3], "nonces": {b"\x01" * 20: 7}}, protocol=5)
HEADER = len(MAGIC) + 1


def test_a_sealed_blob_opens_to_its_pickle() -> None:
    blob = seal_snapshot_blob(PICKLED)
    assert blob[:HEADER] == MAGIC + bytes([VERSION])
    assert blob[HEADER : HEADER + DIGEST_SIZE] == hashlib.sha256(PICKLED).digest()
    assert bytes(open_snapshot_blob(blob)) == PICKLED


@pytest.mark.parametrize(
    "where", [0, HEADER - 1, HEADER, HEADER + DIGEST_SIZE - 1, HEADER + DIGEST_SIZE, -1]
)
def test_one_flipped_bit_anywhere_is_refused(where: int) -> None:
    blob = bytearray(seal_snapshot_blob(PICKLED))
    blob[where] ^= 0x01
    with pytest.raises(SnapshotDamaged, match="expected"):
        open_snapshot_blob(bytes(blob))


def test_a_flipped_bit_in_the_pickle_names_both_digests() -> None:
    blob = bytearray(seal_snapshot_blob(PICKLED))
    blob[HEADER + DIGEST_SIZE + len(PICKLED) // 2] ^= 0x01
    with pytest.raises(SnapshotDamaged, match=hashlib.sha256(PICKLED).hexdigest()):
        open_snapshot_blob(bytes(blob))


def test_a_bare_pickle_is_refused_as_written_by_an_older_version() -> None:
    with pytest.raises(SnapshotDamaged, match="older version"):
        open_snapshot_blob(PICKLED)


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
        open_snapshot_blob(blob)


def test_the_refusal_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        open_snapshot_blob(b"")
