"""Reading JSON from files (``settlement/json_text.py``): a document nested too deep is
refused whichever parser sees it first, even with the recursion limit py_ecc sets, and
an object that holds a key twice is refused naming the key."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.settlement.json_text import (
    MAX_DEPTH,
    DuplicateKey,
    check_depth,
    check_unique_keys,
    count_keys,
    loads_json,
    nesting_depth,
)

#: Documents ``json.loads`` takes up to the nesting but pydantic-core's parser refuses
#: before it (a lone surrogate escape), so its depth limit never sees the brackets.
_REFUSED_FIRST = {
    "lone high surrogate": '["\\ud800",',
    "lone low surrogate": '["\\udc00",',
    "surrogate then a letter": '["\\ud800\\u0041",',
    "in a key": '{"\\ud800":',
}

_READ_WITH_PY_ECCS_LIMIT = """
import sys
sys.setrecursionlimit(100_000)  # what importing py_ecc does
from sealbatch.settlement.json_text import loads_json
text = sys.stdin.read()
try:
    loads_json(text.encode() if sys.argv[1] == "bytes" else text)
except ValueError as exc:
    print(exc)
else:
    print("read")
"""


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
@pytest.mark.parametrize("prefix", list(_REFUSED_FIRST.values()), ids=list(_REFUSED_FIRST))
def test_a_deep_document_the_rust_parser_refuses_early_is_refused_not_a_crash(
    prefix: str, as_bytes: bool
) -> None:
    """Before the fix json.loads recursed 100 000 deep here and the process died
    (SIGSEGV); now the depth is measured and the document refused."""
    proc = subprocess.run(
        [sys.executable, "-c", _READ_WITH_PY_ECCS_LIMIT, "bytes" if as_bytes else "str"],
        input=prefix + "[" * 100_000 + "]" * 100_000,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.startswith("nested too deep ("), proc.stdout


@pytest.mark.parametrize("prefix", list(_REFUSED_FIRST.values()), ids=list(_REFUSED_FIRST))
@pytest.mark.parametrize("depth", [1, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 1000])
def test_the_measured_depth_is_held_to_the_rust_parsers_limit(prefix: str, depth: int) -> None:
    # the prefix opens one level; ``depth`` more inside it, the innermost holding 1
    text = prefix + "[" * depth + "1" + "]" * depth + ("]" if prefix[0] == "[" else "}")
    if depth + 1 <= MAX_DEPTH:
        assert nesting_depth(text) == depth + 1
        check_depth(text)
        assert loads_json(text)  # json.loads takes lone surrogates
    else:
        with pytest.raises(ValueError, match=r"^nested too deep \(.*at most 200\)$"):
            check_depth(text)


@pytest.mark.parametrize(
    "text",
    [
        "[" * (MAX_DEPTH + 1) + "1" + "]" * (MAX_DEPTH + 1),  # the Rust parser's own refusal
        '["\\ud800",' + "[" * 100_000,  # measured
        '["\\ud800",' + "{" * 100_000,  # (an object's brackets too)
    ],
)
def test_both_refusals_say_nested_too_deep(text: str) -> None:
    with pytest.raises(ValueError, match=r"^nested too deep \("):
        loads_json(text)


def _depth(value: Any) -> int:
    """Reference: the nesting of a parsed value (an empty container is one level)."""
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


# Strings full of what the scan must skip: brackets, quotes, backslashes, surrogates.
_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\:,ab é\n\ud800\U0001f600'), max_size=8)
_JSON = st.recursive(
    st.none() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans(), st.sampled_from([None, 1]))
def test_the_scan_measures_what_the_document_holds(
    value: Any, ascii_only: bool, indent: int | None
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    assert nesting_depth(text) == _depth(value)
    assert nesting_depth(text.encode("utf-8", "surrogatepass")) == _depth(value)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("]]]", 0),  # stray closers never go below nothing
        ('"[[[', 0),  # an unterminated string runs to the end
        ('["\\\\"[[', 3),  # an escaped backslash ends before the quote
        ('["\\"[["]', 1),  # an escaped quote does not end the string
    ],
)
def test_the_scan_of_text_that_is_not_json(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_the_scan_is_linear_in_the_worst_case_for_its_pattern() -> None:
    """An unterminated string of escaped quotes: a pattern that needed its closing
    quote would rescan the rest from every quote (hours for this text)."""
    text = '"' + '\\"' * 200_000 + "[" * 1000
    start = time.perf_counter()
    assert nesting_depth(text) == 0
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"qty": 1, "qty": 2}', "qty"),
        ('{"qty": 1, "px": 5, "qty": 1}', "qty"),  # the same value twice
        ('{"a": {"b": 1, "b": 1}}', "b"),
        ('[1, {"c": [], "c": null}]', "c"),
        ('{"a": 1, "\\u0061": 2}', "a"),  # one key, two spellings
        (b'{"x": 0, "x": 0}', "x"),
    ],
)
def test_a_key_twice_in_one_object_is_refused_naming_it(text: str | bytes, key: str) -> None:
    with pytest.raises(DuplicateKey) as refused:
        loads_json(text)
    assert refused.value.key == key
    assert str(refused.value) == f'the key "{key}" twice in one object'
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize(
    "text", ['[{"a": 1}, {"a": 2}]', '{"a": {"a": 1}}', '{"a": 1, "A": 2}', '{"a": 1, "a ": 2}']
)
def test_the_same_key_in_different_objects_is_read(text: str) -> None:
    assert loads_json(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"qty": 1, "qty": 2}', "qty"),
        ('[1, {"c": [], "c": null}]', "c"),
        ('{"a": 1, "\\u0061": 2}', "a"),
        (b'{"x": 0, "x": 0}', "x"),
    ],
)
@pytest.mark.parametrize("counted", [False, True], ids=["keys-counted-here", "keys-given"])
def test_check_unique_keys_refuses_a_key_twice_however_the_keys_were_counted(
    text: str | bytes, key: str, counted: bool
) -> None:
    from pydantic_core import from_json

    keys = count_keys(from_json(text)) if counted else None
    with pytest.raises(DuplicateKey) as refused:
        check_unique_keys(text, keys)
    assert refused.value.key == key


def test_check_unique_keys_finds_a_key_twice_beside_an_integer_of_5000_digits() -> None:
    """More digits than ``int()`` takes from a string (and pydantic-core's parser reads)."""
    with pytest.raises(DuplicateKey) as refused:
        check_unique_keys('{"n": ' + "9" * 5_000 + ', "n": 1}')
    assert refused.value.key == "n"


@pytest.mark.parametrize(
    "text",
    ['[{"a": 1}, {"a": 2}]', '{"a": {"a": "b:c"}}', '{"a": 1, "A": 2}', "{not json: 1, 2: 3}"],
)
def test_check_unique_keys_passes_a_document_without_a_key_twice(text: str) -> None:
    check_unique_keys(text)


def test_count_keys_counts_every_object_at_any_depth() -> None:
    doc: Any = {"a": 1}
    for _ in range(10_000):
        doc = [{"k": doc, "j": 0}]
    assert count_keys(doc) == 1 + 2 * 10_000


def test_a_repeated_keys_message_is_one_short_line() -> None:
    key = "k\n" + "x" * 200
    with pytest.raises(DuplicateKey) as refused:
        loads_json("{" + f"{json.dumps(key)}: 1, {json.dumps(key)}: 2" + "}")
    message = str(refused.value)
    assert refused.value.key == key
    assert message.startswith('the key "k\\nxxx') and message.endswith('..." twice in one object')
    assert "\n" not in message and len(message) < 120
