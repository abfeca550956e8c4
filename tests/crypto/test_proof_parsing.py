"""The proof parser: only canonical field elements, bounded length prefixes, checked
version, rows and options; random mutations and sections swapped between two honest
proofs never verify."""

from __future__ import annotations

import dataclasses
import functools
import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbatch.crypto import proof as proof_module
from sealbatch.crypto.exceptions import ProofFormatError, VerificationError
from sealbatch.crypto.field_scalar import TWO_ADICITY, P
from sealbatch.crypto.proof import MAGIC, StarkProof
from sealbatch.crypto.verifier import verify
from tests.crypto.helpers import proof_bytes, small_proof


def _proof_with(proof: StarkProof, **changes: Any) -> bytes:
    return dataclasses.replace(proof, **changes).to_bytes()


def _non_canonical(proof: StarkProof, field: str, index: tuple[int, ...]) -> bytes:
    """The proof with one field element replaced by itself + p (same value mod p, >= p)."""
    arr = np.array(getattr(proof, field), dtype=np.uint64)
    if arr[index] + P >= 1 << 32:
        arr[index] = 0  # keep it encodable: 0 + p
    arr[index] += np.uint64(P)
    return _proof_with(proof, **{field: arr})


@pytest.mark.parametrize(
    ("field", "index"),
    [
        ("main_rows", (0, 0)),
        ("aux_rows", (0, 1)),
        ("composition_rows", (0, 0)),
        ("ood_frame", (0, 0)),
        ("ood_composition", (0, 3)),
    ],
)
def test_values_of_p_or_more_are_rejected(field: str, index: tuple[int, ...]) -> None:
    data = _non_canonical(small_proof("range_check"), field, index)
    with pytest.raises(ProofFormatError, match="out of range"):
        verify(data, min_security_bits=0)


def test_non_canonical_public_input_and_fri_values_are_rejected() -> None:
    proof = small_proof("fibonacci")
    pubs = list(proof.public_inputs)
    pubs[0] += P
    with pytest.raises(ProofFormatError, match="out of range"):
        verify(_proof_with(proof, public_inputs=tuple(pubs)), min_security_bits=0)
    fri = proof.fri
    remainder = fri.remainder.copy()
    remainder[0, 0] = P
    with pytest.raises(ProofFormatError, match="out of range"):
        verify(
            _proof_with(proof, fri=dataclasses.replace(fri, remainder=remainder)),
            min_security_bits=0,
        )
    layer = fri.layers[0]
    rows = layer.rows.copy()
    rows[0, 0] = P + 1
    layers = (dataclasses.replace(layer, rows=rows), *fri.layers[1:])
    with pytest.raises(ProofFormatError, match="out of range"):
        verify(_proof_with(proof, fri=dataclasses.replace(fri, layers=layers)), min_security_bits=0)


def _count_fields(data: bytes, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """``(offset, width)`` of every u8/u16 the parser reads from ``data`` (counts and sizes)."""
    found: list[tuple[int, int]] = []
    u8, u16 = proof_module._Reader.u8, proof_module._Reader.u16

    def log8(self: Any) -> int:
        found.append((self.pos, 1))
        return u8(self)

    def log16(self: Any) -> int:
        found.append((self.pos, 2))
        return u16(self)

    with monkeypatch.context() as m:
        m.setattr(proof_module._Reader, "u8", log8)
        m.setattr(proof_module._Reader, "u16", log16)
        StarkProof.from_bytes(data)
    return found


def test_huge_length_prefixes_fail_fast_without_allocating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every count set to its maximum fails (as truncation), and parsing allocates < 4 MB."""
    data = proof_bytes("range_check")
    fields = _count_fields(data, monkeypatch)
    assert len(fields) > 12  # name, rows, inputs, shape, layers, remainder, q, node counts...
    tracemalloc.start()
    try:
        for offset, width in fields:
            bad = data[:offset] + b"\xff" * width + data[offset + width :]
            with pytest.raises(VerificationError):
                verify(bad, min_security_bits=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_version_magic_rows_and_options_are_checked() -> None:
    data = bytearray(proof_bytes("fibonacci"))
    version_at = len(MAGIC)
    for version in (0, 1, 3, 255):
        bad = bytearray(data)
        bad[version_at] = version
        with pytest.raises(ProofFormatError, match=f"unsupported proof format version {version}"):
            verify(bytes(bad), min_security_bits=0)
    rows_at = len(MAGIC) + 2 + data[len(MAGIC) + 1]
    for log_rows in (0, 2, TWO_ADICITY + 1, 255):
        bad = bytearray(data)
        bad[rows_at] = log_rows
        with pytest.raises(VerificationError):
            verify(bytes(bad), min_security_bits=0)
    for i, value in ((0, 0), (0, 7), (1, 1), (2, 0), (3, 0), (3, 5), (4, 33), (5, 9)):
        bad = bytearray(data)
        bad[rows_at + 1 + i] = value
        with pytest.raises(VerificationError):
            verify(bytes(bad), min_security_bits=0)


def _mutations(data: bytes, other: bytes) -> st.SearchStrategy[bytes]:
    n = len(data)
    flips = st.lists(
        st.tuples(st.integers(0, n - 1), st.integers(1, 255)), min_size=1, max_size=3
    ).map(lambda fs: _apply_flips(data, fs))
    truncations = st.integers(0, n - 1).map(lambda k: data[:k])
    extensions = st.binary(min_size=1, max_size=40).map(lambda tail: data + tail)
    splices = st.tuples(st.integers(0, n - 1), st.integers(1, 64)).map(
        lambda t: data[: t[0]] + other[t[0] : t[0] + t[1]] + data[t[0] + t[1] :]
    )
    return st.one_of(flips, truncations, extensions, splices)


def _apply_flips(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for i, mask in flips:
        out[i] ^= mask
    return bytes(out)


_A = functools.cache(lambda: proof_bytes("range_check"))


_B = functools.cache(lambda: proof_bytes("range_check", bound=5))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_mutations_always_raise_verification_error(data: st.DataObject) -> None:
    honest, other = _A(), _B()
    mutated = data.draw(_mutations(honest, other))
    if mutated == honest:
        return
    with pytest.raises(VerificationError):
        verify(mutated, min_security_bits=0)


def test_swapping_sections_between_two_proofs_fails() -> None:
    """Two honest proofs of one AIR and shape: any section taken from the other is rejected."""
    a, b = small_proof("range_check"), small_proof("range_check", bound=5)
    assert verify(a.to_bytes(), min_security_bits=0) and verify(b.to_bytes(), min_security_bits=0)
    swapped = 0
    for name in (f.name for f in dataclasses.fields(a)):
        va, vb = getattr(a, name), getattr(b, name)
        if name == "fri":
            for part in ("roots", "remainder", "layers"):
                mixed = dataclasses.replace(va, **{part: getattr(vb, part)})
                with pytest.raises(VerificationError):
                    verify(_proof_with(a, fri=mixed), min_security_bits=0)
                swapped += 1
            continue
        same = np.array_equal(va, vb) if isinstance(va, np.ndarray) else va == vb
        if same or (isinstance(va, np.ndarray) and va.size == vb.size == 0):
            continue  # equal, or both empty (no fixed columns: nothing is serialised)
        with pytest.raises(VerificationError):
            verify(_proof_with(a, **{name: vb}), min_security_bits=0)
        swapped += 1
    assert swapped >= 15
