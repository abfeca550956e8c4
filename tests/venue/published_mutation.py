"""One value of a published batch folder changed: the edits that
tests/venue/test_published_values.py names one by one and bench/published_mutations.py
applies to every value in turn."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Final

__all__ = ["DELETE", "set_csv", "set_json"]


class _Delete:
    """The value that removes its key (its repr names it in test ids and reports)."""

    def __repr__(self) -> str:
        return "<deleted>"


DELETE: Final = _Delete()


def set_json(text: str, path: tuple[Any, ...], value: Any) -> str:
    """The JSON ``text`` with the value at ``path`` (keys and list indices) replaced by
    ``value``, or removed with :data:`DELETE`."""
    doc = json.loads(text)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(doc, indent=1)


def set_csv(text: str, row: int, column: str, value: str) -> str:
    """The CSV ``text`` with ``column``'s cell of ``row`` (0: the header) set to ``value``."""
    rows = list(csv.reader(io.StringIO(text)))
    rows[row][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()
