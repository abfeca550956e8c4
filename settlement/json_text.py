"""Parse a JSON document read from a file without letting its depth crash the process.

``json.loads`` recurses on the C stack once per level of nesting, and a library the
process imports may have raised the interpreter's recursion limit (py_ecc, imported
with the in-process EVM, sets 100 000): then 100 000 nested ``[`` overflow the C
stack and the process dies with a segmentation fault instead of an error. A document
with few brackets cannot be deep; one with many is first parsed by pydantic-core's
Rust parser, whose depth limit (200 levels; a published file needs fewer than ten)
does not depend on the interpreter's. The venue's request bodies get the same check
in ``venue/api/middleware.py``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json

__all__ = ["loads_json"]

#: Brackets a document may hold before its nesting depth is checked.
_FEW_BRACKETS = 64


def loads_json(text: str) -> Any:
    """``json.loads(text)``, refusing a document nested too deep to parse safely.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``), nested too deep, or an
            integer of more digits than Python converts (4300).
    """
    if text.count("[") + text.count("{") > _FEW_BRACKETS:
        try:
            from_json(text)
        except ValueError as exc:
            if "recursion" in str(exc):
                raise ValueError(f"nested too deep ({exc})") from None
    return json.loads(text)
