"""The compiled evaluator (crypto/evaluators_jit.py) gives the numpy evaluator's values
to the bit, on every operand shape the constraint DAG hands it, and proofs do not change."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from sealbatch.crypto import field as fld
from sealbatch.crypto import prover as prover_module
from sealbatch.crypto.airs import batch_shape, wide
from sealbatch.crypto.evaluators import ArrayEvaluator, Value
from sealbatch.crypto.evaluators_jit import CompiledArrayEvaluator
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.options import ProofOptions
from sealbatch.crypto.prover import prove

N = 257  # not a multiple of any vector width


def _evaluators() -> tuple[ArrayEvaluator, CompiledArrayEvaluator]:
    def column(_segment: str, _index: int, _offset: int) -> fld.Array:
        raise AssertionError("not used")

    def periodic(_index: int) -> fld.Array:
        raise AssertionError("not used")

    return ArrayEvaluator(column, periodic, ()), CompiledArrayEvaluator(column, periodic, ())


def _operands(rng: np.random.Generator) -> dict[str, Value]:
    """Every kind of value an evaluation meets, with the extreme elements 0, 1, p − 1."""
    base = rng.integers(0, P, N, dtype=np.uint64)
    base[:3] = [0, 1, P - 1]
    ext = rng.integers(0, P, (4, N), dtype=np.uint64)
    ext[:, :3] = [0, 1, P - 1]
    ext[:, 3] = P - 1
    return {
        "int": int(rng.integers(0, P)),
        "zero": 0,
        "top": P - 1,
        "base": base,
        "base2": rng.integers(0, P, N, dtype=np.uint64),
        "ext": ext,
        "ext2": rng.integers(0, P, (4, N), dtype=np.uint64),
        "ext_scalar": rng.integers(0, P, (4, 1), dtype=np.uint64),
        "ext_top": np.full((4, N), P - 1, np.uint64),
        "strided": rng.integers(0, P, 2 * N, dtype=np.uint64)[::2],
    }


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_every_operand_pair_gives_the_numpy_value(op: str) -> None:
    reference, compiled = _evaluators()
    values = _operands(np.random.default_rng(7))
    for na, a in values.items():
        for nb, b in values.items():
            want = getattr(reference, op)(a, b)
            got = getattr(compiled, op)(a, b)
            assert np.array_equal(np.asarray(got), np.asarray(want)), (op, na, nb)
            assert np.asarray(got).dtype == np.asarray(want).dtype, (op, na, nb)
            assert np.all(np.asarray(got) < P), (op, na, nb)


def test_the_compiled_paths_are_taken() -> None:
    """Block operands go to the compiled loops (a slip in the dispatch would fall back
    to numpy silently and the speed would be gone)."""
    import sealbatch.crypto.evaluators_jit as jit

    _, compiled = _evaluators()
    values = _operands(np.random.default_rng(8))
    called: list[str] = []

    def spy(name: str, fn: Callable[..., fld.Array]) -> Callable[..., fld.Array]:
        def run(*args: fld.Array) -> fld.Array:
            called.append(name)
            return fn(*args)

        return run

    with pytest.MonkeyPatch.context() as patch:
        for name in ("_add", "_sub", "_mul", "_ext_mul", "_ext_mul_base", "_ext_mul_scalar"):
            patch.setattr(jit, name, spy(name, getattr(jit, name)))
        compiled.add(values["ext"], values["ext2"])
        compiled.sub(values["base"], values["base2"])
        compiled.mul(values["base"], values["base2"])
        compiled.mul(values["ext"], values["ext2"])
        compiled.mul(values["base"], values["ext"])
        compiled.mul(values["ext_scalar"], values["ext"])
        compiled.mul(values["strided"], values["base"])  # not contiguous: numpy
    assert called == ["_add", "_sub", "_mul", "_ext_mul", "_ext_mul_base", "_ext_mul_scalar"]


@pytest.mark.parametrize("name", ["wide", "batch_shape"])
def test_proofs_are_byte_identical_with_the_numpy_evaluator(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    options = ProofOptions(blowup=8, num_queries=20, folding_factor=8, grinding_bits=0)
    if name == "wide":
        trace, pubs = wide.generate(128, 6)
        air = wide.build(128, pubs)
    else:
        trace, pubs = batch_shape.generate(64)
        air = batch_shape.build(64, pubs)
    fast = prove(air, trace, options).to_bytes()
    monkeypatch.setattr(prover_module, "CompiledArrayEvaluator", ArrayEvaluator)
    assert prove(air, trace, options).to_bytes() == fast


def _window_reference(values: np.ndarray, a: int, b: int) -> np.ndarray:
    m = values.shape[-1]
    if a >= m:
        a, b = a - m, b - m
    idx = np.arange(a, b) % m
    return values[..., idx].astype(np.uint64)


@pytest.mark.parametrize(
    ("a", "b"), [(0, 16), (5, 21), (50, 64), (60, 70), (64, 80), (70, 86), (0, 64), (1, 65)]
)
def test_window_gathers_strided_cyclic_blocks(a: int, b: int) -> None:
    from sealbatch.crypto.evaluators_jit import window

    rng = np.random.default_rng(3)
    lde = rng.integers(0, P, (3, 4 * 64), dtype=np.uint64).astype(np.uint32)
    column = lde[1, ::4]  # a strided view, as the prover's evaluation coset is
    aux = lde.reshape(3, 4, 64)[2]  # (4, m), one extension column
    for values in (column, aux, lde[:, ::4]):
        got = window(values, a, b)
        assert got.dtype == np.uint64 and got.flags.c_contiguous
        assert np.array_equal(got, _window_reference(values, a, b)), (a, b, values.ndim)
