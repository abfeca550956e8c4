"""EIP-712: the fast digest, signing and recovery against eth_account's implementation.

eth_account (``encode_typed_data`` + ``Account.sign_message`` /
``Account.recover_message``) is an independent implementation of EIP-712 and
of secp256k1 signing; the code under test hashes structs itself and signs
through coincurve. Both must agree bit for bit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak as eth_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.commit_reveal import COMMIT_TYPE, RECEIPT_TYPE, Commit, Receipt
from sealbatch.crypto.eip712 import (
    Address,
    Eip712Domain,
    StructType,
    address_of,
    checksum_address,
    recover_signer,
    recover_signers,
    sign_digest,
    sign_digests,
    signing_digest,
)
from sealbatch.crypto.exceptions import SignatureError

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
# Account.from_key(KEY).address, as documented in the eth-account README/docs
# for this well-known example key.
KEY_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
DOMAIN = Eip712Domain("sealbatch", "1", 31337, Address("0x" + "ab" * 20))

keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
addresses = st.binary(min_size=20, max_size=20).map(lambda b: Address("0x" + b.hex()))
domains = st.builds(
    Eip712Domain,
    st.text(max_size=20),
    st.text(max_size=5),
    st.integers(0, (1 << 256) - 1),
    addresses,
)
commits = st.builds(
    Commit,
    addresses,
    st.integers(0, (1 << 64) - 1),
    st.text(min_size=1, max_size=32),
    st.binary(min_size=32, max_size=32),
    st.integers(0, (1 << 64) - 1),
    st.integers(0, (1 << 256) - 1),
    st.integers(0, (1 << 256) - 1),
    st.integers(0, (1 << 64) - 1),
)


def eth_account_message(
    domain: Eip712Domain, struct: StructType, values: Mapping[str, Any]
) -> SignableMessage:
    """eth_account's message for the wallet JSON, passed through a JSON round trip."""
    full = json.loads(json.dumps(domain.typed_data(struct, values)))
    return encode_typed_data(full_message=full)


def test_address_of_known_key() -> None:
    assert address_of(KEY) == KEY_ADDRESS == Account.from_key(KEY).address
    assert address_of("0x" + KEY.hex()) == KEY_ADDRESS
    assert address_of(KEY.hex()) == KEY_ADDRESS


def test_type_hashes() -> None:
    assert COMMIT_TYPE.type_hash == eth_keccak(
        b"Commit(address trader,uint64 batchId,string market,bytes32 commitment,"
        b"uint64 nonce,uint256 marginLock,uint256 bond,uint64 expiry)"
    )
    assert RECEIPT_TYPE.type_hash == eth_keccak(
        b"Receipt(uint64 batchId,uint64 sequence,bytes32 commitment,uint64 receivedAt)"
    )


@settings(max_examples=40, deadline=None)
@given(domains, commits)
def test_commit_digest_matches_eth_account(domain: Eip712Domain, commit: Commit) -> None:
    msg = eth_account_message(domain, COMMIT_TYPE, commit.message())
    assert msg.header == domain.separator
    assert msg.body == COMMIT_TYPE.hash_struct(commit.message())
    signed = Account.sign_message(msg, KEY)
    assert signed.message_hash == commit.digest(domain)


@settings(max_examples=25, deadline=None)
@given(keys, commits)
def test_signatures_match_eth_account(key: bytes, commit: Commit) -> None:
    digest = commit.digest(DOMAIN)
    ours = sign_digest(key, digest)
    msg = eth_account_message(DOMAIN, COMMIT_TYPE, commit.message())
    theirs = Account.sign_message(msg, key)
    # both sign deterministically (RFC 6979) with low s: identical bytes
    assert ours == bytes(theirs.signature)
    assert ours[64] in (27, 28)
    assert recover_signer(digest, ours) == address_of(key) == Account.from_key(key).address
    assert Account.recover_message(msg, signature=ours) == address_of(key)


def test_receipt_verifies_with_eth_account() -> None:
    operator_key = bytes.fromhex("11" * 32)
    message = {
        "batchId": 7,
        "sequence": 3,
        "commitment": bytes(range(32)),
        "receivedAt": 1_700_000_000_123,
    }
    sig = sign_digest(operator_key, signing_digest(DOMAIN, RECEIPT_TYPE, message))
    receipt = Receipt(7, 3, bytes(range(32)), 1_700_000_000_123, sig)
    operator = address_of(operator_key)
    assert receipt.signer(DOMAIN) == operator
    msg = eth_account_message(DOMAIN, RECEIPT_TYPE, receipt.message())
    assert Account.recover_message(msg, signature=sig) == operator


ALL_TYPES = StructType(
    "AllTypes",
    (
        ("a", "address"),
        ("b", "bool"),
        ("s", "string"),
        ("u8", "uint8"),
        ("u256", "uint256"),
        ("i8", "int8"),
        ("i64", "int64"),
        ("i256", "int256"),
        ("b1", "bytes1"),
        ("b32", "bytes32"),
    ),
)


@settings(max_examples=40, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "a": addresses,
            "b": st.booleans(),
            "s": st.text(max_size=40),
            "u8": st.integers(0, 255),
            "u256": st.integers(0, (1 << 256) - 1),
            "i8": st.integers(-128, 127),
            "i64": st.integers(-(1 << 63), (1 << 63) - 1),
            "i256": st.integers(-(1 << 255), (1 << 255) - 1),
            "b1": st.binary(min_size=1, max_size=1),
            "b32": st.binary(min_size=32, max_size=32),
        }
    )
)
def test_every_atomic_type_matches_eth_account(values: dict[str, object]) -> None:
    msg = eth_account_message(DOMAIN, ALL_TYPES, values)
    assert msg.body == ALL_TYPES.hash_struct(values)
    assert Account.sign_message(msg, KEY).message_hash == signing_digest(DOMAIN, ALL_TYPES, values)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("u8", 256),
        ("u8", -1),
        ("u8", True),
        ("u8", 1.0),
        ("i8", 128),
        ("i8", -129),
        ("b1", b""),
        ("b32", bytes(31)),
        ("b32", "00" * 32),
        ("a", "0x" + "00" * 19),
        ("a", "0x" + "00" * 21),
        ("a", "0x" + "zz" * 20),
        ("a", "00" * 21),  # no 0x prefix
        ("a", 20),  # an int is not an address (bytes(20) would be the zero address)
        ("a", bytes(19)),
        ("b", 1),
        ("s", b"bytes"),
    ],
)
def test_bad_field_values_are_refused(field: str, value: object) -> None:
    values: dict[str, object] = {
        "a": "0x" + "00" * 20,
        "b": True,
        "s": "",
        "u8": 0,
        "u256": 0,
        "i8": 0,
        "i64": 0,
        "i256": 0,
        "b1": b"\x00",
        "b32": bytes(32),
    }
    values[field] = value
    with pytest.raises(ValueError, match=f"field '{field}'"):
        ALL_TYPES.hash_struct(values)


def test_missing_field_and_unsupported_type() -> None:
    with pytest.raises(ValueError, match="missing field"):
        RECEIPT_TYPE.hash_struct({"batchId": 1, "sequence": 2, "commitment": bytes(32)})
    for kind in ("uint256[]", "uint7", "uint264", "int0", "bytes0", "bytes33", "Order", "bytes"):
        with pytest.raises(ValueError, match="unsupported EIP-712 type"):
            StructType("X", (("x", kind),))


def test_address_as_raw_bytes_or_any_case() -> None:
    t = StructType("A", (("a", "address"),))
    raw = bytes.fromhex("5a" * 20)
    assert t.hash_struct({"a": raw}) == t.hash_struct({"a": "0x" + "5A" * 20})
    assert t.hash_struct({"a": raw}) == t.hash_struct({"a": "0X" + "5a" * 20})


@pytest.mark.parametrize("text", ["0x" + "5a" * 19 + "  ", "0x" + " 5a" * 13 + "5"])
def test_address_with_whitespace_inside_is_refused(text: str) -> None:
    # 42 characters that hex-decode to fewer than 20 bytes (fromhex skips spaces) would
    # encode a short word and shift every field after it: refused, naming the field.
    t = StructType("A", (("a", "address"),))
    assert len(text) == 42
    with pytest.raises(ValueError, match="field 'a': expected a 20-byte address"):
        t.hash_struct({"a": text})


def test_domain_binds_every_field() -> None:
    base = Eip712Domain("sealbatch", "1", 1, Address("0x" + "00" * 19 + "01"))
    others = [
        Eip712Domain("sealbatcH", "1", 1, base.verifying_contract),
        Eip712Domain("sealbatch", "2", 1, base.verifying_contract),
        Eip712Domain("sealbatch", "1", 5, base.verifying_contract),
        Eip712Domain("sealbatch", "1", 1, Address("0x" + "00" * 19 + "02")),
    ]
    assert len({base.separator, *(d.separator for d in others)}) == 5


def test_round_trip_and_tamper() -> None:
    digest = eth_keccak(b"message")
    sig = sign_digest(KEY, digest)
    assert len(sig) == 65
    assert recover_signer(digest, sig) == KEY_ADDRESS
    assert recover_signer(eth_keccak(b"other"), sig) != KEY_ADDRESS
    # v given as 0/1 is accepted too
    assert recover_signer(digest, sig[:64] + bytes([sig[64] - 27])) == KEY_ADDRESS


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda s: s[:64], "65-byte"),
        (lambda s: s + b"\x00", "65-byte"),
        (lambda s: s[:64] + b"\x1d", "expected v"),
        (lambda s: s[:64] + b"\x02", "expected v"),
        (lambda s: bytes(32) + s[32:], "out of range"),
        (lambda s: s[:32] + bytes(32) + s[64:], "out of range"),
        (
            lambda s: (
                s[:32]
                + (SECP256K1_N - int.from_bytes(s[32:64], "big")).to_bytes(32, "big")
                + bytes([55 - s[64]])
            ),
            "high-s",
        ),
        (lambda s: SECP256K1_N.to_bytes(32, "big") + s[32:], "out of range"),
        # r = 5 is not the x-coordinate of a curve point: nothing recovers
        (lambda s: (5).to_bytes(32, "big") + s[32:], "no public key recovers"),
    ],
    ids=["short", "long", "v29", "v2", "r0", "s0", "high-s", "r=n", "r-not-on-curve"],
)
def test_malformed_signatures_are_refused(make: Callable[[bytes], bytes], match: str) -> None:
    digest = eth_keccak(b"message")
    with pytest.raises(SignatureError, match=match):
        recover_signer(digest, make(sign_digest(KEY, digest)))


def test_many_at_once_are_the_one_at_a_time_results() -> None:
    """``sign_digests`` and ``recover_signers`` (the bulk path's, buffers made once)
    give what ``sign_digest`` and ``recover_signer`` give for each, a refused
    signature (every malformed kind above, a short digest) as None, in order."""
    keys = [KEY, bytes.fromhex("11" * 32), bytes.fromhex("7f" * 32)]
    digests = [eth_keccak(i.to_bytes(4, "big")) for i in range(24)]
    for key in keys:
        assert sign_digests(key, digests) == [sign_digest(key, d) for d in digests]
        assert sign_digests("0x" + key.hex(), digests[:2]) == sign_digests(key, digests[:2])
    pairs: list[tuple[bytes, bytes]] = []
    for i, d in enumerate(digests):
        sig = sign_digest(keys[i % 3], d)
        bad = {
            1: sig[:64],
            2: sig[:64] + b"\x1d",
            3: bytes(32) + sig[32:],
            4: (5).to_bytes(32, "big") + sig[32:],
            5: sig[:32]
            + (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
            + bytes([55 - sig[64]]),
        }.get(i % 8, sig)
        pairs.append((d if i != 6 else d[:31], bad))
    expected: list[Address | None] = []
    for d, sig in pairs:
        try:
            expected.append(recover_signer(d, sig))
        except SignatureError:
            expected.append(None)
    got = recover_signers(pairs)
    assert got == expected
    assert [a is None for a in got[:8]] == [False, True, True, True, True, True, True, False]
    assert got[0] == address_of(keys[0]) and got[7] == address_of(keys[1])
    with pytest.raises(SignatureError, match="32-byte digest"):
        sign_digests(KEY, [bytes(32), bytes(31)])


def test_recover_signer_needs_a_32_byte_digest() -> None:
    sig = sign_digest(KEY, bytes(32))
    with pytest.raises(SignatureError, match="32-byte digest"):
        recover_signer(bytes(31), sig)


def test_sign_digest_checks_its_inputs() -> None:
    with pytest.raises(SignatureError, match="32-byte digest"):
        sign_digest(KEY, bytes(31))
    with pytest.raises(SignatureError, match="32-byte private key"):
        sign_digest(KEY[:31], bytes(32))
    with pytest.raises(SignatureError, match="32-byte private key"):
        address_of("0x1234")
    with pytest.raises(SignatureError, match="hex private key"):
        address_of("0x" + "zz" * 32)
    for out_of_range in (bytes(32), SECP256K1_N.to_bytes(32, "big"), b"\xff" * 32):
        with pytest.raises(SignatureError, match=r"\[1, n - 1\]"):
            sign_digest(out_of_range, bytes(32))
        with pytest.raises(SignatureError, match=r"\[1, n - 1\]"):
            address_of(out_of_range)


def test_checksum_address_normalises_and_refuses_non_addresses() -> None:
    from eth_utils import to_checksum_address

    from sealbatch.crypto.eip712 import checksum_address

    raw = bytes(range(20))
    expected = to_checksum_address(raw)
    assert checksum_address(raw) == expected
    assert checksum_address("0x" + raw.hex()) == expected
    assert checksum_address("0x" + raw.hex().upper()[0:40].lower()) == expected
    for bad in ("0x1234", "not an address", b"\x00" * 19):
        with pytest.raises(ValueError, match="20-byte address"):
            checksum_address(bad)


def test_checksum_address_agrees_with_eth_utils_on_many_addresses() -> None:
    """The EIP-55 fast path against eth_utils (the reference) on 500 addresses,
    given as raw bytes, lower-case hex and upper-case hex digits."""
    import random

    from eth_utils import to_checksum_address

    from sealbatch.crypto.eip712 import checksum_address

    rng = random.Random(55)
    for _ in range(500):
        raw = rng.randbytes(20)
        expected = to_checksum_address(raw)
        for form in (raw, "0x" + raw.hex(), "0x" + raw.hex().upper()):
            assert checksum_address(form) == expected


def test_signing_with_a_cached_key_matches_a_fresh_key() -> None:
    import coincurve

    key = bytes(range(1, 33))
    digest = bytes(range(32))
    first = sign_digest(key, digest)
    again = sign_digest(key.hex(), digest)  # same key, given as hex: same cached signer
    fresh = coincurve.PrivateKey(key).sign_recoverable(digest, hasher=None)
    assert first == again == fresh[:64] + bytes([fresh[64] + 27])
    assert recover_signer(digest, first) == address_of(key)


def test_direct_signing_and_recovery_are_coincurves() -> None:
    # sign_digest and recover_signer call libsecp256k1 through coincurve's binding
    # directly: the same signatures and keys as coincurve's own classes.
    import coincurve

    for i in range(1, 60):
        key = eth_keccak(b"key" + i.to_bytes(4, "big"))
        digest = eth_keccak(b"digest" + i.to_bytes(4, "big"))
        theirs = coincurve.PrivateKey(key).sign_recoverable(digest, hasher=None)
        ours = sign_digest(key, digest)
        assert ours == theirs[:64] + bytes([theirs[64] + 27])
        pub = coincurve.PublicKey.from_signature_and_message(theirs, digest, hasher=None)
        expected = checksum_address(eth_keccak(pub.format(compressed=False)[1:])[-20:])
        assert recover_signer(digest, ours) == expected == address_of(key)
        assert recover_signer(bytearray(digest), bytearray(ours)) == expected
