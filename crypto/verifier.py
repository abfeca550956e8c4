"""The STARK verifier: replays the transcript and checks every claim of a proof.

:func:`verify` returns a :class:`VerifiedProof` summary or raises
:class:`~crypto.exceptions.VerificationError` naming the failed check (never a
bare False); unparsable bytes raise its subclass
:class:`~crypto.exceptions.ProofFormatError`. This module never imports the
prover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air
from sealbatch.crypto.airs import UnknownAir, get_air
from sealbatch.crypto.channel import Channel
from sealbatch.crypto.composition import (
    ColumnLayout,
    composition_at,
    deep_coefficient_matrix,
    deep_values,
    lde_points,
    ood_point_in_domain,
    ood_sums,
)
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.field_scalar import TWO_ADICITY, Fp4, P, root_of_unity
from sealbatch.crypto.fixed import fixed_commitment
from sealbatch.crypto.fri import fri_shape, verify_fri
from sealbatch.crypto.merkle import BatchOpening, encode_rows, leaf_digests, verify_batch
from sealbatch.crypto.ntt import DEFAULT_SHIFT
from sealbatch.crypto.proof import StarkProof
from sealbatch.crypto.security import SecurityReport, estimate_security

__all__ = ["DEFAULT_MIN_SECURITY_BITS", "VerifiedProof", "verify", "verify_proof"]

DEFAULT_MIN_SECURITY_BITS = 100
"""Proofs below this conjectured security are rejected unless the caller lowers it."""


@dataclass(frozen=True)
class VerifiedProof:
    """What a valid proof established."""

    air_name: str
    num_rows: int
    public_inputs: tuple[int, ...]
    proof_bytes: int
    security: SecurityReport


def verify(
    data: bytes,
    *,
    expected_air: str | None = None,
    expected_public_inputs: Sequence[int] | None = None,
    min_security_bits: int = DEFAULT_MIN_SECURITY_BITS,
) -> VerifiedProof:
    """Verify proof bytes against the registered AIR they name.

    Args:
        data: the proof (:meth:`StarkProof.to_bytes`).
        expected_air: if given, the proof must be for this AIR.
        expected_public_inputs: if given, the proof's public inputs must equal them.
        min_security_bits: reject proofs whose options give fewer conjectured bits.

    Raises:
        ProofFormatError: the bytes do not parse.
        VerificationError: any check fails; the message says which.
    """
    proof = StarkProof.from_bytes(data)
    if expected_air is not None and proof.air_name != expected_air:
        raise VerificationError(
            f"expected a proof for AIR {expected_air!r}, got {proof.air_name!r}"
        )
    if expected_public_inputs is not None and tuple(expected_public_inputs) != proof.public_inputs:
        raise VerificationError("public inputs differ from the expected ones")
    try:
        entry = get_air(proof.air_name)
    except UnknownAir as exc:
        raise VerificationError(str(exc)) from exc
    try:
        air = entry.build(proof.num_rows, proof.public_inputs)
    except ValueError as exc:
        raise VerificationError(f"AIR {proof.air_name!r} rejects the statement: {exc}") from exc
    report = verify_proof(air, proof, min_security_bits=min_security_bits)
    return VerifiedProof(proof.air_name, proof.num_rows, proof.public_inputs, len(data), report)


def verify_proof(
    air: Air, proof: StarkProof, *, min_security_bits: int = DEFAULT_MIN_SECURITY_BITS
) -> SecurityReport:
    """Verify a parsed proof against an AIR built for its statement.

    Raises:
        VerificationError: naming the failed check.
    """
    options = proof.options
    n, b = air.num_rows, options.blowup
    size = n * b
    if (
        proof.air_name != air.name
        or proof.num_rows != n
        or proof.public_inputs != air.public_inputs
    ):
        raise VerificationError("proof statement (AIR, rows, public inputs) differs from the AIR")
    if (size.bit_length() - 1) > TWO_ADICITY:
        raise VerificationError(f"rows × blowup exceeds 2^{TWO_ADICITY}")
    report = estimate_security(options, n, air.max_degree(), air.num_constraints)
    if report.conjectured < min_security_bits:
        raise VerificationError(
            f"expected at least {min_security_bits} bits of conjectured security, "
            f"the proof's options give {report.conjectured}"
        )
    layout = ColumnLayout.of(air)
    offsets = air.offsets()
    frame = air.frame
    _expect("fixed columns", proof.num_fixed, layout.num_fixed)
    _expect("main columns", proof.num_main, layout.num_main)
    _expect("aux columns", proof.num_aux, layout.num_aux)
    _expect("composition columns", proof.num_composition, layout.num_composition)
    _expect("out-of-domain frame values", proof.ood_frame.shape[0], len(frame))
    if layout.num_composition > b:
        raise VerificationError("composition polynomial wider than the blowup")
    folds, remainder_size = fri_shape(n, options)
    _expect("FRI layers", len(proof.fri.roots), folds)
    _expect("FRI remainder coefficients", proof.fri.remainder.shape[0], remainder_size)

    # ---- replay the transcript
    channel = Channel.for_statement(air.name, n, options.to_bytes(), air.public_inputs)
    fixed_root = b""
    if layout.num_fixed:
        try:
            fixed_root = fixed_commitment(air, b).root
        except ValueError as exc:
            raise VerificationError(f"AIR {air.name!r}: bad fixed columns: {exc}") from exc
        channel.absorb(fixed_root)
    channel.absorb(proof.main_root)
    challenges: list[Fp4] = []
    try:
        if air.num_aux_columns:
            challenges = air.challenge_values(channel.draw_exts(air.num_challenges))
            channel.absorb(proof.aux_root)
        elif air.num_challenges:
            challenges = air.challenge_values(channel.draw_exts(air.num_challenges))
    except (ValueError, ZeroDivisionError) as exc:
        raise VerificationError(f"AIR {air.name!r}: cannot derive its challenges: {exc}") from exc
    alphas = channel.draw_powers(air.num_constraints)
    channel.absorb(proof.composition_root)
    z = channel.draw_ext()
    channel.absorb(fld.to_bytes(proof.ood_frame) + fld.to_bytes(proof.ood_composition))
    width = layout.num_composition
    gammas = channel.draw_exts(len(frame) + width)
    betas = []
    for root in proof.fri.roots:
        channel.absorb(root)
        betas.append(channel.draw_ext())
    channel.absorb(fld.to_bytes(proof.fri.remainder))
    if not channel.check_pow(proof.pow_nonce, options.grinding_bits):
        raise VerificationError(
            f"proof-of-work nonce does not give {options.grinding_bits} leading zero bits"
        )
    channel.absorb_nonce(proof.pow_nonce)
    positions = sorted(set(channel.draw_positions(options.num_queries, size)))

    # ---- out-of-domain consistency
    g = root_of_unity(n.bit_length() - 1)
    if ood_point_in_domain(z, n, size, DEFAULT_SHIFT):
        raise VerificationError("out-of-domain point falls in the trace or LDE domain")
    frame_values = fld.ext_to_fp4(proof.ood_frame.T) if frame else []
    comp_ood = fld.ext_to_fp4(proof.ood_composition.T) if width else []
    claimed = dict(zip(frame, frame_values, strict=True))
    try:
        expected_h = composition_at(air, claimed, z, alphas, challenges)
    except ZeroDivisionError as exc:
        raise VerificationError("out-of-domain point is a root of a constraint divisor") from exc
    claimed_h = Fp4.zero()
    zn = z**n
    for i in reversed(range(width)):
        claimed_h = claimed_h * zn + comp_ood[i]
    if claimed_h != expected_h:
        raise VerificationError(
            "out-of-domain check failed: the constraints at z do not match the composition "
            "polynomial"
        )

    # ---- trace and composition openings
    q = len(positions)
    _expect("queried rows", proof.main_rows.shape[0], q)
    if layout.num_fixed:
        _check_rows(
            "fixed columns", proof.fixed_rows, fixed_root, proof.fixed_opening, positions, size
        )
    _check_rows("main trace", proof.main_rows, proof.main_root, proof.main_opening, positions, size)
    if layout.num_aux:
        _check_rows("aux trace", proof.aux_rows, proof.aux_root, proof.aux_opening, positions, size)
    _check_rows(
        "composition",
        proof.composition_rows,
        proof.composition_root,
        proof.composition_opening,
        positions,
        size,
    )

    # ---- DEEP composition at the queries, then FRI
    z_points = [z * pow(g, o, P) for o in offsets]
    coefficients = deep_coefficient_matrix(layout, offsets, frame, gammas)
    sums = ood_sums(offsets, frame, gammas, frame_values, comp_ood)
    xs = lde_points(size, DEFAULT_SHIFT, np.array(positions, dtype=np.uint64))
    segments = [
        proof.fixed_rows.T,
        proof.main_rows.T,
        proof.aux_rows.T,
        proof.composition_rows.T,
    ]
    try:
        deep = deep_values(coefficients, segments, xs, z_points, sums)
    except ZeroDivisionError as exc:
        raise VerificationError("out-of-domain point coincides with a queried point") from exc
    verify_fri(proof.fri, betas, positions, deep, size, DEFAULT_SHIFT, options)
    return report


def _expect(what: str, got: int, expected: int) -> None:
    if got != expected:
        raise VerificationError(f"expected {expected} {what}, got {got}")


def _check_rows(
    what: str,
    rows: fld.Array,
    root: bytes,
    opening: BatchOpening,
    positions: list[int],
    size: int,
) -> None:
    if rows.shape[0] != len(positions):
        raise VerificationError(
            f"{what}: expected {len(positions)} opened rows, got {rows.shape[0]}"
        )
    digests = leaf_digests(encode_rows(rows))
    verify_batch(
        root,
        size,
        {p: digests[i].tobytes() for i, p in enumerate(positions)},
        opening,
        what,
    )
