"""The keyper committee: key files, the committee file, and the messages keypers sign.

A committee is ``n`` keypers of which any ``t`` recover a batch's secret
(:mod:`sealbatch.crypto.threshold`, docs/threshold.md). Each keyper keeps one
32-byte secret in its key file: it is the keyper's secp256k1 identity key (it
signs the keyper's messages and receives the shares other keypers deal to it)
and, through HKDF, the seed of its per-batch Feldman polynomials. The public
committee file names the threshold and each keyper's index, address and public
key; the venue and every keyper load the same one.

Messages (EIP-712, in the venue's domain):

* ``KeyperDealing`` — keyper ``dealer``'s dealing for a batch: its Feldman
  commitments and, per keyper ``j``, the share ``f(j)`` ECIES-encrypted to
  keyper ``j``'s public key (:func:`encrypt_share`); signed over
  :func:`dealing_hash`.
* ``KeyperComplaint`` — keyper ``index``'s complaint that the share keyper
  ``dealer`` dealt it for a batch does not open or does not verify against the
  dealer's commitments.
* ``ComplaintAnswer`` — dealer ``dealer``'s answer to that complaint: the share
  ``f(index)`` in the clear, which anyone checks against the dealer's commitments.
* ``KeyShare`` — keyper ``index``'s share of a batch's secret, released after
  the batch's seal.
* ``BatchSeal`` — the operator's signed, sealed commitment root of a batch:
  after it no commitment enters the batch; keypers release only after it.
* ``EncryptedOrder`` — a trader's signature over the ciphertext it sent with
  its commitment, so a forfeit for a bad ciphertext is evidence against the
  trader and nobody else.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealbatch.crypto.eip712 import Address, StructType, address_of, checksum_address
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.threshold import (
    CIPHERTEXT_OVERHEAD,
    CURVE_ORDER,
    DecryptionFailed,
    ThresholdError,
    check_point,
    decrypt,
    encrypt,
    scalar_point,
)
from sealbatch.settlement.input_files import CONFIG_FILE_CAP, RefusedFile, read_input_text
from sealbatch.settlement.json_text import loads_json
from sealbatch.venue.errors import BadRequest

__all__ = [
    "ANSWER_TYPE",
    "COMMITTEE_FORMAT",
    "COMPLAINT_TYPE",
    "DEALING_TYPE",
    "ENCRYPTED_ORDER_TYPE",
    "KEY_FORMAT",
    "KEY_SHARE_TYPE",
    "MAX_ORDER_CIPHERTEXT",
    "SEAL_TYPE",
    "SHARE_CIPHERTEXT",
    "Committee",
    "KeyperKey",
    "Member",
    "dealing_hash",
    "decrypt_share",
    "encrypt_share",
    "load_committee",
    "load_key",
    "write_committee",
]

COMMITTEE_FORMAT = "sealbatch.committee.v1"
KEY_FORMAT = "sealbatch.keyper-key.v1"
#: Bytes of one encrypted share (a 32-byte scalar under ECIES).
SHARE_CIPHERTEXT = 32 + CIPHERTEXT_OVERHEAD
#: The largest ciphertext of an encrypted order (a 255-byte market id).
MAX_ORDER_CIPHERTEXT = 59 + 255 + CIPHERTEXT_OVERHEAD
_SEED_INFO = b"sealbatch.keyper.dealing-seed.v1"
_SHARE_AD = b"sealbatch.keyper-share.v1"

DEALING_TYPE = StructType(
    "KeyperDealing",
    (
        ("keyper", "address"),
        ("batchId", "uint64"),
        ("dealer", "uint64"),
        ("dealingHash", "bytes32"),
    ),
)
COMPLAINT_TYPE = StructType(
    "KeyperComplaint",
    (
        ("keyper", "address"),
        ("batchId", "uint64"),
        ("index", "uint64"),
        ("dealer", "uint64"),
    ),
)
ANSWER_TYPE = StructType(
    "ComplaintAnswer",
    (
        ("keyper", "address"),
        ("batchId", "uint64"),
        ("dealer", "uint64"),
        ("index", "uint64"),
        ("share", "bytes32"),
    ),
)
KEY_SHARE_TYPE = StructType(
    "KeyShare",
    (
        ("keyper", "address"),
        ("batchId", "uint64"),
        ("index", "uint64"),
        ("share", "bytes32"),
    ),
)
SEAL_TYPE = StructType(
    "BatchSeal",
    (
        ("operator", "address"),
        ("batchId", "uint64"),
        ("commitmentRoot", "bytes32"),
        ("commitments", "uint64"),
    ),
)
ENCRYPTED_ORDER_TYPE = StructType(
    "EncryptedOrder",
    (
        ("trader", "address"),
        ("batchId", "uint64"),
        ("commitment", "bytes32"),
        ("ciphertextHash", "bytes32"),
    ),
)


@dataclass(frozen=True)
class Member:
    """One keyper as the committee file names it."""

    index: int
    address: Address
    public_key: bytes


@dataclass(frozen=True)
class Committee:
    """``t``-of-``n`` keypers (indices 1..n)."""

    threshold: int
    members: tuple[Member, ...]

    @property
    def size(self) -> int:
        return len(self.members)

    def member(self, index: int) -> Member:
        """Keyper ``index``.

        Raises:
            BadRequest: no such keyper.
        """
        if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= self.size:
            raise BadRequest(f"keyper index: expected 1 to {self.size}, got {index!r}")
        return self.members[index - 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": COMMITTEE_FORMAT,
            "threshold": self.threshold,
            "keypers": [
                {"index": m.index, "address": m.address, "public_key": "0x" + m.public_key.hex()}
                for m in self.members
            ],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Committee:
        """Parse and check a committee document.

        Each field is checked where it is read, so an error names it; only the
        domain errors of the checks (a point off the curve, an address that is
        not 20 bytes) are turned into :class:`BadRequest`, never a bug's.

        Raises:
            BadRequest: wrong format, a field of the wrong type, threshold out
                of range, indices not 1..n, a public key that is not a
                compressed secp256k1 point, or an address that is not its
                public key's.
        """
        if d.get("format") != COMMITTEE_FORMAT:
            raise BadRequest(f"format: expected {COMMITTEE_FORMAT!r}, got {d.get('format')!r}")
        if "threshold" not in d:
            raise BadRequest("threshold: missing")
        t = d["threshold"]
        if isinstance(t, bool) or not isinstance(t, int):
            raise BadRequest(f"threshold: expected an integer, got {t!r}")
        if "keypers" not in d:
            raise BadRequest("keypers: missing")
        keypers = d["keypers"]
        if not isinstance(keypers, list):
            raise BadRequest(f"keypers: expected a list, got {type(keypers).__name__}")
        if not 1 <= t <= len(keypers) <= 255:
            raise BadRequest(
                f"expected 1 <= threshold <= keypers <= 255, got {t!r} of {len(keypers)}"
            )
        return cls(t, tuple(_member_from_json(n, k) for n, k in enumerate(keypers, start=1)))


def _member_from_json(n: int, k: object) -> Member:
    """Keyper ``n`` (1-based) of a committee document's ``keypers`` list.

    Raises:
        BadRequest: naming ``keypers[n-1]`` and the field that is wrong.
    """
    field = f"keypers[{n - 1}]"
    if not isinstance(k, dict):
        raise BadRequest(f"{field}: expected an object, got {type(k).__name__}")
    for name in ("index", "public_key", "address"):
        if name not in k:
            raise BadRequest(f"{field}.{name}: missing")
    index = k["index"]
    if isinstance(index, bool) or not isinstance(index, int) or index != n:
        raise BadRequest(f"{field}.index: expected {n}, got {index!r}")
    pub_hex = k["public_key"]
    if not isinstance(pub_hex, str) or not pub_hex.startswith("0x"):
        raise BadRequest(f"{field}.public_key: expected 0x and 66 hex digits, got {pub_hex!r}")
    try:
        raw = bytes.fromhex(pub_hex[2:])
    except ValueError:
        raise BadRequest(
            f"{field}.public_key: expected 0x and 66 hex digits, got {pub_hex!r}"
        ) from None
    try:
        pub = check_point(f"{field}.public_key", raw)
    except ThresholdError as exc:
        raise BadRequest(str(exc)) from exc
    address_text = k["address"]
    if not isinstance(address_text, str):
        raise BadRequest(f"{field}.address: expected a 0x address, got {address_text!r}")
    try:
        address = checksum_address(address_text)
    except ValueError as exc:
        raise BadRequest(f"{field}.address: {exc}") from exc
    if _address_of_point(pub) != address:
        raise BadRequest(
            f"keyper {n}: expected the address of its public key "
            f"{_address_of_point(pub)}, got {address}"
        )
    return Member(n, address, pub)


def _address_of_point(pub: bytes) -> Address:
    from coincurve import PublicKey

    raw = PublicKey(pub).format(compressed=False)[1:]
    return checksum_address(keccak256(raw)[-20:])


@dataclass(frozen=True)
class KeyperKey:
    """A keyper's key file: its index and its 32-byte secret."""

    index: int
    secret: bytes

    @property
    def address(self) -> Address:
        return address_of(self.secret)

    @property
    def public_key(self) -> bytes:
        return scalar_point(int.from_bytes(self.secret, "big"))

    @property
    def seed(self) -> bytes:
        """The seed of this keyper's Feldman polynomials (HKDF of the secret)."""
        return HKDF(hashes.SHA256(), 32, None, _SEED_INFO).derive(self.secret)

    def member(self) -> Member:
        return Member(self.index, self.address, self.public_key)

    @classmethod
    def generate(cls, index: int) -> KeyperKey:
        while True:
            secret = os.urandom(32)
            if 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
                return cls(index, secret)


def load_key(path: str | Path) -> KeyperKey:
    """Read a keyper key file.

    Raises:
        BadRequest: unreadable, wrong format, or not a secp256k1 secret.
    """
    try:
        d = loads_json(read_input_text(path, CONFIG_FILE_CAP))
    except RefusedFile as exc:  # a FIFO, a device, or over the cap
        raise BadRequest(f"{path}: {exc}") from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise BadRequest(f"{path}: expected a keyper key file, got {exc}") from exc
    if not isinstance(d, dict):
        raise BadRequest(f"{path}: expected a JSON object, got {type(d).__name__}")
    if d.get("format") != KEY_FORMAT:
        raise BadRequest(f"{path}: expected format {KEY_FORMAT!r}, got {d.get('format')!r}")
    for name in ("secret", "index"):
        if name not in d:
            raise BadRequest(f"{path}: {name}: missing")
    text, index = d["secret"], d["index"]
    if not isinstance(text, str):
        raise BadRequest(
            f"{path}: secret: expected 0x and 64 hex digits, got {type(text).__name__}"
        )
    try:
        secret = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise BadRequest(f"{path}: secret: expected 0x and 64 hex digits") from None
    if len(secret) != 32 or not 0 < int.from_bytes(secret, "big") < CURVE_ORDER:
        raise BadRequest(f"{path}: expected a 32-byte secp256k1 secret, got {len(secret)} bytes")
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= 255:
        raise BadRequest(f"{path}: index: expected 1 to 255, got {index!r}")
    return KeyperKey(index, secret)


def load_committee(path: str | Path) -> Committee:
    """Read a committee file (see :meth:`Committee.from_json`).

    Raises:
        BadRequest: unreadable or invalid.
    """
    try:
        d = loads_json(read_input_text(path, CONFIG_FILE_CAP))
    except RefusedFile as exc:  # a FIFO, a device, or over the cap
        raise BadRequest(f"{path}: {exc}") from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise BadRequest(f"{path}: expected a committee file, got {exc}") from exc
    if not isinstance(d, dict):
        raise BadRequest(f"{path}: expected a JSON object, got {type(d).__name__}")
    try:
        return Committee.from_json(d)
    except BadRequest as exc:
        raise BadRequest(f"{path}: {exc}") from exc


def write_committee(out: Path, threshold: int, size: int) -> Committee:
    """Make ``size`` fresh keyper key files and the committee file in ``out``.

    Writes ``keyper-<i>.json`` (mode 0600, each for its keyper alone) and
    ``committee.json`` (public, 0644), all or none: each file is written to a
    temporary file in ``out`` first, then linked to its name, which must be free
    (a key file is never overwritten); when any step fails, the files this call
    made are removed again, ``out`` too when this call made it.

    Raises:
        BadRequest: bad threshold or size; FileExistsError: a file's name is taken
            (``filename`` names it); OSError: the files cannot be written.
    """
    if not 1 <= threshold <= size <= 255:
        raise BadRequest(
            f"expected 1 <= threshold <= size <= 255, got threshold {threshold}, size {size}"
        )
    keys = [KeyperKey.generate(i) for i in range(1, size + 1)]
    committee = Committee(threshold, tuple(k.member() for k in keys))
    texts = {
        f"keyper-{k.index}.json": json.dumps(
            {"format": KEY_FORMAT, "index": k.index, "secret": "0x" + k.secret.hex()}
        )
        + "\n"
        for k in keys
    }
    texts["committee.json"] = json.dumps(committee.to_json(), indent=2) + "\n"
    made_out = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    temporary: list[str] = []
    linked: list[Path] = []
    done = False
    try:
        for name, text in texts.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)  # 0600
            temporary.append(tmp)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                if name == "committee.json":
                    os.fchmod(fh.fileno(), 0o644)
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        for name, tmp in zip(texts, temporary, strict=True):
            try:
                os.link(tmp, out / name)  # refused when the name is taken, even by a folder
            except FileExistsError as exc:
                raise FileExistsError(exc.errno, exc.strerror, str(out / name)) from None
            linked.append(out / name)
        done = True
    finally:
        for tmp in temporary:
            Path(tmp).unlink(missing_ok=True)
        if not done:
            for path in linked:
                path.unlink()
            if made_out:
                out.rmdir()
    return committee


def _share_ad(batch_id: int, dealer: int, index: int) -> bytes:
    return _SHARE_AD + batch_id.to_bytes(8, "big") + bytes([dealer, index])


def encrypt_share(recipient: bytes, batch_id: int, dealer: int, index: int, share: int) -> bytes:
    """Dealer's share ``f(index)`` ECIES-encrypted to keyper ``index``'s public key."""
    return encrypt(recipient, share.to_bytes(32, "big"), _share_ad(batch_id, dealer, index))


def decrypt_share(key: KeyperKey, batch_id: int, dealer: int, ciphertext: bytes) -> int:
    """Open the share ``dealer`` dealt to ``key``'s keyper.

    Raises:
        DecryptionFailed: the ciphertext does not open (or holds no scalar).
    """
    plain = decrypt(
        int.from_bytes(key.secret, "big"),
        key.public_key,
        ciphertext,
        _share_ad(batch_id, dealer, key.index),
    )
    value = int.from_bytes(plain, "big")
    if len(plain) != 32 or not 0 < value < CURVE_ORDER:
        raise DecryptionFailed(f"expected a 32-byte scalar in [1, n), got {len(plain)} bytes")
    return value


def dealing_hash(
    batch_id: int, dealer: int, commitments: Sequence[bytes], shares: Sequence[bytes]
) -> bytes:
    """``keccak(batch (8) ‖ dealer (1) ‖ commitments ‖ encrypted shares)`` (fixed sizes)."""
    return keccak256(
        batch_id.to_bytes(8, "big"), bytes([dealer]), *map(bytes, commitments), *map(bytes, shares)
    )


def check_dealing_shape(
    committee: Committee, commitments: Sequence[bytes], shares: Sequence[bytes]
) -> None:
    """``t`` points and ``n`` encrypted shares of :data:`SHARE_CIPHERTEXT` bytes.

    Raises:
        BadRequest: naming the first field that is wrong.
    """
    if len(commitments) != committee.threshold:
        raise BadRequest(
            f"commitments: expected {committee.threshold} points, got {len(commitments)}"
        )
    if len(shares) != committee.size:
        raise BadRequest(f"shares: expected {committee.size} ciphertexts, got {len(shares)}")
    for k, c in enumerate(commitments):
        try:
            check_point(f"commitments[{k}]", c)
        except ThresholdError as exc:
            raise BadRequest(str(exc)) from exc
    for j, s in enumerate(shares):
        if len(s) != SHARE_CIPHERTEXT:
            raise BadRequest(f"shares[{j}]: expected {SHARE_CIPHERTEXT} bytes, got {len(s)}")
