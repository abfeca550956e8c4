"""DEEP-ALI math shared by the prover and the verifier.

* Constraint divisors: a transition constraint that reads offsets up to ``e``
  is divided by ``Z_e(x) = (x^N − 1) / Π_{k=1..e} (x − g^(N−k))``; a boundary
  constraint at row ``r`` by ``x − g^r`` (``g`` generates the trace domain).
  The composition polynomial is ``H(x) = Σ_k α_k C_k(x) / Z_k(x)``, split as
  ``H(x) = Σ_i x^(iN) H_i(x)`` with ``deg H_i < N``.
* The out-of-domain check (:func:`composition_at`): the verifier evaluates
  ``Σ_k α_k C_k(z) / Z_k(z)`` from the claimed frame and compares it with
  ``Σ_i z^(iN) H_i(z)``.
* The DEEP composition (:func:`deep_values`), for every committed column
  ``c`` and every row offset ``o`` the AIR reads, with ``z_o = z·g^o``::

      DEEP(x) = Σ_o Σ_c γ_(o,c) (c(x) − c(z_o)) / (x − z_o)
              + Σ_i γ_i (H_i(x) − H_i(z)) / (x − z)

  FRI then shows ``DEEP`` has degree < N. Both sides evaluate it with the same
  code: the prover over the whole LDE, the verifier at the queried points.

Committed columns are handled as *base rows*: a main column is one row, an
extension column (aux or composition) four (its coefficients). An
extension coefficient ``γ`` applied to a base row is ``γ`` itself; applied to
an extension column it is the 4×4 matrix of multiplication by ``γ``
(:func:`ext_mul_matrix`). A linear combination of committed columns is then
one exact matrix product (:func:`sealbatch.crypto.field.matmul`).

Reference: ethSTARK documentation (StarkWare, 2021), Sections 3–5; the DEEP
composition as in winterfell's ``DeepCompositionPoly``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Air, PointEvaluator, evaluate
from sealbatch.crypto.field_scalar import EXT_DEGREE, Fp4, P, W, root_of_unity
from sealbatch.crypto.ntt import intt

__all__ = [
    "ColumnLayout",
    "DivisorGroup",
    "FrameEntry",
    "combine_rows",
    "composition_at",
    "composition_at_reference",
    "deep_coefficient_matrix",
    "deep_quotients",
    "deep_values",
    "divisor_groups",
    "ext_mul_matrix",
    "lde_points",
    "ood_point_in_domain",
    "ood_sums",
    "periodic_at",
]


def ext_mul_matrix(gamma: Fp4) -> fld.Array:
    """The ``4×4`` base matrix ``M`` with ``M @ a = γ·a`` for ``a`` as a coefficient vector."""
    g0, g1, g2, g3 = gamma.c
    rows = [
        [g0, W * g3, W * g2, W * g1],
        [g1, g0, W * g3, W * g2],
        [g2, g1, g0, W * g3],
        [g3, g2, g1, g0],
    ]
    return fld.as_field(np.array(rows, dtype=object).reshape(-1)).reshape(4, 4)


FrameEntry = tuple[str, int, int]
"""``(segment, index, offset)``: one column value at ``z·g^offset`` in the out-of-domain frame."""


@dataclass(frozen=True)
class ColumnLayout:
    """How many columns each commitment holds, and the base rows they occupy.

    Base rows, in this order: fixed columns (one each), main columns (one
    each), aux columns (four each), composition columns (four each).
    """

    num_fixed: int
    num_main: int
    num_aux: int
    num_composition: int

    @property
    def num_base_rows(self) -> int:
        return self.num_fixed + self.num_main + EXT_DEGREE * (self.num_aux + self.num_composition)

    def base_row(self, segment: str, index: int) -> int:
        """First base row of a column (``segment`` fixed, main, aux or composition)."""
        if segment == "fixed":
            return index
        if segment == "main":
            return self.num_fixed + index
        if segment == "aux":
            return self.num_fixed + self.num_main + EXT_DEGREE * index
        return self.num_fixed + self.num_main + EXT_DEGREE * (self.num_aux + index)

    @classmethod
    def of(cls, air: Air) -> ColumnLayout:
        return cls(
            air.num_fixed_columns,
            air.num_main_columns,
            air.num_aux_columns,
            air.num_composition_columns(),
        )


# ------------------------------------------------------------------ divisors


@dataclass(frozen=True)
class DivisorGroup:
    """Constraints sharing a divisor: transitions with ``exemptions`` rows, or a boundary row."""

    kind: str  # "transition" or "boundary"
    param: int  # exemptions, or the boundary row in [0, N)
    constraints: tuple[int, ...]  # indices into air.constraint_exprs()


def divisor_groups(air: Air) -> list[DivisorGroup]:
    """Group the AIR's constraints by divisor, in a fixed order."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i, exemptions in enumerate(air.transition_exemptions):
        groups.setdefault(("transition", exemptions), []).append(i)
    base = len(air.transition_list)
    for j, b in enumerate(air.boundaries):
        groups.setdefault(("boundary", air.boundary_row(b)), []).append(base + j)
    return [DivisorGroup(k, p, tuple(ids)) for (k, p), ids in sorted(groups.items())]


def _inverse_divisor_at(group: DivisorGroup, x: Fp4, num_rows: int) -> Fp4:
    g = root_of_unity(num_rows.bit_length() - 1)
    if group.kind == "boundary":
        return (x - pow(g, group.param, fld.P)).inverse()
    num = Fp4.one()
    for k in range(1, group.param + 1):
        num = num * (x - pow(g, num_rows - k, fld.P))
    return num / (x**num_rows - 1)


# ---------------------------------------------------------------- OOD check


def periodic_at(air: Air, z: Fp4) -> list[Fp4]:
    """Each periodic column at ``z``: ``Q(z^(N/L))``, ``Q`` interpolating its values."""
    out = []
    for values in air.periodic_columns:
        period = len(values)
        coeffs = intt(fld.as_field(list(values)))
        y = z ** (air.num_rows // period)
        acc = Fp4.zero()
        for c in reversed(coeffs.tolist()):
            acc = acc * y + int(c)
        out.append(acc)
    return out


def composition_at(
    air: Air,
    frame: dict[tuple[str, int, int], Fp4],
    z: Fp4,
    alphas: Sequence[Fp4],
    challenges: Sequence[Fp4],
) -> Fp4:
    """``Σ_k α_k C_k(z) / Z_k(z)`` from the claimed out-of-domain frame.

    Raises:
        ZeroDivisionError: ``z`` is a root of a divisor (probability ~2^-100;
            the verifier rejects).
    """
    values = air.program.evaluate_at(frame, periodic_at(air, z), air.public_inputs, challenges)
    weighted = fld.ext_mul(values, np.array([a.c for a in alphas], np.uint64).T)
    total = Fp4.zero()
    for group in divisor_groups(air):
        part = weighted[:, list(group.constraints)].sum(axis=1, dtype=np.uint64) % np.uint64(P)
        acc = Fp4.of([int(c) for c in part])
        total = total + acc * _inverse_divisor_at(group, z, air.num_rows)
    return total


def composition_at_reference(
    air: Air,
    frame: dict[tuple[str, int, int], Fp4],
    z: Fp4,
    alphas: Sequence[Fp4],
    challenges: Sequence[Fp4],
) -> Fp4:
    """:func:`composition_at` node by node on :class:`Fp4` (the scalar reference)."""
    ev = PointEvaluator(frame, periodic_at(air, z), air.public_inputs, challenges)
    values = evaluate(air.constraint_exprs(), ev, air.constraint_order)
    total = Fp4.zero()
    for group in divisor_groups(air):
        acc = Fp4.sum(alphas[k] * values[k] for k in group.constraints)
        total = total + acc * _inverse_divisor_at(group, z, air.num_rows)
    return total


def ood_point_in_domain(z: Fp4, num_rows: int, lde_size: int, shift: int) -> bool:
    """Whether ``z`` lies in the trace domain ``<g>`` or the LDE coset ``shift·<ω>``.

    There a constraint divisor or a DEEP denominator vanishes; both sides
    refuse such a point (probability about ``B·N / p^4``).
    """
    return z**num_rows == Fp4.one() or z**lde_size == Fp4.of(pow(shift, lde_size, fld.P))


# ---------------------------------------------------------------------- DEEP


def deep_coefficient_matrix(
    layout: ColumnLayout,
    offsets: Sequence[int],
    frame: Sequence[FrameEntry],
    gammas: Sequence[Fp4],
) -> fld.Array:
    """Coefficients of the DEEP combination as a ``(len(offsets), 4, base_rows)`` array.

    ``gammas`` come in frame order (one per entry of ``frame``, the
    out-of-domain values the proof carries), then one per composition column
    (at offset 0).
    """
    expected = len(frame) + layout.num_composition
    if len(gammas) != expected:
        raise ValueError(f"expected {expected} DEEP coefficients, got {len(gammas)}")
    out = np.zeros((len(offsets), EXT_DEGREE, layout.num_base_rows), np.uint64)
    where = {o: k for k, o in enumerate(offsets)}
    for (segment, index, offset), gamma in zip(frame, gammas, strict=False):
        o, r = where[offset], layout.base_row(segment, index)
        if segment == "aux":
            out[o, :, r : r + EXT_DEGREE] = ext_mul_matrix(gamma)
        else:
            out[o, :, r] = gamma.c
    for i, gamma in enumerate(gammas[len(frame) :]):
        r = layout.base_row("composition", i)
        out[where[0], :, r : r + EXT_DEGREE] = ext_mul_matrix(gamma)
    return out


def ood_sums(
    offsets: Sequence[int],
    frame: Sequence[FrameEntry],
    gammas: Sequence[Fp4],
    frame_values: Sequence[Fp4],
    composition_ood: Sequence[Fp4],
) -> list[Fp4]:
    """``Σ γ·c(z_o)`` per offset over the frame (plus ``Σ_i γ_i H_i(z)`` at offset 0).

    ``gammas`` are in the order of :func:`deep_coefficient_matrix`.
    """
    where = {o: k for k, o in enumerate(offsets)}
    sums = [Fp4.zero() for _ in offsets]
    for (_, _, offset), gamma, value in zip(frame, gammas[: len(frame)], frame_values, strict=True):
        sums[where[offset]] = sums[where[offset]] + gamma * value
    tail = gammas[len(frame) :]
    k = where[0]
    sums[k] = sums[k] + Fp4.sum(g * v for g, v in zip(tail, composition_ood, strict=True))
    return sums


def deep_values(
    coefficients: fld.Array,
    segments: Sequence[fld.Array],
    xs: fld.Array,
    z_points: Sequence[Fp4],
    sums: Sequence[Fp4],
) -> fld.Array:
    """DEEP composition at the points ``xs``: ``(4, m)`` extension values.

    Args:
        coefficients: from :func:`deep_coefficient_matrix`.
        segments: the committed base rows at the points, in layout order
            (fixed ``(F, m)``, main ``(C, m)``, aux ``(4A, m)``, composition
            ``(4H, m)``), so the
            prover never concatenates its large LDE arrays.
        xs: the points (base field), ``(m,)``.
        z_points: ``z·g^o`` per offset.
        sums: :func:`ood_sums` per offset.
    """
    n_off = coefficients.shape[0]
    flat = coefficients.reshape(n_off * EXT_DEGREE, -1)
    if sum(seg.shape[0] for seg in segments) != flat.shape[1]:
        raise ValueError(f"expected {flat.shape[1]} base rows in the segments")
    m = xs.shape[0]
    combined = np.empty((n_off * EXT_DEGREE, m), np.uint64)
    for lo in range(0, m, _DEEP_BLOCK):
        hi = min(m, lo + _DEEP_BLOCK)
        combined[:, lo:hi] = combine_rows(flat, [seg[:, lo:hi] for seg in segments])
    return deep_quotients(combined, xs, z_points, sums)


def combine_rows(flat: fld.Array, segments: Sequence[fld.Array]) -> fld.Array:
    """``flat @ vstack(segments)`` without stacking: ``(rows, m)`` from ``(k_i, m)`` segments."""
    m = segments[0].shape[1] if segments else 0
    combined = np.zeros((flat.shape[0], m), np.uint64)
    start = 0
    for seg in segments:
        k = seg.shape[0]
        if k:
            combined = fld.add(combined, fld.matmul(flat[:, start : start + k], seg))
        start += k
    return combined


def deep_quotients(
    combined: fld.Array, xs: fld.Array, z_points: Sequence[Fp4], sums: Sequence[Fp4]
) -> fld.Array:
    """``Σ_o (combined_o(x) − sums_o) / (x − z_o)`` at the points ``xs``: ``(4, m)``.

    ``combined`` holds, per offset, the four base rows of ``Σ γ·c(x)``
    (``(len(z_points)·4, m)``), as :func:`combine_rows` gives them on points, or
    as the prover gets them by extending the same combination of coefficients.
    """
    n_off = len(z_points)
    m = xs.shape[0]
    total = np.empty((EXT_DEGREE, m), np.uint64)
    # Blocks of points keep every intermediate in cache (measured ~3x faster than whole arrays).
    for lo in range(0, m, _DEEP_BLOCK):
        hi = min(m, lo + _DEEP_BLOCK)
        block = combined[:, lo:hi].reshape(n_off, EXT_DEGREE, hi - lo)
        acc = np.zeros((EXT_DEGREE, hi - lo), np.uint64)
        for o in range(n_off):
            num = fld.ext_sub(block[o], fld.ext_scalar(sums[o]))
            den = fld.ext_sub(fld.ext_from_base(xs[lo:hi]), fld.ext_scalar(z_points[o]))
            acc = fld.ext_add(acc, fld.ext_mul(num, fld.ext_batch_inv(den)))
        total[:, lo:hi] = acc
    return total


_DEEP_BLOCK = 1 << 14


def lde_points(size: int, shift: int, positions: fld.Array | None = None) -> fld.Array:
    """``shift·ω_size^i`` for all ``i`` (or the given positions)."""
    w = root_of_unity(size.bit_length() - 1)
    if positions is None:
        return fld.powers(w, size, start=shift)
    return fld.mul(_pow_positions(w, positions), shift)


def _pow_positions(w: int, positions: fld.Array) -> fld.Array:
    out = np.ones(positions.shape, np.uint64)
    base = np.full(positions.shape, w, np.uint64)
    e = positions.astype(np.uint64).copy()
    while e.any():
        bit = (e & np.uint64(1)).astype(bool)
        out = np.where(bit, fld.mul(out, base), out)
        base = fld.mul(base, base)
        e >>= np.uint64(1)
    return out
