"""``sealbatch keyper init``: all the files or none, and a bad ``--out`` refused up front."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sealbatch.venue.cli import main
from sealbatch.venue.committee import load_committee, load_key


def _init(out: Path, size: int = 3) -> int:
    return main(["keyper", "init", "--threshold", "2", "--size", str(size), "--out", str(out)])


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_init_writes_the_key_files_and_the_committee(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "keys"
    assert _init(out) == 0
    assert "wrote 3 key files and committee.json (2-of-3)" in capsys.readouterr().out
    assert _listing(out) == ["committee.json", "keyper-1.json", "keyper-2.json", "keyper-3.json"]
    committee = load_committee(out / "committee.json")
    for i in (1, 2, 3):
        path = out / f"keyper-{i}.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_key(path).member() == committee.member(i)
    assert stat.S_IMODE((out / "committee.json").stat().st_mode) == 0o644


@pytest.mark.parametrize("taken", ["keyper-2.json", "keyper-3.json", "committee.json"])
@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_taken_name_after_the_first_leaves_the_folder_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], taken: str, kind: str
) -> None:
    """keyper-1.json is free, a later name is taken: keyper-1.json is not left behind
    (nor a temporary file), and the taken one is untouched."""
    out = tmp_path / "keys"
    out.mkdir()
    if kind == "folder":
        (out / taken).mkdir()
    else:
        (out / taken).write_text("an earlier key\n")
    before = _listing(out)
    assert _init(out) == 2
    message = f"--out: expected a folder without a committee, got {out / taken}"
    assert capsys.readouterr().err == f"sealbatch keyper: error: {message}\n"
    assert _listing(out) == before
    if kind == "file":
        assert (out / taken).read_text() == "an earlier key\n"


def test_a_bad_out_is_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    assert _init(tmp_path / "missing" / "keys") == 2
    assert "--out: expected an existing parent folder" in capsys.readouterr().err
    assert _init(tmp_path / "a-file") == 2
    assert "--out: expected a directory, got the file" in capsys.readouterr().err
    assert _listing(tmp_path) == ["a-file"]
