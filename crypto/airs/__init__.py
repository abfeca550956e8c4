"""The AIR registry: name -> how to build the AIR (verifier) and an honest trace (prover).

A proof carries its AIR's name, row count and public inputs; the verifier
calls :func:`get_air` and then ``entry.build(num_rows, public_inputs)``. The
CLI (``sealbatch prove --air NAME --rows N``) and ``bench/stark.py`` call
``entry.generate(num_rows)`` for an honest trace and its public inputs.

Registering an AIR: write a module in ``crypto/airs/`` that defines

* ``build(num_rows, public_inputs) -> Air`` — pure, deterministic, raises
  ``ValueError`` on public inputs it cannot accept (the verifier turns that
  into a ``VerificationError``);
* ``generate(num_rows, **params) -> (main_trace, public_inputs)`` — the
  ``(num_main_columns, num_rows)`` uint64 trace;
* ``ENTRY = AirEntry(name, build, generate, summary)``;

then add one line ``"name": "sealbatch.crypto.airs.module",`` to :data:`AIR_MODULES`.
Modules are imported lazily, so registering costs nothing at start-up. Keep
prover-only work (trace generation) inside ``generate``: the verifier imports
the module for ``build`` and must never import :mod:`sealbatch.crypto.prover`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sealbatch.crypto.air import Air
from sealbatch.crypto.field import Array

__all__ = ["AIR_MODULES", "AirEntry", "UnknownAir", "available_airs", "get_air"]

#: Registered AIRs: name -> module defining ``ENTRY``.
AIR_MODULES: dict[str, str] = {
    "fibonacci": "sealbatch.crypto.airs.fibonacci",
    "wide": "sealbatch.crypto.airs.wide",
    "range_check": "sealbatch.crypto.airs.range_check",
    "poseidon2": "sealbatch.crypto.airs.poseidon2_air",
}


@dataclass(frozen=True)
class AirEntry:
    """One registered AIR."""

    name: str
    build: Callable[[int, tuple[int, ...]], Air]
    """``(num_rows, public_inputs) -> Air`` (both sides)."""
    generate: Callable[..., tuple[Array, tuple[int, ...]]]
    """``(num_rows, **params) -> (main_trace, public_inputs)`` (prover side)."""
    summary: str
    """One line for ``--help`` and the verify report."""


class UnknownAir(KeyError):
    """No AIR is registered under this name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown AIR"


def available_airs() -> list[str]:
    """Registered names, sorted."""
    return sorted(AIR_MODULES)


def get_air(name: str) -> AirEntry:
    """The entry registered as ``name``.

    Raises:
        UnknownAir: no such name (the message lists the registered ones).
    """
    module_name = AIR_MODULES.get(name)
    if module_name is None:
        raise UnknownAir(f"unknown AIR {name!r}; registered: {', '.join(available_airs())}")
    module: Any = importlib.import_module(module_name)
    entry = module.ENTRY
    if not isinstance(entry, AirEntry) or entry.name != name:
        raise TypeError(f"{module_name}.ENTRY must be an AirEntry named {name!r}")
    return entry
