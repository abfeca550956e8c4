"""The committed artifacts are what the pinned solc makes of the sources today."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"


def test_pinned_compiler_everywhere() -> None:
    pinned = json.loads((CONTRACTS / "package.json").read_text())["dependencies"]["solc"]
    lock = json.loads((CONTRACTS / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/solc"]["version"] == pinned
    for source in (CONTRACTS / "src").rglob("*.sol"):
        assert f"pragma solidity {pinned};" in source.read_text(), source
    for artifact in (CONTRACTS / "artifacts").glob("*.json"):
        assert json.loads(artifact.read_text())["compiler"].startswith(f"{pinned}+"), artifact


def test_artifacts_rebuild_identically(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip(
            "node is not installed: cannot rebuild the contracts (make installs solc with npm)"
        )
    if not (CONTRACTS / "node_modules" / "solc").is_dir():
        pytest.skip("contracts/node_modules has no solc: run make contracts (npm ci) first")
    subprocess.run([node, str(CONTRACTS / "build.js"), str(tmp_path)], check=True, timeout=600)
    committed = sorted(p.name for p in (CONTRACTS / "artifacts").glob("*.json"))
    rebuilt = sorted(p.name for p in tmp_path.glob("*.json"))
    assert rebuilt == committed
    for name in committed:
        assert (tmp_path / name).read_text() == (CONTRACTS / "artifacts" / name).read_text(), name
