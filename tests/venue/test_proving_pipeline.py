"""The proving pipeline on its own: a batch the prover refuses halts it, and the
same pipeline runs on a Dask cluster (a LocalCluster on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from functools import partial
from typing import Any

import pytest

from sealbatch.settlement.batch_proof import verify_files
from sealbatch.settlement.publication import BatchPublication
from sealbatch.venue.demo import DemoConfig, demo_oracle, demo_settlement_config, run_demo
from sealbatch.venue.proving import ProofFailure, ProvingPipeline, dask_executor, local_executor

WAIT_S = 300.0


@pytest.fixture(scope="module")
def demo_files() -> list[dict[str, str]]:
    """The published files of two consecutive demo batches (1 and 2)."""
    config = DemoConfig(batches=2)
    settle, (oracle, _) = demo_settlement_config(config), demo_oracle(config.seed)
    return [
        BatchPublication(b.result, b.oracle_round, b.pre_state, b.post_state).files(settle, oracle)
        for b in run_demo(config)
    ]


class Recorder:
    """What a pipeline reported, in the order it reported it."""

    def __init__(self, expected: int) -> None:
        self.proven: list[tuple[int, bytes, dict[str, Any]]] = []
        self.failures: list[ProofFailure] = []
        self.expected = expected
        self.done = threading.Event()

    def on_proven(self, batch_id: int, proof: bytes, summary: dict[str, Any]) -> None:
        self.proven.append((batch_id, proof, summary))
        if len(self.proven) == self.expected:
            self.done.set()

    def on_failed(self, failure: ProofFailure) -> None:
        self.failures.append(failure)
        self.done.set()


def _tampered(files: dict[str, str]) -> dict[str, str]:
    """The batch's result with one fill a lot larger than it was."""
    result = json.loads(files["result.json"])
    fills = [f for m in result["markets"].values() for f in m["fills"]]
    fills[0]["quantity"] += 1
    return {**files, "result.json": json.dumps(result)}


def test_a_batch_the_prover_refuses_halts_the_pipeline(demo_files: list[dict[str, str]]) -> None:
    """The operator would be attacked here by its own bug: a batch whose published
    result is not what the auction and settlement produce. The prover refuses it,
    the pipeline reports it once, and the honest batch after it is not recorded
    as proven (its statement builds on the refused one's post-state)."""
    executor, shutdown = local_executor(1)
    seen = Recorder(expected=2)
    pipeline = ProvingPipeline(
        executor,
        on_proven=seen.on_proven,
        on_failed=seen.on_failed,
        clock_ms=lambda: 0,
        shutdown=shutdown,
    )
    try:
        pipeline.submit(1, partial(dict, _tampered(demo_files[0])), 0)
        pipeline.submit(2, partial(dict, demo_files[1]), 0)
        assert seen.done.wait(WAIT_S)
        assert [f.batch_id for f in seen.failures] == [1]
        assert "BatchStatementError" in seen.failures[0].reason
        assert seen.proven == []
        assert pipeline.lag == 2 and pipeline.pending_ids() == [1, 2]
        with pytest.raises(ValueError, match="expected a batch after 2"):
            pipeline.submit(2, partial(dict, demo_files[1]), 0)
    finally:
        pipeline.close()
    assert seen.proven == [] and len(seen.failures) == 1  # reported once, nothing after


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two batch proofs on a loaded 2-core machine
def test_consecutive_batches_prove_in_parallel_on_dask_and_record_in_order(
    demo_files: list[dict[str, str]],
) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        executor, shutdown = dask_executor(cluster.scheduler_address)
        seen = Recorder(expected=2)
        pipeline = ProvingPipeline(
            executor,
            on_proven=seen.on_proven,
            on_failed=seen.on_failed,
            clock_ms=lambda: 0,
            shutdown=shutdown,
        )
        try:
            pipeline.submit(1, partial(dict, demo_files[0]), 0)
            pipeline.submit(2, partial(dict, demo_files[1]), 0)
            assert seen.done.wait(WAIT_S)
        finally:
            pipeline.close()
    assert seen.failures == []
    assert [b for b, _, _ in seen.proven] == [1, 2]
    for (_, proof, summary), files in zip(seen.proven, demo_files, strict=True):
        assert summary["verified"] and summary["size_bytes"] == len(proof)
        verify_files(proof, files)  # raises VerificationError if it is not this batch's
