"""The stored form of a venue snapshot: a header, the pickle's SHA-256, the pickle.

A snapshot row's ``blob`` is ``MAGIC + VERSION + sha256(pickle) + pickle``. A
start checks the digest before it unpickles anything, so a blob damaged
anywhere (open commitments, the RFQ book, nonces, records, not only the
ledger the state root covers) is refused without being unpickled. The
digest detects damage, not tampering: whoever can write the row can write a
matching digest (and, the blob being a pickle, could run code in the venue
anyway; docs/api.md, "Crash safety").

A blob without the header was written before snapshots carried a digest
(a bare pickle starts with ``0x80``, never with ``MAGIC``); it is refused
like a damaged one, so the start falls back to an older snapshot or to the
log.
"""

from __future__ import annotations

import hashlib

from sealbatch.venue.errors import SnapshotDamaged

__all__ = ["DIGEST_SIZE", "MAGIC", "VERSION", "open_snapshot_blob", "seal_snapshot_blob"]

#: The first bytes of every snapshot blob with a digest.
MAGIC = b"SBSNAP"
#: The layout after ``MAGIC``: version 1 is a SHA-256 digest, then the pickle.
VERSION = 1
#: Bytes of the SHA-256 digest of the pickle.
DIGEST_SIZE = 32

_HEADER = MAGIC + bytes([VERSION])
#: Pickle protocol 2 and later start with the PROTO opcode.
_PICKLE_PROTO = 0x80


def seal_snapshot_blob(pickled: bytes) -> bytes:
    """The stored blob of ``pickled``: the header, its SHA-256, then ``pickled``."""
    return _HEADER + hashlib.sha256(pickled).digest() + pickled


def open_snapshot_blob(blob: bytes) -> memoryview:
    """The pickle ``blob`` carries (a view into it, not a copy: a snapshot is the
    whole venue state), once its header and digest check out.

    Raises:
        SnapshotDamaged: ``blob`` has no header (written by an older version, or
            damaged there), a header of another version, is too short to hold the
            digest, or its pickle does not hash to the digest stored with it.
    """
    if not blob.startswith(MAGIC):
        if blob[:1] == bytes([_PICKLE_PROTO]):
            raise SnapshotDamaged(
                f"expected a blob starting with {MAGIC!r}, got a bare pickle (written by "
                "an older version, before snapshots carried a checksum)"
            )
        raise SnapshotDamaged(f"expected a blob starting with {MAGIC!r}, got {blob[:8]!r}")
    version = blob[len(MAGIC)] if len(blob) > len(MAGIC) else None
    if version != VERSION:
        raise SnapshotDamaged(f"expected snapshot format version {VERSION}, got {version}")
    start = len(_HEADER) + DIGEST_SIZE
    if len(blob) <= start:
        raise SnapshotDamaged(
            f"expected a blob of more than {start} bytes (header and digest), got {len(blob)}"
        )
    stored = blob[len(_HEADER) : start]
    pickled = memoryview(blob)[start:]
    actual = hashlib.sha256(pickled).digest()
    if stored != actual:
        raise SnapshotDamaged(
            f"expected the pickle's SHA-256 to be {stored.hex()} (stored with it), "
            f"got {actual.hex()}"
        )
    return pickled
