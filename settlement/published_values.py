"""Checked reads of the values in a published batch's files (docs/formats.md).

Every reader takes a value, the place it was read from (``result.json:
markets.BTC-PERP.fills[3].quantity``) and the type and range it must have, and
raises :class:`~sealbatch.settlement.errors.BatchStatementError` naming that
place and what it found. So a value of another type or out of its range in a
published file is a malformed file where it is read, never a Python exception
of the code that later uses it (``sealbatch verify --public`` and ``sealbatch
replay`` catch only the settlement layer's errors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sealbatch.auction.bounds import bound_message
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.errors import BatchStatementError

__all__ = [
    "address",
    "at",
    "flag",
    "hex_bytes",
    "integer",
    "items",
    "member",
    "obj",
    "optional",
    "text",
]

_HEX = re.compile(r"(?:0x)?(?:[0-9a-fA-F]{2})*")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def at(where: str, key: str | int) -> str:
    """The place of ``key`` inside ``where``: ``f.json: a.b``, ``f.json: a[3]``."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


def _got(value: object) -> str:
    return (
        "an object"
        if isinstance(value, Mapping)
        else "a list"
        if isinstance(value, list)
        else repr(value)
    )


def obj(value: object, where: str) -> Mapping[str, Any]:
    """``value`` as a JSON object."""
    if not isinstance(value, Mapping):
        raise BatchStatementError(f"{where}: expected an object, got {_got(value)}")
    return value


def items(value: object, where: str) -> list[Any]:
    """``value`` as a JSON list."""
    if not isinstance(value, list):
        raise BatchStatementError(f"{where}: expected a list, got {_got(value)}")
    return value


def member(doc: Mapping[str, Any], key: str, where: str) -> Any:
    """``doc[key]``, which must be present."""
    if key not in doc:
        raise BatchStatementError(f"{at(where, key)}: expected a value, got none")
    return doc[key]


def optional(doc: Mapping[str, Any], key: str, default: Any) -> Any:
    """``doc[key]``, or ``default`` when it is absent or null."""
    value = doc.get(key)
    return default if value is None else value


def integer(value: object, where: str, low: int, high: int) -> int:
    """``value`` as an integer from ``low`` to ``high`` (inclusive); a bool is no integer."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise BatchStatementError(bound_message(where, value, low, high))


def flag(value: object, where: str) -> bool:
    """``value`` as a bool."""
    if not isinstance(value, bool):
        raise BatchStatementError(f"{where}: expected true or false, got {_got(value)}")
    return value


def text(value: object, where: str) -> str:
    """``value`` as a non-empty string."""
    if not isinstance(value, str) or not value:
        raise BatchStatementError(f"{where}: expected a name, got {_got(value)}")
    return value


def hex_bytes(value: object, where: str, size: int | None = 32) -> bytes:
    """``value`` as bytes written in hex (``0x`` optional); ``size`` bytes unless None."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise BatchStatementError(f"{where}: expected 0x and hex digits, got {_got(value)}")
    raw = bytes.fromhex(value.removeprefix("0x"))
    if size is not None and len(raw) != size:
        raise BatchStatementError(f"{where}: expected {size} bytes, got {len(raw)}")
    return raw


def address(value: object, where: str) -> Address:
    """``value`` as an address, ``0x`` and 40 hex digits (kept as published)."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise BatchStatementError(
            f"{where}: expected an address (0x and 40 hex digits), got {_got(value)}"
        )
    return Address(value)
