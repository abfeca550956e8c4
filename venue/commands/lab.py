"""``sealbatch lab run SCENARIO.yaml|STUDY [--seeds N] [--out DIR]``, ``lab lobster-replay``.

``lab run`` runs every mechanism of a scenario over the seeds (and the swept
parameter, if any) on a Dask cluster — a local one unless ``--scheduler``
names a running scheduler, or in this process with ``--scheduler sync`` —
then writes results.csv, manifest.json, summary.csv, paired.csv, report.md
and PNG figures into a new output directory. Existing results are never
overwritten: the default directory is ``lab-out/<scenario>`` or, when that
exists, ``lab-out/<scenario>-2``, ``-3``, ...; an explicit ``--out`` that
exists and is not empty is refused unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sealbatch.research.scenarios import SCENARIO_DIR
from sealbatch.research.studies import STUDY_DIR
from sealbatch.venue.commands.output_dirs import output_dir_problem, parent_folder_problem

__all__ = ["register"]


def _shipped_names(folder: Path) -> str:
    """The names ``lab run`` takes for the YAML files of ``folder``, sorted, comma-separated
    (read from the folder, so the help lists every shipped file)."""
    return ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "lab",
        help="MEV lab: CLOB vs batch auction vs commit-reveal batch auction",
        description="Run MEV-lab scenarios and replay LOBSTER order flow.",
    )
    lab_sub = p.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
    lab_sub.required = True

    r = lab_sub.add_parser(
        "run",
        help="run a scenario over seeds and mechanisms and write a report",
        description="Run SCENARIO.yaml for every mechanism and seed; write CSV, manifest, "
        "report and figures.",
    )
    r.add_argument(
        "scenario",
        metavar="SCENARIO.yaml",
        help="a scenario or study file, or the name of a shipped one (scenarios: "
        f"{_shipped_names(SCENARIO_DIR)}; studies: {_shipped_names(STUDY_DIR)})",
    )
    r.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 (default: the scenario's)")
    r.add_argument("--out", metavar="DIR", help="output directory (default: lab-out/<scenario>)")
    r.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty --out")
    r.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler address to scale out, or 'sync' to run in this process "
        "(default: a local cluster)",
    )
    r.add_argument("--workers", type=int, default=2, metavar="N", help="local cluster workers")
    r.add_argument(
        "--crypto-workers",
        type=int,
        default=0,
        metavar="N",
        help="worker processes per run that hash and sign the sealed orders ahead of need "
        "(commit-reveal, commit-encrypt); the same outcomes, faster where cores are free "
        "(default: 0, in place)",
    )
    r.add_argument("--horizon", type=float, metavar="S", help="override the horizon in seconds")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a scenario field, e.g. adversaries.sniper.edge_us=100 (repeatable)",
    )
    r.add_argument(
        "--lobster",
        action="store_true",
        help="also export every run's messages and book in LOBSTER format (into DIR/lobster/)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=run)

    q = lab_sub.add_parser(
        "lobster-replay",
        help="replay a LOBSTER message file through the batch auction",
        description="Replay MESSAGES.csv's order flow through a frequent batch auction and "
        "print per-batch prices and volumes as CSV.",
    )
    q.add_argument("messages", metavar="MESSAGES.csv")
    q.add_argument("--interval-ms", type=int, default=100, metavar="MS")
    q.add_argument("--out", metavar="FILE", help="write the per-batch CSV here (default: stdout)")
    q.set_defaults(func=replay)


def _fail(message: str) -> int:
    print(f"sealbatch lab: error: {message}", file=sys.stderr)
    return 2


def _set_value(path: str, text: str) -> Any:
    """The YAML value of ``--set PATH=VALUE``.

    Raises:
        ScenarioError: the value is not YAML, or holds a mapping with a key twice.
    """
    import yaml

    from sealbatch.research.errors import ScenarioError
    from sealbatch.research.yaml_text import load_yaml

    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)  # a syntax error: its first line
        raise ScenarioError(f"--set {path}: expected a YAML value, got {problem}") from None


def _new_out_dir(name: str) -> Path:
    base = Path("lab-out") / name
    if not base.exists():
        return base
    n = 2
    while (base.parent / f"{name}-{n}").exists():
        n += 1
    return base.parent / f"{name}-{n}"


def _run_target(args: argparse.Namespace, seeds: int, name: str) -> tuple[int, Path] | str:
    """The seed count and output folder of a run, or what is wrong with the arguments."""
    n_seeds = seeds if args.seeds is None else args.seeds
    if n_seeds < 1:
        return f"--seeds: expected at least 1, got {n_seeds}"
    if args.workers < 1:
        return f"--workers: expected at least 1, got {args.workers}"
    if args.crypto_workers < 0:
        return f"--crypto-workers: expected at least 0, got {args.crypto_workers}"
    out = Path(args.out) if args.out else _new_out_dir(name)
    problem = _out_problem(out)
    if problem:
        return f"--out: {problem}"
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        return f"--out: expected a new or empty directory, got {out} (use --overwrite)"
    return n_seeds, out


def _out_problem(out: Path) -> str | None:
    """Why the report cannot be written under ``out``, found before minutes of runs.

    The folder and any missing parents are made after the runs; the nearest existing
    ancestor must be a directory this process can write into.
    """
    if out.exists():
        if not out.is_dir():
            return f"expected a directory, got the file {out}"
        return output_dir_problem(out)  # makes and removes one file there
    return parent_folder_problem(out, makes_parents=True)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sealbatch.research.errors import ConservationError, LabError, ScenarioError
    from sealbatch.research.lobster import export_lobster
    from sealbatch.research.report import build_manifest, write_report
    from sealbatch.research.runner import run_simulation
    from sealbatch.research.scenario import load_scenario
    from sealbatch.research.scenarios import shipped_scenario
    from sealbatch.research.studies import shipped_study
    from sealbatch.research.study import is_study_file
    from sealbatch.research.sweep import plan_tasks, run_sweep

    scenario_path = Path(args.scenario)
    if not scenario_path.exists():
        shipped = shipped_scenario(args.scenario) or shipped_study(args.scenario)
        scenario_path = shipped if shipped is not None else scenario_path
    if is_study_file(scenario_path):
        return _run_study(args, scenario_path)
    try:
        scenario = load_scenario(scenario_path)
        if args.horizon is not None:
            scenario = scenario.with_override("horizon_s", float(args.horizon))
        for item in args.set:
            path, sep, text = item.partition("=")
            if not sep:
                return _fail(f"--set: expected PATH=VALUE, got {item!r}")
            scenario = scenario.with_override(path.strip(), _set_value(path.strip(), text))
    except ScenarioError as exc:
        return _fail(str(exc))
    checked = _run_target(args, scenario.seeds, scenario.name)
    if isinstance(checked, str):
        return _fail(checked)
    n_seeds, out = checked
    seeds = list(range(n_seeds))
    try:
        df = run_sweep(
            scenario,
            seeds,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=not args.no_progress,
            crypto_workers=args.crypto_workers,
        )
    except ConservationError as exc:
        print(f"sealbatch lab: conservation check failed: {exc}", file=sys.stderr)
        return 1
    except LabError as exc:
        return _fail(str(exc))
    manifest = build_manifest(scenario, seeds, sys.argv)
    paths = write_report(df, scenario, out, manifest)
    if args.lobster:
        # runs are deterministic: re-running a task with recording reproduces it exactly
        tasks = plan_tasks(scenario, seeds, args.crypto_workers)
        for task in tqdm(tasks, file=sys.stderr, disable=args.no_progress, desc="lobster",
                         unit="run"):  # fmt: skip
            result = run_simulation(
                task.scenario, task.spec, task.seed, record=True,
                crypto_workers=task.crypto_workers,
            )  # fmt: skip
            swept = "" if task.sweep_value is None else f"-{task.sweep_value:g}"
            name = f"{task.spec.label}{swept}-seed{task.seed}"
            export_lobster(result.mechanism, out / "lobster", name, scenario.price_scale)
    print(f"{len(df)} runs of {scenario.name}: report in {paths['report']}")
    print(summary_text(df, [m.label for m in scenario.mechanisms], scenario.sweep))
    return 0


def summary_text(df: Any, order: list[str], sweep: Any) -> str:
    """Mean per mechanism (per swept value when there is a sweep); n/a for undefined."""
    shown = ("adversary_pnl", "adversary_rent", "total_surplus", "races", "sandwiches")
    if "trader_fill_rate" in df:  # a replayed book: the flagged trader's measures
        shown = ("trader_fill_rate", "trader_shortfall_bps", "trader_fees", "trader_pnl",
                 "adversary_pnl")  # fmt: skip
    cols = [c for c in shown if c in df]
    keys = ["mechanism"]
    if sweep is not None and "sweep_value" in df and df["sweep_value"].notna().any():
        keys = ["sweep_value", "mechanism"]
    table = df.groupby(keys, sort=False)[cols].mean()
    if len(keys) == 2:
        rank = {m: i for i, m in enumerate(order)}
        table = table.loc[
            sorted(table.index, key=lambda k: (float(k[0]), rank.get(k[1], len(rank)), k[1]))
        ]
        table.index = table.index.set_names([sweep.param, "mechanism"])
    else:
        table = table.reindex([m for m in order if m in table.index])
    return str(table.round(2).to_string(na_rep="n/a"))


def _run_study(args: argparse.Namespace, path: Path) -> int:
    from sealbatch.research.errors import ConservationError, LabError, ScenarioError
    from sealbatch.research.report import build_manifest
    from sealbatch.research.study import load_study, run_study, write_study_report

    if args.lobster:
        return _fail("--lobster: expected a scenario, got a study")
    try:
        study = load_study(path)
        if args.horizon is not None:
            study = study.with_horizon(float(args.horizon))
        for item in args.set:  # set in the base and in every experiment
            field_path, sep, text = item.partition("=")
            if not sep:
                return _fail(f"--set: expected PATH=VALUE, got {item!r}")
            study = study.with_override(field_path.strip(), _set_value(field_path.strip(), text))
    except ScenarioError as exc:
        return _fail(str(exc))
    checked = _run_target(args, study.seeds, study.name)
    if isinstance(checked, str):
        return _fail(checked)
    n_seeds, out = checked
    seeds = list(range(n_seeds))
    try:
        df = run_study(
            study, seeds, scheduler=args.scheduler, workers=args.workers,
            progress=not args.no_progress, crypto_workers=args.crypto_workers,
        )  # fmt: skip
    except ConservationError as exc:
        print(f"sealbatch lab: conservation check failed: {exc}", file=sys.stderr)
        return 1
    except LabError as exc:
        return _fail(str(exc))
    manifest = build_manifest(study.base, seeds, sys.argv)
    manifest["study"] = study.to_dict()
    paths = write_study_report(df, study, out, manifest)
    print(f"{len(df)} runs of study {study.name}: report in {paths['report']}")
    for exp in study.experiments:
        sub = df[df["experiment"] == exp.name]
        print(f"\n[{exp.name}]")
        print(summary_text(sub, [m.label for m in exp.scenario.mechanisms], exp.scenario.sweep))
    return 0


def replay(args: argparse.Namespace) -> int:
    from sealbatch.research.errors import LabError
    from sealbatch.research.lobster import read_lobster_messages, replay_batch_auction

    try:
        messages = read_lobster_messages(args.messages)
        result = replay_batch_auction(messages, args.interval_ms)
    except LabError as exc:
        return _fail(str(exc))
    text = result.batches.to_csv(index=False)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    print(
        f"{len(result.batches)} batches traded {result.volume} lots "
        f"({result.orders_submitted} limit orders, {result.aggressors} aggressor orders)",
        file=sys.stderr,
    )
    return 0
