"""EIP-712 typed structured data: hashing, signing and signer recovery.

This is the fast path used on every commitment and reveal. It hashes structs
directly (``keccak(typeHash || encodeData(s))``) and signs/recovers through
libsecp256k1 (coincurve). ``typed_data`` gives the same message in the JSON
form wallets sign (``eth_account.messages.encode_typed_data``); the tests
check that both paths produce the same digest and signer.

Reference: EIP-712, https://eips.ethereum.org/EIPS/eip-712 (only the atomic
types are supported: ``address``, ``bool``, ``bytesN``, ``uintN``, ``intN``,
``string``; nested structs and arrays are not needed here).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NewType

import coincurve
from coincurve._libsecp256k1 import ffi as _ffi
from coincurve._libsecp256k1 import lib as _lib
from coincurve.context import GLOBAL_CONTEXT as _CONTEXT

from sealbatch.crypto.exceptions import SignatureError
from sealbatch.crypto.keccak import keccak256

__all__ = [
    "DEV_CHAIN_ID",
    "DEV_VERIFYING_CONTRACT",
    "Address",
    "Eip712Domain",
    "StructType",
    "address_of",
    "checksum_address",
    "is_address",
    "recover_signer",
    "recover_signers",
    "sign_digest",
    "sign_digests",
    "signed_typed_data",
    "signing_digest",
]

Address = NewType("Address", str)
"""A checksummed 20-byte Ethereum address, ``0x``-prefixed."""

#: Chain id of a development venue: the local chain of anvil and Hardhat
#: (``anvil`` and ``npx hardhat node`` start on it, and wallets list it as
#: "Localhost 8545"), so a wallet connected to a local node signs for it, and a
#: signature made for a development venue is never valid for Ethereum mainnet
#: (chain id 1). A real deployment sets its own (``sealbatch serve --chain-id``).
DEV_CHAIN_ID = 31337

#: ``verifyingContract`` of a venue that anchors to no exchange contract: a
#: placeholder that is no contract (a deployment sets the exchange's address).
DEV_VERIFYING_CONTRACT = Address("0x" + "00" * 19 + "01")

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_UINT = re.compile(r"^uint(\d+)$")
_INT = re.compile(r"^int(\d+)$")
_BYTES = re.compile(r"^bytes(\d+)$")


def _check_kind(kind: str) -> None:
    """Raise ValueError unless ``kind`` is an atomic EIP-712 type this module encodes."""
    if kind in ("address", "bool", "string"):
        return
    m = _UINT.match(kind) or _INT.match(kind)
    if m and 8 <= int(m.group(1)) <= 256 and int(m.group(1)) % 8 == 0:
        return
    m = _BYTES.match(kind)
    if m and 1 <= int(m.group(1)) <= 32:
        return
    raise ValueError(f"expected an atomic EIP-712 type, got unsupported EIP-712 type {kind!r}")


def _address_bytes(value: Any, name: str) -> bytes:
    """The 20 bytes of an address given as ``0x``-hex (any case) or as 20 raw bytes."""
    raw: bytes | None = None
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) == 42:
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            raw = None
        if raw is not None and len(raw) != 20:  # fromhex skips whitespace
            raw = None
    elif isinstance(value, bytes | bytearray) and len(value) == 20:
        raw = bytes(value)
    if raw is None:
        raise ValueError(f"field '{name}': expected a 20-byte address, got {value!r}")
    return raw


_Encoder = Callable[[Any, str], bytes]
_WORD = 1 << 256


def _encode_address(value: Any, name: str) -> bytes:
    return bytes(12) + _address_bytes(value, name)


def _encode_bool(value: Any, name: str) -> bytes:
    if not isinstance(value, bool):
        raise ValueError(f"field '{name}': expected a bool, got {value!r}")
    return int(value).to_bytes(32, "big")


@functools.lru_cache(maxsize=1024)
def _string_word(value: str) -> bytes:
    # Market names and domain strings repeat on every message: hash each once.
    return keccak256(value.encode())


def _encode_string(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"field '{name}': expected a string, got {value!r}")
    return _string_word(value)


def _uint_encoder(kind: str, bits: int) -> _Encoder:
    top = 1 << bits

    def encode(value: Any, name: str) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < top:
            raise ValueError(f"field '{name}': expected a {kind}, got {value!r}")
        return value.to_bytes(32, "big")

    return encode


def _int_encoder(kind: str, bits: int) -> _Encoder:
    lim = 1 << (bits - 1)

    def encode(value: Any, name: str) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int) or not -lim <= value < lim:
            raise ValueError(f"field '{name}': expected an {kind}, got {value!r}")
        return (value % _WORD).to_bytes(32, "big")

    return encode


def _bytes_encoder(size: int) -> _Encoder:
    def encode(value: Any, name: str) -> bytes:
        if not isinstance(value, bytes | bytearray) or len(value) != size:
            raise ValueError(f"field '{name}': expected {size} bytes, got {value!r}")
        return bytes(value).ljust(32, b"\x00")

    return encode


@functools.lru_cache(maxsize=256)
def _encoder(kind: str) -> _Encoder:
    """The function that ABI-encodes a value of atomic type ``kind`` as a 32-byte word
    (built once per type, so encoding a message does no parsing of type names)."""
    simple: dict[str, _Encoder] = {
        "address": _encode_address,
        "bool": _encode_bool,
        "string": _encode_string,
    }
    if kind in simple:
        return simple[kind]
    if m := _UINT.match(kind):
        return _uint_encoder(kind, int(m.group(1)))
    if m := _INT.match(kind):
        return _int_encoder(kind, int(m.group(1)))
    if m := _BYTES.match(kind):
        return _bytes_encoder(int(m.group(1)))

    def unsupported(value: Any, name: str) -> bytes:
        raise ValueError(f"field '{name}': unsupported EIP-712 type {kind!r}")

    return unsupported


def _encode_atom(kind: str, value: Any, name: str) -> bytes:
    """ABI-encode one EIP-712 atomic value as a 32-byte word."""
    return _encoder(kind)(value, name)


@dataclass(frozen=True)
class StructType:
    """An EIP-712 struct type: a name and ordered ``(field_name, solidity_type)``."""

    name: str
    fields: tuple[tuple[str, str], ...]
    type_hash: bytes = field(init=False, repr=False)
    _encoders: tuple[tuple[str, _Encoder], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for _, kind in self.fields:
            _check_kind(kind)
        sig = f"{self.name}({','.join(f'{t} {n}' for n, t in self.fields)})"
        object.__setattr__(self, "type_hash", keccak256(sig.encode()))
        object.__setattr__(self, "_encoders", tuple((n, _encoder(t)) for n, t in self.fields))

    def hash_struct(self, values: Mapping[str, Any]) -> bytes:
        """``keccak(typeHash || encodeData(values))``; raises ValueError on a bad field."""
        missing = [n for n, _ in self.fields if n not in values]
        if missing:
            raise ValueError(f"{self.name}: missing field(s) {', '.join(missing)}")
        return keccak256(self.type_hash, *[encode(values[n], n) for n, encode in self._encoders])

    def eip712_types(self) -> list[dict[str, str]]:
        """The ``types`` entry of the JSON form of this struct."""
        return [{"name": n, "type": t} for n, t in self.fields]


_DOMAIN_TYPE = StructType(
    "EIP712Domain",
    (
        ("name", "string"),
        ("version", "string"),
        ("chainId", "uint256"),
        ("verifyingContract", "address"),
    ),
)


@dataclass(frozen=True)
class Eip712Domain:
    """The signing domain: replay protection across apps, versions, chains, contracts."""

    name: str = "sealbatch"
    version: str = "1"
    chain_id: int = DEV_CHAIN_ID
    verifying_contract: Address = DEV_VERIFYING_CONTRACT
    separator: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sep = _DOMAIN_TYPE.hash_struct(self.as_dict())
        object.__setattr__(self, "separator", sep)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }

    def typed_data(self, struct: StructType, values: Mapping[str, Any]) -> dict[str, Any]:
        """The full EIP-712 JSON message (what ``eth_signTypedData_v4`` signs).

        Byte values are given as ``0x``-hex strings, so the result is plain JSON.
        """
        message = {
            k: "0x" + bytes(v).hex() if isinstance(v, bytes | bytearray) else v
            for k, v in values.items()
        }
        return {
            "types": {
                "EIP712Domain": _DOMAIN_TYPE.eip712_types(),
                struct.name: struct.eip712_types(),
            },
            "primaryType": struct.name,
            "domain": self.as_dict(),
            "message": message,
        }


def signed_typed_data(
    domain: Eip712Domain, struct: StructType, values: Mapping[str, Any], signature: bytes
) -> dict[str, Any]:
    """A signed message as a published batch keeps it (a forfeit's ``signed``,
    docs/formats.md "result.json"): :meth:`Eip712Domain.typed_data` with the message's
    fields in the struct's order, every address (the domain's ``verifyingContract``, each
    ``address`` field) in EIP-55 form and each ``bytes`` value in lower-case hex, then
    ``signature`` as ``0x`` and lower-case hex. The digest does not depend on an
    address's case, so the one form keeps the published bytes of one signed message one.

    Raises:
        ValueError: an ``address`` value that is not an address, or a field missing.
    """
    missing = [n for n, _ in struct.fields if n not in values]
    if missing:
        raise ValueError(f"{struct.name}: missing field(s) {', '.join(missing)}")
    message = {
        n: checksum_address(values[n]) if kind == "address" else values[n]
        for n, kind in struct.fields
    }
    checksummed = replace(domain, verifying_contract=checksum_address(domain.verifying_contract))
    return {
        **checksummed.typed_data(struct, message),
        "signature": "0x" + bytes(signature).hex(),
    }


def signing_digest(domain: Eip712Domain, struct: StructType, values: Mapping[str, Any]) -> bytes:
    """``keccak(0x1901 || domainSeparator || hashStruct(message))``."""
    return keccak256(b"\x19\x01", domain.separator, struct.hash_struct(values))


def _key_bytes(private_key: bytes | str) -> bytes:
    """The 32 bytes of a secp256k1 private key given as bytes or hex; raises SignatureError."""
    if isinstance(private_key, str):
        try:
            private_key = bytes.fromhex(private_key.removeprefix("0x"))
        except ValueError as exc:
            raise SignatureError(f"expected a hex private key, got {exc}") from exc
    if len(private_key) != 32:
        raise SignatureError(f"expected a 32-byte private key, got {len(private_key)} bytes")
    if not 0 < int.from_bytes(private_key, "big") < _SECP256K1_N:
        raise SignatureError("expected a private key in [1, n - 1] of secp256k1, got one outside")
    return private_key


@functools.lru_cache(maxsize=1 << 12)
def _signing_key(key: bytes) -> coincurve.PrivateKey:
    # Building a PrivateKey costs about as much as the signature itself; the
    # operator signs a receipt for every commitment with the same key, and a
    # simulation signs for thousands of accounts again and again.
    return coincurve.PrivateKey(key)


#: An address as hex: 40 digits, any case, with or without the ``0x`` prefix.
_HEX_ADDRESS = re.compile(r"(?:0[xX])?[0-9a-fA-F]{40}")


def _address_raw(value: object) -> bytes | None:
    """The 20 bytes of an address given as hex (:data:`_HEX_ADDRESS`) or 20 raw
    bytes, else None."""
    if isinstance(value, str):
        return bytes.fromhex(value[-40:]) if _HEX_ADDRESS.fullmatch(value) else None
    if isinstance(value, bytes | bytearray) and len(value) == 20:
        return bytes(value)
    return None


def is_address(value: object) -> bool:
    """Whether ``value`` is an address: 40 hex digits (any case, ``0x`` optional; a
    mixed-case checksum is not checked, as in ``eth_utils.is_address``) or 20 bytes."""
    return _address_raw(value) is not None


@functools.lru_cache(maxsize=1 << 16)
def checksum_address(value: str | bytes) -> Address:
    """The EIP-55 checksummed form of an address given as hex or 20 bytes (cached).

    EIP-55: each hex letter of the lower-case address is upper-cased where the
    matching hex digit of ``keccak256(lower-case address)`` is 8 or more
    (https://eips.ethereum.org/EIPS/eip-55; the tests check it against
    ``eth_utils``, which a venue need not import to start).

    Raises:
        ValueError: ``value`` is not a 20-byte address.
    """
    raw = _address_raw(value)
    if raw is None:
        raise ValueError(f"expected a 20-byte address, got {value!r}")
    lower = raw.hex()
    digest = keccak256(lower.encode()).hex()[:40]
    mixed = (c.upper() if d in "89abcdef" else c for c, d in zip(lower, digest, strict=True))
    return Address("0x" + "".join(mixed))


def address_of(private_key: bytes | str) -> Address:
    """The checksummed address of a secp256k1 private key."""
    pub = _signing_key(_key_bytes(private_key)).public_key.format(compressed=False)
    return checksum_address(keccak256(pub[1:])[-20:])


# sign_digest and recover_signer call libsecp256k1 through coincurve's own binding
# (the calls coincurve's PrivateKey.sign_recoverable and
# PublicKey.from_signature_and_message make, without their wrapper objects): the
# venue makes both for every bulk commitment, and tests/crypto/test_eip712.py
# checks the results against coincurve's classes and eth_account.


class _Signer:
    """One key's recoverable signatures, the library's buffers made once (the bulk
    path signs thousands of receipts with the operator's key in one call)."""

    def __init__(self, private_key: bytes | str) -> None:
        self._secret = _signing_key(_key_bytes(private_key)).secret
        self._sig = _ffi.new("secp256k1_ecdsa_recoverable_signature *")
        self._out = _ffi.new("unsigned char[64]")
        self._recid = _ffi.new("int *")
        self._compact = _ffi.buffer(self._out, 64)

    def __call__(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise SignatureError(f"expected a 32-byte digest, got {len(digest)} bytes")
        ctx = _CONTEXT.ctx
        if not _lib.secp256k1_ecdsa_sign_recoverable(
            ctx, self._sig, bytes(digest), self._secret, _ffi.NULL, _ffi.NULL
        ):
            raise SignatureError("the nonce generation failed or the private key is invalid")
        _lib.secp256k1_ecdsa_recoverable_signature_serialize_compact(
            ctx, self._out, self._recid, self._sig
        )
        return self._compact[:] + bytes((self._recid[0] + 27,))


def sign_digest(private_key: bytes | str, digest: bytes) -> bytes:
    """Sign a 32-byte digest; returns 65 bytes ``r || s || v`` with v in {27, 28}
    (RFC 6979 nonces: the same key and digest give the same signature)."""
    return _Signer(private_key)(digest)


def sign_digests(private_key: bytes | str, digests: Iterable[bytes]) -> list[bytes]:
    """:func:`sign_digest` of each of ``digests`` with one key: the same signatures,
    without making the library's buffers again for each."""
    sign = _Signer(private_key)
    return [sign(digest) for digest in digests]


class _Recoverer:
    """Signer recovery, the library's buffers made once (the bulk path recovers
    thousands of signers in one call)."""

    def __init__(self) -> None:
        self._sig = _ffi.new("secp256k1_ecdsa_recoverable_signature *")
        self._pub = _ffi.new("secp256k1_pubkey *")
        self._out = _ffi.new("unsigned char[65]")
        self._size = _ffi.new("size_t *", 65)
        self._serialized = _ffi.buffer(self._out, 65)

    def __call__(self, digest: bytes, signature: bytes) -> Address:
        if len(digest) != 32:
            raise SignatureError(f"expected a 32-byte digest, got {len(digest)} bytes")
        if len(signature) != 65:
            raise SignatureError(f"expected a 65-byte signature, got {len(signature)} bytes")
        v = signature[64]
        if v >= 27:
            v -= 27
        if v not in (0, 1):
            raise SignatureError(f"expected v in {{27, 28}}, got {signature[64]}")
        s = int.from_bytes(signature[32:64], "big")
        r = int.from_bytes(signature[:32], "big")
        if not (0 < r < _SECP256K1_N and 0 < s <= _SECP256K1_N // 2):
            raise SignatureError("signature r or s out of range (high-s signatures are refused)")
        ctx = _CONTEXT.ctx
        if not _lib.secp256k1_ecdsa_recoverable_signature_parse_compact(
            ctx, self._sig, bytes(signature[:64]), v
        ):
            raise SignatureError(
                "no public key recovers from this signature: Failed to parse recoverable signature."
            )
        if not _lib.secp256k1_ecdsa_recover(ctx, self._pub, self._sig, bytes(digest)):
            raise SignatureError(
                "no public key recovers from this signature: failed to recover ECDSA public key"
            )
        self._size[0] = 65
        _lib.secp256k1_ec_pubkey_serialize(
            ctx, self._out, self._size, self._pub, _lib.SECP256K1_EC_UNCOMPRESSED
        )
        return checksum_address(keccak256(self._serialized[1:])[-20:])


def recover_signer(digest: bytes, signature: bytes) -> Address:
    """Recover the address that signed ``digest``.

    Raises:
        SignatureError: the signature is not 65 bytes, v is not 27/28 (or 0/1),
            s is in the upper half of the curve order (EIP-2 malleability), or
            no public key recovers; or the digest is not 32 bytes.
    """
    return _Recoverer()(digest, signature)


def recover_signers(pairs: Iterable[tuple[bytes, bytes]]) -> list[Address | None]:
    """:func:`recover_signer` of each ``(digest, signature)``, None where it raises
    :class:`SignatureError`: the same addresses, without making the library's
    buffers again for each."""
    recover = _Recoverer()
    out: list[Address | None] = []
    for digest, signature in pairs:
        try:
            out.append(recover(digest, signature))
        except SignatureError:
            out.append(None)
    return out
