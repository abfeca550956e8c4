"""Frozen dataclass instances built without their ``__init__``, for the hot paths.

A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__`` (a
frozen class refuses plain assignment), which costs about as much as the rest
of building the object together; the bulk commitment path makes a few per
commitment. The instance's ``__dict__`` is then a dictionary of its own (an
instance built by its ``__init__`` keeps its values inline, ~150-180 bytes
less): for objects that are dropped soon, or that save enough (an order
status: fourteen fields).
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["frozen_instance"]

T = TypeVar("T")


def frozen_instance(cls: type[T], values: dict[str, Any]) -> T:
    """``cls(**values)`` for a frozen dataclass ``cls`` without ``__slots__``,
    ``__post_init__`` or field converters: ``values`` (every field, in field order,
    defaults included) becomes the instance's ``__dict__``, as the constructor would
    have made it (equal, same hash, same pickle; ``tests/venue/test_frozen_instances.py``)."""
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    return obj
