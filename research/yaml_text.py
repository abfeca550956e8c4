"""Read the lab's YAML (scenario and study files, ``--set`` values) refusing a mapping
that holds a key twice.

``yaml.safe_load`` keeps the last of two values given for one key, so a scenario
that sets ``horizon_s`` twice runs with the second and reads as if it ran with
the first: :func:`load_yaml` refuses it instead (:class:`RepeatedKey`, naming the
key and its line). A merge key (``<<: *base``) is not a repeat: the mapping's own
keys override the merged ones, as YAML 1.1 defines.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any

import yaml
from yaml.nodes import MappingNode

from sealbatch.research.errors import ScenarioError

__all__ = ["RepeatedKey", "UniqueKeyLoader", "load_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class RepeatedKey(ScenarioError, yaml.YAMLError):
    """A YAML mapping holds the same key twice (``yaml.safe_load`` keeps the last).

    A :class:`yaml.YAMLError` too, so whatever reads YAML and catches its errors
    catches this one.
    """

    def __init__(self, key: object, line: int) -> None:
        shown = json.dumps(key) if isinstance(key, str) else repr(key)
        super().__init__(f"the key {shown} twice in one mapping (line {line})")
        self.key = key
        self.line = line


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose mappings refuse a key given twice."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        """The mapping of ``node``, as ``SafeLoader``'s, after checking its own keys.

        Raises:
            RepeatedKey: the first key given a second time, with the line of the second.
        """
        if isinstance(node, MappingNode):
            seen: set[Hashable] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    repeated = key in seen
                except TypeError:  # unhashable: the base class refuses it, naming it
                    continue
                if repeated:
                    raise RepeatedKey(key, key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing a mapping that holds a key twice.

    Raises:
        yaml.YAMLError: not YAML, or a key twice in one mapping (:class:`RepeatedKey`).
    """
    return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: only safe tags
