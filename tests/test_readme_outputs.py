"""What README.md's commands write into the checkout is ignored by git.

Run as written from the repository root, the README's commands leave files
there: proofs (``-o proof.bin``), published batch folders (``demo --out
published/``), a keyper committee with its private key files (``keyper init
--out keys/``), lab results and the venue's SQLite database (``serve``'s
default ``sealbatch.db``, with its WAL files). None of them may show up as
something to commit; the keyper key files least of all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sealbatch.venue.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: ``-o PATH`` or ``--out PATH`` in a shown command, PATH literal (not ``DIR`` or ``FILE``).
_OUTPUT = re.compile(r"(?:^|\s)(?:-o|--out)\s+([a-z][\w./-]*)")


def _shown_outputs() -> list[str]:
    """The literal output paths of the ``sealbatch`` commands README.md's code blocks show."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", README.read_text(), re.M | re.S)
    paths = []
    for block in blocks:
        for line in block.splitlines():
            if line.lstrip().startswith(".venv/bin/sealbatch"):
                paths += _OUTPUT.findall(line.split("#", 1)[0])
    return paths


def _written_by_default() -> list[str]:
    """Files a command writes without being told where: the venue's SQLite file and its WAL."""
    url = Settings.model_fields["db_url"].default
    assert url.startswith("sqlite:///"), url
    db = url.removeprefix("sqlite:///")
    return [db, f"{db}-wal", f"{db}-shm", "lab-out/sniping/results.csv"]


def _git_ignores(path: str) -> bool:
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT, check=False)
    assert done.returncode in (0, 1), f"git check-ignore failed on {path!r}"
    return done.returncode == 0


def test_the_readme_shows_the_outputs_this_test_checks() -> None:
    assert {"proof.bin", "published/", "keys/"} <= set(_shown_outputs())


def test_what_the_readmes_commands_write_is_ignored_by_git() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    # A folder's contents: a file the command writes inside it.
    inside = {"published/": "published/batch-2/orders.csv", "keys/": "keys/keyper-1.json"}
    paths = [inside.get(p, p) for p in _shown_outputs()] + _written_by_default()
    assert [p for p in paths if not _git_ignores(p)] == []
