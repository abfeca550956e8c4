"""Published batch folders: written atomically, read back, packed as an archive.

``sealbatch serve --publish DIR`` writes each settled batch, once its record
is durable, as ``DIR/batch-<n>/`` (docs/formats.md): the files go into a
temporary folder in ``DIR``, are flushed to disk, and the folder is renamed
into place, so a reader (or ``sealbatch replay``) never sees half a batch.
``GET /v1/batches/{id}/archive`` serves the same files as a gzipped tar.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path

from sealbatch.settlement.publication import BATCH_FILES

__all__ = [
    "PROOF_FILE",
    "THRESHOLD_FILE",
    "archive_bytes",
    "folder_name",
    "read_folder",
    "write_folder",
    "write_proof",
]

#: The batch proof, written beside the batch's files once the batch is proven.
PROOF_FILE = "proof.bin"
#: A batch with encrypted orders: its key, seal, shares and every outcome (docs/formats.md).
THRESHOLD_FILE = "threshold.json"


def _names(files: Mapping[str, str]) -> tuple[str, ...]:
    return BATCH_FILES + ((THRESHOLD_FILE,) if THRESHOLD_FILE in files else ())


def folder_name(batch_id: int) -> str:
    """``batch-<n>``."""
    return f"batch-{batch_id}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove_stale(folder: Path, pattern: str) -> None:
    """Remove what a writer that died left half-written in ``folder``: each temporary
    ``pattern`` entry named for a process that is no longer running."""
    for stale in folder.glob(pattern):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isascii() and pid.isdigit() and not _pid_alive(int(pid)):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def write_folder(root: Path, batch_id: int, files: Mapping[str, str]) -> bool:
    """Write ``files`` as ``root/batch-<n>/`` atomically; False if it already exists.

    Raises:
        OSError: the folder could not be written (nothing is left in its place).
    """
    root.mkdir(parents=True, exist_ok=True)
    final = root / folder_name(batch_id)
    if final.exists():
        return False
    # A venue killed while writing this folder left its temporary folder behind.
    _remove_stale(root, f".{folder_name(batch_id)}.tmp-*")
    tmp = root / f".{folder_name(batch_id)}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for name in _names(files):
            with open(tmp / name, "w", encoding="utf-8") as fh:
                fh.write(files[name])
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(root)
    return True


def write_proof(root: Path, batch_id: int, proof: bytes) -> bool:
    """Write ``proof`` as ``root/batch-<n>/proof.bin`` atomically (a temporary file,
    flushed, then renamed); False when the folder is missing or the proof is there.

    Raises:
        OSError: the file could not be written (nothing is left in its place).
    """
    folder = root / folder_name(batch_id)
    final = folder / PROOF_FILE
    if not folder.is_dir() or final.exists():
        return False
    _remove_stale(folder, f".{PROOF_FILE}.tmp-*")
    tmp = folder / f".{PROOF_FILE}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(proof)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, final)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return True


def read_folder(root: Path, batch_id: int) -> dict[str, str] | None:
    """The files of ``root/batch-<n>/``, or None when it was not published there."""
    folder = root / folder_name(batch_id)
    if not folder.is_dir():
        return None
    names = BATCH_FILES + (((THRESHOLD_FILE,)) if (folder / THRESHOLD_FILE).exists() else ())
    return {name: (folder / name).read_text(encoding="utf-8") for name in names}


def archive_bytes(batch_id: int, files: Mapping[str, str]) -> bytes:
    """A gzipped tar of ``batch-<n>/<file>`` for every file: the same bytes for the
    same files (no times, owners or modes from the machine)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in _names(files):
            data = files[name].encode("utf-8")
            info = tarfile.TarInfo(f"{folder_name(batch_id)}/{name}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)
