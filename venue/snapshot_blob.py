"""The stored form of a venue snapshot: a header, a SHA-256 digest, the pickle.

A snapshot row's ``blob`` is ``MAGIC + VERSION + sha256(label + pickle) + pickle``,
where ``label`` is the row's other columns — the batch id and the event
sequence number as 8-byte big-endian signed integers, then the state root's
32 bytes — so the digest covers the whole row: a start checks it before it
unpickles anything, so a blob damaged anywhere (open commitments, the RFQ
book, nonces, records, not only the ledger the state root covers), or a row
whose event number no longer matches its pickle (the log would be replayed
from the wrong event), is refused without being unpickled. The
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
import re
from typing import NamedTuple

from sealbatch.venue.errors import SnapshotDamaged

__all__ = [
    "DIGEST_SIZE",
    "MAGIC",
    "VERSION",
    "SnapshotLabel",
    "open_snapshot_blob",
    "seal_snapshot_blob",
]

#: The first bytes of every snapshot blob with a digest.
MAGIC = b"SBSNAP"
#: The layout after ``MAGIC``: version 1 is a SHA-256 digest, then the pickle.
VERSION = 1
#: Bytes of the SHA-256 digest of the pickle.
DIGEST_SIZE = 32

_HEADER = MAGIC + bytes([VERSION])
#: Pickle protocol 2 and later start with the PROTO opcode.
_PICKLE_PROTO = 0x80


class SnapshotLabel(NamedTuple):
    """The snapshot row's columns besides the blob, which its digest covers too."""

    batch_id: int
    event_seq: int
    state_root: str  # 0x-hex, 32 bytes

    def encode(self) -> bytes:
        """``batch_id ‖ event_seq`` (8-byte big-endian signed each) ``‖ state_root`` (32 bytes).

        Raises:
            SnapshotDamaged: a field out of range or a root that is not 32 bytes of hex.
        """
        if not isinstance(self.state_root, str) or not re.fullmatch(
            r"0x[0-9a-f]{64}", self.state_root
        ):
            raise SnapshotDamaged(
                f"expected a 0x-hex 32-byte state root (lower case), got {self.state_root!r}"
            )
        if not isinstance(self.batch_id, int) or not isinstance(self.event_seq, int):
            raise SnapshotDamaged(f"snapshot row {tuple(self)!r}: expected integer ids")
        try:
            root = bytes.fromhex(self.state_root.removeprefix("0x"))
            head = self.batch_id.to_bytes(8, "big", signed=True) + self.event_seq.to_bytes(
                8, "big", signed=True
            )
        except (ValueError, OverflowError, AttributeError) as exc:
            raise SnapshotDamaged(f"snapshot row {tuple(self)!r}: {exc}") from None
        if len(root) != 32:
            raise SnapshotDamaged(f"expected a 32-byte state root, got {self.state_root!r}")
        return head + root


def _digest(label: SnapshotLabel, pickled: bytes | memoryview) -> bytes:
    h = hashlib.sha256(label.encode())
    h.update(pickled)
    return h.digest()


def seal_snapshot_blob(pickled: bytes, label: SnapshotLabel) -> bytes:
    """The stored blob of ``pickled`` in the row ``label``: the header, the SHA-256
    of the label and the pickle, then ``pickled``."""
    return _HEADER + _digest(label, pickled) + pickled


def open_snapshot_blob(blob: bytes, label: SnapshotLabel) -> memoryview:
    """The pickle ``blob`` carries (a view into it, not a copy: a snapshot is the
    whole venue state), once its header and digest check out against ``label``,
    the row it was read from.

    Raises:
        SnapshotDamaged: ``blob`` has no header (written by an older version, or
            damaged there), a header of another version, is too short to hold the
            digest, or its row and pickle do not hash to the digest stored with it.
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
    actual = _digest(label, pickled)
    if stored != actual:
        raise SnapshotDamaged(
            f"expected the SHA-256 of the row (batch {label.batch_id}, event "
            f"{label.event_seq}, its state root) and the pickle to be {stored.hex()} "
            f"(stored with it), got {actual.hex()}"
        )
    return pickled
