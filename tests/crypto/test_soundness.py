"""False statements and degenerate points: the prover refuses them, a cheating prover's
proof is rejected, and an out-of-domain point in the domains is a clear error, never a
division by zero."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from sealbatch.crypto import prover as prover_module
from sealbatch.crypto import verifier as verifier_module
from sealbatch.crypto.air import Air, Boundary, ConstraintViolation, aux, challenge, col, pub
from sealbatch.crypto.airs import fibonacci, get_air, range_check
from sealbatch.crypto.channel import Channel
from sealbatch.crypto.exceptions import CryptoError, VerificationError
from sealbatch.crypto.field_scalar import Fp4, P, root_of_unity
from sealbatch.crypto.ntt import DEFAULT_SHIFT
from sealbatch.crypto.prover import prove
from sealbatch.crypto.verifier import verify, verify_proof
from tests.crypto.helpers import FAST, small_proof, truncate_composition


class _ForcedZ(Channel):
    """A channel whose first draw after ``target`` is absorbed returns ``forced``."""

    target: bytes = b""
    forced: Fp4 = Fp4.zero()
    _armed: bool = False

    def absorb(self, data: bytes) -> None:
        super().absorb(data)
        self._armed = data == self.target

    def draw_ext(self) -> Fp4:
        if self._armed:
            self._armed = False
            return self.forced
        return super().draw_ext()


def _bad_points(rows: int, blowup: int) -> dict[str, Fp4]:
    g = root_of_unity(rows.bit_length() - 1)
    w = root_of_unity((rows * blowup).bit_length() - 1)
    return {
        "trace domain": Fp4.of(pow(g, 3, P)),
        "first trace row": Fp4.one(),
        "LDE coset": Fp4.of(DEFAULT_SHIFT * pow(w, 5, P) % P),
        "LDE coset start": Fp4.of(DEFAULT_SHIFT),
    }


@pytest.mark.parametrize(
    "where", ["trace domain", "first trace row", "LDE coset", "LDE coset start"]
)
def test_verifier_rejects_an_ood_point_in_the_domains(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """z in the trace domain or the LDE coset: a VerificationError, never a ZeroDivisionError."""
    proof = small_proof("range_check")
    forced = type(
        "Forced",
        (_ForcedZ,),
        {"target": proof.composition_root, "forced": _bad_points(16, FAST.blowup)[where]},
    )
    monkeypatch.setattr(verifier_module, "Channel", forced)
    with pytest.raises(VerificationError, match="out-of-domain point"):
        verify(proof.to_bytes(), min_security_bits=0)


@pytest.mark.parametrize("where", ["trace domain", "LDE coset"])
def test_prover_refuses_an_ood_point_in_the_domains(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A z in the domains is a clear error on the prover's side too (was ZeroDivisionError)."""
    entry = get_air("fibonacci")
    trace, pubs = entry.generate(16)
    air = entry.build(16, pubs)

    class Forced(_ForcedZ):
        forced = _bad_points(16, FAST.blowup)[where]
        absorbs = 0

        def absorb(self, data: bytes) -> None:
            Channel.absorb(self, data)
            self.absorbs += 1
            self._armed = self.absorbs == 2  # main root, then composition root (no aux)

    monkeypatch.setattr(prover_module, "Channel", Forced)
    with pytest.raises(CryptoError, match="out-of-domain point"):
        prove(air, trace, FAST)


def test_prover_refuses_a_false_statement() -> None:
    trace, (a0, b0, last) = fibonacci.generate(16)
    with pytest.raises(ConstraintViolation, match="b_last"):
        prove(fibonacci.build(16, (a0, b0, (last + 1) % P)), trace, FAST)


def test_proof_of_a_false_statement_is_rejected() -> None:
    """Prover run with check=False on a wrong Fibonacci result: the verifier rejects the proof."""
    trace, (a0, b0, last) = fibonacci.generate(16)
    wrong = fibonacci.build(16, (a0, b0, (last + 1) % P))
    forged = prove(wrong, trace, FAST, check=False)
    with pytest.raises(VerificationError, match="out-of-domain check failed"):
        verify(forged.to_bytes(), min_security_bits=0)


def test_false_range_check_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value out of range, proved by a cheating prover, is rejected."""
    trace, (bound, _) = range_check.generate(16)
    trace[0, 3] = bound  # out of [0, R)
    trace[3] = np.cumsum(trace[0], dtype=np.uint64) % np.uint64(P)
    air = range_check.build(16, (bound, int(trace[3, -1])))
    with pytest.raises(ConstraintViolation, match="lookup"):
        prove(air, trace, FAST)
    with pytest.raises(ValueError, match="composition polynomial exceeds"):
        prove(air, trace, FAST, check=False)
    truncate_composition(monkeypatch, 16 * air.num_composition_columns())
    forged = prove(air, trace, FAST, check=False)
    with pytest.raises(VerificationError, match="out-of-domain check failed"):
        verify(forged.to_bytes(), min_security_bits=0)


def _constant_boundary_air(value: int) -> Air:
    """A boundary on the last row whose value is an extension constant (a challenge)."""

    def builder(main: np.ndarray, challenges: Sequence[Fp4]) -> np.ndarray:
        return np.zeros((1, 4, 8), np.uint64)

    return Air(
        name="constant-boundary",
        num_rows=8,
        num_main_columns=1,
        transitions=(col(0).next - col(0),),
        boundaries=(Boundary(0, aux(0)), Boundary(-1, challenge(0) * pub(0))),
        public_inputs=(value,),
        num_aux_columns=1,
        num_challenges=1,
        aux_builder=builder,
    )


def test_check_trace_handles_constant_extension_boundaries() -> None:
    """A boundary that reads only challenges and public inputs: was an IndexError past row 0."""
    main = np.zeros((1, 8), np.uint64)
    aux_trace = np.zeros((1, 4, 8), np.uint64)
    alpha = [Fp4((3, 1, 4, 1))]
    _constant_boundary_air(0).check_trace(main, aux_trace, alpha)
    with pytest.raises(ConstraintViolation, match="boundary 1"):
        _constant_boundary_air(1).check_trace(main, aux_trace, alpha)
    air = _constant_boundary_air(0)
    verify_proof(air, prove(air, main, FAST), min_security_bits=0)


def test_unreduced_aux_columns_are_refused() -> None:
    """An aux builder returning values >= p: was a misleading ConstraintViolation (or, unchecked,
    a proof the verifier rejects); now a clear error naming the builder."""
    trace, pubs = range_check.generate(16)
    air = range_check.build(16, pubs)
    honest = air.aux_builder
    assert honest is not None

    def unreduced(main: np.ndarray, challenges: Sequence[Fp4]) -> np.ndarray:
        return np.asarray(honest(main, challenges)) + np.uint64(P)

    bad = dataclasses.replace(air, aux_builder=unreduced)
    for check in (True, False):
        with pytest.raises(ValueError, match="aux_builder: expected values in"):
            prove(bad, trace, FAST, check=check)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "é"}, "AIR name"),
        ({"name": "x" * 256}, "AIR name"),
        ({"name": ""}, "AIR name"),
        ({"transitions": (col(0, 256) - col(0),)}, "row offset"),
        ({"public_inputs": (0,) * 65536}, "public inputs"),
    ],
)
def test_air_refuses_what_the_proof_format_cannot_hold(
    changes: dict[str, Any], message: str
) -> None:
    """Was accepted, proved, and then crashed in StarkProof.to_bytes (UnicodeEncodeError,
    OverflowError, ValueError from bytes())."""
    fields: dict[str, Any] = {
        "name": "t",
        "num_rows": 512,
        "num_main_columns": 1,
        "transitions": (col(0).next - col(0),),
    }
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        Air(**fields)
