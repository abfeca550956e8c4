"""The bounded reader of user-supplied files: regular files only, at most the cap read."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from sealbatch.settlement.input_files import (
    BATCH_FILE_CAP,
    CONFIG_FILE_CAP,
    PROOF_CAP,
    FileCap,
    RefusedFile,
    read_input_bytes,
    read_input_text,
)

SMALL = FileCap("a test file", 16)


def test_a_regular_file_is_read_whole_up_to_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 16)  # exactly the cap
    assert read_input_bytes(path, SMALL) == b"x" * 16
    assert read_input_bytes(str(path), SMALL) == b"x" * 16


def test_a_file_one_byte_over_the_cap_is_refused_naming_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 17)
    with pytest.raises(RefusedFile) as refused:
        read_input_bytes(path, SMALL)
    assert str(refused.value) == "expected at most 16 bytes (the cap on a test file), got 17 bytes"


def test_a_sparse_file_over_the_cap_is_refused_from_its_size(tmp_path: Path) -> None:
    """2 GiB + 1 of holes: refused without reading them (it would take seconds and the memory)."""
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.truncate(BATCH_FILE_CAP.max_bytes + 1)
    with pytest.raises(RefusedFile, match=r"^expected at most 2 GiB \(the cap on a batch file\), "):
        read_input_bytes(path, BATCH_FILE_CAP)


def test_a_file_that_reports_no_size_is_read_only_to_the_cap() -> None:
    """A /proc file says it holds 0 bytes and then yields more: cap + 1 bytes are read."""
    status = Path("/proc/self/status")
    if not status.exists() or status.stat().st_size != 0:
        pytest.skip("needs Linux /proc (a regular file that reports size 0)")
    with pytest.raises(RefusedFile, match=r"got more$"):
        read_input_bytes(status, SMALL)


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("/dev/zero", "a character device"),
        ("/dev/null", "a character device"),
        ("/", "a directory"),
    ],
)
def test_what_is_not_a_regular_file_is_refused_before_reading(path: str, found: str) -> None:
    if not os.path.exists(path):
        pytest.skip(f"no {path} here")
    with pytest.raises(RefusedFile) as refused:
        read_input_bytes(path, PROOF_CAP)
    assert str(refused.value) == f"expected a regular file, got {found}"


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    link = tmp_path / "orders.csv"
    link.symlink_to("/dev/zero")
    with pytest.raises(RefusedFile, match="got a character device"):
        read_input_text(link, BATCH_FILE_CAP)


@pytest.mark.timeout(30)
def test_a_fifo_without_a_writer_is_refused_without_waiting(tmp_path: Path) -> None:
    """Opening a FIFO to read waits for a writer: the reader must not. Should it wait, a
    writer opens the FIFO after 10 s to release it, and the test fails."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    released = threading.Event()

    def release() -> None:
        released.set()
        with open(fifo, "wb"):
            pass

    timer = threading.Timer(10, release)
    timer.start()
    try:
        with pytest.raises(RefusedFile, match=r"^expected a regular file, got a FIFO$"):
            read_input_bytes(fifo, PROOF_CAP)
    finally:
        timer.cancel()
    assert not released.is_set()


def test_a_missing_file_is_the_usual_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_input_bytes(tmp_path / "missing", SMALL)


def test_a_refused_file_is_an_os_error() -> None:
    """Callers that report an unreadable file (``except OSError``) report this one too."""
    assert issubclass(RefusedFile, OSError)


def test_text_is_utf8_with_line_endings_as_open_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes("a,\u00e9\r\nb\rc\n".encode())
    assert read_input_text(path, CONFIG_FILE_CAP) == "a,\u00e9\nb\nc\n"
    assert read_input_text(path, CONFIG_FILE_CAP, newline="") == "a,\u00e9\r\nb\rc\n"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(UnicodeDecodeError):
        read_input_text(path, CONFIG_FILE_CAP)


@pytest.mark.parametrize(
    ("cap", "text"),
    [
        (BATCH_FILE_CAP, "2 GiB"),
        (PROOF_CAP, "64 MiB"),
        (CONFIG_FILE_CAP, "16 MiB"),
        (FileCap("x", 1536), "1536 bytes"),
        (FileCap("x", 3 << 10), "3 KiB"),
    ],
)
def test_caps_are_described_in_the_largest_unit_that_divides_them(cap: FileCap, text: str) -> None:
    assert cap.describe() == text


def test_the_batch_file_cap_holds_a_full_batch() -> None:
    """2^20 commitments (a batch's most, docs/formats.md) at 2 KiB: a forfeited
    commitment's signed Commit in result.json, the largest record one adds, is ~1.6 KB."""
    assert BATCH_FILE_CAP.max_bytes >= (1 << 20) * 2048


def test_the_proof_cap_holds_the_largest_proof_prove_makes() -> None:
    """The widest AIR ``sealbatch prove`` makes (wide, 1024 columns) at its most rows
    (2^24) with the options that make proofs largest: far below the cap."""
    from dataclasses import replace

    from sealbatch.crypto.airs import get_air
    from sealbatch.crypto.airs.wide import MAX_COLUMNS
    from sealbatch.crypto.options import DEFAULT_OPTIONS
    from sealbatch.crypto.size import predict_size

    air = get_air("wide").build(1 << 24, (MAX_COLUMNS, 1, 2))
    largest = max(
        predict_size(
            air,
            replace(DEFAULT_OPTIONS, blowup=b, num_queries=255, folding_factor=f, grinding_bits=0),
        ).proof_bytes
        for b in (2, 64)
        for f in (2, 4, 8, 16)
    )
    assert 1 << 20 < largest < PROOF_CAP.max_bytes / 8
