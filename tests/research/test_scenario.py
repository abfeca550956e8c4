"""Scenario files: shipped ones load, typos and wrong types are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealbatch.research.errors import ScenarioError
from sealbatch.research.scenario import MechanismSpec, Scenario, load_scenario, scenario_from_dict

SCENARIOS = Path(__file__).resolve().parents[2] / "research" / "scenarios"


@pytest.mark.parametrize("name", ["sniping", "sandwich", "sequencer", "selective_reveal"])
def test_shipped_scenarios_load(name: str) -> None:
    s = load_scenario(SCENARIOS / f"{name}.yaml")
    assert s.name == name
    assert s.mechanisms and s.sweep is not None
    s.with_override(s.sweep.param, s.sweep.values[0])  # the sweep path exists


def test_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(ScenarioError, match="snipr"):
        scenario_from_dict({"adversaries": {"snipr": {"enabled": True}}})


def test_wrong_type_is_an_error_naming_the_field() -> None:
    with pytest.raises(ScenarioError, match=r"agents\.market_makers\.count"):
        scenario_from_dict({"agents": {"market_makers": {"count": "two"}}})
    with pytest.raises(ScenarioError, match="horizon_s"):
        scenario_from_dict({"horizon_s": True})


def test_mechanism_validation_and_labels() -> None:
    assert MechanismSpec("fba", 10).label == "fba-10ms"
    assert MechanismSpec("cr_fba", 100).label == "cr-100ms"
    with pytest.raises(ScenarioError, match="kind"):
        MechanismSpec("dark_pool")
    with pytest.raises(ScenarioError, match="distinct labels"):
        Scenario(mechanisms=(MechanismSpec("clob"), MechanismSpec("clob")))


def test_override_keeps_integers_and_reaches_into_lists() -> None:
    s = Scenario(mechanisms=(MechanismSpec("clob"), MechanismSpec("cr_fba")))
    t = s.with_override("mechanisms.1.bond", 25.0)
    assert t.mechanisms[1].bond == 25 and isinstance(t.mechanisms[1].bond, int)
    assert t.value_at("mechanisms.1.bond") == 25
    assert s.mechanisms[1].bond == 0  # the original is unchanged
    with pytest.raises(ScenarioError, match="field path"):
        s.with_override("adversaries.nobody.edge_us", 1.0)


@pytest.mark.parametrize("index", ["\u00b2", "\u0661"], ids=["superscript", "arabic"])
def test_a_list_index_of_non_ascii_digits_is_no_field_path(index: str) -> None:
    s = Scenario(mechanisms=(MechanismSpec("clob"), MechanismSpec("cr_fba")))
    with pytest.raises(ScenarioError, match="field path"):
        s.with_override(f"mechanisms.{index}.bond", 25.0)
    with pytest.raises(ScenarioError, match="field path"):
        s.value_at(f"mechanisms.{index}.bond")


def test_round_trip_through_dict() -> None:
    s = load_scenario(SCENARIOS / "sniping.yaml")
    assert scenario_from_dict(s.to_dict()) == s
