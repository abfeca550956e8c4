"""Orders encrypted to a batch key: encoding, binding and forfeits (auction/encrypted_orders.py).

The documented vector (docs/threshold.md, "Test vectors") is checked against
the plaintext and associated data rebuilt here by hand from the documented
layout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.commitment import compute_commitment
from sealbatch.auction.encrypted_orders import (
    AD_DOMAIN,
    associated_data,
    decode_sealed,
    encode_sealed,
    encrypt_order,
    open_ciphertext,
    open_ciphertexts,
)
from sealbatch.auction.errors import InvalidOrder
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.threshold import CURVE_ORDER, encrypt, scalar_point
from tests.crypto.test_threshold import committee, documented_vectors

ORDER = Order("BTC-PERP", Side.BUY, 650_000, 25, TimeInForce.GTC, False, 42)
SALT = bytes(range(32))
TRADER = "0x" + "5a" * 20
OTHER = "0x" + "00" * 19 + "01"
BATCH = 7


@pytest.fixture(scope="module")
def batch_key() -> tuple[bytes, int]:
    from sealbatch.crypto.threshold import combine_shares

    key, shares = committee(BATCH)
    return key.public_key, combine_shares(key, shares)


def test_an_honest_ciphertext_opens_to_its_order(batch_key: tuple[bytes, int]) -> None:
    pk, secret = batch_key
    commitment = compute_commitment(ORDER, SALT, TRADER, BATCH)
    opened = open_ciphertext(
        secret, pk, encrypt_order(pk, ORDER, SALT, TRADER, BATCH), TRADER, BATCH, commitment
    )
    assert not opened.forfeited
    assert (opened.order, opened.salt) == (ORDER, SALT)


def test_garbage_is_forfeited_with_a_reason(batch_key: tuple[bytes, int]) -> None:
    pk, secret = batch_key
    commitment = compute_commitment(ORDER, SALT, TRADER, BATCH)
    opened = open_ciphertext(secret, pk, b"\x01" + b"\x00" * 80, TRADER, BATCH, commitment)
    assert opened.forfeited and opened.reason == "undecryptable" and opened.order is None
    assert "expected" in opened.detail


def test_a_ciphertext_of_another_order_is_forfeited(batch_key: tuple[bytes, int]) -> None:
    """A trader commits to one order and encrypts another, hoping to pick later: forfeit."""
    pk, secret = batch_key
    commitment = compute_commitment(ORDER, SALT, TRADER, BATCH)
    other = dataclasses.replace(ORDER, quantity=26)
    ct = encrypt(pk, encode_sealed(other, SALT), associated_data(TRADER, BATCH, commitment))
    opened = open_ciphertext(secret, pk, ct, TRADER, BATCH, commitment)
    assert opened.reason == "commitment_mismatch"
    assert commitment.hex() in opened.detail


def test_a_well_encrypted_malformed_plaintext_is_forfeited(batch_key: tuple[bytes, int]) -> None:
    pk, secret = batch_key
    commitment = compute_commitment(ORDER, SALT, TRADER, BATCH)
    ct = encrypt(pk, b"\x01\x00not an order", associated_data(TRADER, BATCH, commitment))
    assert (
        open_ciphertext(secret, pk, ct, TRADER, BATCH, commitment).reason == "malformed_plaintext"
    )


@pytest.mark.parametrize("where", ["trader", "batch", "commitment"])
def test_a_ciphertext_replayed_in_another_context_does_not_open(
    batch_key: tuple[bytes, int], where: str
) -> None:
    """Copying someone's ciphertext under one's own commitment (or batch) reveals nothing."""
    pk, secret = batch_key
    ct = encrypt_order(pk, ORDER, SALT, TRADER, BATCH)
    commitment = compute_commitment(ORDER, SALT, TRADER, BATCH)
    trader, batch = TRADER, BATCH
    if where == "trader":
        trader = OTHER
    elif where == "batch":
        batch = BATCH + 1
    else:
        commitment = compute_commitment(ORDER, bytes(32), TRADER, BATCH)
    assert open_ciphertext(secret, pk, ct, trader, batch, commitment).reason == "undecryptable"


def test_open_ciphertexts_matches_one_at_a_time(batch_key: tuple[bytes, int]) -> None:
    pk, secret = batch_key
    items = []
    for i in range(6):
        order = dataclasses.replace(ORDER, quantity=10 + i)
        salt = bytes([i]) * 32
        c = compute_commitment(order, salt, TRADER, BATCH)
        ct = encrypt_order(pk, order, salt, TRADER, BATCH) if i % 3 else b"junk"
        if i == 4:
            ct = encrypt_order(pk, ORDER, SALT, TRADER, BATCH)  # a valid ciphertext, wrong slot
        items.append((ct, TRADER, c))
    many = open_ciphertexts(secret, pk, BATCH, items)
    one = [open_ciphertext(secret, pk, c, t, BATCH, m) for c, t, m in items]
    assert many == one
    assert [o.reason for o in many] == [
        "undecryptable",
        None,
        None,
        "undecryptable",
        "undecryptable",
        None,
    ]


def test_a_wrong_secret_opens_nothing(batch_key: tuple[bytes, int]) -> None:
    pk, secret = batch_key
    commitment = compute_commitment(ORDER, SALT, TRADER, BATCH)
    ct = encrypt_order(pk, ORDER, SALT, TRADER, BATCH)
    assert open_ciphertext((secret + 1) % CURVE_ORDER, pk, ct, TRADER, BATCH, commitment).forfeited


orders = st.builds(
    Order,
    st.sampled_from(["BTC-PERP", "ETH-PERP", "é-PERP"]),
    st.sampled_from(list(Side)),
    st.one_of(st.none(), st.integers(1, (1 << 30) - 1)),
    st.integers(1, (1 << 22) - 1),
    st.just(TimeInForce.IOC),
    st.booleans(),
    st.integers(0, (1 << 64) - 1),
)


@settings(max_examples=50, deadline=None)
@given(orders, st.binary(min_size=32, max_size=32))
def test_encoding_round_trips(order: Order, salt: bytes) -> None:
    assert decode_sealed(encode_sealed(order, salt)) == (order, salt)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b"\x02" + b[1:], "version"),
        (lambda b: b[:1] + b"\x13" + b[2:], "flag bits"),
        (lambda b: b + b"x", "plaintext bytes"),
        (lambda b: b[:-1], "plaintext bytes"),
        (lambda b: b[:1] + bytes([b[1] & ~2]) + b[2:], "limit flag"),
        (lambda b: b[:10] + bytes(8) + b[18:], "quantity"),
    ],
)
def test_decode_rejects_non_canonical_plaintexts(
    mutate: Callable[[bytes], bytes], match: str
) -> None:
    with pytest.raises(InvalidOrder, match=match):
        decode_sealed(mutate(encode_sealed(ORDER, SALT)))


def test_associated_data_rejects_bad_context() -> None:
    c = compute_commitment(ORDER, SALT, TRADER, BATCH)
    with pytest.raises(ValueError, match="address"):
        associated_data("0x1234", BATCH, c)
    with pytest.raises(ValueError, match="uint64"):
        associated_data(TRADER, -1, c)
    with pytest.raises(ValueError, match="32 bytes"):
        associated_data(TRADER, BATCH, b"x")


def test_documented_order_vector() -> None:
    v = documented_vectors()
    order = Order("BTC-PERP", Side.BUY, 650_000, 25, TimeInForce.GTC, False, 42)
    salt = bytes(range(32))
    trader, batch = "0x" + "5a" * 20, int(v["batch_id"])
    commitment = compute_commitment(order, salt, trader, batch)
    assert commitment.hex() == v["commitment"]
    by_hand = (
        bytes([1, 0b0111])
        + (650_000).to_bytes(8, "big")
        + (25).to_bytes(8, "big")
        + (42).to_bytes(8, "big")
        + salt
        + bytes([8])
        + b"BTC-PERP"
    )
    assert encode_sealed(order, salt) == by_hand == bytes.fromhex(v["plaintext"])
    ad = AD_DOMAIN + batch.to_bytes(8, "big") + bytes.fromhex("5a" * 20) + commitment
    assert associated_data(trader, batch, commitment) == ad == bytes.fromhex(v["ad"])
    pk = bytes.fromhex(v["public_key"])
    ct = encrypt_order(pk, order, salt, trader, batch, int(v["ephemeral"], 16))
    assert ct.hex() == v["ciphertext"]
    opened = open_ciphertext(int(v["batch_secret"], 16), pk, ct, trader, batch, commitment)
    assert opened.order == order
    assert scalar_point(int(v["batch_secret"], 16)) == pk
