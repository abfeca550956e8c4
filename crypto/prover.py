"""The STARK prover: trace -> commitments -> DEEP-ALI composition -> FRI -> proof.

Steps (the verifier replays the same transcript, :mod:`sealbatch.crypto.verifier`):

1. Check the trace against the AIR (a trace that breaks a constraint is
   refused with :class:`~crypto.air.ConstraintViolation`).
2. Interpolate the main trace, extend it to the coset ``s·<ω_(B·N)>`` and
   commit to it (one Merkle leaf per LDE row).
3. With auxiliary columns: draw the challenges, build the aux trace, check it,
   extend and commit.
4. Draw one coefficient per constraint, evaluate the constraints on the
   smallest coset ``s·<ω_(c·N)>`` of the LDE that determines the composition
   polynomial ``H`` (``c`` = its number of columns, rounded up to a power of
   two), interpolate, split ``H = Σ x^(iN) H_i``, extend and commit the ``H_i``.
5. Draw the out-of-domain point ``z``; send every column at ``z·g^o`` for
   the offsets the AIR reads, and each ``H_i(z)``.
6. Draw the DEEP coefficients, build the DEEP composition over the LDE and run
   FRI on it; grind; draw the query positions; open everything there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, evaluate
from sealbatch.crypto.channel import Channel
from sealbatch.crypto.composition import (
    ColumnLayout,
    DivisorGroup,
    FrameEntry,
    combine_rows,
    deep_coefficient_matrix,
    deep_quotients,
    divisor_groups,
    ext_mul_matrix,
    lde_points,
    ood_point_in_domain,
    ood_sums,
)
from sealbatch.crypto.evaluators_jit import CompiledArrayEvaluator, window
from sealbatch.crypto.exceptions import CryptoError
from sealbatch.crypto.field_scalar import EXT_DEGREE, TWO_ADICITY, Fp4, P, root_of_unity
from sealbatch.crypto.fixed import fixed_commitment
from sealbatch.crypto.fri import FriProver
from sealbatch.crypto.keccak_jit import grind
from sealbatch.crypto.merkle import BatchOpening, MerkleTree
from sealbatch.crypto.ntt import DEFAULT_SHIFT, coset_interpolate
from sealbatch.crypto.ntt_jit import coset_evaluate, coset_evaluate32, intt
from sealbatch.crypto.options import DEFAULT_OPTIONS, ProofOptions
from sealbatch.crypto.proof import StarkProof

__all__ = ["ProverTimings", "prove"]

Progress = Callable[[str], None]
_EMPTY = BatchOpening(())


@dataclass
class ProverTimings:
    """Seconds per prover stage (filled when passed to :func:`prove`), by ``clock``."""

    stages: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.perf_counter

    def add(self, name: str, seconds: float) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + seconds


class _Clock:
    def __init__(self, timings: ProverTimings | None, progress: Progress | None) -> None:
        self.timings = timings
        self.progress = progress
        self.clock = timings.clock if timings is not None else time.perf_counter
        self.t = self.clock()

    def lap(self, name: str) -> None:
        now = self.clock()
        if self.timings is not None:
            self.timings.add(name, now - self.t)
        if self.progress is not None:
            self.progress(name)
        self.t = now


def _ext_poly_at(coeffs: fld.Array, points: list[Fp4]) -> list[list[Fp4]]:
    """Evaluate base polynomials (rows of ``(R, d)`` coefficients) at extension points.

    Returns, per point, one extension value per row.
    """
    d = coeffs.shape[1]
    if coeffs.shape[0] == 0:
        return [[] for _ in points]
    zpow = np.concatenate([_ext_powers(z, d) for z in points])  # (4·points, d)
    vals = fld.matmul(zpow, coeffs.T)  # one product for every point: (4·points, R)
    return [fld.ext_to_fp4(vals[4 * i : 4 * i + 4]) for i in range(len(points))]


def _ext_powers(z: Fp4, n: int) -> fld.Array:
    """``[1, z, z^2, ..., z^(n-1)]`` as a ``(4, n)`` array, by doubling."""
    out = np.zeros((EXT_DEGREE, n), np.uint64)
    out[0, 0] = 1
    filled, step = 1, fld.ext_scalar(z)
    while filled < n:
        take = min(filled, n - filled)
        out[:, filled : filled + take] = fld.ext_mul(out[:, :take], step)
        filled += take
        step = fld.ext_mul(step, step)
    return out


def _combine_ext_rows(values: list[Fp4]) -> list[Fp4]:
    """Group base-row values in fours into extension values: ``Σ_j X^j·v_j``."""
    basis = [Fp4((1, 0, 0, 0)), Fp4((0, 1, 0, 0)), Fp4((0, 0, 1, 0)), Fp4((0, 0, 0, 1))]
    return [
        Fp4.sum(basis[j] * values[i + j] for j in range(EXT_DEGREE))
        for i in range(0, len(values), EXT_DEGREE)
    ]


def _check_inputs(air: Air, main: fld.Array, options: ProofOptions) -> None:
    n, b = air.num_rows, options.blowup
    if (n * b).bit_length() - 1 > TWO_ADICITY:
        raise ValueError(f"expected rows × blowup <= 2^{TWO_ADICITY}, got {n} × {b}")
    width = air.num_composition_columns()
    if width > b:
        raise ValueError(
            f"AIR {air.name!r} has constraints of degree {air.max_degree()}: its composition "
            f"polynomial needs {width} columns, more than the blowup {b}; raise the blowup"
        )
    if main.shape != (air.num_main_columns, n):
        raise ValueError(
            f"expected a main trace of shape {(air.num_main_columns, n)}, got {main.shape}"
        )


def prove(
    air: Air,
    main_trace: fld.Array,
    options: ProofOptions = DEFAULT_OPTIONS,
    *,
    progress: Progress | None = None,
    timings: ProverTimings | None = None,
    check: bool = True,
) -> StarkProof:
    """Prove that ``main_trace`` satisfies ``air``.

    Args:
        air: the AIR, with its public inputs.
        main_trace: ``(num_main_columns, num_rows)`` uint64 values in ``[0, p)``.
        options: proof options (absorbed into the transcript and the proof).
        progress: called with each stage's name as it ends.
        timings: filled with seconds per stage.
        check: check the trace against the constraints first (leave on unless
            the caller has just done so).

    Raises:
        ConstraintViolation: the trace (or the aux trace) breaks a constraint.
        ValueError: shapes or options that cannot work for this AIR.
        CryptoError: the out-of-domain point fell in the trace or LDE domain
            (probability about 2^-100).
    """
    clock = _Clock(timings, progress)
    main = np.ascontiguousarray(main_trace, dtype=np.uint64)
    _check_inputs(air, main, options)
    if check:
        air.check_trace(main)
    n, b = air.num_rows, options.blowup
    size = n * b
    shift = DEFAULT_SHIFT
    layout = ColumnLayout.of(air)
    clock.lap("check trace")

    channel = Channel.for_statement(air.name, n, options.to_bytes(), air.public_inputs)

    # ---- fixed columns: committed by the AIR, absorbed first
    fixed = fixed_commitment(air, b) if air.num_fixed_columns else None
    if fixed is not None:
        channel.absorb(fixed.root)
        fixed_coeffs, fixed_lde = fixed.coefficients, fixed.lde
    else:
        fixed_coeffs, fixed_lde = np.zeros((0, n), np.uint64), np.zeros((0, size), np.uint64)

    # ---- main trace
    main_coeffs = intt(main)
    # The LDEs are stored as uint32 (half the memory; values are canonical, below
    # p < 2^31): they are hashed, read back in blocks for the constraints, and opened.
    main_lde = coset_evaluate32(main_coeffs, size, shift)
    clock.lap("main LDE")
    main_tree = MerkleTree.from_columns(main_lde)
    channel.absorb(main_tree.root)
    clock.lap("main commit")

    # ---- aux trace
    challenges: list[Fp4] = []
    aux_coeffs = np.zeros((0, n), np.uint64)
    aux_lde = np.zeros((0, size), np.uint32)
    aux_tree = None
    if air.num_aux_columns:
        challenges = air.challenge_values(channel.draw_exts(air.num_challenges))
        aux = air.build_aux(main, challenges)
        if check:
            air.check_trace(main, aux, challenges)
        aux_rows = aux.reshape(EXT_DEGREE * air.num_aux_columns, n)
        aux_coeffs = intt(aux_rows)
        aux_lde = coset_evaluate32(aux_coeffs, size, shift)
        aux_tree = MerkleTree.from_columns(aux_lde)
        channel.absorb(aux_tree.root)
        clock.lap("aux trace")
    elif air.num_challenges:
        challenges = air.challenge_values(channel.draw_exts(air.num_challenges))

    # ---- composition polynomial
    alphas = channel.draw_powers(air.num_constraints)
    h_coeffs = _composition_coefficients(
        air, fixed_lde, main_lde, aux_lde, challenges, alphas, b, shift
    )
    clock.lap("constraints")
    width = layout.num_composition
    comp_rows = h_coeffs.reshape(EXT_DEGREE, width, n).transpose(1, 0, 2).reshape(-1, n)
    comp_lde = coset_evaluate32(comp_rows, size, shift)
    clock.lap("composition LDE")
    comp_tree = MerkleTree.from_columns(comp_lde)
    channel.absorb(comp_tree.root)
    clock.lap("composition commit")

    # ---- out-of-domain frame
    z = channel.draw_ext()
    if ood_point_in_domain(z, n, size, shift):
        # Probability about B·N/p^4 (~2^-100); the verifier would reject the proof.
        raise CryptoError("the out-of-domain point fell in the trace or LDE domain")
    g = root_of_unity(n.bit_length() - 1)
    offsets = air.offsets()
    frame = air.frame
    z_points = [z * pow(g, o, P) for o in offsets]
    frame_values = _frame_values(
        frame, offsets, z_points, fixed_coeffs, main_coeffs, aux_coeffs, air.num_aux_columns
    )
    comp_ood = _combine_ext_rows(_ext_poly_at(comp_rows, [z])[0])
    ood_frame = fld.ext_from_fp4(frame_values).T.reshape(len(frame), EXT_DEGREE)
    ood_comp = fld.ext_from_fp4(comp_ood).T.reshape(width, EXT_DEGREE)
    channel.absorb(fld.to_bytes(ood_frame) + fld.to_bytes(ood_comp))
    clock.lap("out-of-domain")

    # ---- DEEP composition and FRI
    gammas = channel.draw_exts(len(frame) + width)
    coefficients = deep_coefficient_matrix(layout, offsets, frame, gammas)
    sums = ood_sums(offsets, frame, gammas, frame_values, comp_ood)
    # Σ γ·c(x) is linear in the columns: combine their N coefficients, then extend
    # only the 4·offsets combined rows (B times less work than combining the LDE).
    flat = coefficients.reshape(len(offsets) * EXT_DEGREE, -1)
    combined = combine_rows(flat, [fixed_coeffs, main_coeffs, aux_coeffs, comp_rows])
    combined_lde = coset_evaluate(combined, size, shift)
    deep = deep_quotients(combined_lde, lde_points(size, shift), z_points, sums)
    clock.lap("DEEP composition")
    fri = FriProver(options)
    fri.commit(deep, shift, n, channel)
    clock.lap("FRI commit")
    nonce = grind(channel.state, options.grinding_bits)
    if nonce is None:  # no compiled search here: the channel's own
        nonce = channel.grind(options.grinding_bits)
    channel.absorb_nonce(nonce)
    clock.lap("grinding")

    # ---- queries
    positions = sorted(set(channel.draw_positions(options.num_queries, size)))
    fri_proof = fri.open(positions)
    proof = StarkProof(
        air_name=air.name,
        num_rows=n,
        options=options,
        public_inputs=air.public_inputs,
        num_fixed=layout.num_fixed,
        num_main=layout.num_main,
        num_aux=layout.num_aux,
        num_composition=width,
        main_root=main_tree.root,
        aux_root=aux_tree.root if aux_tree is not None else b"",
        composition_root=comp_tree.root,
        ood_frame=ood_frame,
        ood_composition=ood_comp,
        fri=fri_proof,
        pow_nonce=nonce,
        fixed_rows=_opened(fixed_lde, positions),
        fixed_opening=fixed.tree.open(positions) if fixed is not None else _EMPTY,
        main_rows=_opened(main_lde, positions),
        main_opening=main_tree.open(positions),
        aux_rows=_opened(aux_lde, positions),
        aux_opening=aux_tree.open(positions) if aux_tree is not None else _EMPTY,
        composition_rows=_opened(comp_lde, positions),
        composition_opening=comp_tree.open(positions),
    )
    clock.lap("queries")
    return proof


def _opened(lde: npt.NDArray[Any], positions: Sequence[int]) -> fld.Array:
    """The LDE's values at ``positions``, one row per position (uint64)."""
    return np.ascontiguousarray(lde[:, positions].T, dtype=np.uint64)


def _frame_values(
    frame: Sequence[FrameEntry],
    offsets: Sequence[int],
    z_points: list[Fp4],
    fixed_coeffs: fld.Array,
    main_coeffs: fld.Array,
    aux_coeffs: fld.Array,
    num_aux: int,
) -> list[Fp4]:
    """The out-of-domain frame: each entry's column at ``z·g^offset``."""
    fixed_at = _ext_poly_at(fixed_coeffs, z_points)
    main_at = _ext_poly_at(main_coeffs, z_points)
    aux_at = (
        [_combine_ext_rows(v) for v in _ext_poly_at(aux_coeffs, z_points)]
        if num_aux
        else [[] for _ in z_points]
    )
    where = {o: k for k, o in enumerate(offsets)}
    tables = {"fixed": fixed_at, "main": main_at, "aux": aux_at}
    return [tables[segment][where[offset]][index] for segment, index, offset in frame]


def _composition_coefficients(
    air: Air,
    fixed_lde: npt.NDArray[Any],
    main_lde: npt.NDArray[Any],
    aux_lde: npt.NDArray[Any],
    challenges: list[Fp4],
    alphas: list[Fp4],
    blowup: int,
    shift: int,
) -> fld.Array:
    """Coefficients ``(4, width·N)`` of ``H = Σ_k α_k C_k / Z_k``.

    The constraints are evaluated on the coset ``shift·<ω_(c·N)>`` (every
    ``B/c``-th LDE point), in blocks of points so that the expression DAG's
    intermediate arrays stay in cache.
    """
    n = air.num_rows
    width = air.num_composition_columns()
    c = 1 << (width - 1).bit_length()  # evaluation domain c·N, c a power of two >= width
    stride = blowup // c
    m = c * n
    # Columns on the evaluation coset, as strided views of the LDEs (no copy): row
    # r + o sits o·c points further on, wrapping around at m.
    main_ce = main_lde[:, ::stride]
    fixed_ce = fixed_lde[:, ::stride]
    aux_ce = aux_lde[:, ::stride].reshape(air.num_aux_columns, EXT_DEGREE, m)
    periodic = [_periodic_on_coset(air, i, m, shift) for i in range(len(air.periodic_columns))]
    xs = lde_points(m, shift)
    groups = divisor_groups(air)
    inv_divisors = [_inverse_divisor(g, xs, n) for g in groups]
    exprs = air.constraint_exprs()

    total = np.empty((EXT_DEGREE, m), np.uint64)
    block = _CONSTRAINT_BLOCK
    for lo in range(0, m, block):
        hi = min(m, lo + block)

        def column(segment: str, index: int, offset: int, lo: int = lo, hi: int = hi) -> fld.Array:
            # a block of a (uint32-stored) column, widened for the field arithmetic
            if segment == "main":
                return _window(main_ce[index], lo + offset * c, hi + offset * c)
            if segment == "fixed":
                return _window(fixed_ce[index], lo + offset * c, hi + offset * c)
            return _window(aux_ce[index], lo + offset * c, hi + offset * c)

        def periodic_block(i: int, lo: int = lo, hi: int = hi) -> fld.Array:
            return periodic[i][lo:hi]

        ev = CompiledArrayEvaluator(column, periodic_block, air.public_inputs, challenges)
        values = evaluate(exprs, ev, air.constraint_order)
        acc = np.zeros((EXT_DEGREE, hi - lo), np.uint64)
        for group, inv_div in zip(groups, inv_divisors, strict=True):
            rows, coefs = [], []
            for k in group.constraints:
                v = np.asarray(values[k], dtype=np.uint64)
                if v.ndim < 2:
                    rows.append(np.broadcast_to(v, (hi - lo,))[None, :])
                    coefs.append(fld.ext_scalar(alphas[k]))
                else:
                    rows.append(np.broadcast_to(v, (EXT_DEGREE, hi - lo)))
                    coefs.append(ext_mul_matrix(alphas[k]))
            combined = fld.matmul(np.concatenate(coefs, axis=1), np.concatenate(rows, axis=0))
            acc = fld.ext_add(acc, fld.ext_mul_base(combined, inv_div[lo:hi]))
        total[:, lo:hi] = acc
    coeffs = coset_interpolate(total, shift)
    if np.any(coeffs[:, width * n :]):
        raise ValueError(
            f"AIR {air.name!r}: composition polynomial exceeds {width} columns; "
            "the trace does not satisfy the constraints"
        )
    return np.ascontiguousarray(coeffs[:, : width * n])


_CONSTRAINT_BLOCK = 1 << 13


def _window(values: npt.NDArray[Any], a: int, b: int) -> fld.Array:
    """Points ``a..b`` of ``values`` (last axis, cyclic: ``a < m <= b`` wraps around to
    the start, ``b − a <= m``) as a new uint64 array."""
    return window(values, a, b)


def _inverse_divisor(group: DivisorGroup, xs: fld.Array, n: int) -> fld.Array:
    g = root_of_unity(n.bit_length() - 1)
    if group.kind == "boundary":
        return fld.batch_inv(fld.sub(xs, pow(g, group.param, P)))
    # 1/Z_e(x) = Π_{k=1..e} (x − g^(N−k)) / (x^N − 1); x^N takes few values on the coset
    xn = fld.pow(xs, n)
    uniq, inverse = np.unique(xn, return_inverse=True)
    inv_zero = fld.inv(fld.sub(uniq, 1))[inverse]
    for k in range(1, group.param + 1):
        inv_zero = fld.mul(inv_zero, fld.sub(xs, pow(g, n - k, P)))
    return inv_zero


def _periodic_on_coset(air: Air, index: int, m: int, shift: int) -> fld.Array:
    """Periodic column ``index`` on ``shift·<ω_m>`` (``Q(x^(N/L))``, ``Q`` of degree < L)."""
    values = fld.as_field(list(air.periodic_columns[index]))
    period = values.size
    ratio = air.num_rows // period
    coeffs = intt(values)
    # x^(N/L) on shift·<ω_m> runs over shift^(N/L)·<ω_(m/ratio)>, repeated ratio... times
    inner = m // ratio
    evals = coset_evaluate(coeffs, inner, pow(shift, ratio, P))
    return np.tile(evals, m // inner)
