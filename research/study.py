"""Studies: several sweeps of one base scenario, run together and analysed as one.

A study file is YAML with a ``scenario`` (the base, as in a scenario file),
``seeds`` and a list of ``experiments``; each experiment names the mechanisms
to compare (one dimension: e.g. the batch interval, with the continuous book
as interval 0), one swept parameter (the other dimension) and optional
``set`` overrides of the base. Every experiment runs every seed, so a study
is a set of 2-D grids (mechanism × swept value) with paired seeds. A study
names its ``analysis`` (``bcs2015``: :mod:`sealbatch.research.bcs`;
``migrate``: :mod:`sealbatch.research.migrate`), which turns the rows into a
report. An experiment without a sweep is one row of cells (its mechanisms).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sealbatch.research.errors import ScenarioError
from sealbatch.research.scenario import Scenario, scenario_from_dict
from sealbatch.research.sweep import run_sweep
from sealbatch.research.yaml_text import load_yaml
from sealbatch.settlement.input_files import CONFIG_FILE_CAP, RefusedFile, read_input_text

__all__ = [
    "ANALYSES",
    "Experiment",
    "Study",
    "is_study_file",
    "load_study",
    "run_study",
    "write_study_report",
]

#: The analyses a study may name.
ANALYSES = ("bcs2015", "migrate")
_STUDY_KEYS = {"name", "description", "seeds", "analysis", "scenario", "experiments"}
_EXPERIMENT_KEYS = {"name", "description", "mechanisms", "sweep", "set"}


@dataclass(frozen=True)
class Experiment:
    """One grid of a study: its scenario (base + overrides, mechanisms, sweep)."""

    name: str
    description: str
    scenario: Scenario


@dataclass(frozen=True)
class Study:
    """A named set of experiments sharing seeds and an analysis."""

    name: str
    description: str
    seeds: int
    analysis: str
    base: Scenario
    experiments: tuple[Experiment, ...]

    def with_override(self, path: str, value: Any) -> Study:
        """The same study with the field at dotted ``path`` set in the base and every experiment.

        Raises:
            ScenarioError: no such field, or the value has the wrong type.
        """
        exps = tuple(
            Experiment(e.name, e.description, e.scenario.with_override(path, value))
            for e in self.experiments
        )
        base = self.base.with_override(path, value)
        return Study(self.name, self.description, self.seeds, self.analysis, base, exps)

    def with_horizon(self, horizon_s: float) -> Study:
        """The same study with every experiment's horizon set to ``horizon_s``."""
        exps = tuple(
            Experiment(e.name, e.description, e.scenario.with_override("horizon_s", horizon_s))
            for e in self.experiments
        )
        base = self.base.with_override("horizon_s", horizon_s)
        return Study(self.name, self.description, self.seeds, self.analysis, base, exps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "seeds": self.seeds,
            "analysis": self.analysis,
            "experiments": {e.name: e.scenario.to_dict() for e in self.experiments},
        }


def is_study_file(path: str | Path) -> bool:
    """Whether ``path`` is a YAML mapping with ``experiments`` (a study, not a scenario)."""
    try:
        # only which kind: a repeated key is refused by load_study, naming a study
        data = yaml.safe_load(read_input_text(path, CONFIG_FILE_CAP))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "experiments" in data


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {value!r}")
    return value


def study_from_dict(data: Mapping[str, Any], default_name: str = "study") -> Study:
    """Build and validate a study.

    Raises:
        ScenarioError: an unknown key, a bad experiment or an invalid scenario.
    """
    unknown = sorted(set(data) - _STUDY_KEYS)
    if unknown:
        raise ScenarioError(f"study: expected fields among {sorted(_STUDY_KEYS)}, got {unknown}")
    name = str(data.get("name", default_name))
    seeds = data.get("seeds", 30)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ScenarioError(f"study.seeds: expected an integer >= 1, got {seeds!r}")
    analysis = data.get("analysis", "bcs2015")
    if analysis not in ANALYSES:
        raise ScenarioError(f"study.analysis: expected one of {ANALYSES}, got {analysis!r}")
    base_data = dict(_mapping(data.get("scenario", {}), "study.scenario"))
    base_data.setdefault("name", name)
    base = scenario_from_dict(base_data)
    raw = data.get("experiments")
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"study.experiments: expected a non-empty list, got {raw!r}")
    experiments = []
    for i, item in enumerate(raw):
        exp = _mapping(item, f"study.experiments[{i}]")
        bad = sorted(set(exp) - _EXPERIMENT_KEYS)
        if bad:
            raise ScenarioError(
                f"study.experiments[{i}]: expected fields among {sorted(_EXPERIMENT_KEYS)}, "
                f"got {bad}"
            )
        if "name" not in exp or ("sweep" not in exp and analysis == "bcs2015"):
            need = "a name and a sweep" if analysis == "bcs2015" else "a name"
            raise ScenarioError(f"study.experiments[{i}]: expected {need}")
        scenario = base
        for path, value in _mapping(exp.get("set", {}), f"study.experiments[{i}].set").items():
            scenario = scenario.with_override(str(path), value)
        d = scenario.to_dict()
        d["name"] = f"{name}-{exp['name']}"
        if "mechanisms" in exp:
            d["mechanisms"] = exp["mechanisms"]
        d["sweep"] = exp.get("sweep")
        d["seeds"] = seeds
        experiments.append(
            Experiment(str(exp["name"]), str(exp.get("description", "")), scenario_from_dict(d))
        )
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise ScenarioError(f"study.experiments: expected distinct names, got {names}")
    description = str(data.get("description", ""))
    return Study(name, description, seeds, str(analysis), base, tuple(experiments))


def load_study(path: str | Path) -> Study:
    """Load a study file; the name defaults to the file's stem.

    Raises:
        ScenarioError: the file is not valid YAML or not a valid study (the message names
            the file, and the field when one is wrong).
    """
    p = Path(path)
    try:
        data = load_yaml(read_input_text(p, CONFIG_FILE_CAP))
    except RefusedFile as exc:  # a FIFO, a device, or over the cap
        raise ScenarioError(f"{p}: {exc}") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{p}: expected a readable YAML study, got {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return study_from_dict(data, p.stem)
    except ScenarioError as exc:  # the field alone: name the file too
        raise ScenarioError(f"{p}: {exc}") from exc


def write_study_report(
    df: pd.DataFrame, study: Study, out: Path, manifest: dict[str, Any]
) -> dict[str, Path]:
    """Write results.csv, manifest.json, summary.csv, report.md and figures for ``study``."""
    from sealbatch.research.bcs import write_bcs_report
    from sealbatch.research.report import report_metrics, summary_table

    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.csv", "manifest": out / "manifest.json"}
    df.to_csv(paths["results"], index=False)
    paths["manifest"].write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    frames = []
    for name, group in df.groupby("experiment", sort=False):
        table = summary_table(group, report_metrics(group))
        table.insert(0, "experiment", name)
        frames.append(table)
    paths["summary"] = out / "summary.csv"
    pd.concat(frames, ignore_index=True).to_csv(paths["summary"], index=False)
    header = [
        f"# Lab study: {study.name}",
        "",
        study.description,
        "",
        f"Seeds: {df['seed'].nunique()} per cell; experiments: "
        + "; ".join(
            f"`{e.name}` ({e.description}; horizon {e.scenario.horizon_s:g} s)"
            for e in study.experiments
        )
        + f". Git commit {manifest.get('git_commit')}"
        + (" (with uncommitted changes)." if manifest.get("git_dirty") else "."),
        "Values: mean [95% percentile-bootstrap CI] over seeds.",
    ]
    if study.analysis == "migrate":
        from sealbatch.research.migrate import write_migrate_report
        from sealbatch.research.runner import replay_source

        source = replay_source(study.experiments[0].scenario)
        detail = (
            f"{source.name}, {len(source.rows):,} replayed rows over {source.end_ns / 1e9:.1f} s"
        )
        paths["report"], figures = write_migrate_report(df, out, header, detail)
    else:
        edge = float(study.base.adversaries.sniper.edge_us)
        paths["report"], figures = write_bcs_report(df, out, edge, header)
    for f in figures:
        paths[f.stem] = f
    return paths


def run_study(
    study: Study,
    seeds: Sequence[int],
    scheduler: str | None = None,
    workers: int = 2,
    progress: bool = False,
    crypto_workers: int = 0,
) -> pd.DataFrame:
    """Run every experiment over ``seeds``; one row per run, with an ``experiment`` column.

    ``crypto_workers``: worker processes per run for the sealed orders' cryptography
    (:func:`sealbatch.research.sweep.run_sweep`); 0: in place.
    """
    frames = []
    for exp in study.experiments:
        df = run_sweep(
            exp.scenario, seeds, scheduler=scheduler, workers=workers, progress=progress,
            crypto_workers=crypto_workers,
        )  # fmt: skip
        df.insert(0, "experiment", exp.name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
