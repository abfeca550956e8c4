"""The checks of where a command writes, made before any work
(``venue/commands/output_dirs.py``): ``lab run --out`` (a folder, made with its
missing parents) and ``prove -o`` (a file, in a folder that must exist), each
answer to the letter."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path
from typing import Any

import pytest

from sealbatch.venue.commands.lab import _out_problem
from sealbatch.venue.commands.prove import _output_problem


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``tmp_path`` holding the folder ``dir`` and the file ``file``."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("out", "problem"),
    [
        ("dir", None),
        ("new", None),
        ("new/deeper/report", None),
        ("dir/new", None),
        ("file", "expected a directory, got the file {tree}/file"),
        ("file/report", "expected a directory, got the file {tree}/file"),
        ("file/deeper/report", "expected a directory, got the file {tree}/file"),
    ],
)
def test_lab_out(tree: Path, out: str, problem: str | None) -> None:
    expected = None if problem is None else problem.format(tree=tree)
    assert _out_problem(tree / out) == expected


@pytest.mark.parametrize(
    ("out", "problem"),
    [
        ("p.bin", None),
        ("dir/p.bin", None),
        ("dir", "-o: expected a file, got the directory {tree}/dir"),
        (
            "missing/p.bin",
            "-o: expected an existing folder for {tree}/missing/p.bin, {tree}/missing is not one",
        ),
        (
            "file/p.bin",
            "-o: expected an existing folder for {tree}/file/p.bin, {tree}/file is not one",
        ),
    ],
)
def test_prove_output(tree: Path, out: str, problem: str | None) -> None:
    expected = None if problem is None else problem.format(tree=tree)
    assert _output_problem(str(tree / out)) == expected


def test_unwritable_folders_are_named(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder this process cannot create a file in is named (root may create one
    anywhere in tmp_path, so here no file can be made in ``dir`` nor in ``tree`` itself).
    The check makes a file, not ``os.access``, which says yes to root even where no file
    can be made (``/sys``)."""
    real = tempfile.mkstemp
    refused = {tree / "dir", tree}

    def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        if Path(str(kwargs.get("dir"))) in refused:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    denied = ": Permission denied"
    assert _out_problem(tree / "dir") == f"cannot write into {tree / 'dir'}{denied}"
    assert (
        _out_problem(tree / "dir" / "new" / "report") == f"cannot write into {tree / 'dir'}{denied}"
    )
    assert _out_problem(tree / "new") == f"cannot write into {tree}{denied}"
    assert (
        _output_problem(str(tree / "dir" / "p.bin"))
        == f"-o: cannot write into {tree / 'dir'}{denied}"
    )
    assert _output_problem(str(tree / "p.bin")) == f"-o: cannot write into {tree}{denied}"
    assert sorted(p.name for p in tree.iterdir()) == ["dir", "file"]  # no probe left behind
    assert _out_problem(tree / "file" / "x") is not None


def test_the_checks_leave_no_file_behind(tree: Path) -> None:
    assert _out_problem(tree / "dir") is None
    assert _output_problem(str(tree / "dir" / "p.bin")) is None
    assert sorted(p.name for p in tree.rglob("*")) == ["dir", "file"]
