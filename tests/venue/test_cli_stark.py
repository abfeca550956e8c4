"""``sealbatch prove`` and ``sealbatch verify``: exit statuses and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealbatch.venue.cli import main


def _prove(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "proof.bin"
    assert main(["prove", "--air", "fibonacci", "--rows", "64", "-o", str(out), *extra]) == 0
    return out


def test_prove_then_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _prove(tmp_path, "--quiet")
    assert "AIR fibonacci" in capsys.readouterr().out
    assert main(["verify", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("valid: AIR fibonacci, 64 rows, ")
    assert f"{out.stat().st_size} bytes" in line and "conjectured bits" in line
    assert "\n" not in line


def test_invalid_proof_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _prove(tmp_path)
    data = bytearray(out.read_bytes())
    data[-100] ^= 0x04
    out.write_bytes(bytes(data))
    assert main(["verify", str(out)]) == 1
    assert "invalid proof:" in capsys.readouterr().err


def test_flipped_bytes_fail_verify(tmp_path: Path) -> None:
    out = _prove(tmp_path)
    data = out.read_bytes()
    bad = tmp_path / "bad.bin"
    for i in range(0, len(data), max(1, len(data) // 40)):
        mutated = bytearray(data)
        mutated[i] ^= 0xFF
        bad.write_bytes(bytes(mutated))
        assert main(["verify", str(bad)]) == (2 if i < 7 else 1), i


def test_unreadable_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "missing.bin")]) == 2
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello")
    assert main(["verify", str(junk)]) == 2
    assert "not a sealbatch proof" in capsys.readouterr().err
    out = _prove(tmp_path)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(out.read_bytes()[:-10])
    assert main(["verify", str(truncated)]) == 1
    assert "invalid proof: proof truncated" in capsys.readouterr().err


def _sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that are holes: nothing written, nothing to read."""
    with path.open("wb") as f:
        f.truncate(size)
    return path


def _refused(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A path that is no input file, and why it is refused."""
    from sealbatch.settlement.input_files import PROOF_CAP

    if kind == "dev-zero":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero here")
        link = tmp_path / "zero"
        link.symlink_to("/dev/zero")
        return link, "expected a regular file, got a character device"
    if kind == "directory":
        (tmp_path / "folder").mkdir()
        return tmp_path / "folder", "expected a regular file, got a directory"
    size = PROOF_CAP.max_bytes + 1
    big = _sparse(tmp_path / "big.bin", size)
    return big, f"expected at most 64 MiB (the cap on a proof), got {size} bytes"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["dev-zero", "directory", "over-cap"])
def test_a_proof_that_is_a_stream_a_folder_or_too_large_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """``verify /dev/zero`` read until memory ran out; a proof over its cap
    (docs/formats.md, "Size caps") is refused from its size, unread."""
    path, reason = _refused(tmp_path, kind)
    assert main(["verify", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"sealbatch verify: error: cannot read {path}: {reason}\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["dev-zero", "directory", "over-cap"])
def test_a_batch_file_that_is_a_stream_a_folder_or_too_large_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """``verify --public`` and ``prove`` on a folder whose oracle.json is /dev/zero, a
    folder, or over the batch-file cap: exit 2 naming the file and the reason."""
    from sealbatch.crypto.proof import MAGIC
    from sealbatch.settlement.input_files import BATCH_FILE_CAP
    from sealbatch.settlement.publication import BATCH_FILES

    folder = tmp_path / "batch-1"
    folder.mkdir()
    for f in BATCH_FILES:
        if f != "oracle.json":
            (folder / f).write_text("{}" if f.endswith(".json") else "x\n")
    bad = folder / "oracle.json"
    if kind == "dev-zero":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero here")
        bad.symlink_to("/dev/zero")
        reason = "expected a regular file, got a character device"
    elif kind == "directory":
        bad.mkdir()
        reason = "expected a regular file, got a directory"
    else:
        _sparse(bad, BATCH_FILE_CAP.max_bytes + 1)
        reason = (
            f"expected at most 2 GiB (the cap on a batch file), "
            f"got {BATCH_FILE_CAP.max_bytes + 1} bytes"
        )
    proof = tmp_path / "proof.bin"
    proof.write_bytes(MAGIC + b"\0" * 64)
    assert main(["verify", str(proof), "--public", str(folder)]) == 2
    assert capsys.readouterr().err == f"sealbatch verify: error: cannot read {bad}: {reason}\n"
    assert main(["prove", str(folder), "-o", str(tmp_path / "p.bin")]) == 2
    assert capsys.readouterr().err == f"sealbatch prove: error: cannot read {bad}: {reason}\n"
    assert not (tmp_path / "p.bin").exists()


def test_a_batch_argument_must_be_a_batch_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``prove BATCH_DIR`` / ``verify --public BATCH_DIR`` on something that is not a
    published folder: exit 2 naming it (tests/venue/test_batch_proof_cli.py proves
    and verifies real batches)."""
    assert main(["prove", str(tmp_path / "batch.json"), "-o", str(tmp_path / "p.bin")]) == 2
    assert "expected a batch folder" in capsys.readouterr().err
    out = _prove(tmp_path)
    assert main(["verify", str(out), "--public", str(tmp_path / "batch.json")]) == 2
    assert "expected a batch folder" in capsys.readouterr().err
    # a folder without the batch's files
    (tmp_path / "empty").mkdir()
    assert main(["verify", str(out), "--public", str(tmp_path / "empty")]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--air", "nope", "--rows", "64"], "unknown AIR"),
        (["--air", "fibonacci", "--rows", "12"], "power of two"),
        (["--air", "fibonacci"], "expected --air NAME and --rows N"),
        (["--air", "fibonacci", "--rows", "64", "--columns", "4"], "fixed width"),
        (["--air", "fibonacci", "--rows", "64", "--blowup", "3"], "blowup"),
    ],
)
def test_bad_prove_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["prove", *args, "-o", str(tmp_path / "p.bin")]) == 2
    assert message in capsys.readouterr().err


def test_wide_columns_and_range_check(tmp_path: Path) -> None:
    out = tmp_path / "w.bin"
    assert main(["prove", "--air", "wide", "--rows", "32", "--columns", "4", "-o", str(out)]) == 0
    assert main(["verify", str(out)]) == 0
    assert main(["prove", "--air", "range_check", "--rows", "32", "-o", str(out)]) == 0
    assert main(["verify", str(out)]) == 0


@pytest.mark.parametrize("name", ["result.json", "oracle.json", "pre_state.json"])
def test_a_batch_file_that_is_json_but_not_an_object_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """``verify --public`` and ``prove`` on a folder whose JSON file is an array: a
    malformed folder (exit 2 naming the file), not an invalid proof or a traceback."""
    from sealbatch.crypto.proof import MAGIC
    from sealbatch.settlement.publication import BATCH_FILES

    folder = tmp_path / "batch-1"
    folder.mkdir()
    for f in BATCH_FILES:
        (folder / f).write_text("[]" if f == name else ("{}" if f.endswith(".json") else "x\n"))
    proof = tmp_path / "proof.bin"
    proof.write_bytes(MAGIC + b"\0" * 64)
    assert main(["verify", str(proof), "--public", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / name}: expected a JSON object, got list" in err and "Traceback" not in err
    assert main(["prove", str(folder), "-o", str(tmp_path / "p.bin")]) == 2
    assert f"{folder / name}: expected a JSON object, got list" in capsys.readouterr().err
    assert not (tmp_path / "p.bin").exists()


def test_a_batch_proof_without_public_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A proof naming the batch AIR, given without ``--public BATCH_DIR``: exit 2 asking
    for the folder, not exit 1 "unknown AIR" (the real batch proofs:
    tests/venue/test_batch_proof_cli.py)."""
    from dataclasses import replace

    from sealbatch.crypto.proof import StarkProof
    from sealbatch.settlement.batch_verify import BATCH_AIR_NAME

    out = _prove(tmp_path, "--quiet")
    proof = StarkProof.from_bytes(out.read_bytes())
    renamed = tmp_path / "batch-proof.bin"
    renamed.write_bytes(replace(proof, air_name=BATCH_AIR_NAME).to_bytes())
    capsys.readouterr()
    assert main(["verify", str(renamed)]) == 2
    err = capsys.readouterr().err
    assert "is a batch proof" in err and "--public BATCH_DIR" in err


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("result.json", lambda d: d["markets"].__setitem__("BTC-PERP", "x")),
        ("pre_state.json", lambda d: d["accounts"][0].__setitem__("subaccount", -1)),
    ],
)
def test_a_batch_value_of_another_type_is_rejected_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, edit: object
) -> None:
    """``prove`` and ``verify --public`` on a folder with a value of another type (found by
    mutating published values): exit 1 with the reason, never a Python traceback."""
    import json

    from sealbatch.crypto.proof import MAGIC
    from tests.settlement.batch_air_helpers import small_batch_files

    folder = tmp_path / "batch-1"
    folder.mkdir()
    for f, text in small_batch_files().items():
        if f == name:
            doc = json.loads(text)
            edit(doc)  # type: ignore[operator]
            text = json.dumps(doc)
        (folder / f).write_text(text)
    assert main(["prove", str(folder), "-o", str(tmp_path / "p.bin"), "--quiet"]) == 1
    assert "batch rejected" in capsys.readouterr().err
    proof = tmp_path / "proof.bin"
    proof.write_bytes(MAGIC + b"\0" * 64)
    assert main(["verify", str(proof), "--public", str(folder)]) == 1
    assert "gives no statement" in capsys.readouterr().err


@pytest.mark.parametrize("bits", [-5, -1, 129, 10**6])
def test_verify_refuses_min_bits_no_proof_can_meet_or_below_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bits: int
) -> None:
    """A negative floor would accept any proof; one above 128 (Keccak-256's collision
    resistance caps every figure) none: both are usage errors, exit 2 naming the flag."""
    out = _prove(tmp_path, "--quiet")
    capsys.readouterr()
    assert main(["verify", str(out), "--min-bits", str(bits)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"sealbatch verify: error: --min-bits: expected 0 to 128, got {bits}\n"


def test_verify_takes_min_bits_at_the_ends_of_its_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _prove(tmp_path, "--quiet")
    assert main(["verify", str(out), "--min-bits", "0"]) == 0
    # the default options give about 100 bits: a 128-bit floor is a check, not a usage error
    assert main(["verify", str(out), "--min-bits", "128"]) == 1
    assert "expected at least 128 bits of conjectured security" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["missing/p.bin", "dir"])
def test_prove_checks_its_output_before_proving(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """-o into a folder that is not there, or onto a directory: exit 2 before any work."""
    import sealbatch.crypto.prover as prover
    import sealbatch.settlement.batch_proof as batch_proof

    def no_proving(*args: object, **kwargs: object) -> None:
        raise AssertionError("proving started")

    monkeypatch.setattr(prover, "prove", no_proving)
    monkeypatch.setattr(batch_proof, "prove_files", no_proving)
    (tmp_path / "dir").mkdir()
    (tmp_path / "batch-1").mkdir()
    out = tmp_path / where
    for args in (["--air", "fibonacci", "--rows", "64"], [str(tmp_path / "batch-1")]):
        assert main(["prove", *args, "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sealbatch prove: error: -o: "), err
        assert str(out if where == "dir" else out.parent) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch-1", "dir"]


def test_prove_refuses_an_output_folder_that_takes_no_file_before_proving(
    unwritable_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: an -o in a read-only folder exits 2 before proving. Checked by creating a
    file there: root passes ``os.access`` on any folder, /sys included, where no file can
    be made, and the write failed only after the proof was made."""
    import sealbatch.crypto.prover as prover

    def no_proving(*args: object, **kwargs: object) -> None:
        raise AssertionError("proving started")

    monkeypatch.setattr(prover, "prove", no_proving)
    out = unwritable_dir / "p.bin"
    assert main(["prove", "--air", "fibonacci", "--rows", "64", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sealbatch prove: error: -o: cannot write into {unwritable_dir}"), err
    assert not out.exists()


def test_prove_replaces_its_output_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed write leaves the earlier proof as it was and no temporary file behind."""
    out = tmp_path / "p.bin"
    out.write_bytes(b"earlier proof")
    assert main(["prove", "--air", "fibonacci", "--rows", "64", "-o", str(out), "--quiet"]) == 0
    first = out.read_bytes()
    assert first != b"earlier proof" and len(first) > 1000

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", disk_full)
    assert main(["prove", "--air", "fibonacci", "--rows", "128", "-o", str(out)]) == 2
    assert out.read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["p.bin"]
