"""The Solidity verifier accepts exactly what the Python verifier accepts.

Honest proofs and tampered ones (every section, every header field, random
bytes, truncation, trailing bytes, a wrong public input) get the same verdict
from :func:`sealbatch.crypto.verifier.verify` and from StarkVerifier.sol, on
the embedded chain (py-evm) here and on anvil in the ``anvil``-marked test.
Small proofs with fast options keep the suite quick: the contract is deployed
for those options (``min_security_bits=0`` on both sides); the options of real
deployments are checked at deployment (``test_low_security_options_refused``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sealbatch.crypto.airs import get_air
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.options import ProofOptions, l1_options
from sealbatch.crypto.proof import StarkProof
from sealbatch.crypto.prover import prove
from sealbatch.crypto.verifier import verify
from sealbatch.settlement.anchor import (
    AnchorError,
    Chain,
    ContractReverted,
    DeployedVerifier,
    deploy_verifier,
)
from tests.crypto.helpers import FAST
from tests.crypto.test_stark import _tampered

from .anvil import anvil_binary, running_anvil

AIRS = ("fibonacci", "range_check", "wide")
ROWS = 64


@dataclass(frozen=True)
class Case:
    name: str
    proof: StarkProof
    data: bytes
    public_inputs: tuple[int, ...]


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    out = {}
    for name in AIRS:
        entry = get_air(name)
        trace, pubs = entry.generate(ROWS)
        proof = prove(entry.build(ROWS, pubs), trace, FAST)
        out[name] = Case(name, proof, proof.to_bytes(), pubs)
    return out


def python_accepts(data: bytes, public_inputs: tuple[int, ...]) -> bool:
    try:
        verify(data, expected_public_inputs=public_inputs, min_security_bits=0)
    except VerificationError:
        return False
    return True


def solidity_accepts(
    verifier: DeployedVerifier, data: bytes, public_inputs: tuple[int, ...]
) -> bool:
    try:
        return verifier.verify(public_inputs, data)
    except ContractReverted:
        return False


def header_length(proof: StarkProof) -> int:
    """Bytes up to and including the shape: magic, name, rows, options, public inputs, shape."""
    return 8 + 1 + len(proof.air_name) + 1 + 6 + 2 + 4 * len(proof.public_inputs) + 7


def variants(
    case: Case, seed: int, random_flips: int
) -> Iterator[tuple[str, bytes, tuple[int, ...]]]:
    """(label, proof bytes, public inputs) for the honest proof and every tampered one."""
    pubs, data = case.public_inputs, case.data
    yield "honest", data, pubs
    for label, bad in _tampered(case.proof).items():
        yield label, bad.to_bytes(), pubs
    for i in range(header_length(case.proof)):
        mutated = bytearray(data)
        mutated[i] ^= 0x01
        yield f"header byte {i}", bytes(mutated), pubs
    rng = random.Random(seed)
    for _ in range(random_flips):
        i = rng.randrange(len(data))
        mutated = bytearray(data)
        mutated[i] ^= 1 << rng.randrange(8)
        yield f"random bit in byte {i}", bytes(mutated), pubs
    for cut in (0, 8, header_length(case.proof), len(data) // 2, len(data) - 1):
        yield f"truncated to {cut}", data[:cut], pubs
    yield "trailing byte", data + b"\x00", pubs
    yield "garbage", bytes(rng.randrange(256) for _ in range(len(data))), pubs
    wrong = (pubs[0] + 1, *pubs[1:])
    yield "wrong public input", data, wrong
    yield "public input not below p", data, (pubs[0] + 2013265921, *pubs[1:])


def check_agreement(chain: Chain, cases: dict[str, Case], random_flips: int) -> None:
    disagreements = []
    for name, case in cases.items():
        air = get_air(name).build(ROWS, case.public_inputs)
        verifier = deploy_verifier(chain, air, FAST, min_security_bits=0)
        accepted = 0
        for label, data, pubs in variants(case, seed=len(name), random_flips=random_flips):
            py = python_accepts(data, pubs) if pubs[0] < 2013265921 else False
            sol = solidity_accepts(verifier, data, pubs)
            accepted += py
            if py != sol:
                disagreements.append((name, label, py, sol))
        assert accepted == 1, f"{name}: only the honest proof may pass, {accepted} did"
    assert disagreements == []


def test_agreement_on_the_embedded_chain(chain: Chain, cases: dict[str, Case]) -> None:
    check_agreement(chain, cases, random_flips=8)


@pytest.mark.anvil
def test_agreement_on_anvil(cases: dict[str, Case]) -> None:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed: make installs @foundry-rs/anvil with npm")
    with running_anvil() as url:
        check_agreement(Chain(url), cases, random_flips=8)


def test_revert_reasons_name_the_check(chain: Chain, cases: dict[str, Case]) -> None:
    case = cases["fibonacci"]
    air = get_air("fibonacci").build(ROWS, case.public_inputs)
    verifier = deploy_verifier(chain, air, FAST, min_security_bits=0)
    wrong = (case.public_inputs[0] + 1, *case.public_inputs[1:])
    with pytest.raises(ContractReverted) as info:
        verifier.verify(wrong, case.data)
    assert info.value.error == "HeaderMismatch"
    with pytest.raises(ContractReverted) as info:
        verifier.verify(case.public_inputs, case.data + b"\x00")
    assert info.value.error == "TrailingBytes" and info.value.error_args == (1,)
    bad = _tampered(case.proof)["main rows"].to_bytes()
    with pytest.raises(ContractReverted) as info:
        verifier.verify(case.public_inputs, bad)
    assert info.value.error == "MerkleMismatch" and info.value.error_args == (1,)
    bad = _tampered(case.proof)["nonce"].to_bytes()
    with pytest.raises(ContractReverted) as info:
        verifier.verify(case.public_inputs, bad)
    assert info.value.error == "ProofOfWork"


def test_low_security_options_refused(chain: Chain) -> None:
    entry = get_air("fibonacci")
    _, pubs = entry.generate(ROWS)
    air = entry.build(ROWS, pubs)
    with pytest.raises(AnchorError, match="conjectured bits"):
        deploy_verifier(chain, air, FAST)


@pytest.mark.slow
def test_l1_proof_in_one_transaction(chain: Chain) -> None:
    """A proof with the L1 options, verified in a mined transaction."""
    entry = get_air("fibonacci")
    trace, pubs = entry.generate(ROWS)
    air = entry.build(ROWS, pubs)
    options = l1_options(ROWS)
    data = prove(air, trace, options).to_bytes()
    verify(data)
    verifier = deploy_verifier(chain, air, options)
    receipt = verifier.verify_transaction(pubs, data)
    assert 21_000 < receipt.gas_used < 16_777_216  # under the EIP-7825 transaction cap
    assert data in receipt.input_data


def test_other_options_are_refused(chain: Chain, cases: dict[str, Case]) -> None:
    """A contract fixed for one option set refuses a valid proof made with another."""
    case = cases["fibonacci"]
    entry = get_air("fibonacci")
    trace, _ = entry.generate(ROWS)
    air = entry.build(ROWS, case.public_inputs)
    other = ProofOptions(
        blowup=4, num_queries=7, folding_factor=4, grinding_bits=4, fri_max_remainder=4
    )
    data = prove(air, trace, other).to_bytes()
    assert python_accepts(data, case.public_inputs)
    verifier = deploy_verifier(chain, air, FAST, min_security_bits=0)
    with pytest.raises(ContractReverted) as info:
        verifier.verify(case.public_inputs, data)
    assert info.value.error == "HeaderMismatch"
