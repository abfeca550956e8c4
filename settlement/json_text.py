"""Parse a JSON document read from a file without letting its depth crash the process
or a repeated key hide a second value.

``json.loads`` recurses on the C stack once per level of nesting, and a library the
process imports may have raised the interpreter's recursion limit (py_ecc, imported
with the in-process EVM, sets 100 000): then 100 000 nested ``[`` overflow the C
stack and the process dies with a segmentation fault instead of an error. A document
with few brackets cannot be deep; one with many is first parsed by pydantic-core's
Rust parser, whose depth limit (:data:`MAX_DEPTH` levels; a published file needs
fewer than ten) does not depend on the interpreter's. A document that parser refuses
for another reason (a lone surrogate escape ``"\\ud800"``, say, which ``json.loads``
takes) has its depth measured by an iterative scan (:func:`nesting_depth`) and is
held to the same limit.

``json.loads`` also keeps the last of two values given for one key, where another
reader may keep the first: :func:`loads_json` refuses the document instead
(:class:`DuplicateKey`). The venue's request bodies get the same checks
(:func:`check_depth`, :func:`check_unique_keys`) in ``venue/api/middleware.py``, and
the frames a client sends on its stream in ``venue/api/routes/stream.py``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from pydantic_core import from_json

__all__ = [
    "FEW_BRACKETS",
    "MAX_DEPTH",
    "DuplicateKey",
    "check_depth",
    "check_unique_keys",
    "count_keys",
    "loads_json",
    "nesting_depth",
    "unique_keys",
]

#: Brackets a document may hold before its nesting depth is checked.
FEW_BRACKETS = 64

#: Levels of nesting a document may have (pydantic-core's parser refuses a value
#: inside the 201st).
MAX_DEPTH = 200

#: A JSON string, or an unterminated one to the end of the text: the closing quote
#: is optional so that no match fails, and each byte is scanned once.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)

#: Every byte but the four brackets (``bytes.translate`` deletes them).
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class DuplicateKey(ValueError):
    """A JSON object holds the same key twice (``json.loads`` would keep the last)."""

    def __init__(self, key: str) -> None:
        shown = key if len(key) <= 64 else key[:64] + "..."
        super().__init__(f"the key {json.dumps(shown)} twice in one object")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s ``object_pairs_hook``: the object, refusing a repeated key.

    Raises:
        DuplicateKey: the first key given a second time.
    """
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


def count_keys(doc: Any) -> int:
    """How many keys the objects in the parsed document ``doc`` hold, over all of them
    (iteratively: any depth)."""
    keys = 0
    pending = [doc]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            keys += len(value)
            pending.extend(v for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            pending.extend(v for v in value if isinstance(v, (dict, list)))
    return keys


def _any_int(digits: str) -> int:
    """``json.loads``'s ``parse_int`` for a scan that looks only at keys: an integer of
    any length (``int()`` refuses more than 4300 digits) reads as 0."""
    return 0


def check_unique_keys(text: str | bytes | bytearray, keys: int | None = None) -> None:
    """Refuse a JSON document with an object that holds a key twice; pass any other.

    Every key is followed by a ``:``, and a parse that keeps one value of a repeated
    key finds one key: a document of no more ``:`` than the keys such a parse found
    repeats none, and only one with more (a ``:`` in a string, or a key twice) is
    parsed again, by ``json.loads``, to find out. ``keys``: the keys the caller's
    parse found (:func:`count_keys` of pydantic-core's document, or the fields a model
    took); by default pydantic-core's parser counts them. ``text`` must be shallow
    enough to parse safely (:func:`check_depth`, or a parse by pydantic-core's
    parser). A document that is not JSON passes: its reader's parse answers that.

    Raises:
        DuplicateKey: the first key given a second time in one object.
    """
    colons = text.count(":") if isinstance(text, str) else text.count(b":")
    if colons <= 1:
        return
    if keys is None:
        try:
            keys = count_keys(from_json(text))
        except ValueError:
            keys = 1  # refused by that parser, perhaps not by json.loads: look
    if colons <= keys:
        return
    try:
        json.loads(text, object_pairs_hook=unique_keys, parse_int=_any_int)
    except DuplicateKey:
        raise
    except (ValueError, RecursionError):
        return  # not JSON: its reader answers it


def nesting_depth(text: str | bytes | bytearray) -> int:
    """The deepest nesting of ``[`` and ``{`` outside JSON strings, in one linear scan.

    Iterative, so any depth is measured safely. Up to the first byte that is not
    JSON it is the depth a JSON parser reaches; past it, an upper bound of what a
    parser might (an unterminated string runs to the end, a stray ``]`` lowers the
    count only below what the parser has already refused).
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max(initial=0))


def check_depth(text: str | bytes | bytearray) -> None:
    """Refuse a JSON document nested too deep to parse safely; pass any other.

    A document of at most :data:`FEW_BRACKETS` brackets passes unparsed; one with
    more is parsed by pydantic-core's Rust parser, and when that parser refuses it
    for another reason than its depth, its depth is measured by
    :func:`nesting_depth` and held to :data:`MAX_DEPTH`. Whatever else is wrong
    with the document is left to its reader's own parse.

    Raises:
        ValueError: nested too deep (the Rust parser's message, or the levels
            measured, in brackets).
    """
    if isinstance(text, str):
        brackets = text.count("[") + text.count("{")
    else:
        brackets = text.count(b"[") + text.count(b"{")
    if brackets <= FEW_BRACKETS:
        return
    try:
        from_json(text)
    except ValueError as exc:
        if "recursion" in str(exc):
            raise ValueError(f"nested too deep ({exc})") from None
        # Refused for another reason that json.loads may not share: measure.
        depth = nesting_depth(text)
        if depth > MAX_DEPTH:
            raise ValueError(
                f"nested too deep ({depth} levels, expected at most {MAX_DEPTH})"
            ) from None


def loads_json(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``, refusing a document nested too deep to parse safely or
    with an object that holds a key twice.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``), nested too deep
            (:func:`check_depth`), a key twice in one object (:class:`DuplicateKey`),
            or an integer of more digits than Python converts (4300).
    """
    check_depth(text)
    return json.loads(text, object_pairs_hook=unique_keys)
