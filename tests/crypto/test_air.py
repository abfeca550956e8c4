"""The AIR interface: expressions, degrees, evaluators and trace checks."""

from __future__ import annotations

import numpy as np
import pytest

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import (
    Air,
    ArrayEvaluator,
    Boundary,
    ConstraintViolation,
    PointEvaluator,
    aux,
    challenge,
    col,
    degree,
    evaluate,
    format_expr,
    max_offset,
    periodic,
    pub,
)
from sealbatch.crypto.airs import UnknownAir, available_airs, fibonacci, get_air
from sealbatch.crypto.expr import topological_order
from sealbatch.crypto.field_scalar import Fp4, P


def test_degree_and_offsets() -> None:
    a, b = col(0), col(1)
    e = a.next * b * b - 3 * a + pub(0)
    assert degree(e) == 3
    assert max_offset(e) == 1
    assert degree((a + challenge(0)) ** 4) == 4
    assert degree(periodic(0) * a) == 2
    assert max_offset(aux(0).at(2) - aux(0)) == 2
    assert "col0'" in format_expr(e)


def test_shared_nodes_visit_once() -> None:
    t = col(0) * col(1)
    roots = [t + 1, t * t]
    order = topological_order(roots)
    assert sum(1 for n in order if n is t) == 1
    with pytest.raises(ValueError):
        col(0) ** 0


def test_array_and_point_evaluators_agree() -> None:
    rng = np.random.default_rng(3)
    n = 16
    main = fld.random_elements(rng, (2, n))
    auxv = fld.random_elements(rng, (1, 4, n))
    per = fld.random_elements(rng, n)
    ch = [Fp4((1, 2, 3, 4))]
    exprs = [
        col(0).next * col(1) - 7 + pub(0),
        (aux(0) - challenge(0)) * col(1) + periodic(0) ** 3,
        -col(0) + aux(0).next * aux(0),
    ]

    def column(segment: str, index: int, offset: int) -> np.ndarray:
        src = main[index] if segment == "main" else auxv[index]
        return np.roll(src, -offset, axis=-1)

    ev = ArrayEvaluator(column, lambda i: per, (5,), ch)
    values = evaluate(exprs, ev)
    for row in (0, 7, 15):
        frame = {}
        for off in (0, 1):
            for i in range(2):
                frame[("main", i, off)] = Fp4.of(int(main[i, (row + off) % n]))
            frame[("aux", 0, off)] = Fp4(tuple(int(v) for v in auxv[0, :, (row + off) % n]))
        pe = PointEvaluator(frame, [Fp4.of(int(per[row]))], (5,), ch)
        point = evaluate(exprs, pe)
        for arr, pv in zip(values, point, strict=True):
            arr = np.asarray(arr)
            got = Fp4.of(int(arr[row])) if arr.ndim == 1 else fld.ext_to_fp4(arr[:, row])[0]
            assert got == pv


def test_composition_columns() -> None:
    a = col(0)
    air = Air("t", 16, 1, (a.next - a * a * a,), (Boundary(0, a - 1),))
    # degree 3 transition: quotient degree 2N - 2 -> 2 columns of degree < N
    assert air.num_composition_columns() == 2
    air3 = Air("t", 16, 1, (a.next - a,), (Boundary(0, a * a * a - 1),))
    assert air3.num_composition_columns() == 3
    assert air.offsets() == (0, 1)


def test_air_validation() -> None:
    a = col(0)
    with pytest.raises(ValueError, match="power of two"):
        Air("t", 12, 1, (a.next - a,))
    with pytest.raises(ValueError, match="column index"):
        Air("t", 16, 1, (col(1).next - a,))
    with pytest.raises(ValueError, match="public inputs"):
        Air("t", 16, 1, (a - pub(0),))
    with pytest.raises(ValueError, match="periodic column 0"):
        Air("t", 16, 1, (a - periodic(0),), periodic_columns=((1, 2, 3),))
    with pytest.raises(ValueError, match="challenge"):
        Air("t", 16, 1, (a - challenge(0),))


def test_fibonacci_trace_check() -> None:
    trace, pubs = fibonacci.generate(32)
    air = fibonacci.build(32, pubs)
    air.check_trace(trace)
    bad = trace.copy()
    bad[0, 9] = (bad[0, 9] + 1) % P
    with pytest.raises(ConstraintViolation, match="row 8"):
        air.check_trace(bad)
    wrong = fibonacci.build(32, (pubs[0], pubs[1], (pubs[2] + 1) % P))
    with pytest.raises(ConstraintViolation, match="boundary 2"):
        wrong.check_trace(trace)


def test_periodic_selector() -> None:
    a = col(0)
    air = Air("t", 16, 1, (periodic(0) * (a - 5),), periodic_columns=((1, 0, 0, 0),))
    trace = np.zeros((1, 16), np.uint64)
    trace[0, ::4] = 5
    trace[0, 3] = 9  # unconstrained row
    air.check_trace(trace)
    trace[0, 8] = 6
    with pytest.raises(ConstraintViolation, match="row 8"):
        air.check_trace(trace)


def test_registry() -> None:
    assert "fibonacci" in available_airs()
    assert get_air("fibonacci").name == "fibonacci"
    with pytest.raises(UnknownAir, match="registered"):
        get_air("nope")


def test_shift_rows_keeps_sharing() -> None:
    from sealbatch.crypto.air import shift_rows

    t = col(0) * col(1).next
    e = t + t
    shifted = shift_rows(e, 2)
    assert format_expr(shifted) == "(col0''·col1[+3] + col0''·col1[+3])"
    assert max_offset(shifted) == 3
    order = topological_order([shifted])
    assert sum(1 for n in order if type(n).__name__ == "Mul") == 1
    with pytest.raises(ValueError, match="periodic"):
        shift_rows(periodic(0) + col(0))


def test_logup_with_two_looked_up_columns() -> None:
    """Two value columns looked up in one table: degree 4, proved and verified."""
    from sealbatch.crypto.airs.logup import logup_constraints, logup_running_sum
    from sealbatch.crypto.options import ProofOptions
    from sealbatch.crypto.prover import prove
    from sealbatch.crypto.verifier import verify_proof

    n, r = 32, 8
    rng = np.random.default_rng(5)
    f1 = rng.integers(0, r, n, dtype=np.uint64)
    f2 = rng.integers(0, r, n, dtype=np.uint64)
    t = np.minimum(np.arange(n, dtype=np.uint64), np.uint64(r - 1))
    m = np.zeros(n, np.uint64)
    m[:r] = np.bincount(np.concatenate([f1, f2]).astype(np.int64), minlength=r).astype(np.uint64)
    main = np.stack([f1, f2, t, m])
    step, first, last = logup_constraints(aux(0), challenge(0), col(2), col(3), [col(0), col(1)])
    dt = col(2).next - col(2)
    air = Air(
        "logup2",
        n,
        4,
        (dt * (dt - 1), step),
        (Boundary(0, col(2)), Boundary(-1, col(2) - (r - 1)), first, last),
        num_aux_columns=1,
        num_challenges=1,
        aux_builder=lambda main, ch: logup_running_sum(ch[0], main[2], main[3], [main[0], main[1]])[
            None
        ],
    )
    assert air.max_degree() == 4
    options = ProofOptions(num_queries=8, grinding_bits=0)
    proof = prove(air, main, options)
    verify_proof(air, proof, min_security_bits=0)
    bad = main.copy()
    bad[1, 3] = r  # out of the table
    with pytest.raises(ConstraintViolation, match="logup"):
        prove(air, bad, options)
