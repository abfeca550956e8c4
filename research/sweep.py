"""Seed and parameter sweeps, run on Dask (a local cluster by default).

A sweep is the product (sweep value) × (mechanism) × (seed); each task is one
:func:`sealbatch.research.runner.run_simulation` and returns one metrics row. Tasks go
to a Dask cluster — a :class:`dask.distributed.LocalCluster` started here, or
an existing scheduler at ``scheduler`` to scale out — or run in this process
when ``scheduler == "sync"``.

A run depends on its scenario's fields other than the mechanism list and the
sweep, its mechanism and its seed; a sweep of one mechanism's parameter (e.g.
``mechanisms.1.bond``) leaves the other mechanisms' runs identical across the
swept values, so each distinct run is computed once and its row repeated for
every swept value it belongs to.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sealbatch.research.errors import LabError
from sealbatch.research.runner import run_simulation
from sealbatch.research.scenario import MechanismSpec, Scenario

__all__ = ["SCHEDULER_TIMEOUT", "SweepTask", "plan_tasks", "run_key", "run_sweep", "run_task"]

#: How long ``--scheduler ADDRESS`` waits to connect before the run is refused.
SCHEDULER_TIMEOUT = "10s"


@dataclass(frozen=True)
class SweepTask:
    """One run: scenario (already overridden), mechanism, seed, swept value."""

    scenario: Scenario
    spec: MechanismSpec
    seed: int
    sweep_param: str | None = None
    sweep_value: float | None = None
    crypto_workers: int = 0


def plan_tasks(
    scenario: Scenario, seeds: Sequence[int], crypto_workers: int = 0
) -> list[SweepTask]:
    """Every task of the sweep, in a deterministic order.

    Args:
        crypto_workers: worker processes each run signs and checks its sealed
            orders in (:func:`run_simulation`); 0: in place. It changes no outcome.
    """
    tasks = []
    variants: list[tuple[Scenario, str | None, float | None]] = [(scenario, None, None)]
    if scenario.sweep is not None:
        swept = scenario.sweep.param
        variants = [(scenario.with_override(swept, v), swept, v) for v in scenario.sweep.values]
    for variant, param, value in variants:
        for spec in variant.mechanisms:
            for seed in seeds:
                tasks.append(SweepTask(variant, spec, seed, param, value, crypto_workers))
    return tasks


def run_task(task: SweepTask) -> dict[str, Any]:
    """Run one task and return its metrics row (with the swept value)."""
    row = run_simulation(
        task.scenario, task.spec, task.seed, crypto_workers=task.crypto_workers
    ).metrics
    row["sweep_param"] = task.sweep_param or ""
    row["sweep_value"] = task.sweep_value
    return row


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, unit="run", desc="lab")


def _iter_sync(tasks: Sequence[SweepTask]) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, task in enumerate(tasks):
        yield i, run_task(task)


def run_key(task: SweepTask) -> str:
    """What a run depends on: the scenario without its mechanism list and sweep,
    the mechanism and the seed (equal keys give equal rows up to the swept value)."""
    data = task.scenario.to_dict()
    del data["mechanisms"]
    data.pop("sweep", None)
    return json.dumps([data, dataclasses.asdict(task.spec), task.seed], sort_keys=True)


def run_sweep(
    scenario: Scenario,
    seeds: Sequence[int],
    scheduler: str | None = None,
    workers: int = 2,
    progress: bool = False,
    processes: bool = True,
    crypto_workers: int = 0,
) -> pd.DataFrame:
    """Run every task of the sweep and return one row per run.

    Args:
        seeds: the seeds (each mechanism runs every seed: paired comparisons).
        scheduler: None for a new LocalCluster, ``"sync"`` for this process,
            else the address of a running Dask scheduler.
        workers: workers of the LocalCluster.
        progress: show a tqdm progress bar on stderr.
        processes: LocalCluster workers as processes (True) or threads.
        crypto_workers: worker processes per run for the sealed orders'
            cryptography (commit-reveal, commit-encrypt); 0: in place. The rows
            are the same; a LocalCluster's workers are then started non-daemonic
            so that they may start them (an external scheduler's workers must
            allow it too: ``distributed.worker.daemon: false``).

    Raises:
        LabError: ``crypto_workers`` is negative, or no Dask scheduler answers at
            ``scheduler`` within :data:`SCHEDULER_TIMEOUT`.
    """
    if crypto_workers < 0:
        raise LabError(f"crypto_workers: expected at least 0, got {crypto_workers}")
    tasks = plan_tasks(scenario, seeds, crypto_workers)
    keys = [run_key(t) for t in tasks]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    unique = [tasks[i] for i in first.values()]
    done: dict[int, dict[str, Any]] = {}
    bar = _progress(len(unique), progress)
    try:
        if scheduler == "sync":
            for j, row in _iter_sync(unique):
                done[j] = row
                bar.update(1)
        else:
            done = _run_dask(unique, scheduler, workers, processes, bar, crypto_workers > 0)
    finally:
        bar.close()
    by_key = {keys[i]: done[j] for j, i in enumerate(first.values())}
    rows = []
    for task, key in zip(tasks, keys, strict=True):
        row = dict(by_key[key])
        row["sweep_param"] = task.sweep_param or ""
        row["sweep_value"] = task.sweep_value
        rows.append(row)
    df = pd.DataFrame(rows)
    sort_cols = [c for c in ("sweep_value", "mechanism", "seed") if c in df.columns]
    if not df.empty:
        df = df.sort_values(sort_cols, kind="stable", na_position="first").reset_index(drop=True)
    return df


def _run_dask(
    tasks: Sequence[SweepTask],
    scheduler: str | None,
    workers: int,
    processes: bool,
    bar: Any,
    children: bool = False,
) -> dict[int, dict[str, Any]]:
    """Run ``tasks`` on Dask; returns each task's row by its index.

    ``children``: the tasks start processes of their own, so a LocalCluster's
    worker processes must not be daemonic (daemonic processes cannot have children).
    """
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        extra: dict[str, Any] = {"host": "127.0.0.1"} if processes else {}
        with dask.config.set({"distributed.worker.daemon": not children}):
            cluster = LocalCluster(
                n_workers=max(workers, 1),
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                **extra,
            )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except (OSError, ValueError, TypeError) as exc:
            raise LabError(
                f"--scheduler: cannot reach a Dask scheduler at {scheduler!r}: {exc}"
            ) from None
    rows: dict[int, dict[str, Any]] = {}
    try:
        futures = client.map(run_task, list(tasks), pure=False)
        index = {fut.key: i for i, fut in enumerate(futures)}
        for fut in as_completed(futures):
            rows[index[fut.key]] = fut.result()
            bar.update(1)
    finally:
        if children:  # a Dask worker may be killed on close, orphaning its pool's processes
            from sealbatch.research.mechanisms.commit_crypto import shutdown_pools

            client.run(shutdown_pools)
        client.close()
        if cluster is not None:
            cluster.close()
    return rows
