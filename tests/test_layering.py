"""Layering of the whole project, checked statically: every import, function-level ones too.

The runtime check in ``test_stark.py`` (import the verifier, look in
``sys.modules``) misses an import made inside a function that has not run yet;
this walks the source instead, following registry strings such as
``AIR_MODULES`` (modules imported by name through :mod:`importlib`).

It also refuses import cycles between the project's modules: every import
counts (function-level and ``TYPE_CHECKING`` ones too, and importing
``a.b.c`` imports the packages ``a`` and ``a.b``), except names in a registry,
which are looked up lazily at call time and never run while the registry
itself is imported.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("auction", "settlement", "venue", "research", "bench", "examples")


def _modules(root: Path, package: str, prefix: str = "") -> dict[str, Path]:
    """Module name -> file for every ``.py`` file under ``root/package``.

    ``prefix`` is the import path the folder installs under (``sealbatch.`` for
    the project's layers, see ``pyproject.toml``'s ``package-dir``)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = prefix + ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str], registries: bool = True) -> set[str]:
    """Every module ``name`` imports anywhere in its source, plus (with ``registries``)
    known module names it mentions as string constants (``importlib.import_module``
    targets, registries)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            registries
            and isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in known
        ):
            found.add(node.value)
    return found


def _graph(
    root: Path, package: str, prefix: str = "", registries: bool = True
) -> dict[str, set[str]]:
    modules = _modules(root, package, prefix)
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for imported in _imports(name, path, known, registries):
            # "a.b.c" also imports its parent packages "a" and "a.b"
            parts = imported.split(".")
            targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        graph[name] = targets
    return graph


def reachable(root: Path, package: str, start: str, prefix: str = "") -> set[str]:
    """Every module of ``package`` that importing ``start`` can bring in (transitively)."""
    graph = _graph(root, package, prefix)
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph.get(todo.pop(), set()):
            if nxt in graph and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# What each layer may import of the project (DESIGN.md, "Layers"): imports point
# down only. ``research`` sits beside ``venue``: neither imports the other, except
# the command line (``venue.commands``), which runs the lab.
ALLOWED = {
    "crypto": set(),
    "auction": {"crypto"},
    "settlement": {"crypto", "auction"},
    "research": {"crypto", "auction", "settlement"},
    "venue": {"crypto", "auction", "settlement"},
}
CLI_MAY_ALSO_IMPORT = {"research"}


def _layer_violations(root: Path) -> set[tuple[str, str]]:
    bad = set()
    for layer, allowed in ALLOWED.items():
        for module, imports in _graph(root, layer, "sealbatch.").items():
            own = {layer} | allowed
            if module.startswith("sealbatch.venue.commands"):
                own |= CLI_MAY_ALSO_IMPORT
            for imported in imports:
                parts = imported.split(".")
                old_name = parts[0] in PROJECT_PACKAGES  # the bare top-level names are gone
                upward = parts[0] == "sealbatch" and len(parts) > 1 and parts[1] not in own
                if old_name or upward:
                    bad.add((module, imported))
    return bad


def test_every_layer_imports_only_the_layers_below() -> None:
    assert len(_modules(ROOT, "venue", "sealbatch.")) > 20  # the walk sees the real tree
    assert _layer_violations(ROOT) == set()


def test_the_layer_check_catches_an_upward_import(tmp_path: Path) -> None:
    for layer in ALLOWED:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text("")
    (tmp_path / "auction" / "clearing.py").write_text(
        "def f() -> None:\n    from sealbatch.settlement.ledger import x\n"
    )
    (tmp_path / "crypto" / "field.py").write_text("import auction.orders\n")
    assert _layer_violations(tmp_path) == {
        ("sealbatch.auction.clearing", "sealbatch.settlement"),
        ("sealbatch.auction.clearing", "sealbatch.settlement.ledger"),
        ("sealbatch.auction.clearing", "sealbatch.settlement.ledger.x"),
        ("sealbatch.crypto.field", "auction"),
        ("sealbatch.crypto.field", "auction.orders"),
    }


def import_cycle(root: Path, packages: tuple[str, ...], prefix: str = "") -> list[str] | None:
    """One import cycle among the modules of ``packages`` (``[a, b, ..., a]``), or None."""
    graph: dict[str, set[str]] = {}
    for package in packages:
        graph.update(_graph(root, package, prefix, registries=False))
    edges = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as exc:
        return list(reversed(exc.args[1]))
    return None


def test_no_import_cycles_in_the_project() -> None:
    assert import_cycle(ROOT, tuple(ALLOWED), "sealbatch.") is None


@pytest.mark.parametrize(
    ("a_source", "cycle"),
    [
        ("import pkg.b\n", True),
        ("def later() -> None:\n    from pkg import b\n", True),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import x\n", True),
        ("from .b import x\n", True),
        ("NAMES = {'b': 'pkg.b'}\n", False),  # a lazy registry entry, not an import
        ("import pkg.c\n", False),
    ],
)
def test_the_cycle_check_catches_a_planted_cycle(
    tmp_path: Path, a_source: str, cycle: bool
) -> None:
    """b imports a; a imports b in one of several ways (or not)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(a_source)
    (pkg / "b.py").write_text("from pkg.a import thing\n")
    (pkg / "c.py").write_text("x = 1\n")
    found = import_cycle(tmp_path, ("pkg",))
    assert (found is not None) is cycle
    if found:
        assert set(found) == {"pkg.a", "pkg.b"}


def test_a_package_that_imports_its_own_modules_is_a_cycle(tmp_path: Path) -> None:
    """``pkg/__init__`` importing ``pkg.impl``, which imports ``pkg.base``: importing
    ``pkg.base`` runs ``pkg/__init__`` first, so the package and its module cycle."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pkg.impl import Impl\n")
    (pkg / "base.py").write_text("class Base: ...\n")
    (pkg / "impl.py").write_text("from pkg.base import Base\nclass Impl(Base): ...\n")
    assert import_cycle(tmp_path, ("pkg",)) is not None


def test_verifier_never_reaches_the_prover() -> None:
    closure = reachable(ROOT, "crypto", "sealbatch.crypto.verifier", "sealbatch.")
    assert "sealbatch.crypto.airs.range_check" in closure  # registry strings are followed
    assert "sealbatch.crypto.prover" not in closure
    # nor any module compiled with numba (a large import and a JIT on first use)
    compiled = {"ntt_jit", "evaluators_jit", "poseidon2_jit", "keccak_jit"}
    assert not {m for m in closure if m.rsplit(".", 1)[-1] in compiled}


@pytest.mark.parametrize(
    ("helper", "expected"),
    [
        ("from pkg import prover\n", True),
        ("def later() -> None:\n    from . import prover\n", True),
        ("import importlib\nNAMES = {'p': 'pkg.prover'}\n", True),
        ("import pkg.prover as p\n", True),
        ("from pkg.field import x\n", False),
    ],
)
def test_the_check_catches_a_transitive_import(tmp_path: Path, helper: str, expected: bool) -> None:
    """verifier -> middle -> helper -> prover, the last edge written in several ways."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "verifier.py").write_text("from pkg.middle import thing\n")
    (pkg / "middle.py").write_text("from . import helper\nthing = 1\n")
    (pkg / "helper.py").write_text(helper)
    (pkg / "field.py").write_text("x = 1\n")
    (pkg / "prover.py").write_text("import pkg.field\n")
    assert ("pkg.prover" in reachable(tmp_path, "pkg", "pkg.verifier")) is expected


def test_only_anchor_imports_web3() -> None:
    """web3 and the embedded EVM stay behind settlement/anchor* (DESIGN.md)."""
    chain_libs = ("web3", "eth_tester", "eth")
    for package in ("crypto", "auction", "settlement", "venue", "research"):
        modules = _modules(ROOT, package, "sealbatch.")
        for name, path in modules.items():
            if name.startswith("sealbatch.settlement.anchor"):
                continue
            found = _imports(name, path, set(modules))
            bad = sorted(m for m in found if m.split(".")[0] in chain_libs)
            assert not bad, f"{name} imports {bad}: only settlement/anchor* may"
