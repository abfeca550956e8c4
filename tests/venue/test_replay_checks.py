"""`sealbatch replay`: every money field a batch folder publishes is checked,
the derived fields of pre_state.json, the reference prices and the oracle digest too."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sealbatch.venue.cli import main


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--batches", "2", "--no-prove", "--out", str(out)]) == 0
    return out / "batch-2"


def _tamper(src: Path, dst: Path, name: str, edit: Callable[[Any], None]) -> Path:
    folder = dst / "batch"
    shutil.copytree(src, folder)
    doc = json.loads((folder / name).read_text())
    edit(doc)
    (folder / name).write_text(json.dumps(doc))
    return folder


def _bump_equity(doc: Any) -> None:
    doc["accounts"][0]["equity"] += 1


def _bump_requirement(doc: Any) -> None:
    doc["accounts"][0]["initial_requirement"] += 1


def _bump_reference(doc: Any) -> None:
    for m in doc["markets"].values():
        m["reference_price"] += 1


def _bump_round(doc: Any) -> None:
    doc["round_id"] += 1


@pytest.mark.parametrize(
    ("name", "edit", "check"),
    [
        ("pre_state.json", _bump_equity, "pre_state.json fields"),
        ("pre_state.json", _bump_requirement, "pre_state.json fields"),
        ("result.json", _bump_reference, "result.json reference prices"),
        ("oracle.json", _bump_round, "oracle.json digest"),
    ],
)
def test_replay_detects_each_published_field(
    published: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    edit: Callable[[Any], None],
    check: str,
) -> None:
    assert main(["replay", str(published)]) == 0
    capsys.readouterr()
    folder = _tamper(published, tmp_path, name, edit)
    assert main(["replay", str(folder)]) == 1
    out = capsys.readouterr().out
    assert any(line.startswith(check) and "MISMATCH" in line for line in out.splitlines()), out


def _state_a_reference(doc: Any) -> None:
    doc["markets"]["BTC-PERP"]["reference_price"] = 650_000


def test_replay_detects_a_reference_stated_before_a_first_mark(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batch 1 settles on a state without marks: it clears without a reference, and one
    stated in result.json (which would pick the price inside the optimal interval) is a
    mismatch."""
    first = published.parent / "batch-1"
    doc = json.loads((first / "result.json").read_text())
    assert all(m["reference_price"] is None for m in doc["markets"].values())
    folder = _tamper(first, tmp_path, "result.json", _state_a_reference)
    assert main(["replay", str(folder)]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("result.json reference prices"))
    assert "MISMATCH" in line and "published 650000, previous mark price None" in line, out
