"""Review tests of the STARK engine: transcript order, statement binding, division by zero,
false statements, the parser's canonical form, and mutation fuzzing of small honest proofs."""

from __future__ import annotations

import dataclasses
import functools
import math
import tracemalloc
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbatch.crypto import proof as proof_module
from sealbatch.crypto import prover as prover_module
from sealbatch.crypto import verifier as verifier_module
from sealbatch.crypto.air import Air, Boundary, ConstraintViolation, aux, challenge, col, pub
from sealbatch.crypto.airs import fibonacci, get_air, range_check
from sealbatch.crypto.channel import VERSION_TAG, Channel
from sealbatch.crypto.exceptions import CryptoError, ProofFormatError, VerificationError
from sealbatch.crypto.field_scalar import TWO_ADICITY, Fp4, P, root_of_unity
from sealbatch.crypto.ntt import DEFAULT_SHIFT
from sealbatch.crypto.options import DEFAULT_OPTIONS, ProofOptions
from sealbatch.crypto.proof import FORMAT_VERSION, MAGIC, StarkProof
from sealbatch.crypto.prover import prove
from sealbatch.crypto.security import conjectured_bits, proven_bits
from sealbatch.crypto.verifier import verify, verify_proof

FAST = ProofOptions(blowup=4, num_queries=6, folding_factor=4, grinding_bits=4, fri_max_remainder=4)


@functools.cache
def _proof(name: str, rows: int = 16, **params: int) -> StarkProof:
    entry = get_air(name)
    trace, pubs = entry.generate(rows, **params)
    return prove(entry.build(rows, pubs), trace, FAST)


def _data(name: str, rows: int = 16, **params: int) -> bytes:
    return _proof(name, rows, **params).to_bytes()


# ------------------------------------------------------------- Fiat–Shamir order


class _Recorder:
    """Wraps Channel's methods to log absorbs and draws (prover and verifier alike)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log: list[tuple[Any, ...]] = []
        rec = self
        absorb, draw_ext, positions = Channel.absorb, Channel.draw_ext, Channel.draw_positions
        grind, check_pow = Channel.grind, Channel.check_pow

        def _absorb(self: Channel, data: bytes) -> None:
            rec.log.append(("absorb", bytes(data)))
            absorb(self, data)

        def _draw_ext(self: Channel) -> Fp4:
            if rec.log and rec.log[-1][0] == "draw":
                rec.log[-1] = ("draw", rec.log[-1][1] + 1)
            else:
                rec.log.append(("draw", 1))
            return draw_ext(self)

        def _positions(self: Channel, count: int, size: int) -> list[int]:
            rec.log.append(("positions", count, size))
            return positions(self, count, size)

        def _grind(self: Channel, bits: int) -> int:
            rec.log.append(("pow", bits))
            return grind(self, bits)

        def _check_pow(self: Channel, nonce: int, bits: int) -> bool:
            rec.log.append(("pow", bits))
            return check_pow(self, nonce, bits)

        monkeypatch.setattr(Channel, "absorb", _absorb)
        monkeypatch.setattr(Channel, "draw_ext", _draw_ext)
        monkeypatch.setattr(Channel, "draw_positions", _positions)
        monkeypatch.setattr(Channel, "grind", _grind)
        monkeypatch.setattr(Channel, "check_pow", _check_pow)

    def take(self) -> list[tuple[Any, ...]]:
        out, self.log = self.log, []
        return out


def _ext_bytes(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype=">u4").tobytes()


@pytest.mark.parametrize("name", ["fibonacci", "range_check"])
def test_transcript_order_is_the_protocol(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commitment is absorbed before the challenges that depend on it; prover = verifier."""
    entry = get_air(name)
    trace, pubs = entry.generate(16)
    air = entry.build(16, pubs)
    rec = _Recorder(monkeypatch)
    proof = prove(air, trace, FAST)
    prover_log = rec.take()
    verify(proof.to_bytes(), min_security_bits=0)
    verifier_log = rec.take()
    assert prover_log == verifier_log

    expected: list[tuple[Any, ...]] = [("absorb", proof.main_root)]
    if air.num_aux_columns:
        expected += [("draw", air.num_challenges), ("absorb", proof.aux_root)]
    width = air.num_composition_columns()
    deep = len(air.frame) + width
    expected += [
        ("draw", air.num_constraints),  # alphas, after the last trace commitment
        ("absorb", proof.composition_root),
        ("draw", 1),  # z, after the composition root
        ("absorb", _ext_bytes(proof.ood_frame) + _ext_bytes(proof.ood_composition)),
        ("draw", deep),  # DEEP coefficients, after the OOD values
    ]
    for root in proof.fri.roots:
        expected += [("absorb", root), ("draw", 1)]  # each beta after its layer root
    expected += [
        ("absorb", _ext_bytes(proof.fri.remainder)),  # final polynomial before grinding
        ("pow", FAST.grinding_bits),
        ("absorb", proof.pow_nonce.to_bytes(8, "big")),
        ("positions", FAST.num_queries, FAST.blowup * 16),  # queries after the nonce
    ]
    assert verifier_log == expected


def _first_challenge(
    name: str = "fibonacci",
    rows: int = 16,
    options: bytes = FAST.to_bytes(),
    pubs: tuple[int, ...] = (1, 1, 5),
) -> Fp4:
    return Channel.for_statement(name, rows, options, pubs).draw_ext()


def test_statement_is_bound_before_the_first_challenge() -> None:
    """Version, AIR name, trace length, every option byte and every public input."""
    base = _first_challenge()
    assert Channel(VERSION_TAG).draw_ext() != base
    assert _first_challenge(name="fibonaccj") != base
    assert _first_challenge(rows=32) != base
    for i in range(len(FAST.to_bytes())):
        opts = bytearray(FAST.to_bytes())
        opts[i] ^= 1
        assert _first_challenge(options=bytes(opts)) != base, f"option byte {i}"
    for i in range(3):
        pubs = [1, 1, 5]
        pubs[i] += 1
        assert _first_challenge(pubs=tuple(pubs)) != base, f"public input {i}"
    # Length-prefixed: moving a value between fields gives another transcript.
    assert _first_challenge(pubs=(1, 1, 5, 0)) != base
    assert (
        Channel.for_statement("ab", 16, b"c", ()).state
        != Channel.for_statement("a", 16, b"bc", ()).state
    )


# ------------------------------------------------------------------ OOD point


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
    proof = _proof("range_check")
    forced = type(
        "Forced",
        (_ForcedZ,),
        {"target": proof.composition_root, "forced": _bad_points(16, FAST.blowup)[where]},
    )
    monkeypatch.setattr(verifier_module, "Channel", forced)
    with pytest.raises(VerificationError, match="out-of-domain point"):
        verify(proof.to_bytes(), min_security_bits=0)


# ------------------------------------------------------------ false statements


def _truncate_composition(monkeypatch: pytest.MonkeyPatch, keep: int) -> None:
    """A cheating prover: drop the composition coefficients past ``keep`` instead of refusing."""
    original = prover_module.coset_interpolate

    def truncating(values: np.ndarray, shift: int) -> np.ndarray:
        out = np.array(original(values, shift))
        out[..., keep:] = 0
        return out

    monkeypatch.setattr(prover_module, "coset_interpolate", truncating)


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
    _truncate_composition(monkeypatch, 16 * air.num_composition_columns())
    forged = prove(air, trace, FAST, check=False)
    with pytest.raises(VerificationError, match="out-of-domain check failed"):
        verify(forged.to_bytes(), min_security_bits=0)


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


# ----------------------------------------------------------------- the parser


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
    data = _non_canonical(_proof("range_check"), field, index)
    with pytest.raises(ProofFormatError, match="out of range"):
        verify(data, min_security_bits=0)


def test_non_canonical_public_input_and_fri_values_are_rejected() -> None:
    proof = _proof("fibonacci")
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
    data = _data("range_check")
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
    data = bytearray(_data("fibonacci"))
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


def test_options_below_the_minimum_security_are_refused() -> None:
    """The query count, blowup and grinding come from the proof's options: too few bits fail."""
    data = _data("fibonacci")
    assert conjectured_bits(FAST, 16) < 100
    with pytest.raises(VerificationError, match="conjectured security"):
        verify(data)
    result = verify(data, min_security_bits=conjectured_bits(FAST, 16))
    assert result.security.conjectured == conjectured_bits(FAST, 16)
    assert result.security.proven == proven_bits(FAST, 16, max_degree=2)


# ------------------------------------------------------------------- security


def test_conjectured_bits_match_a_hand_calculation() -> None:
    """ethSTARK conjectured bits, recomputed here from the formula (log2 p to 6 digits)."""
    four_log_p = 4 * 30.906890  # log2(2013265921) = 30.90689...
    assert math.floor(four_log_p) == 123
    for log_n, expected in ((12, 105), (14, 105), (15, 104), (16, 103), (18, 101), (20, 99)):
        field_bits = 123 - (3 + log_n)
        query_bits = 30 * 3 + 16
        assert min(field_bits, query_bits) - 1 == expected
        assert conjectured_bits(DEFAULT_OPTIONS, 1 << log_n) == expected
    # blowup 4, 43 queries: 2 bits a query -> 86 + 16; field 123 - 22 at 2^20
    assert conjectured_bits(ProofOptions(blowup=4, num_queries=43), 1 << 20) == 100


def test_proven_bits_are_near_the_query_bound() -> None:
    """At 2^16 with the defaults the Johnson-bound query term is ~2^-(45 - 30·log2(1+1/2m) + 16)."""
    bits = proven_bits(DEFAULT_OPTIONS, 1 << 16)
    # upper bound: the query term alone with m -> infinity: q·log2(1/sqrt(rho)) + grinding
    assert bits <= 30 * 1.5 + 16
    # m = 10: query term 45 - 30·log2(1.05) + 16 = 58.9 bits; FRI commit term about 54 bits
    assert 54 <= bits <= 58


# ------------------------------------------------------------------- fuzzing


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


_A = functools.cache(lambda: _data("range_check"))
_B = functools.cache(lambda: _data("range_check", bound=5))


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
    a, b = _proof("range_check"), _proof("range_check", bound=5)
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
        if same:
            continue
        with pytest.raises(VerificationError):
            verify(_proof_with(a, **{name: vb}), min_security_bits=0)
        swapped += 1
    assert swapped >= 15


# ------------------------------------------------------------- trace checks


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


def test_grinding_counts_only_above_the_query_floor() -> None:
    """winterfell's formula adds grinding only to >= 80 query bits (GRINDING_CONTRIBUTION_FLOOR).

    Without the floor, blowup 64 with 12 queries and 32 grinding bits claimed 103 bits
    (6·12 + 32 = 104) and passed the verifier's default 100-bit minimum.
    """
    few = ProofOptions(blowup=64, num_queries=12, grinding_bits=32)
    assert conjectured_bits(few, 1 << 8) == 6 * 12 - 1
    at_floor = ProofOptions(blowup=16, num_queries=20, grinding_bits=20)  # 80 query bits
    assert conjectured_bits(at_floor, 1 << 8) == min(123 - 12, 80 + 20) - 1
    assert conjectured_bits(DEFAULT_OPTIONS, 1 << 16) == 103  # 90 query bits: grinding counts


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


def test_transcript_tag_follows_the_format_version() -> None:
    """A new proof format must get a new transcript tag, so that no two versions share one."""
    assert VERSION_TAG.endswith(f"-v{FORMAT_VERSION}".encode())
