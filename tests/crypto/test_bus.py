"""The lookup bus, fixed columns and public tables: honest proofs and every forgery rejected."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation, col, fixed
from sealbatch.crypto.airs import batch_shape
from sealbatch.crypto.bus import Bus, PublicTable
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.prover import prove
from sealbatch.crypto.verifier import verify_proof
from tests.crypto.helpers import FAST, accepted_flips, truncate_composition

verify = batch_shape.verify_bytes
ROWS = 32
SMALL = {"wide": 4, "limbs": 5, "public_rows": 4}


def _forged_is_rejected(monkeypatch: pytest.MonkeyPatch, air: Air, trace: np.ndarray) -> None:
    with pytest.raises(ConstraintViolation):
        prove(air, trace, FAST)
    truncate_composition(monkeypatch, ROWS * air.num_composition_columns())
    forged = prove(air, trace, FAST, check=False)
    with pytest.raises(VerificationError):
        verify(forged.to_bytes(), min_security_bits=0)


def test_honest_batch_shape_proof_verifies() -> None:
    trace, pubs = batch_shape.generate(ROWS, **SMALL)
    air = batch_shape.build(ROWS, pubs)
    # 5 range sends + the table's receive + the pair send: 4 helpers, and the running sum
    assert air.num_aux_columns == 5 and air.max_degree() == 3 and air.num_fixed_columns == 2
    result = verify(prove(air, trace, FAST).to_bytes(), min_security_bits=0)
    assert result.conjectured > 0


def test_a_lookup_of_a_value_outside_the_table_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trace, pubs = batch_shape.generate(ROWS, **SMALL)
    trace[3, 10] = ROWS + 5  # limb 3 out of [0, N): no table row holds it
    _forged_is_rejected(monkeypatch, batch_shape.build(ROWS, pubs), trace)


def test_a_receive_multiplicity_cannot_pay_for_a_missing_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Move one count from the value looked up to another: the bus no longer balances."""
    trace, pubs = batch_shape.generate(ROWS, **SMALL)
    limbs = SMALL["limbs"]
    v = int(trace[2, 0])
    trace[limbs, v] = (trace[limbs, v] - 1) % P
    trace[limbs, (v + 1) % ROWS] += 1
    _forged_is_rejected(monkeypatch, batch_shape.build(ROWS, pubs), trace)


def _selector_air() -> tuple[Air, np.ndarray]:
    """Sends ``v`` where the main column ``sel`` says so, into the fixed table 0..N-1."""
    bus = Bus(beta=0, first_aux=0)
    bus.send(1, [col(0)], col(1), "v in table")
    bus.receive(1, [fixed(0)], col(2), "table")
    layout = bus.build()

    def table() -> np.ndarray:
        return np.arange(ROWS, dtype=np.uint64)[None]

    air = Air(
        name="selector_bus",
        num_rows=ROWS,
        num_main_columns=3,
        transitions=layout.transitions,
        boundaries=layout.boundaries,
        num_aux_columns=layout.num_aux_columns,
        num_challenges=bus.num_challenges,
        aux_builder=lambda main, ch: bus.aux_columns(main, ch, fixed=table()),
        num_fixed_columns=1,
        fixed_builder=table,
    )
    v = np.arange(ROWS, dtype=np.uint64)[::-1].copy()
    sel = np.ones(ROWS, np.uint64)
    m = np.ones(ROWS, np.uint64)
    return air, np.stack([v, sel, m])


def test_selector_sends_verify_honestly() -> None:
    air, trace = _selector_air()
    assert any("selector" in t.name for t in air.transition_list)

    verify_proof(air, prove(air, trace, FAST), min_security_bits=0)


def test_a_cancelled_multiplicity_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send a bogus value once with selector 1 and once with −1: the sends cancel, the sum
    balances — and the selector constraint catches it."""
    air, trace = _selector_air()
    bogus = 10**6
    trace[0, 0], trace[1, 0] = bogus, bogus
    trace[1, 1] = P - 1
    # the table counts lose the two values the bogus rows no longer send
    trace[2, ROWS - 1] -= 1
    trace[2, ROWS - 2] -= 1
    with pytest.raises(ConstraintViolation, match="selector"):
        prove(air, trace, FAST)
    truncate_composition(monkeypatch, ROWS * air.num_composition_columns())
    forged = prove(air, trace, FAST, check=False)
    with pytest.raises(VerificationError, match="out-of-domain"):
        verify_proof(air, forged, min_security_bits=0)


def test_a_tampered_fixed_column_is_rejected() -> None:
    """The prover commits a table with an extra value; the verifier derives the real root."""
    trace, pubs = batch_shape.generate(ROWS, **SMALL)
    air = batch_shape.build(ROWS, pubs)
    limbs = SMALL["limbs"]
    bogus = 10**6
    # the looked-up value at trace[4, 7] is replaced by a bogus one, which a forged table holds
    old = int(trace[4, 7])
    trace[4, 7] = bogus
    slot = next(r for r in range(ROWS) if r != old and trace[limbs, r] == 0)
    trace[limbs, old] -= 1
    trace[limbs, slot] = 1
    forged_fixed = batch_shape._fixed(ROWS, SMALL["public_rows"]).copy()
    forged_fixed[0, slot] = bogus
    bus = batch_shape._bus(limbs, SMALL["public_rows"], pubs[5:])
    forged_air = dataclasses.replace(
        air,
        fixed_builder=lambda: forged_fixed,
        aux_builder=lambda main, ch: bus.aux_columns(main, ch, fixed=forged_fixed),
    )
    forged_air.check_trace(trace)  # honest for the forged table
    proof = prove(forged_air, trace, FAST)
    with pytest.raises(VerificationError):
        verify(proof.to_bytes(), min_security_bits=0)


def test_a_wrong_public_table_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """The statement's public pairs differ from what the trace sends: the sums differ."""
    trace, pubs = batch_shape.generate(ROWS, **SMALL)
    bad = list(pubs)
    bad[-1] = (bad[-1] + 1) % ROWS
    _forged_is_rejected(monkeypatch, batch_shape.build(ROWS, tuple(bad)), trace)


def test_public_table_sum_is_computed_by_the_verifier() -> None:
    """The derived challenge is the verifier's own sum over the public pairs."""
    from sealbatch.crypto.field_scalar import Fp4

    _trace, pubs = batch_shape.generate(ROWS, **SMALL)
    air = batch_shape.build(ROWS, pubs)
    beta, gamma = Fp4((5, 6, 7, 8)), Fp4((9, 10, 11, 12))
    values = air.challenge_values([beta, gamma])
    k = SMALL["public_rows"]
    expected = Fp4.zero()
    for j in range(k):
        a, b = pubs[5 + 2 * j], pubs[6 + 2 * j]
        expected = expected + (beta - (gamma * a + gamma * gamma * b + 2)).inverse()
    assert values[2] == expected


def test_bus_refuses_what_it_cannot_prove_soundly() -> None:
    bus = Bus()
    with pytest.raises(ValueError, match="current row"):
        bus.send(1, [col(0).next])
    with pytest.raises(ValueError, match="aux"):
        from sealbatch.crypto.air import aux

        bus.send(1, [col(0)], aux(0))
    with pytest.raises(ValueError, match="constant selector of 0 or 1"):
        bus.send(1, [col(0)], -1)
    with pytest.raises(ValueError, match="derived challenge"):
        bus.add_public_table(PublicTable(1, ((1,),), (1,)))
    high = Bus()
    high.send(1, [col(0) * col(1) * col(2)])
    with pytest.raises(ValueError, match="degree"):
        high.build()
    with pytest.raises(ValueError, match="one multiplicity per row"):
        PublicTable(1, ((1,), (2,)), (1,))


def test_flipping_bytes_of_a_bus_proof_fails() -> None:
    """Every 5th byte of a proof with fixed, aux and public-table parts (all bytes: slow test)."""
    trace, pubs = batch_shape.generate(8, wide=2, limbs=2, public_rows=1)
    data = prove(batch_shape.build(8, pubs), trace, FAST).to_bytes()
    assert accepted_flips(data, verify, range(0, len(data), 5), (0x01,)) == []


@pytest.mark.slow
def test_flipping_every_byte_of_a_bus_proof_fails() -> None:
    trace, pubs = batch_shape.generate(8, wide=2, limbs=2, public_rows=1)
    data = prove(batch_shape.build(8, pubs), trace, FAST).to_bytes()
    assert accepted_flips(data, verify) == []


# ---- packing several lookups into one helper column (a degree budget above 3)

PACKED_LIMBS = 7


def _packed_air(max_degree: int) -> tuple[Air, np.ndarray, Bus]:
    """Seven range sends and the table's receive, packed under ``max_degree``."""
    bus = Bus(beta=0, first_aux=0, max_degree=max_degree)
    for i in range(PACKED_LIMBS):
        bus.send(1, [col(i)], 1, f"limb {i} in table")
    bus.receive(1, [fixed(0)], col(PACKED_LIMBS), "table")
    layout = bus.build()

    def table() -> np.ndarray:
        return np.arange(ROWS, dtype=np.uint64)[None]

    air = Air(
        name="packed_bus",
        num_rows=ROWS,
        num_main_columns=PACKED_LIMBS + 1,
        transitions=layout.transitions,
        boundaries=layout.boundaries,
        num_aux_columns=layout.num_aux_columns,
        num_challenges=bus.num_challenges,
        aux_builder=lambda main, ch: bus.aux_columns(main, ch, fixed=table()),
        num_fixed_columns=1,
        fixed_builder=table,
    )
    rng = np.random.default_rng(7)
    limbs = rng.integers(0, ROWS, size=(PACKED_LIMBS, ROWS)).astype(np.uint64)
    counts = np.bincount(limbs.reshape(-1).astype(np.int64), minlength=ROWS).astype(np.uint64)
    return air, np.vstack([limbs, counts[None]]), bus


@pytest.mark.parametrize(
    ("max_degree", "helpers", "degree"), [(3, 4, 3), (4, 3, 4), (5, 2, 5), (9, 1, 9)]
)
def test_a_degree_budget_packs_k_minus_one_lookups_per_helper(
    max_degree: int, helpers: int, degree: int
) -> None:
    """8 interactions of degree-1 tuples: ``max_degree − 1`` per helper, plus the running sum."""
    air, trace, bus = _packed_air(max_degree)
    assert air.num_aux_columns == helpers + 1
    assert air.max_degree() == degree
    assert all(len(g) <= max_degree - 1 for g in bus.build().groups)
    options = dataclasses.replace(FAST, blowup=8)  # room for the composition's columns
    verify_proof(air, prove(air, trace, options), min_security_bits=0)


def test_a_packed_helper_still_rejects_a_value_outside_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four lookups share one helper: a limb outside the table, the counts adjusted, still
    leaves the bus unbalanced (the helper is the sum of its four fractions, no more)."""
    air, trace, _ = _packed_air(5)
    old = int(trace[2, 5])
    trace[2, 5] = ROWS + 3
    trace[PACKED_LIMBS, old] -= 1
    with pytest.raises(ConstraintViolation, match="bus"):
        prove(air, trace, FAST)
    truncate_composition(monkeypatch, ROWS * air.num_composition_columns())
    forged = prove(air, trace, FAST, check=False)
    with pytest.raises(VerificationError):
        verify_proof(air, forged, min_security_bits=0)


def test_a_packed_helper_cannot_move_value_between_its_lookups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A helper column set to another value than Σ ±m/D (the sum moved between rows, so the
    running total still balances) breaks that helper's row constraint."""
    air, trace, bus = _packed_air(5)
    layout = bus.build()
    original = bus.aux_columns

    def shifted(main: np.ndarray, ch: list) -> np.ndarray:  # type: ignore[type-arg]
        from sealbatch.crypto import field as fld

        out = original(main, ch, fixed=np.arange(ROWS, dtype=np.uint64)[None]).copy()
        one = np.zeros((4, 1), np.uint64)
        one[0, 0] = 1
        out[0][:, :1] = fld.ext_add(out[0][:, :1], one)
        out[1][:, :1] = fld.ext_sub(out[1][:, :1], one)
        return out

    forged_air = dataclasses.replace(air, aux_builder=shifted)
    assert len(layout.groups[0]) == 4
    with pytest.raises(ConstraintViolation, match="bus helper"):
        prove(forged_air, trace, FAST)
    truncate_composition(monkeypatch, ROWS * air.num_composition_columns())
    forged = prove(forged_air, trace, FAST, check=False)
    with pytest.raises(VerificationError):
        verify_proof(air, forged, min_security_bits=0)


def test_packing_respects_the_degree_of_each_interaction() -> None:
    """A degree-2 selector or tuple value costs its helper more of the budget."""
    bus = Bus(max_degree=5)
    bus.send(1, [col(0) * col(1)])  # denominator of degree 2
    bus.send(1, [col(2)])
    bus.send(1, [col(3)])
    bus.send(1, [col(4)])  # 1 + 2 + 1 + 1 + 1 = 6 > 5: starts a new helper
    bus.receive(1, [col(5)], col(6) * col(7))  # multiplicity of degree 2
    layout = bus.build()
    assert layout.groups == ((0, 1, 2), (3, 4))
    with pytest.raises(ValueError, match="at least 2"):
        Bus(max_degree=1, interactions=list(bus.interactions)).build()
