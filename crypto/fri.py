"""FRI: the low-degree test, with configurable folding factor, for prover and verifier.

Layer ``ℓ`` holds a polynomial's values on the coset ``D_ℓ = s^(f^ℓ)·<ω_(n_ℓ)>``,
``n_ℓ = n_0 / f^ℓ``. Its Merkle tree has one leaf per *row* ``i < n_ℓ/f``: the
``f`` values at positions ``i + k·n_ℓ/f`` (``k < f``), the points
``x_i·ω_f^k`` that fold together. Folding with challenge ``β`` writes
``p(X) = Σ_(j<f) X^j p_j(X^f)`` and keeps ``Σ_j β^j p_j``; it is done as
``log2 f`` binary folds with ``β, β^2, β^4, ...``, each
``p'(x^2) = (p(x) + p(−x))/2 + β·(p(x) − p(−x))/(2x)``. The prover folds a
whole layer and the verifier one coset per query with the same function
(:func:`fold_cosets`). Folding stops once the degree bound is at most
``fri_max_remainder`` coefficients; the prover then sends the remainder
polynomial's coefficients, and the verifier evaluates it at the queried
points.

A query at position ``p`` of layer ``ℓ`` opens leaf ``p mod (n_ℓ/f)``,
which is also the query's position in layer ``ℓ + 1``.

Reference: Ben-Sasson, Bentov, Horesh, Riabzev, "Fast Reed–Solomon
Interactive Oracle Proofs of Proximity" (ICALP 2018); folding by ``f`` as in
winterfell's ``fri`` crate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.channel import Channel
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.field_scalar import EXT_DEGREE, Fp4, P, fp_inv, root_of_unity
from sealbatch.crypto.merkle import (
    BatchOpening,
    MerkleTree,
    encode_rows,
    leaf_digests,
    verify_batch,
)
from sealbatch.crypto.ntt import coset_interpolate
from sealbatch.crypto.options import ProofOptions

__all__ = [
    "FriLayerProof",
    "FriProof",
    "FriProver",
    "fold_cosets",
    "fri_shape",
    "verify_fri",
]


def fri_shape(trace_length: int, options: ProofOptions) -> tuple[int, int]:
    """``(number of folds, remainder coefficients)`` for a degree bound of ``trace_length``."""
    d, folds = trace_length, 0
    while d > options.fri_max_remainder and d >= options.folding_factor:
        d //= options.folding_factor
        folds += 1
    return folds, d


def _log2(n: int) -> int:
    return n.bit_length() - 1


def fold_cosets(values: fld.Array, xs: fld.Array, beta: Fp4) -> fld.Array:
    """Fold cosets of ``f`` values into one value each.

    Args:
        values: ``(4, f, m)`` extension values; ``values[:, k, i]`` is the
            polynomial at ``xs[i]·ω_f^k``.
        xs: ``(m,)`` base points, the first point of each coset.
        beta: the folding challenge.

    Returns:
        ``(4, m)``: ``Σ_j β^j p_j(xs^f)`` for each coset.
    """
    cur = values
    pts = np.asarray(xs, dtype=np.uint64)
    b = fld.ext_scalar(beta).reshape(EXT_DEGREE, 1, 1)
    size = values.shape[1]
    inv_two = fp_inv(2)
    inv_pts = fld.batch_inv(pts)
    while size > 1:
        h = size // 2
        w_inv = fp_inv(root_of_unity(_log2(size)))
        # 1/(2·x·ω^k) = (1/2)·x^-1·ω^-k for k < h
        inv_2x = fld.mul(inv_pts[None, :], fld.powers(w_inv, h, start=inv_two)[:, None])
        a, c = cur[:, :h], cur[:, h:]
        even = fld.ext_mul_base(fld.ext_add(a, c), inv_two)
        odd = fld.ext_mul_base(fld.ext_sub(a, c), inv_2x)
        cur = fld.ext_add(even, fld.ext_mul(np.broadcast_to(b, odd.shape), odd))
        pts = fld.mul(pts, pts)
        inv_pts = fld.mul(inv_pts, inv_pts)
        b = fld.ext_mul(b, b)
        size = h
    return cur[:, 0, :]


def _coset_rows(values: fld.Array, f: int) -> fld.Array:
    """``(4, n)`` layer values to ``(n/f, 4f)`` leaf rows: coset member ``k`` then coefficient."""
    n = values.shape[1]
    return np.ascontiguousarray(values.reshape(EXT_DEGREE, f, n // f).transpose(2, 1, 0)).reshape(
        n // f, f * EXT_DEGREE
    )


@dataclass(frozen=True)
class FriLayerProof:
    """One layer's opened leaves (``(leaves, 4f)`` values, sorted) and their Merkle nodes."""

    rows: fld.Array
    opening: BatchOpening


@dataclass(frozen=True)
class FriProof:
    roots: tuple[bytes, ...]
    remainder: fld.Array  # (d, 4): coefficients, lowest degree first
    layers: tuple[FriLayerProof, ...]


class FriProver:
    """Commit phase (:meth:`commit`) then query phase (:meth:`open`)."""

    def __init__(self, options: ProofOptions) -> None:
        self.options = options
        self._layers: list[tuple[fld.Array, MerkleTree]] = []
        self.roots: list[bytes] = []
        self.remainder = np.zeros((0, EXT_DEGREE), np.uint64)

    def commit(self, values: fld.Array, shift: int, trace_length: int, channel: Channel) -> None:
        """Commit to the layers of ``values`` (``(4, n)`` on ``shift·<ω_n>``), drawing ``β``s."""
        f = self.options.folding_factor
        folds, remainder_size = fri_shape(trace_length, self.options)
        cur, s = values, shift
        for _ in range(folds):
            n = cur.shape[1]
            # leaf row i: coset member k, then coefficient c -> column k·4 + c
            columns = (
                cur.reshape(EXT_DEGREE, f, n // f).transpose(1, 0, 2).reshape(f * EXT_DEGREE, -1)
            )
            tree = MerkleTree.from_columns(columns)
            self._layers.append((cur, tree))
            self.roots.append(tree.root)
            channel.absorb(tree.root)
            beta = channel.draw_ext()
            xs = fld.powers(root_of_unity(_log2(n)), n // f, start=s)
            cur = fold_cosets(cur.reshape(EXT_DEGREE, f, n // f), xs, beta)
            s = pow(s, f, P)
        coeffs = coset_interpolate(cur, s)
        if np.any(coeffs[:, remainder_size:]):
            raise ValueError(
                f"FRI remainder exceeds {remainder_size} coefficients: the DEEP composition "
                "is not of low degree (do the constraints hold?)"
            )
        self.remainder = np.ascontiguousarray(coeffs[:, :remainder_size].T)
        channel.absorb(fld.to_bytes(self.remainder))

    def open(self, positions: Sequence[int]) -> FriProof:
        """Open every layer at the (sorted, unique) layer-0 positions."""
        f = self.options.folding_factor
        layers = []
        cur = sorted(set(positions))
        for values, tree in self._layers:
            m = values.shape[1] // f
            leaves = sorted({p % m for p in cur})
            rows = _coset_rows(values, f)[leaves]
            layers.append(FriLayerProof(rows, tree.open(leaves)))
            cur = leaves
        return FriProof(tuple(self.roots), self.remainder, tuple(layers))


def _eval_remainder(coeffs: fld.Array, xs: fld.Array) -> fld.Array:
    """Horner over extension coefficients ``(d, 4)`` at base points ``(m,)``: ``(4, m)``."""
    acc = np.zeros((EXT_DEGREE, xs.shape[0]), np.uint64)
    for c in coeffs[::-1]:
        acc = fld.ext_add(fld.ext_mul_base(acc, xs), c.reshape(EXT_DEGREE, 1))
    return acc


def verify_fri(
    proof: FriProof,
    betas: Sequence[Fp4],
    positions: Sequence[int],
    layer0_values: fld.Array,
    domain_size: int,
    shift: int,
    options: ProofOptions,
) -> None:
    """Check the query phase; ``layer0_values`` are ``(4, len(positions))`` at sorted positions.

    Raises:
        VerificationError: naming the layer and the failed check.
    """
    f = options.folding_factor
    cur = list(positions)
    expected = layer0_values
    n, s = domain_size, shift
    for layer, (root, beta, lp) in enumerate(zip(proof.roots, betas, proof.layers, strict=True)):
        m = n // f
        leaves = sorted({p % m for p in cur})
        if lp.rows.shape != (len(leaves), f * EXT_DEGREE):
            raise VerificationError(
                f"FRI layer {layer}: expected {len(leaves)} opened leaves of {f} values, "
                f"got {lp.rows.shape[0]}"
            )
        digests = leaf_digests(encode_rows(lp.rows))
        verify_batch(
            root,
            m,
            {i: digests[j].tobytes() for j, i in enumerate(leaves)},
            lp.opening,
            f"FRI layer {layer}",
        )
        index = {leaf: j for j, leaf in enumerate(leaves)}
        cosets = lp.rows.reshape(len(leaves), f, EXT_DEGREE)
        for q, p in enumerate(cur):
            got = cosets[index[p % m], p // m]
            if not np.array_equal(got, expected[:, q]):
                what = "DEEP composition" if layer == 0 else "folded value"
                raise VerificationError(
                    f"FRI layer {layer}: opened value at position {p} does not match the {what}"
                )
        w = root_of_unity(_log2(n))
        xs = fld.mul(np.array([pow(w, leaf, P) for leaf in leaves], dtype=np.uint64), s)
        expected = fold_cosets(np.ascontiguousarray(cosets.transpose(2, 1, 0)), xs, beta)
        cur = leaves
        n, s = m, pow(s, f, P)
    w = root_of_unity(_log2(n))
    xs = fld.mul(np.array([pow(w, p, P) for p in cur], dtype=np.uint64), s)
    if not np.array_equal(_eval_remainder(proof.remainder, xs), expected):
        raise VerificationError("FRI remainder: polynomial does not match the last folded layer")
