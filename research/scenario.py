"""Scenarios: every parameter of a lab run, loaded from YAML and validated.

A scenario names the market's fundamental process, the background agents,
the adversaries, the mechanisms to compare (each under identical order flow)
and optionally one parameter to sweep. Units are in the field names: ``_ticks``
(integer price ticks, or a float scale in ticks), ``_lots``, ``_us``/``_ms``/``_s``
(time), ``_hz`` (a Poisson rate per second). Unknown keys are errors, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

from sealbatch.research.errors import ScenarioError
from sealbatch.research.yaml_text import load_yaml
from sealbatch.settlement.input_files import CONFIG_FILE_CAP, RefusedFile, read_input_text

__all__ = [
    "AdversariesConfig",
    "AgentsConfig",
    "FundamentalConfig",
    "Latency",
    "MarketMakerConfig",
    "MechanismSpec",
    "MetricsConfig",
    "NoiseConfig",
    "ReplayConfig",
    "RfqConfig",
    "SandwicherConfig",
    "Scenario",
    "SelectiveRevealerConfig",
    "SequencerConfig",
    "SniperConfig",
    "Sweep",
    "ValueTraderConfig",
    "ZiConfig",
    "load_scenario",
    "scenario_from_dict",
]

MECHANISM_KINDS = ("clob", "fba", "cr_fba", "ce_fba")


@dataclass(frozen=True)
class Latency:
    """An agent's latency model: observe (news to decision) + send (decision to
    exchange) + an exponential jitter of mean ``jitter_us`` on every message."""

    observe_us: float = 300.0
    send_us: float = 200.0
    jitter_us: float = 20.0


@dataclass(frozen=True)
class FundamentalConfig:
    """A mean-reverting fundamental with jumps (Ornstein–Uhlenbeck plus compound Poisson).

    Between updates (a Poisson clock at ``update_hz``) the value moves by the
    exact OU transition towards ``start_ticks``; jumps of ``±jump_ticks`` arrive
    at ``jump_hz``.
    """

    start_ticks: int = 10_000
    mean_reversion_per_s: float = 0.05
    vol_ticks_per_sqrt_s: float = 3.0
    update_hz: float = 10.0
    jump_hz: float = 1.0
    jump_ticks: float = 10.0


@dataclass(frozen=True)
class MarketMakerConfig:
    """Market makers; with ``learn`` the half-spread is learnt (zero expected
    profit against the adverse selection met, marked ``markout_ms`` after
    each fill), starting from ``half_spread_ticks``."""

    count: int = 2
    half_spread_ticks: int = 2
    size_lots: int = 5
    requote_ticks: int = 1
    latency: Latency = field(default_factory=Latency)
    learn: bool = False
    markout_ms: float = 1000.0
    learning_rate: float = 0.02
    min_half_spread_ticks: int = 1
    max_half_spread_ticks: int = 100


@dataclass(frozen=True)
class ZiConfig:
    """Zero-intelligence traders with private values (Gode–Sunder ZI-C)."""

    rate_hz: float = 10.0
    private_sd_ticks: float = 8.0
    range_ticks: int = 6
    max_lots: int = 3
    lifetime_ms: float = 2000.0
    latency: Latency = field(default_factory=lambda: Latency(1000.0, 1000.0, 200.0))


@dataclass(frozen=True)
class ValueTraderConfig:
    rate_hz: float = 2.0
    noise_sd_ticks: float = 3.0
    threshold_ticks: int = 3
    size_lots: int = 2
    latency: Latency = field(default_factory=lambda: Latency(1000.0, 1000.0, 200.0))


@dataclass(frozen=True)
class NoiseConfig:
    rate_hz: float = 5.0
    max_lots: int = 3
    large_prob: float = 0.1
    large_lots: int = 20
    slippage_ticks: int = 8
    latency: Latency = field(default_factory=lambda: Latency(0.0, 2000.0, 300.0))


@dataclass(frozen=True)
class AgentsConfig:
    market_makers: MarketMakerConfig = field(default_factory=MarketMakerConfig)
    zi: ZiConfig = field(default_factory=ZiConfig)
    value: ValueTraderConfig = field(default_factory=ValueTraderConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)


@dataclass(frozen=True)
class SniperConfig:
    """Latency sniper (Budish–Cramton–Shim): reacts to jumps ``edge_us`` sooner
    than the market makers (observe + send latency)."""

    enabled: bool = False
    edge_us: float = 200.0
    size_lots: int = 5
    min_edge_ticks: int = 1
    jump_threshold_ticks: int = 4


@dataclass(frozen=True)
class SandwicherConfig:
    """Sees messages in flight; front-runs large marketable orders."""

    enabled: bool = False
    min_victim_lots: int = 10
    unwind_slippage_ticks: int = 20
    latency: Latency = field(default_factory=lambda: Latency(100.0, 100.0, 10.0))


@dataclass(frozen=True)
class SequencerConfig:
    """Holds other traders' messages for ``window_us`` and orders them as it likes;
    under commit-reveal straddles each batch and reveals on what it relayed
    (``reveal_straddle``), dropping competing reveals (``censor_reveals``)."""

    enabled: bool = False
    window_us: float = 1000.0
    min_victim_lots: int = 10
    unwind_slippage_ticks: int = 20
    snipe: bool = True
    reveal_straddle: bool = True
    straddle_offset_ticks: int = 3
    straddle_lots: int = 5
    censor_reveals: bool = True


@dataclass(frozen=True)
class SelectiveRevealerConfig:
    """Commits to a buy and a sell each batch and reveals only the profitable one."""

    enabled: bool = False
    size_lots: int = 5
    offset_ticks: int = 3
    min_edge_ticks: int = 1
    latency: Latency = field(default_factory=lambda: Latency(50.0, 50.0, 5.0))


@dataclass(frozen=True)
class AdversariesConfig:
    sniper: SniperConfig = field(default_factory=SniperConfig)
    sandwicher: SandwicherConfig = field(default_factory=SandwicherConfig)
    sequencer: SequencerConfig = field(default_factory=SequencerConfig)
    selective_revealer: SelectiveRevealerConfig = field(default_factory=SelectiveRevealerConfig)


@dataclass(frozen=True)
class RfqConfig:
    """Sealed RFQ window: noise orders of ``min_lots`` or more go to the market
    makers for quotes instead of the book; the best quote fills at window close."""

    enabled: bool = False
    min_lots: int = 20
    window_ms: float = 50.0
    half_spread_ticks: int = 3


@dataclass(frozen=True)
class ReplayConfig:
    """Replay a LOBSTER message file as the background flow ("migrate a book",
    :mod:`sealbatch.research.replay`), a flagged trader's orders among it.

    ``messages`` is the file ("" records one from the continuous book of the
    shipped scenario ``record_scenario``, seed ``record_seed``); ``price_scale``
    LOBSTER price units per tick; a midquote move of ``jump_ticks`` or more is
    news, which reaches those who watch the fundamental ``news_lead_us`` before
    the recorded book shows it. ``trader_role`` ``taker`` or ``maker``: a share ``trader_share`` of
    the file's aggressor or limit orders is the trader's. Fees in bps of the
    notional: ``fee_bps`` on every batch fill, the book's taker and maker fees.
    """

    enabled: bool = False
    messages: str = ""
    record_scenario: str = "null_control"
    record_seed: int = 0
    price_scale: int = 100
    jump_ticks: int = 3
    news_lead_us: float = 1000.0
    trader_role: str = "taker"
    trader_share: float = 0.05
    fee_bps: int = 5
    clob_taker_fee_bps: int = 5
    clob_maker_fee_bps: int = 0
    latency: Latency = field(default_factory=lambda: Latency(0.0, 200.0, 20.0))

    def __post_init__(self) -> None:
        if self.trader_role not in ("taker", "maker"):
            raise ScenarioError(
                f"replay.trader_role: expected 'taker' or 'maker', got {self.trader_role!r}"
            )
        if not 0 < self.trader_share <= 1:
            raise ScenarioError(f"replay.trader_share: expected in (0, 1], got {self.trader_share}")
        if self.news_lead_us < 0:
            raise ScenarioError(f"replay.news_lead_us: expected >= 0, got {self.news_lead_us}")
        if self.price_scale < 1 or self.jump_ticks < 1:
            raise ScenarioError(
                "replay: expected price_scale and jump_ticks >= 1, got "
                f"{self.price_scale} and {self.jump_ticks}"
            )
        for name in ("fee_bps", "clob_taker_fee_bps", "clob_maker_fee_bps"):
            if not 0 <= getattr(self, name) <= 1_000:
                raise ScenarioError(f"replay.{name}: expected 0 to 1000, got {getattr(self, name)}")


@dataclass(frozen=True)
class MetricsConfig:
    race_window_us: float = 1000.0
    sandwich_window_ms: float = 100.0
    sample_ms: float = 50.0
    jump_threshold_ticks: int = 4


@dataclass(frozen=True)
class MechanismSpec:
    """One mechanism to run: ``clob``, ``fba`` (batch interval), ``cr_fba``
    (batch interval, reveal window, bond per commitment in ticks × lots) or
    ``ce_fba`` (commit-encrypt: as ``cr_fba``, but every order is encrypted to
    the batch's threshold key and opens itself after the reveal window)."""

    kind: str = "clob"
    interval_ms: int = 100
    reveal_ms: int = 20
    bond: int = 0
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in MECHANISM_KINDS:
            raise ScenarioError(
                f"mechanism.kind: expected one of {MECHANISM_KINDS}, got {self.kind!r}"
            )
        if self.interval_ms < 1 or self.reveal_ms < 1:
            raise ScenarioError(
                f"mechanism: expected interval_ms and reveal_ms >= 1, got "
                f"{self.interval_ms} and {self.reveal_ms}"
            )
        if self.bond < 0:
            raise ScenarioError(f"mechanism.bond: expected >= 0, got {self.bond}")
        if not self.label:
            object.__setattr__(self, "label", self.default_label())

    def default_label(self) -> str:
        if self.kind == "clob":
            return "clob"
        if self.kind == "fba":
            return f"fba-{self.interval_ms}ms"
        if self.kind == "ce_fba":
            return f"ce-{self.interval_ms}ms"
        return f"cr-{self.interval_ms}ms"


@dataclass(frozen=True)
class Sweep:
    """One parameter (a dotted path into the scenario) and the values to run it at."""

    param: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Scenario:
    name: str = "default"
    description: str = ""
    horizon_s: float = 10.0
    seeds: int = 10
    market_id: str = "BTC-PERP"
    band_bps: int = 1000
    price_scale: int = 10_000
    fundamental: FundamentalConfig = field(default_factory=FundamentalConfig)
    agents: AgentsConfig = field(default_factory=AgentsConfig)
    adversaries: AdversariesConfig = field(default_factory=AdversariesConfig)
    rfq: RfqConfig = field(default_factory=RfqConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    mechanisms: tuple[MechanismSpec, ...] = (MechanismSpec("clob"), MechanismSpec("fba"))
    sweep: Sweep | None = None

    def __post_init__(self) -> None:
        if not self.horizon_s > 0:
            raise ScenarioError(f"horizon_s: expected > 0, got {self.horizon_s}")
        if self.seeds < 1:
            raise ScenarioError(f"seeds: expected >= 1, got {self.seeds}")
        if not self.mechanisms:
            raise ScenarioError("mechanisms: expected at least one, got none")
        labels = [m.label for m in self.mechanisms]
        if len(set(labels)) != len(labels):
            raise ScenarioError(f"mechanisms: expected distinct labels, got {labels}")

    @property
    def horizon_ns(self) -> int:
        return round(self.horizon_s * 1e9)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["mechanisms"] = [dataclasses.asdict(m) for m in self.mechanisms]
        if self.sweep is not None:
            data["sweep"] = {"param": self.sweep.param, "values": list(self.sweep.values)}
        return data

    def without_adversaries(self) -> Scenario:
        """The same scenario with every adversary disabled (its null control)."""
        data = self.to_dict()
        for cfg in data["adversaries"].values():
            cfg["enabled"] = False
        data["name"] = f"{self.name}-null"
        return scenario_from_dict(data)

    def value_at(self, path: str) -> Any:
        """The value of the field at dotted ``path`` (list items by index).

        Raises:
            ScenarioError: no such field.
        """
        node: Any = self.to_dict()
        for part in path.split("."):
            node = _step(node, part, path)
        return node

    def with_override(self, path: str, value: Any) -> Scenario:
        """A copy with the field at dotted ``path`` set to ``value``.

        Raises:
            ScenarioError: no such field, or the value has the wrong type.
        """
        data = self.to_dict()
        node: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = _step(node, part, path)
        last = parts[-1]
        current = _step(node, last, path)
        if (
            isinstance(current, int)
            and not isinstance(current, bool)
            and isinstance(value, float)
            and value.is_integer()
        ):
            value = int(value)  # sweep values are floats; integer fields stay integers
        node[int(last) if isinstance(node, list) else last] = value
        return scenario_from_dict(data)


def _step(node: Any, part: str, path: str) -> Any:
    """One step of a dotted override path: a field name or a list index."""
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise ScenarioError(f"override: expected a field path, got {path!r}")


def _forbid_extra_fields() -> None:
    """Give every dataclass of this module pydantic's strict, closed config: unknown
    keys, booleans for numbers and numbers as strings are refused."""
    for value in list(globals().values()):
        if isinstance(value, type) and dataclasses.is_dataclass(value):
            value.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]


_forbid_extra_fields()
_SCENARIO = TypeAdapter(Scenario)


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "scenario"


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    """Build and validate a scenario from its dictionary form.

    Raises:
        ScenarioError: an unknown key, a wrong type or an out-of-range value.
    """
    try:
        # JSON mode: YAML lists fill tuples, integers fill floats, nothing else converts.
        return _SCENARIO.validate_json(json.dumps(dict(data)))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = _where(err["loc"])
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            message = f"{where}: expected a known field, got {err['loc'][-1]!r}"
        elif err["type"] == "value_error":  # a rule of __post_init__: it names the field
            message = str(err["msg"]).removeprefix("Value error, ")
        else:
            message = f"{where}: {str(err['msg']).lower()}, got {err['input']!r}"
        raise ScenarioError(message) from None
    except (TypeError, ValueError) as exc:  # json.dumps: not plain YAML data
        raise ScenarioError(f"scenario: expected plain YAML data, got {exc}") from exc


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from a YAML file; the name defaults to the file's stem.

    Raises:
        ScenarioError: the file is not valid YAML or not a valid scenario (the message names
            the file, and the field when one is wrong).
    """
    p = Path(path)
    try:
        data = load_yaml(read_input_text(p, CONFIG_FILE_CAP))
    except RefusedFile as exc:  # a FIFO, a device, or over the cap
        raise ScenarioError(f"{p}: {exc}") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{p}: expected a readable YAML scenario, got {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
    data.setdefault("name", p.stem)
    try:
        return scenario_from_dict(data)
    except ScenarioError as exc:  # the field alone: name the file too
        raise ScenarioError(f"{p}: {exc}") from exc
