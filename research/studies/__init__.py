"""Shipped lab studies (YAML files in this folder); see docs/lab.md."""

from __future__ import annotations

from pathlib import Path

__all__ = ["STUDY_DIR", "shipped_study"]

#: The folder holding the shipped study files.
STUDY_DIR = Path(__file__).resolve().parent


def shipped_study(name: str) -> Path | None:
    """The shipped study file called ``name`` (with or without ``.yaml``), if any."""
    stem = name[:-5] if name.endswith(".yaml") else name
    path = STUDY_DIR / f"{stem}.yaml"
    return path if "/" not in stem and path.is_file() else None
