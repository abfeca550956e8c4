"""Errors of the MEV lab: bad scenarios and broken invariants of a run."""

from __future__ import annotations

from sealbatch.crypto.exceptions import SealbatchError

__all__ = ["ConservationError", "LabError", "LobsterFormatError", "ScenarioError"]


class LabError(SealbatchError):
    """Root of the research layer's errors."""


class ScenarioError(LabError, ValueError):
    """A scenario file or override is malformed (names the field)."""


class ConservationError(LabError):
    """A run created or destroyed cash or position: a bug, never a result."""


class LobsterFormatError(LabError, ValueError):
    """A LOBSTER message file is malformed (names the row and column)."""
