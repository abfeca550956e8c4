"""Feldman VSS, the per-batch joint-Feldman key, share checks and ECIES (crypto/threshold.py).

Known-answer vectors: docs/threshold.md ("Test vectors"), produced by this
module when the encoding was written; the shares are rechecked here with plain
integer Lagrange arithmetic and the points against coincurve (libsecp256k1).
"""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

import pytest
from coincurve import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.crypto.threshold import (
    CIPHERTEXT_OVERHEAD,
    CURVE_ORDER,
    BadShare,
    BatchKey,
    DecryptionFailed,
    ThresholdError,
    aggregate_dealings,
    audit_release,
    combine_shares,
    deal,
    decrypt,
    encrypt,
    lagrange_at_zero,
    scalar_point,
    verify_share,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "threshold.md"
T, N = 3, 5
SEEDS = [bytes([i]) * 32 for i in range(1, N + 1)]


def committee(batch_id: int, t: int = T, n: int = N) -> tuple[BatchKey, dict[int, int]]:
    """Every keyper deals; each sums the shares it received (the honest DKG)."""
    dealings = [deal(SEEDS[i], i + 1, batch_id, t, n) for i in range(n)]
    key = aggregate_dealings(dealings, t, n)
    shares = {j: sum(d.shares[j - 1] for d in dealings) % CURVE_ORDER for j in range(1, n + 1)}
    return key, shares


def test_every_dealt_share_verifies_and_the_sum_is_the_key() -> None:
    dealings = [deal(SEEDS[i], i + 1, 7, T, N) for i in range(N)]
    for d in dealings:
        for j in range(1, N + 1):
            verify_share(d.commitments, j, d.shares[j - 1])
    key = aggregate_dealings(dealings, T, N)
    secret = sum(
        combine_shares(BatchKey(7, T, N, (d.dealer,), d.commitments), dict(enumerate(d.shares, 1)))
        for d in dealings
    )
    assert scalar_point(secret % CURVE_ORDER) == key.public_key


@pytest.mark.parametrize("subset", list(combinations(range(1, N + 1), T)))
def test_any_t_shares_recover_the_same_secret(subset: tuple[int, ...]) -> None:
    key, shares = committee(3)
    secret = combine_shares(key, {j: shares[j] for j in subset})
    assert PrivateKey.from_int(secret).public_key.format() == key.public_key


def test_t_minus_one_shares_do_not_recover() -> None:
    key, shares = committee(3)
    with pytest.raises(ThresholdError, match="expected at least 3 shares"):
        combine_shares(key, {1: shares[1], 2: shares[2]})
    # Interpolating t-1 shares as if the degree were t-2 gives some other scalar.
    lam = lagrange_at_zero([1, 2])
    guess = (lam[1] * shares[1] + lam[2] * shares[2]) % CURVE_ORDER
    assert scalar_point(guess) != key.public_key


def test_batches_have_independent_keys() -> None:
    key_a, shares_a = committee(10)
    key_b, _ = committee(11)
    secret_a = combine_shares(key_a, shares_a)
    assert key_a.public_key != key_b.public_key
    # No fixed relation: batch 11's key is neither a multiple nor a shift of batch 10's secret.
    assert scalar_point(secret_a) != key_b.public_key
    assert deal(SEEDS[0], 1, 10, T, N).commitments[0] != deal(SEEDS[0], 1, 11, T, N).commitments[0]


def test_a_forged_share_is_rejected_and_attributed() -> None:
    key, shares = committee(5)
    forged = dict(shares)
    forged[4] = (shares[4] + 1) % CURVE_ORDER
    with pytest.raises(BadShare) as err:
        combine_shares(key, forged)
    assert err.value.index == 4
    assert "keyper 4" in str(err.value)
    # Dropping the attributed keyper, the rest still recover.
    del forged[4]
    assert scalar_point(combine_shares(key, forged)) == key.public_key


def test_a_share_for_another_index_is_rejected() -> None:
    key, shares = committee(5)
    with pytest.raises(BadShare) as err:
        key.verify_share(2, shares[3])
    assert err.value.index == 2


def test_a_bad_dealing_is_attributed_to_its_dealer() -> None:
    d = deal(SEEDS[1], 2, 9, T, N)
    with pytest.raises(BadShare) as err:
        verify_share(d.commitments, 3, (d.shares[2] + 5) % CURVE_ORDER)
    assert err.value.index == 3


@pytest.mark.parametrize(
    "args",
    [
        (b"short", 1, 0, T, N),
        (SEEDS[0], 0, 0, T, N),
        (SEEDS[0], 6, 0, T, N),
        (SEEDS[0], 1, -1, T, N),
        (SEEDS[0], 1, 0, 0, N),
        (SEEDS[0], 1, 0, 6, N),
        (SEEDS[0], 1, 0, True, N),
    ],
)
def test_deal_rejects_bad_parameters(args: tuple) -> None:
    with pytest.raises(ThresholdError, match="expected"):
        deal(*args)


def test_aggregate_rejects_mixed_batches_and_repeated_dealers() -> None:
    a = deal(SEEDS[0], 1, 1, T, N)
    with pytest.raises(ThresholdError, match="distinct"):
        aggregate_dealings([a, a], T, N)
    with pytest.raises(ThresholdError, match="batch_id"):
        aggregate_dealings([a, deal(SEEDS[1], 2, 2, T, N)], T, N)
    with pytest.raises(ThresholdError, match="commitments"):
        aggregate_dealings([a, deal(SEEDS[1], 2, 1, 2, N)], T, N)


AD = b"context"


def test_ecies_round_trip_and_tamper() -> None:
    key, shares = committee(2)
    secret = combine_shares(key, shares)
    ct = encrypt(key.public_key, b"the order", AD)
    assert len(ct) == CIPHERTEXT_OVERHEAD + len(b"the order")
    assert decrypt(secret, key.public_key, ct, AD) == b"the order"
    for i in range(len(ct)):
        bad = bytearray(ct)
        bad[i] ^= 1
        with pytest.raises(DecryptionFailed):
            decrypt(secret, key.public_key, bytes(bad), AD)
    with pytest.raises(DecryptionFailed, match="GCM tag"):
        decrypt(secret, key.public_key, ct, b"other context")
    with pytest.raises(DecryptionFailed, match="GCM tag"):
        decrypt((secret + 1) % CURVE_ORDER, key.public_key, ct, AD)
    with pytest.raises(DecryptionFailed, match="at least"):
        decrypt(secret, key.public_key, ct[:20], AD)


def test_another_batch_key_does_not_open() -> None:
    key_a, _ = committee(20)
    key_b, shares_b = committee(21)
    ct = encrypt(key_a.public_key, b"x", AD)
    with pytest.raises(DecryptionFailed):
        decrypt(combine_shares(key_b, shares_b), key_b.public_key, ct, AD)


@settings(max_examples=20, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=64))
def test_ecies_round_trips_any_bytes(plaintext: bytes, ad: bytes) -> None:
    secret = 0xC0FFEE
    ct = encrypt(scalar_point(secret), plaintext, ad)
    assert decrypt(secret, scalar_point(secret), ct, ad) == plaintext


def test_encrypt_rejects_a_non_point() -> None:
    with pytest.raises(ThresholdError, match="33-byte"):
        encrypt(b"\x02" * 5, b"x", AD)
    with pytest.raises(ThresholdError, match="point on secp256k1"):
        encrypt(b"\x05" + b"\x00" * 32, b"x", AD)


def documented_vectors() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Test vectors") :]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block is not None
    out = {}
    for line in block.group(1).splitlines():
        if "=" in line:
            name, value = (p.strip() for p in line.split("=", 1))
            out[name] = value
    return out


def test_documented_key_vectors() -> None:
    v = documented_vectors()
    t, n, batch = int(v["threshold"]), int(v["size"]), int(v["batch_id"])
    dealings = [deal(bytes([i]) * 32, i, batch, t, n) for i in range(1, n + 1)]
    key = aggregate_dealings(dealings, t, n)
    assert key.public_key.hex() == v["public_key"]
    assert [c.hex() for c in key.commitments] == v["commitments"].split(",")
    shares = {j: int(v[f"share_{j}"], 16) for j in range(1, n + 1)}
    for j, s in shares.items():
        assert s == sum(d.shares[j - 1] for d in dealings) % CURVE_ORDER
    secret = int(v["batch_secret"], 16)
    # Plain-integer Lagrange over shares 1..t, independent of lagrange_at_zero.
    acc = 0
    idx = list(range(1, t + 1))
    for j in idx:
        num = den = 1
        for m in idx:
            if m != j:
                num, den = num * m, den * (m - j)
        acc += shares[j] * num * pow(den, -1, CURVE_ORDER)
    assert acc % CURVE_ORDER == secret
    assert PrivateKey.from_int(secret).public_key.format().hex() == v["public_key"]
    ct = bytes.fromhex(v["ciphertext"])
    assert (
        encrypt(
            key.public_key,
            bytes.fromhex(v["plaintext"]),
            bytes.fromhex(v["ad"]),
            int(v["ephemeral"], 16),
        )
        == ct
    )
    assert decrypt(secret, key.public_key, ct, bytes.fromhex(v["ad"])) == bytes.fromhex(
        v["plaintext"]
    )


def test_a_share_released_before_the_seal_is_evidence_against_its_keyper() -> None:
    key, shares = committee(30)
    early = audit_release(key, 2, shares[2], seen_ms=1_000, sealed_ms=None)
    assert early is not None and (early.index, early.batch_id) == (2, 30)
    assert audit_release(key, 2, shares[2], seen_ms=1_000, sealed_ms=1_500) is not None
    assert audit_release(key, 2, shares[2], seen_ms=1_500, sealed_ms=1_500) is None
    # A made-up share framing keyper 3 is not evidence: it fails verification.
    with pytest.raises(BadShare) as err:
        audit_release(key, 3, shares[2], seen_ms=1_000, sealed_ms=None)
    assert err.value.index == 3
