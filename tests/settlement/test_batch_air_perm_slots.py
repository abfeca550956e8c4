"""The Poseidon2 service's second slot: a batch whose permutations would make the
trace longer than ``PERM_SLOT_MIN_ROWS`` takes two permutations per row and half the
rows; both slots are constrained and received on the bus like the first."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.field import P
from sealbatch.crypto.proof import StarkProof
from sealbatch.settlement.batch_air import air as batch_air
from sealbatch.settlement.batch_air.framework import PERM_SLOT_MIN_ROWS, AirBuilder
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement, statement_from_files
from sealbatch.settlement.batch_proof import prove_files, verify_files
from sealbatch.settlement.ledger import AccountKey, empty_state, open_accounts

from .batch_air_helpers import check_all

BENCH = Path(__file__).resolve().parents[2] / "bench" / "batch_proof.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_batch_proof", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    """1 000 orders over 1 000 accounts: the state trees' permutations alone pass 2^13.
    Every account's collateral differs, so that few permutations repeat (the service
    holds each distinct one once) and the second slot is used."""
    bench = _bench()
    config = bench._config()
    keys = [AccountKey(a, 0) for a in bench._addresses(1000)]
    state = open_accounts(empty_state(config), keys, [bench.COLLATERAL + i for i in range(1000)])
    state = state.with_arrays(batch_id=0, timestamp_ms=1_000)
    out, _ = bench.next_batch(state, 1000, config, bench._oracle(), np.random.default_rng(7))
    return dict(out)


@pytest.fixture(scope="module")
def statement(files: dict[str, str]) -> BatchStatement:
    return statement_from_files(files)


@pytest.fixture(scope="module")
def honest(statement: BatchStatement) -> Iterator[tuple[object, np.ndarray]]:
    yield generate(statement, batch_air.rows_for(statement))


def test_a_large_batch_takes_two_slots_and_half_the_rows(statement: BatchStatement) -> None:
    rows = batch_air.rows_for(statement)
    assert rows == PERM_SLOT_MIN_ROWS
    assert batch_air.perm_slots(rows, statement) == 2
    # on twice the rows one slot holds them all: the same statement, the old layout
    assert batch_air.perm_slots(2 * rows, statement) == 1
    one, layout_one = batch_air.build_with_layout(2 * rows, statement)
    two, layout_two = batch_air.build_with_layout(rows, statement)
    assert len(layout_one.perm_slots) == 1 and len(layout_two.perm_slots) == 2
    assert two.num_main_columns - one.num_main_columns == 16 + 1 + 141
    with pytest.raises(ValueError, match=f"expected at least {rows} rows"):
        batch_air.build_with_layout(rows // 2, statement)


def test_the_honest_two_slot_trace_holds(honest: tuple[object, np.ndarray]) -> None:
    air, trace = honest
    check_all(air, trace)  # type: ignore[arg-type]


def test_a_wrong_permutation_in_the_second_slot_is_refused(
    statement: BatchStatement, honest: tuple[object, np.ndarray]
) -> None:
    air, trace = honest
    _, layout = batch_air.build_with_layout(batch_air.rows_for(statement), statement)
    first = layout.perm_slots[1]
    forged = trace.copy()
    forged[first + 5, 3] = (int(forged[first + 5, 3]) + 1) % P
    with pytest.raises(ConstraintViolation, match=r"full round 0, element 5: y = a\^7"):
        air.check_trace(forged)  # type: ignore[attr-defined]


def test_a_permutation_received_more_often_than_sent_is_refused(
    statement: BatchStatement, honest: tuple[object, np.ndarray]
) -> None:
    air, trace = honest
    _, layout = batch_air.build_with_layout(batch_air.rows_for(statement), statement)
    mult = layout.column("perm2", "mult")
    assert np.count_nonzero(trace[mult]) > 100, "the second slot holds permutations"
    forged = trace.copy()
    row = int(np.flatnonzero(forged[mult])[0])
    forged[mult, row] += 1
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, forged)  # type: ignore[arg-type]


def test_the_service_offers_one_or_two_slots() -> None:
    b = AirBuilder("t", 1 << 12, ())
    b.perm_slots = 3
    ins = [b.column("s", f"i{k}") for k in range(16)]
    outs = [b.column("s", f"o{k}") for k in range(16)]
    b.permutation(ins, outs, b.column("s", "on"))
    with pytest.raises(ValueError, match="expected 1 or 2 permutation slots, got 3"):
        b.finish()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # one batch proof at 2^13 rows on a loaded 2-core machine
def test_a_two_slot_batch_proves_and_verifies(files: dict[str, str]) -> None:
    proof = prove_files(files)
    shape = StarkProof.from_bytes(proof)
    assert shape.num_rows == PERM_SLOT_MIN_ROWS
    assert verify_files(proof, files).conjectured >= 100
    # a published fill one lot larger than the proved one fails verification
    result = json.loads(files["result.json"])
    fills = [f for m in result["markets"].values() for f in m["fills"]]
    fills[0]["quantity"] += 1
    with pytest.raises(VerificationError):
        verify_files(proof, {**files, "result.json": json.dumps(result)})
