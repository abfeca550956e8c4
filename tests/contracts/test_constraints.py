"""The generated constraint evaluators against the Python verifier's evaluation, on py-evm.

At random out-of-domain points and random frames, each AIR's contract (the
interpreter, and its program compiled to EVM code) must return exactly the
constraint values of :class:`PointEvaluator` and the composition value of
:func:`composition_at`; the generated Solidity must be what the expressions
give today.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sealbatch.crypto.airs import available_airs
from sealbatch.crypto.composition import composition_at
from sealbatch.crypto.evaluators import PointEvaluator
from sealbatch.crypto.expr import evaluate
from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.crypto.solidity import compile_constraints, contract_name
from sealbatch.settlement.anchor import Chain, ContractReverted, deploy_program

from .test_field import pack, rand, unpack

ROOT = Path(__file__).resolve().parents[2]


def load_generator() -> ModuleType:
    """contracts/generate.py as a module (the contracts folder is tooling, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "contracts_generate", ROOT / "contracts" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


GENERATOR = load_generator()


def test_generated_files_are_current() -> None:
    files = GENERATOR.generated_files()
    assert len(files) == len(available_airs()) + 1  # and the Poseidon2 library
    for path, text in files.items():
        assert path.read_text() == text, f"{path.name} is stale: run make contracts"
        assert "GENERATED FILE: DO NOT EDIT" in text


@pytest.mark.parametrize("name", available_airs())
def test_program_does_not_depend_on_rows(name: str) -> None:
    base = compile_constraints(GENERATOR.build_default(name, 64)).code
    assert compile_constraints(GENERATOR.build_default(name, 1024)).code == base


@pytest.fixture(scope="module")
def evaluators(chain: Chain):  # type: ignore[no-untyped-def]
    return {name: chain.deploy(contract_name(name)) for name in available_airs()}


@pytest.fixture(scope="module")
def compiled(chain: Chain):  # type: ignore[no-untyped-def]
    """Each AIR's program deployed as ProgramConstraints: its instructions as EVM code."""
    return {
        name: deploy_program(chain, compile_constraints(GENERATOR.build_default(name, 64)))
        for name in available_airs()
    }


@pytest.mark.parametrize("name", available_airs())
@pytest.mark.parametrize("log_n", [6, 12])
@pytest.mark.parametrize("kind", ["interpreted", "compiled"])
def test_evaluator_matches_python(  # type: ignore[no-untyped-def]
    chain: Chain, evaluators, compiled, name: str, log_n: int, kind: str
) -> None:
    air = GENERATOR.build_default(name, 1 << log_n)
    program = compile_constraints(air)
    rng = random.Random(f"{name}-{log_n}")
    contract = (evaluators if kind == "interpreted" else compiled)[name]
    assert bytes(chain.call(contract, "program")) == program.code
    for _ in range(2):
        z = rand(rng)
        frame = {c: rand(rng) for c in program.frame}
        pubs = [rng.randrange(P) for _ in air.public_inputs]
        challenges = [rand(rng) for _ in range(air.num_challenges)]
        alphas = [rand(rng) for _ in range(air.num_constraints)]
        inputs = [pack(frame[c]) for c in program.frame] + pubs + [pack(c) for c in challenges]

        ev = PointEvaluator(frame, [], pubs, challenges)
        expected = evaluate(air.constraint_exprs(), ev, air.constraint_order)
        got = chain.call(contract, "constraintsAt", pack(z), log_n, inputs)
        assert [unpack(v) for v in got] == expected

        priced = dataclasses.replace(air, public_inputs=tuple(pubs))
        want = composition_at(priced, frame, z, alphas, challenges)
        total = chain.call(
            contract, "compositionAt", pack(z), log_n, inputs, [pack(a) for a in alphas]
        )
        assert unpack(total) == want


def test_wrong_input_count_reverts(chain: Chain, evaluators) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ContractReverted) as info:
        chain.call(evaluators["fibonacci"], "constraintsAt", 5, 6, [1, 2])
    assert info.value.error == "InputLength"
    assert info.value.error_args == (0, 7, 2)


def test_divisor_vanishing_point_reverts(chain: Chain, evaluators) -> None:  # type: ignore[no-untyped-def]
    # z = 1 is the first trace row: the boundary divisor x − g^0 vanishes there.
    inputs = [0] * 7
    with pytest.raises(ContractReverted) as info:
        chain.call(evaluators["fibonacci"], "compositionAt", pack(Fp4.one()), 6, inputs, [1] * 5)
    assert info.value.error == "DivisorVanishes"
