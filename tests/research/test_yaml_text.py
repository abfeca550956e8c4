"""The lab's YAML reader (``research/yaml_text.py``): a mapping that holds a key twice is
refused naming the key and its line; everything ``yaml.safe_load`` reads otherwise is
read the same."""

from __future__ import annotations

import pytest
import yaml

from sealbatch.research.errors import ScenarioError
from sealbatch.research.yaml_text import RepeatedKey, load_yaml


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("a: 1\na: 2\n", "a", 2),
        ("a: 1\nb: 2\na: 1\n", "a", 3),  # the same value twice
        ("a: 1\nb: {c: 1, c: 2}\n", "c", 2),
        ("- x: 1\n- y: 1\n  y: 2\n", "y", 3),
        ("a: 1\n'a': 2\n", "a", 2),  # one key, two spellings
        ("1: a\n0x1: b\n", 1, 2),
        ("yes: 1\ntrue: 2\n", True, 2),  # YAML 1.1: both are true
    ],
)
def test_a_key_twice_in_one_mapping_is_refused(text: str, key: object, line: int) -> None:
    with pytest.raises(RepeatedKey) as refused:
        load_yaml(text)
    assert refused.value.key == key and refused.value.line == line
    shown = f'"{key}"' if isinstance(key, str) else repr(key)
    assert str(refused.value) == f"the key {shown} twice in one mapping (line {line})"
    # caught by whatever catches YAML's errors, and by the lab's
    assert isinstance(refused.value, yaml.YAMLError) and isinstance(refused.value, ScenarioError)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: 2\n",
        "- {a: 1}\n- {a: 2}\n",  # the same key in different mappings
        "a: {a: 1}\n",
        "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n",  # a merge key's keys are overridden
        "d:\n  <<: [{x: 1}, {x: 2}]\n",
        "[1, 2, {k: v}]\n",
        "7\n",
        "",
    ],
)
def test_what_safe_load_reads_without_a_repeat_is_read_the_same(text: str) -> None:
    assert load_yaml(text) == yaml.safe_load(text)


def test_an_unhashable_key_is_yamls_own_error() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="unhashable key"):
        load_yaml("? [1]\n: 2\n")


def test_only_safe_tags_are_read() -> None:
    with pytest.raises(yaml.constructor.ConstructorError):
        load_yaml("!!python/object/apply:os.system ['true']\n")
