"""Parse a JSON document read from a file without letting its depth crash the process.

``json.loads`` recurses on the C stack once per level of nesting, and a library the
process imports may have raised the interpreter's recursion limit (py_ecc, imported
with the in-process EVM, sets 100 000): then 100 000 nested ``[`` overflow the C
stack and the process dies with a segmentation fault instead of an error. A document
with few brackets cannot be deep; one with many is first parsed by pydantic-core's
Rust parser, whose depth limit (200 levels; a published file needs fewer than ten)
does not depend on the interpreter's. The venue's request bodies get the same check,
:func:`check_depth`, in ``venue/api/middleware.py``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json

__all__ = ["FEW_BRACKETS", "check_depth", "loads_json"]

#: Brackets a document may hold before its nesting depth is checked.
FEW_BRACKETS = 64


def check_depth(text: str | bytes | bytearray) -> None:
    """Refuse a JSON document nested too deep to parse safely; pass any other.

    A document of at most :data:`FEW_BRACKETS` brackets passes unparsed; one with
    more is parsed by pydantic-core's Rust parser. Whatever else is wrong with the
    document is left to its reader's own parse.

    Raises:
        ValueError: nested too deep (the Rust parser's message in brackets).
    """
    if isinstance(text, str):
        brackets = text.count("[") + text.count("{")
    else:
        brackets = text.count(b"[") + text.count(b"{")
    if brackets > FEW_BRACKETS:
        try:
            from_json(text)
        except ValueError as exc:
            if "recursion" in str(exc):
                raise ValueError(f"nested too deep ({exc})") from None


def loads_json(text: str) -> Any:
    """``json.loads(text)``, refusing a document nested too deep to parse safely.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``), nested too deep
            (:func:`check_depth`), or an integer of more digits than Python
            converts (4300).
    """
    check_depth(text)
    return json.loads(text)
