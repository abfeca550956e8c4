"""The SDK a trader needs installs without the server, the lab or their dependencies.

``pyproject.toml`` keeps FastAPI, SQLModel, Dask, pandas and matplotlib in the
``server`` and ``lab`` extras. These tests import the SDK and the light
commands in a fresh interpreter where those packages cannot be imported, as on
a machine that ran ``pip install sealbatch`` without extras.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTRAS_ONLY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlmodel",
    "sqlalchemy",
    "pydantic_settings",
    "psycopg",
    "prometheus_client",
    "dask",
    "distributed",
    "pandas",
    "matplotlib",
    "yaml",
    "web3",
    "eth_tester",
    "eth",
)

BLOCKER = f"""
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRAS_ONLY!r}:
            raise ImportError("not installed without extras: " + name)
sys.meta_path.insert(0, _Blocked())
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    # Run outside the repository so the top-level folders are not on sys.path.
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code],
        capture_output=True,
        text=True,
        cwd="/",
        check=False,
    )


@pytest.mark.parametrize(
    "module",
    [
        "sealbatch.venue.client",
        "sealbatch.venue.stream_client",
        "sealbatch.auction.commit_reveal",
        "sealbatch.crypto.eip712",
        "sealbatch.crypto.verifier",
    ],
)
def test_sdk_modules_import_without_extras(module: str) -> None:
    result = _run(f"import {module}\n")
    assert result.returncode == 0, result.stderr


def test_the_sdk_and_the_verifier_do_not_load_the_prover_compiler() -> None:
    # numba (the prover's compiled NTTs) is a large import: only the prover pays it.
    result = _run(
        "import sys\n"
        "import sealbatch.venue.client, sealbatch.venue.stream_client\n"
        "import sealbatch.auction.commit_reveal, sealbatch.crypto.eip712\n"
        "import sealbatch.crypto.verifier, sealbatch.settlement\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
        "import sealbatch.crypto.prover\n"
        "assert 'numba' in sys.modules, 'the check cannot see numba'\n"
    )
    assert result.returncode == 0, result.stderr


def test_the_blocker_does_block() -> None:
    result = _run("import sealbatch.venue.app\n")
    assert result.returncode != 0
    assert "not installed without extras" in result.stderr


def test_light_commands_run_without_extras(tmp_path: Path) -> None:
    book = tmp_path / "orders.csv"
    book.write_text("order_id,trader,side,limit_price,quantity\na,x,buy,101,2\nb,y,sell,100,2\n")
    result = _run(
        "import sys\nfrom sealbatch.venue.cli import main\n"
        f"sys.exit(main(['clear', {str(book)!r}, '--json']))\n"
    )
    assert result.returncode == 0, result.stderr
    assert '"volume": 2' in result.stdout


def test_core_dependencies_exclude_the_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {dep.split("[")[0].split(">")[0].split("=")[0] for dep in project["dependencies"]}
    assert core.isdisjoint({"fastapi", "sqlmodel", "dask", "pandas", "matplotlib", "uvicorn"})
    assert {"server", "lab", "dev"} <= set(project["optional-dependencies"])
