"""Shipped lab scenarios (YAML files in this folder); see docs/lab.md."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCENARIO_DIR", "shipped_scenario"]

#: The folder holding the shipped scenario files.
SCENARIO_DIR = Path(__file__).resolve().parent


def shipped_scenario(name: str) -> Path | None:
    """The shipped scenario file called ``name`` (with or without ``.yaml``), if any."""
    stem = name[:-5] if name.endswith(".yaml") else name
    path = SCENARIO_DIR / f"{stem}.yaml"
    return path if "/" not in stem and path.is_file() else None
