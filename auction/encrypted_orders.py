"""Orders encrypted to a batch's threshold key, and how anyone opens them.

A trader who does not want to reveal by hand sends, beside its signed
commitment, :func:`encrypt_order`: its ``(order, salt)`` (:func:`encode_sealed`)
ECIES-encrypted to the batch's public key (:mod:`sealbatch.crypto.threshold`),
with associated data naming the trader, the batch and the commitment
(:func:`associated_data`), so the ciphertext cannot be replayed under another
commitment, trader or batch. Once the keypers have released the batch secret,
:func:`open_ciphertext` decrypts and checks the result against the commitment;
every outcome other than an order that matches is a forfeit with a reason code
anyone holding the public batch secret can recompute. docs/threshold.md gives
every encoding with a test vector.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sealbatch.auction.commitment import (
    compute_commitment,
    compute_commitments,
    order_flags,
)
from sealbatch.auction.errors import InvalidOrder
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.threshold import DecryptionFailed, decrypt, encrypt

__all__ = [
    "AD_DOMAIN",
    "FORFEIT_REASONS",
    "PLAINTEXT_VERSION",
    "OpenedOrder",
    "associated_data",
    "decode_sealed",
    "encode_sealed",
    "encrypt_order",
    "open_ciphertext",
    "open_ciphertexts",
]

#: First bytes of the associated data: the scheme and its version.
AD_DOMAIN = b"sealbatch.encrypted-order.v1"
#: First byte of the plaintext.
PLAINTEXT_VERSION = 1
#: Why an encrypted order is forfeited (the ``reason`` of :class:`OpenedOrder`).
FORFEIT_REASONS = ("undecryptable", "malformed_plaintext", "commitment_mismatch")
_FIXED = 1 + 1 + 8 + 8 + 8 + 32 + 1  # version, flags, price, qty, client id, salt, market length
_KNOWN_FLAGS = 0b1111
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def associated_data(trader: str, batch_id: int, commitment: bytes) -> bytes:
    """``AD_DOMAIN ‖ batch id (8 bytes BE) ‖ trader (20 bytes) ‖ commitment (32 bytes)``.

    Raises:
        ValueError: the trader is not an address, the batch not a uint64 or
            the commitment not 32 bytes.
    """
    if isinstance(batch_id, bool) or not isinstance(batch_id, int) or not 0 <= batch_id < 1 << 64:
        raise ValueError(f"batch_id: expected a uint64, got {batch_id!r}")
    if not isinstance(commitment, bytes | bytearray) or len(commitment) != 32:
        raise ValueError(f"commitment: expected 32 bytes, got {commitment!r}")
    if not isinstance(trader, str) or not _ADDRESS.fullmatch(trader):
        raise ValueError(f"trader: expected an address (0x and 40 hex digits), got {trader!r}")
    address = bytes.fromhex(trader[2:])
    return AD_DOMAIN + batch_id.to_bytes(8, "big") + address + bytes(commitment)


def encode_sealed(order: Order, salt: bytes) -> bytes:
    """The plaintext of an encrypted order.

    ``version (1) ‖ flags (1, as in the commitment) ‖ limit price (8 BE, 0 for
    a market order) ‖ quantity (8 BE) ‖ client id (8 BE) ‖ salt (32) ‖ market
    length (1) ‖ market (UTF-8)``.

    Raises:
        ValueError: the salt is not 32 bytes.
    """
    if not isinstance(salt, bytes | bytearray) or len(salt) != 32:
        raise ValueError(f"salt: expected 32 bytes, got {salt!r}")
    market = order.market.encode()
    return (
        bytes([PLAINTEXT_VERSION, order_flags(order)])
        + (order.limit_price or 0).to_bytes(8, "big")
        + order.quantity.to_bytes(8, "big")
        + order.client_id.to_bytes(8, "big")
        + bytes(salt)
        + bytes([len(market)])
        + market
    )


def decode_sealed(data: bytes) -> tuple[Order, bytes]:
    """Parse :func:`encode_sealed`; exactly one byte string decodes to each pair.

    Raises:
        InvalidOrder: wrong version, unknown flag bits, a price with no limit
            flag (or none with it), a length that does not match, bad UTF-8, or
            fields :class:`Order` refuses.
    """
    if len(data) < _FIXED:
        raise InvalidOrder(f"expected at least {_FIXED} plaintext bytes, got {len(data)}")
    if data[0] != PLAINTEXT_VERSION:
        raise InvalidOrder(f"expected plaintext version {PLAINTEXT_VERSION}, got {data[0]}")
    flags = data[1]
    if flags & ~_KNOWN_FLAGS:
        raise InvalidOrder(f"expected flag bits 0-3 only, got 0x{flags:02x}")
    price = int.from_bytes(data[2:10], "big")
    quantity = int.from_bytes(data[10:18], "big")
    client_id = int.from_bytes(data[18:26], "big")
    salt = bytes(data[26:58])
    length = data[58]
    if len(data) != _FIXED + length:
        raise InvalidOrder(f"expected {_FIXED + length} plaintext bytes, got {len(data)}")
    try:
        market = bytes(data[59:]).decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidOrder(f"market: expected UTF-8, got {bytes(data[59:])!r}") from exc
    has_limit = bool(flags & 2)
    if has_limit != (price != 0):
        raise InvalidOrder(f"expected a price exactly when the limit flag is set, got {price}")
    order = Order(
        market,
        Side.BUY if flags & 1 else Side.SELL,
        price if has_limit else None,
        quantity,
        TimeInForce.GTC if flags & 4 else TimeInForce.IOC,
        bool(flags & 8),
        client_id,
    )
    return order, salt


def encrypt_order(
    public_key: bytes,
    order: Order,
    salt: bytes,
    trader: str,
    batch_id: int,
    ephemeral: int | None = None,
) -> bytes:
    """``(order, salt)`` encrypted to a batch key, bound to its commitment.

    The commitment is recomputed here (:func:`compute_commitment`), so the
    ciphertext is always for the commitment the trader signs.

    Raises:
        ValueError: see :func:`associated_data` and :func:`encode_sealed`.
        ThresholdError: the public key is not a point.
    """
    commitment = compute_commitment(order, salt, trader, batch_id)
    return encrypt(
        public_key,
        encode_sealed(order, salt),
        associated_data(trader, batch_id, commitment),
        ephemeral,
    )


@dataclass(frozen=True)
class OpenedOrder:
    """What an encrypted order opened to: the order, or a forfeit with its reason.

    Attributes:
        commitment: the commitment the ciphertext was sent with.
        order: the decrypted order if it matches the commitment, else None.
        salt: its salt (None with the order).
        reason: None for a match, else one of :data:`FORFEIT_REASONS`.
        detail: a sentence saying what failed ("expected …, got …").
    """

    commitment: bytes
    order: Order | None
    salt: bytes | None
    reason: str | None
    detail: str

    @property
    def forfeited(self) -> bool:
        """Whether the ciphertext did not open to its commitment's order."""
        return self.reason is not None


def open_ciphertext(
    secret: int,
    public_key: bytes,
    ciphertext: bytes,
    trader: str,
    batch_id: int,
    commitment: bytes,
) -> OpenedOrder:
    """Decrypt an encrypted order with the batch secret and check it against its commitment.

    Never raises for a bad ciphertext: a ciphertext that does not open, does
    not parse, or parses to an order and salt whose Poseidon2 commitment is not
    ``commitment`` is reported as a forfeit with its reason.

    Raises:
        ValueError: the trader, batch id or commitment themselves are malformed
            (those come from the signed commitment, not the ciphertext).
    """
    return open_ciphertexts(secret, public_key, batch_id, [(ciphertext, trader, commitment)])[0]


def _decrypt_one(
    secret: int, public_key: bytes, ciphertext: bytes, trader: str, batch_id: int, commitment: bytes
) -> OpenedOrder | tuple[Order, bytes]:
    ad = associated_data(trader, batch_id, commitment)
    try:
        plaintext = decrypt(secret, public_key, ciphertext, ad)
    except DecryptionFailed as exc:
        return OpenedOrder(bytes(commitment), None, None, "undecryptable", str(exc))
    try:
        order, salt = decode_sealed(plaintext)
    except InvalidOrder as exc:
        return OpenedOrder(bytes(commitment), None, None, "malformed_plaintext", str(exc))
    return order, salt


_PENDING = OpenedOrder(bytes(32), None, None, None, "")


def open_ciphertexts(
    secret: int,
    public_key: bytes,
    batch_id: int,
    items: Sequence[tuple[bytes, str, bytes]],
) -> list[OpenedOrder]:
    """:func:`open_ciphertext` for a whole batch: ``(ciphertext, trader, commitment)`` each.

    Decrypts one by one, then checks every decrypted order against its
    commitment in one vectorised Poseidon2 hash.

    Raises:
        ValueError: a trader, the batch id or a commitment is malformed.
    """
    first = [_decrypt_one(secret, public_key, c, t, batch_id, m) for c, t, m in items]
    parsed = [(i, r) for i, r in enumerate(first) if isinstance(r, tuple)]
    hashes = compute_commitments(
        [r[0] for _, r in parsed],
        [r[1] for _, r in parsed],
        [items[i][1] for i, _ in parsed],
        batch_id,
    )
    out = [r if isinstance(r, OpenedOrder) else _PENDING for r in first]
    for (i, (order, salt)), got in zip(parsed, hashes, strict=True):
        want = bytes(items[i][2])
        if got != want:
            out[i] = OpenedOrder(
                want,
                None,
                None,
                "commitment_mismatch",
                f"expected the order to hash to 0x{want.hex()}, got 0x{got.hex()}",
            )
        else:
            out[i] = OpenedOrder(want, order, salt, None, "opens to its commitment")
    return out
