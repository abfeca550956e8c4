"""Read a user-supplied file with a size cap: a regular file only, never a whole stream.

Every command that reads a path it is given (``sealbatch clear``, ``verify``,
``replay``, ``prove``, ``keyper``, ``lab``, ``serve``'s configuration files)
reads it here. A FIFO, a device (``/dev/zero``, ``/dev/stdin``) or a directory
is refused before a byte is read — a FIFO is opened without blocking, so a
writer that never comes cannot hang the command — and a file above its kind's
cap is refused from its size alone; at most ``cap + 1`` bytes are ever read,
so a file that grows while it is read (or a ``/proc`` file that reports size
0) cannot exhaust memory either.

The caps (docs/formats.md, "Size caps") sit well above the largest legitimate
file of each kind:

* :data:`BATCH_FILE_CAP`, 2 GiB: each file of a published batch folder, and
  ``sealbatch clear``'s ORDERS.csv. A batch holds at most 2^20 commitments
  (docs/formats.md, "Commitments"), and the largest record one adds to a file
  is a forfeited commitment's signed ``Commit`` in ``result.json``, about
  1.6 KB; 2^20 at 2 KiB each is the cap.
* :data:`PROOF_CAP`, 64 MiB: a proof. A batch proof is about 200 KB; the
  largest ``sealbatch prove`` can make (1024 columns, 2^24 rows, 255 queries)
  is below 16 MiB.
* :data:`CONFIG_FILE_CAP`, 16 MiB: a configuration file (oracle sources, a
  keyper key or committee, a lab scenario or study), all a few KB.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass

__all__ = [
    "BATCH_FILE_CAP",
    "CONFIG_FILE_CAP",
    "PROOF_CAP",
    "FileCap",
    "RefusedFile",
    "read_input_bytes",
    "read_input_text",
]

# O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer (POSIX only).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


class RefusedFile(OSError):
    """A path that is not a regular file, or a file above its kind's size cap.

    An :class:`OSError`, so a reader that reports an unreadable file reports this one
    alike; the message names what was expected and what was found, the caller names
    the file. Not a venue error: no request reads a file, so the API has no code for it.
    """


@dataclass(frozen=True)
class FileCap:
    """The most bytes a kind of input file may hold.

    Attributes:
        kind: what the file is, for the message ("a batch file").
        max_bytes: the cap; a file of exactly this size is read.
    """

    kind: str
    max_bytes: int

    def describe(self) -> str:
        """The cap in the largest binary unit that divides it ("2 GiB")."""
        for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
            if self.max_bytes >= 1 << shift and self.max_bytes % (1 << shift) == 0:
                return f"{self.max_bytes >> shift} {unit}"
        return f"{self.max_bytes} bytes"


#: Each file of a published batch folder, and ``sealbatch clear``'s ORDERS.csv:
#: 2^20 commitments (a batch's most) at 2 KiB each.
BATCH_FILE_CAP = FileCap("a batch file", 2 << 30)
#: A STARK proof (a batch proof is about 200 KB).
PROOF_CAP = FileCap("a proof", 64 << 20)
#: A configuration file: oracle sources, a keyper key or committee, a lab scenario or study.
CONFIG_FILE_CAP = FileCap("a configuration file", 16 << 20)

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse_non_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        found = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
        raise RefusedFile(f"expected a regular file, got {found}")


def _too_large(cap: FileCap, got: str) -> RefusedFile:
    return RefusedFile(f"expected at most {cap.describe()} (the cap on {cap.kind}), got {got}")


def read_input_bytes(path: str | os.PathLike[str], cap: FileCap) -> bytes:
    """The bytes of the regular file at ``path``, at most ``cap.max_bytes`` of them.

    Raises:
        RefusedFile: ``path`` is a directory, FIFO, device or socket, or holds more
            than ``cap.max_bytes`` bytes.
        OSError: it cannot be opened or read (missing, no permission).
    """
    # Refused before opening when it can be: opening some devices has effects.
    _refuse_non_regular(os.stat(path).st_mode)
    fd = os.open(path, _OPEN_FLAGS)
    with os.fdopen(fd, "rb") as fh:
        # Again on what was opened: the path may have been replaced meanwhile.
        st = os.fstat(fd)
        _refuse_non_regular(st.st_mode)
        if st.st_size > cap.max_bytes:
            raise _too_large(cap, f"{st.st_size} bytes")
        data = fh.read(cap.max_bytes + 1)
    if len(data) > cap.max_bytes:
        raise _too_large(cap, "more")
    return data


def read_input_text(
    path: str | os.PathLike[str], cap: FileCap, *, newline: str | None = None
) -> str:
    """The UTF-8 text of the regular file at ``path`` (see :func:`read_input_bytes`).

    Args:
        newline: as :func:`open`'s: None (the default) reads ``\\r\\n`` and ``\\r`` as
            ``\\n``, like :meth:`Path.read_text`; ``""`` keeps line endings as written
            (what :mod:`csv` wants).

    Raises:
        RefusedFile: not a regular file, or above the cap.
        OSError: it cannot be opened or read.
        UnicodeDecodeError: it is not UTF-8.
    """
    data = read_input_bytes(path, cap)
    with io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=newline) as text:
        return text.read()
