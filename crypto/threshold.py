"""Threshold keys over secp256k1: Feldman VSS, a joint-Feldman DKG per batch, ECIES.

A committee of ``n`` keypers holds one secret per batch, shared ``t``-of-``n``
(docs/threshold.md gives the scheme, its security argument and test vectors):

* **Dealing** (Feldman 1987, "A practical scheme for non-interactive verifiable
  secret sharing"). Keyper ``i`` draws a polynomial ``f_i`` of degree ``t-1``
  for batch ``b`` (its coefficients derived from its own 32-byte seed with
  HKDF-SHA256, so a keyper keeps one seed for any range of batches), publishes
  the commitments ``C_ik = a_ik·G`` and gives keyper ``j`` the share ``f_i(j)``.
* **Key** (Pedersen 1991, joint-Feldman DKG). The batch secret is
  ``x_b = Σ_i f_i(0)`` over the qualified dealers; keyper ``j`` holds
  ``s_j = Σ_i f_i(j)``; the public commitments are ``C_k = Σ_i C_ik`` and the
  batch public key is ``X_b = C_0``. Batches use independent polynomials, so
  releasing ``x_b`` says nothing about any other batch's secret.
* **Share check.** ``s_j·G = Σ_k j^k·C_k``: anyone can tell a bad share and
  name the keyper that sent it.
* **Combination.** ``x_b = Σ_{j∈S} λ_j s_j`` with the Lagrange coefficients at 0
  (mod the group order), checked against ``x_b·G = X_b``.
* **Encryption** (ECIES, SEC 1 §5.1 in spirit). An ephemeral ``r``,
  ``R = r·G``, the point ``r·X_b`` through HKDF-SHA256 (RFC 5869) into an AES-256-GCM key
  and nonce; the caller's associated data binds the ciphertext to its context.

Points travel as 33-byte SEC 1 compressed encodings, scalars as 32 bytes
big-endian. libsecp256k1 (through coincurve) does the group arithmetic;
the ``cryptography`` package (OpenSSL) does HKDF and AES-GCM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealbatch.crypto.exceptions import CryptoError

__all__ = [
    "CIPHERTEXT_OVERHEAD",
    "CIPHERTEXT_VERSION",
    "CURVE_ORDER",
    "BadShare",
    "BatchKey",
    "Dealing",
    "DecryptionFailed",
    "EarlyRelease",
    "ThresholdError",
    "aggregate_dealings",
    "audit_release",
    "check_point",
    "combine_shares",
    "deal",
    "decrypt",
    "encrypt",
    "expected_share_point",
    "lagrange_at_zero",
    "scalar_point",
    "verify_share",
]

#: The order of secp256k1's group (every scalar is reduced mod this).
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: First byte of every ciphertext.
CIPHERTEXT_VERSION = 1
_POINT = 33
_TAG = 16
#: Bytes a ciphertext adds to its plaintext: version, ephemeral point, GCM tag.
CIPHERTEXT_OVERHEAD = 1 + _POINT + _TAG
_COEFFICIENT_INFO = b"sealbatch.threshold.coefficient.v1"
_ECIES_INFO = b"sealbatch.threshold.ecies.v1"


class ThresholdError(CryptoError, ValueError):
    """Root of the threshold scheme's errors (bad parameters, bad encodings)."""


class BadShare(ThresholdError):
    """A key share does not match the public commitments; ``index`` names its keyper."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class DecryptionFailed(ThresholdError):
    """A ciphertext is malformed or its GCM tag does not verify under the key and data."""


def _check_scalar(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < CURVE_ORDER:
        raise ThresholdError(f"{name}: expected a scalar in [1, n), got {value!r}")
    return value


def _point(name: str, data: object) -> PublicKey:
    if not isinstance(data, bytes | bytearray) or len(data) != _POINT:
        raise ThresholdError(f"{name}: expected a 33-byte compressed point, got {data!r}")
    try:
        return PublicKey(bytes(data))
    except ValueError as exc:
        raise ThresholdError(f"{name}: expected a point on secp256k1, got 0x{data.hex()}") from exc


def check_point(name: str, data: object) -> bytes:
    """``data`` if it is a 33-byte compressed point on secp256k1.

    Raises:
        ThresholdError: naming ``name``, when it is not.
    """
    return _point(name, data).format(compressed=True)


def scalar_point(scalar: int) -> bytes:
    """``scalar·G`` as 33 compressed bytes.

    Raises:
        ThresholdError: ``scalar`` is not in ``[1, n)``.
    """
    _check_scalar("scalar", scalar)
    return PrivateKey.from_int(scalar).public_key.format(compressed=True)


def _check_params(threshold: int, size: int) -> None:
    for name, v in (("threshold", threshold), ("size", size)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ThresholdError(f"{name}: expected an integer, got {v!r}")
    if not 1 <= threshold <= size <= 255:
        raise ThresholdError(
            f"expected 1 <= threshold <= size <= 255, got threshold {threshold}, size {size}"
        )


def _coefficients(seed: bytes, batch_id: int, threshold: int) -> list[int]:
    if not isinstance(seed, bytes | bytearray) or len(seed) != 32:
        raise ThresholdError(f"seed: expected 32 bytes, got {seed!r}")
    if isinstance(batch_id, bool) or not isinstance(batch_id, int) or not 0 <= batch_id < 1 << 64:
        raise ThresholdError(f"batch_id: expected a uint64, got {batch_id!r}")
    out = []
    for k in range(threshold):
        # 48 bytes mod n: the bias is below 2^-128.
        info = _COEFFICIENT_INFO + batch_id.to_bytes(8, "big") + k.to_bytes(2, "big")
        raw = HKDF(hashes.SHA256(), 48, None, info).derive(bytes(seed))
        out.append(int.from_bytes(raw, "big") % (CURVE_ORDER - 1) + 1)
    return out


@dataclass(frozen=True)
class Dealing:
    """One dealer's contribution to one batch's key.

    Attributes:
        batch_id: the batch.
        dealer: the dealer's keyper index (1-based).
        commitments: ``a_k·G`` for the ``t`` coefficients, constant term first.
        shares: ``f(j)`` for keyper ``j = 1..n`` (secret: each goes to its keyper only).
    """

    batch_id: int
    dealer: int
    commitments: tuple[bytes, ...]
    shares: tuple[int, ...]


def deal(seed: bytes, dealer: int, batch_id: int, threshold: int, size: int) -> Dealing:
    """Keyper ``dealer``'s Feldman dealing for ``batch_id``, derived from its seed.

    Args:
        seed: the dealer's 32 secret bytes (its key file).
        dealer: its index, 1 to ``size``.
        batch_id: the batch the polynomial is for.
        threshold: ``t``, shares needed to recover (the polynomial has degree ``t-1``).
        size: ``n``, the number of keypers.

    Raises:
        ThresholdError: bad parameters or seed.
    """
    _check_params(threshold, size)
    if isinstance(dealer, bool) or not isinstance(dealer, int) or not 1 <= dealer <= size:
        raise ThresholdError(f"dealer: expected 1 to {size}, got {dealer!r}")
    coefficients = _coefficients(seed, batch_id, threshold)
    commitments = tuple(scalar_point(a) for a in coefficients)
    shares = tuple(_evaluate(coefficients, j) for j in range(1, size + 1))
    return Dealing(batch_id, dealer, commitments, shares)


def _evaluate(coefficients: Sequence[int], x: int) -> int:
    acc = 0
    for a in reversed(coefficients):  # Horner
        acc = (acc * x + a) % CURVE_ORDER
    return acc


def expected_share_point(commitments: Sequence[bytes], index: int) -> bytes:
    """``Σ_k index^k·C_k``: what ``share·G`` must be for keyper ``index``.

    Raises:
        ThresholdError: a commitment is not a point, or ``index`` is not in ``[1, 255]``.
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= 255:
        raise ThresholdError(f"index: expected 1 to 255, got {index!r}")
    if not commitments:
        raise ThresholdError("commitments: expected at least one, got none")
    terms = [_point("commitment", commitments[0])]
    power = 1
    for c in commitments[1:]:
        power = power * index % CURVE_ORDER
        terms.append(_point("commitment", c).multiply(power.to_bytes(32, "big")))
    return (terms[0] if len(terms) == 1 else PublicKey.combine_keys(terms)).format()


def verify_share(commitments: Sequence[bytes], index: int, share: int) -> None:
    """Check keyper ``index``'s share against the public commitments.

    Raises:
        BadShare: the share is out of range or ``share·G`` is not
            :func:`expected_share_point` (``.index`` is ``index``).
    """
    expected = expected_share_point(commitments, index)
    if isinstance(share, bool) or not isinstance(share, int) or not 0 < share < CURVE_ORDER:
        raise BadShare(f"keyper {index}: expected a scalar in [1, n), got {share!r}", index)
    if scalar_point(share) != expected:
        raise BadShare(
            f"keyper {index}: expected a share s with s·G = 0x{expected.hex()}, "
            f"got one with s·G = 0x{scalar_point(share).hex()}",
            index,
        )


@dataclass(frozen=True)
class BatchKey:
    """The public side of one batch's threshold key.

    Attributes:
        batch_id: the batch.
        threshold: ``t``.
        size: ``n``.
        dealers: the qualified dealers whose dealings it sums.
        commitments: ``C_k = Σ_i C_ik``; ``commitments[0]`` is the public key.
    """

    batch_id: int
    threshold: int
    size: int
    dealers: tuple[int, ...]
    commitments: tuple[bytes, ...]

    @property
    def public_key(self) -> bytes:
        """``X_b``, the key traders encrypt to (33 compressed bytes)."""
        return self.commitments[0]

    def verify_share(self, index: int, share: int) -> None:
        """:func:`verify_share` against this key's commitments.

        Raises:
            BadShare: the share does not match (attributed to ``index``).
        """
        if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= self.size:
            raise BadShare(f"index: expected 1 to {self.size}, got {index!r}", -1)
        verify_share(self.commitments, index, share)


def aggregate_dealings(dealings: Sequence[Dealing], threshold: int, size: int) -> BatchKey:
    """Sum qualified dealings for one batch into its :class:`BatchKey`.

    Every dealing must have ``threshold`` commitments and come from a distinct
    dealer; dealings whose shares were disputed are dropped by the caller before
    this (:func:`verify_share` names the dealer that sent a bad share).

    Raises:
        ThresholdError: no dealings, mixed batches, repeated dealers, or a
            commitment count other than ``threshold``.
    """
    _check_params(threshold, size)
    if not dealings:
        raise ThresholdError("dealings: expected at least one, got none")
    batch = dealings[0].batch_id
    dealers = [d.dealer for d in dealings]
    if len(set(dealers)) != len(dealers):
        raise ThresholdError(f"dealers: expected distinct dealers, got {dealers}")
    for d in dealings:
        if d.batch_id != batch:
            raise ThresholdError(f"batch_id: expected {batch}, got {d.batch_id}")
        if len(d.commitments) != threshold:
            raise ThresholdError(
                f"dealer {d.dealer}: expected {threshold} commitments, got {len(d.commitments)}"
            )
    summed = []
    for k in range(threshold):
        points = [_point("commitment", d.commitments[k]) for d in dealings]
        summed.append((points[0] if len(points) == 1 else PublicKey.combine_keys(points)).format())
    return BatchKey(batch, threshold, size, tuple(sorted(dealers)), tuple(summed))


def lagrange_at_zero(indices: Sequence[int]) -> dict[int, int]:
    """``λ_j = Π_{m≠j} m / (m − j) mod n`` for each ``j`` in ``indices``.

    Raises:
        ThresholdError: indices repeat or fall outside ``[1, 255]``.
    """
    if len(set(indices)) != len(indices) or not all(
        isinstance(j, int) and 1 <= j <= 255 for j in indices
    ):
        raise ThresholdError(f"indices: expected distinct integers 1 to 255, got {list(indices)}")
    out = {}
    for j in indices:
        num, den = 1, 1
        for m in indices:
            if m != j:
                num = num * m % CURVE_ORDER
                den = den * (m - j) % CURVE_ORDER
        out[j] = num * pow(den, -1, CURVE_ORDER) % CURVE_ORDER
    return out


def combine_shares(key: BatchKey, shares: Mapping[int, int]) -> int:
    """Recover a batch's secret from at least ``t`` shares, checking each first.

    Args:
        key: the batch's public key and commitments.
        shares: keyper index → its released share.

    Returns:
        ``x_b`` with ``x_b·G = key.public_key``.

    Raises:
        BadShare: a share fails :meth:`BatchKey.verify_share` (the first, by
            index, is named).
        ThresholdError: fewer than ``t`` shares.
    """
    for index in sorted(shares):
        key.verify_share(index, shares[index])
    if len(shares) < key.threshold:
        raise ThresholdError(
            f"expected at least {key.threshold} shares for batch {key.batch_id}, got {len(shares)}"
        )
    chosen = sorted(shares)[: key.threshold]
    lam = lagrange_at_zero(chosen)
    secret = sum(lam[j] * shares[j] for j in chosen) % CURVE_ORDER
    if secret == 0 or scalar_point(secret) != key.public_key:  # unreachable with checked shares
        raise ThresholdError(f"batch {key.batch_id}: combined shares do not match the public key")
    return secret


@dataclass(frozen=True)
class EarlyRelease:
    """Evidence that keyper ``index`` released its share of a batch before the batch's seal.

    The share verifies against the batch's public commitments, so only that
    keyper (or ``t`` colluding keypers) could have produced it.
    """

    batch_id: int
    index: int
    share: int
    seen_ms: int
    sealed_ms: int | None


def audit_release(
    key: BatchKey, index: int, share: int, seen_ms: int, sealed_ms: int | None
) -> EarlyRelease | None:
    """Check a released share and whether it came before the batch's seal.

    Args:
        key: the batch's public key.
        index: the keyper that released it.
        share: the released share.
        seen_ms: when the share was first seen.
        sealed_ms: when the operator published the signed, sealed commitment
            root of the batch, or None if it has not.

    Returns:
        :class:`EarlyRelease` evidence if the share is valid and was seen
        before the seal (or with no seal), else None.

    Raises:
        BadShare: the share does not verify (a bad share, attributed, but no
            evidence of an early release: anyone can make up a bad share).
    """
    key.verify_share(index, share)
    if sealed_ms is None or seen_ms < sealed_ms:
        return EarlyRelease(key.batch_id, index, share, seen_ms, sealed_ms)
    return None


def _derive(shared: bytes, ephemeral: bytes, public_key: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(hashes.SHA256(), 44, ephemeral + public_key, _ECIES_INFO).derive(shared)
    return okm[:32], okm[32:]


def encrypt(
    public_key: bytes, plaintext: bytes, associated_data: bytes, ephemeral: int | None = None
) -> bytes:
    """ECIES-encrypt to a batch key: ``0x01 ‖ R ‖ AES-GCM(plaintext) ‖ tag``.

    Args:
        public_key: ``X_b`` (33 compressed bytes).
        plaintext: the bytes to hide.
        associated_data: authenticated, not encrypted (binds the context).
        ephemeral: the scalar ``r`` (only for test vectors; by default fresh
            from libsecp256k1's key generation, i.e. the OS's randomness).

    Raises:
        ThresholdError: the key is not a point, or ``ephemeral`` not a scalar.
    """
    x = _point("public_key", public_key)
    r = PrivateKey() if ephemeral is None else PrivateKey.from_int(_check_scalar("r", ephemeral))
    big_r = r.public_key.format()
    shared = x.multiply(r.secret).format()
    key, nonce = _derive(shared, big_r, bytes(public_key))
    sealed = AESGCM(key).encrypt(nonce, bytes(plaintext), bytes(associated_data))
    return bytes([CIPHERTEXT_VERSION]) + big_r + sealed


def decrypt(secret: int, public_key: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
    """Open an :func:`encrypt` ciphertext with the batch secret.

    Raises:
        DecryptionFailed: wrong version or length, ``R`` not a point, or the
            tag does not verify (wrong key, tampered bytes or associated data).
        ThresholdError: ``secret`` is not a scalar in ``[1, n)``.
    """
    if not isinstance(ciphertext, bytes | bytearray) or len(ciphertext) < CIPHERTEXT_OVERHEAD:
        raise DecryptionFailed(
            f"expected a ciphertext of at least {CIPHERTEXT_OVERHEAD} bytes, got "
            f"{len(ciphertext) if isinstance(ciphertext, bytes | bytearray) else ciphertext!r}"
        )
    if ciphertext[0] != CIPHERTEXT_VERSION:
        raise DecryptionFailed(f"expected version {CIPHERTEXT_VERSION}, got {ciphertext[0]}")
    big_r = bytes(ciphertext[1 : 1 + _POINT])
    try:
        r_point = PublicKey(big_r)
    except ValueError as exc:
        raise DecryptionFailed(f"expected R on secp256k1, got 0x{big_r.hex()}") from exc
    _check_scalar("secret", secret)
    shared = r_point.multiply(secret.to_bytes(32, "big")).format()
    key, nonce = _derive(shared, big_r, bytes(public_key))
    try:
        return AESGCM(key).decrypt(nonce, bytes(ciphertext[1 + _POINT :]), associated_data)
    except InvalidTag as exc:
        raise DecryptionFailed("expected a valid GCM tag, got a mismatch") from exc
