"""Sealed orders: EIP-712-signed commitments, operator receipts, reveals.

A batch has two windows. During the commit window ``[commit_open, commit_close)``
a trader sends a signed :class:`Commit` naming only a hash of the order; the
book answers with a :class:`Receipt` signed by the operator — the trader's
proof that the commitment was taken in time. During the reveal window
``[commit_close, reveal_close)`` the trader reveals the order and salt; the
book recomputes the commitment and takes the order if it matches and passes
the market's rules. Commitments left unrevealed are forfeited (the bond is
settlement's business). The batch seed, which breaks allocation ties, is the
Poseidon2 Merkle root of all commitments in receipt order
(:func:`sealbatch.auction.commitment.commitment_root`), fixed before anyone
reveals. A commitment is a Poseidon2 hash of the order, a 32-byte salt, the
batch id and the trader (:func:`sealbatch.auction.commitment.compute_commitment`),
so the batch proof can check every reveal in four permutations; the EIP-712
signatures stay Keccak, as wallets and the EVM need.

Every rejection raises its own :mod:`sealbatch.auction.errors` type and changes nothing.
Times are integer milliseconds since the Unix epoch.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sealbatch.auction.bounds import MAX_BALANCE, MAX_BOND, bound_message, within
from sealbatch.auction.commitment import (
    COMMITMENT_TREE_DEPTH,
    commitment_preimage,
    commitment_root,
    compute_commitment,
    digest_preimages,
    is_commitment_digest,
)
from sealbatch.auction.errors import (
    AuctionError,
    BadCommitment,
    BadSignature,
    CommitmentExpired,
    DuplicateCommitment,
    DuplicateReveal,
    InvalidOrder,
    NonceReused,
    OutsideWindow,
    RevealMismatch,
    UnknownCommitment,
    WrongBatch,
    WrongMarket,
)
from sealbatch.auction.frozen import frozen_instance
from sealbatch.auction.markets import Market
from sealbatch.auction.orders import Order
from sealbatch.crypto.eip712 import (
    Address,
    Eip712Domain,
    StructType,
    address_of,
    checksum_address,
    recover_signer,
    sign_digest,
    signed_typed_data,
    signing_digest,
)
from sealbatch.crypto.exceptions import SignatureError
from sealbatch.crypto.keccak import keccak256

__all__ = [
    "COMMIT_TYPE",
    "RECEIPT_TYPE",
    "BatchWindows",
    "Commit",
    "CommitBook",
    "CommitCheck",
    "Forfeit",
    "NonceRegistry",
    "Receipt",
    "Rejection",
    "Reveal",
    "RevealedOrder",
    "SealedBatch",
    "SignedCommit",
    "commit_digest",
    "compute_commitment",
    "receipt_digest",
    "sign_receipt",
]

COMMIT_TYPE = StructType(
    "Commit",
    (
        ("trader", "address"),
        ("batchId", "uint64"),
        ("market", "string"),
        ("commitment", "bytes32"),
        ("nonce", "uint64"),
        ("marginLock", "uint256"),
        ("bond", "uint256"),
        ("expiry", "uint64"),
    ),
)
RECEIPT_TYPE = StructType(
    "Receipt",
    (
        ("batchId", "uint64"),
        ("sequence", "uint64"),
        ("commitment", "bytes32"),
        ("receivedAt", "uint64"),
    ),
)


@dataclass(frozen=True)
class Commit:
    """The message a trader signs to commit to a sealed order."""

    trader: Address
    batch_id: int
    market: str
    commitment: bytes
    nonce: int
    margin_lock: int = 0
    bond: int = 0
    expiry_ms: int = (1 << 64) - 1

    def message(self) -> dict[str, Any]:
        return {
            "trader": self.trader,
            "batchId": self.batch_id,
            "market": self.market,
            "commitment": self.commitment,
            "nonce": self.nonce,
            "marginLock": self.margin_lock,
            "bond": self.bond,
            "expiry": self.expiry_ms,
        }

    def digest(self, domain: Eip712Domain) -> bytes:
        """The EIP-712 digest; raises ValueError naming a malformed field."""
        return commit_digest(
            domain,
            self.trader,
            self.batch_id,
            self.market,
            self.commitment,
            self.nonce,
            self.margin_lock,
            self.bond,
            self.expiry_ms,
        )


_U64 = 1 << 64
_U256 = 1 << 256
_ADDRESS_PAD = bytes(12)


@functools.lru_cache(maxsize=1024)
def _market_word(market: str) -> bytes:
    return keccak256(market.encode())


def commit_digest(
    domain: Eip712Domain,
    trader: str,
    batch_id: int,
    market: str,
    commitment: bytes,
    nonce: int,
    margin_lock: int,
    bond: int,
    expiry_ms: int,
) -> bytes:
    """The EIP-712 digest of a ``Commit`` from its fields, without building the
    message: the bytes :func:`~sealbatch.crypto.eip712.signing_digest` gives for
    :data:`COMMIT_TYPE` (``tests/auction/test_commit_digest.py`` checks both agree),
    encoded directly for the bulk path (every commitment is hashed once to recover
    its signer). A field this direct encoding does not take (e.g. an address in
    another spelling than ``0x`` + 40 hex digits) goes to the general encoder, which
    takes it or raises its ValueError naming the field."""
    try:
        if (
            type(batch_id) is int
            and type(nonce) is int
            and type(margin_lock) is int
            and type(bond) is int
            and type(expiry_ms) is int
            and 0 <= batch_id < _U64
            and 0 <= nonce < _U64
            and 0 <= expiry_ms < _U64
            and 0 <= margin_lock < _U256
            and 0 <= bond < _U256
            and type(commitment) is bytes
            and len(commitment) == 32
            and type(market) is str
            and len(trader) == 42
            and trader[:2] == "0x"
        ):
            address = bytes.fromhex(trader[2:])
            if len(address) == 20:  # fromhex skips whitespace
                struct_hash = keccak256(
                    COMMIT_TYPE.type_hash,
                    _ADDRESS_PAD,
                    address,
                    batch_id.to_bytes(32, "big"),
                    _market_word(market),
                    commitment,
                    nonce.to_bytes(32, "big"),
                    margin_lock.to_bytes(32, "big"),
                    bond.to_bytes(32, "big"),
                    expiry_ms.to_bytes(32, "big"),
                )
                return keccak256(b"\x19\x01", domain.separator, struct_hash)
    except (TypeError, ValueError):
        pass
    message = {
        "trader": trader,
        "batchId": batch_id,
        "market": market,
        "commitment": commitment,
        "nonce": nonce,
        "marginLock": margin_lock,
        "bond": bond,
        "expiry": expiry_ms,
    }
    return signing_digest(domain, COMMIT_TYPE, message)


@dataclass(frozen=True)
class SignedCommit:
    """A :class:`Commit` with the trader's 65-byte EIP-712 signature."""

    commit: Commit
    signature: bytes

    @classmethod
    def sign(cls, commit: Commit, private_key: bytes | str, domain: Eip712Domain) -> SignedCommit:
        return cls(commit, sign_digest(private_key, commit.digest(domain)))


def sign_receipt(
    domain: Eip712Domain,
    operator_key: bytes,
    batch_id: int,
    sequence: int,
    commitment: bytes,
    received_at_ms: int,
) -> bytes:
    """The operator's EIP-712 ``Receipt`` signature (65 bytes) over one receipt's fields.

    Deterministic (RFC 6979 nonces): the same fields give the same signature in
    any process.
    """
    return sign_digest(
        operator_key, receipt_digest(domain, batch_id, sequence, commitment, received_at_ms)
    )


def receipt_digest(
    domain: Eip712Domain, batch_id: int, sequence: int, commitment: bytes, received_at_ms: int
) -> bytes:
    """The EIP-712 digest of a ``Receipt`` from its fields, encoded directly (the bytes
    :func:`~sealbatch.crypto.eip712.signing_digest` gives for :data:`RECEIPT_TYPE`;
    anything the direct encoding does not take goes to the general encoder)."""
    if (
        type(batch_id) is int
        and type(sequence) is int
        and type(received_at_ms) is int
        and 0 <= batch_id < _U64
        and 0 <= sequence < _U64
        and 0 <= received_at_ms < _U64
        and type(commitment) is bytes
        and len(commitment) == 32
    ):
        struct_hash = keccak256(
            RECEIPT_TYPE.type_hash,
            batch_id.to_bytes(32, "big"),
            sequence.to_bytes(32, "big"),
            commitment,
            received_at_ms.to_bytes(32, "big"),
        )
        return keccak256(b"\x19\x01", domain.separator, struct_hash)
    message = {
        "batchId": batch_id,
        "sequence": sequence,
        "commitment": commitment,
        "receivedAt": received_at_ms,
    }
    return signing_digest(domain, RECEIPT_TYPE, message)


@dataclass(frozen=True)
class Receipt:
    """The operator's signed proof that a commitment was taken in time."""

    batch_id: int
    sequence: int
    commitment: bytes
    received_at_ms: int
    operator_signature: bytes

    @classmethod
    def of(
        cls,
        batch_id: int,
        sequence: int,
        commitment: bytes,
        received_at_ms: int,
        operator_signature: bytes,
    ) -> Receipt:
        """``Receipt(...)`` built without the frozen dataclass's ``__init__``, for a
        receipt that is answered and dropped (the bulk path signs each in a worker and
        makes it again with its signature). Not for one that is kept: the instance's
        ``__dict__`` is then a dictionary of its own (~150 bytes more)."""
        return frozen_instance(
            cls,
            {
                "batch_id": batch_id,
                "sequence": sequence,
                "commitment": commitment,
                "received_at_ms": received_at_ms,
                "operator_signature": operator_signature,
            },
        )

    def message(self) -> dict[str, Any]:
        return {
            "batchId": self.batch_id,
            "sequence": self.sequence,
            "commitment": self.commitment,
            "receivedAt": self.received_at_ms,
        }

    def signer(self, domain: Eip712Domain) -> Address:
        """The address that signed this receipt (compare with the operator's)."""
        digest = receipt_digest(
            domain, self.batch_id, self.sequence, self.commitment, self.received_at_ms
        )
        return recover_signer(digest, self.operator_signature)


@dataclass(frozen=True)
class Reveal:
    """A trader's reveal: the committed order and its salt."""

    commitment: bytes
    order: Order
    salt: bytes


@dataclass(frozen=True)
class RevealedOrder:
    """An order that was committed in time and revealed correctly (``salt``: the
    commitment's salt, published with the batch; None where it is not known)."""

    commitment: bytes
    trader: Address
    order: Order
    sequence: int
    nonce: int
    margin_lock: int
    bond: int
    salt: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Forfeit:
    """A commitment that was never revealed: its bond goes to the insurance fund.

    ``rfq_id`` is None for an order commitment of the batch (``sequence`` is its
    receipt number, its leaf in the commitment root); for a sealed RFQ quote it is
    the RFQ's id and ``sequence`` the quote's number within the RFQ (the quote is
    not under the batch's commitment root).
    """

    commitment: bytes
    trader: Address
    market: str
    sequence: int
    bond: int
    rfq_id: bytes | None = None
    #: The trader's signed message that made the commitment, as published: the
    #: EIP-712 typed data (``domain``, ``types``, ``primaryType``, ``message``) of
    #: its ``Commit`` (or the maker's ``QuoteCommit``) plus ``signature`` (0x-hex,
    #: 65 bytes), so anyone can recover the signer. Not compared: it evidences the
    #: forfeit, the fields above are the forfeit.
    signed: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Rejection:
    """A refused commit or reveal, kept for the orders' fate report."""

    commitment: bytes | None
    code: str
    reason: str
    at_ms: int


@dataclass(frozen=True)
class BatchWindows:
    """Commit window ``[commit_open_ms, commit_close_ms)``, reveal window
    ``[commit_close_ms, reveal_close_ms)``."""

    commit_open_ms: int
    commit_close_ms: int
    reveal_close_ms: int

    def __post_init__(self) -> None:
        if not self.commit_open_ms < self.commit_close_ms < self.reveal_close_ms:
            raise AuctionError(
                "expected commit_open < commit_close < reveal_close, got "
                f"{self.commit_open_ms}, {self.commit_close_ms}, {self.reveal_close_ms}"
            )


class NonceRegistry:
    """Nonces each trader has used, shared by consecutive batches.

    A nonce is used once per trader for ever, so a signed commitment cannot be
    replayed into a later batch. A message is refused once its expiry has
    passed, whatever its nonce, so the nonce of a message that expired need
    not be remembered: :meth:`forget_expired` drops those and keeps memory
    bounded by the messages still valid.
    """

    def __init__(self) -> None:
        #: (trader, nonce) -> the expiry of the message that used it (None: never)
        self._used: dict[tuple[str, int], int | None] = {}
        self._expiring: list[tuple[int, str, int]] = []  # heap of (expiry, trader, nonce)

    def __len__(self) -> int:
        return len(self._used)

    def is_used(self, trader: str, nonce: int) -> bool:
        return (trader, nonce) in self._used

    def use(self, trader: str, nonce: int, expires_ms: int | None = None) -> None:
        """Mark ``nonce`` used by ``trader``, by a message valid until ``expires_ms``."""
        self._used[(trader, nonce)] = expires_ms
        if expires_ms is not None:
            heapq.heappush(self._expiring, (expires_ms, trader, nonce))

    def forget_expired(self, now_ms: int) -> int:
        """Forget the nonces of messages whose expiry is before ``now_ms`` (any of
        them sent again is refused as expired first). Returns how many."""
        n = 0
        while self._expiring and self._expiring[0][0] < now_ms:
            expiry, trader, nonce = heapq.heappop(self._expiring)
            if self._used.get((trader, nonce), -1) == expiry:
                del self._used[(trader, nonce)]
                n += 1
        return n


@dataclass
class _Entry:
    commit: Commit
    sequence: int
    revealed: RevealedOrder | None = None
    signature: bytes = b""


RevealCheck = Callable[[Address, Order], None]
"""Called on a matching reveal before it is taken; raises to refuse it
(settlement plugs its initial-margin check in here)."""

CommitCheck = Callable[[Address, Commit], None]
"""Called on a commitment that passed every other check, just before it is
taken; raises an :class:`AuctionError` to refuse it (the venue checks here
that the trader's free collateral covers the bonds it has at stake)."""


@dataclass(frozen=True)
class SealedBatch:
    """A closed batch: what was committed, revealed and forfeited, and its seed."""

    batch_id: int
    seed: bytes
    receipts: tuple[Receipt, ...]
    revealed: tuple[RevealedOrder, ...]
    forfeited: tuple[Forfeit, ...]
    rejections: tuple[Rejection, ...]


@dataclass
class CommitBook:
    """The commitments and reveals of one batch.

    Args:
        batch_id: this batch's id.
        markets: markets that trade in this batch, by id.
        domain: the EIP-712 domain commitments are signed under.
        operator_key: the operator's private key, which signs receipts.
        windows: the commit and reveal windows.
        references: each market's reference price (for the price band).
        nonces: the registry shared with the other batches.
        reveal_check: optional extra check of a matching reveal (margin).
        commit_check: optional extra check of a valid commitment (bond cover).
    """

    batch_id: int
    markets: Mapping[str, Market]
    domain: Eip712Domain
    operator_key: bytes
    windows: BatchWindows
    references: Mapping[str, int | None] = field(default_factory=dict)
    nonces: NonceRegistry = field(default_factory=NonceRegistry)
    reveal_check: RevealCheck | None = None
    commit_check: CommitCheck | None = None
    _entries: dict[bytes, _Entry] = field(default_factory=dict, init=False, repr=False)
    _order: list[bytes] = field(default_factory=list, init=False, repr=False)
    _receipts: list[Receipt] = field(default_factory=list, init=False, repr=False)
    _rejections: list[Rejection] = field(default_factory=list, init=False, repr=False)

    @property
    def operator(self) -> Address:
        return address_of(self.operator_key)

    @property
    def seed(self) -> bytes:
        """Poseidon2 Merkle root of the commitments in receipt order, each leaf binding
        its market, trader and bond (``commitment_root``)."""
        commits = [self._entries[c].commit for c in self._order]
        return commitment_root(
            self._order,
            [c.market for c in commits],
            [c.trader for c in commits],
            [c.bond for c in commits],
        )

    def _reject(self, err: AuctionError, commitment: bytes | None, now_ms: int) -> AuctionError:
        self._rejections.append(Rejection(commitment, err.code, str(err), now_ms))
        return err

    def commit(
        self,
        signed: SignedCommit,
        now_ms: int,
        *,
        sign: bool = True,
        verified: bool = False,
        signer: Address | None = None,
    ) -> Receipt:
        """Take a signed commitment and return the operator's receipt.

        Args:
            signed: the commitment and the trader's signature.
            now_ms: the time it arrived.
            sign: sign the receipt here. With False the receipt comes back with an
                empty ``operator_signature`` and the caller signs it
                (:func:`sign_receipt`, e.g. in a worker process) before handing it
                out; the book never hands receipts out itself.
            verified: the signature was verified when this commitment was first
                taken (a replay of the venue's own durable log): the signer is not
                recovered again. Every other check runs.
            signer: the address already recovered from this commitment's own
                EIP-712 digest and signature (by the venue's worker processes);
                it must still be the named trader. None: recovered here.

        Raises:
            OutsideWindow, WrongBatch, WrongMarket, CommitmentExpired,
            BadSignature, DuplicateCommitment, NonceReused, or whatever
            ``commit_check`` raises.
        """
        c = signed.commit
        try:
            trader = self._check_commit(signed, now_ms, verified, signer)
        except AuctionError as err:
            raise self._reject(err, c.commitment, now_ms) from None
        # One spelling per trader from here on (nonces, reveals, forfeits, fills).
        if c.trader != trader:
            c = dataclasses.replace(c, trader=trader)
        sequence = len(self._order)
        sig = b""
        if sign:
            sig = sign_receipt(
                self.domain, self.operator_key, self.batch_id, sequence, c.commitment, now_ms
            )
        receipt = Receipt(self.batch_id, sequence, c.commitment, now_ms, sig)
        self.nonces.use(trader, c.nonce, c.expiry_ms)
        self._entries[c.commitment] = _Entry(c, sequence, signature=signed.signature)
        self._order.append(c.commitment)
        self._receipts.append(receipt)
        return receipt

    def _check_commit(
        self,
        signed: SignedCommit,
        now_ms: int,
        verified: bool = False,
        signer: Address | None = None,
    ) -> Address:
        """Raise the rejection of ``signed``, if any; return its checksummed trader
        (``verified`` and ``signer`` as :meth:`commit`'s)."""
        c = signed.commit
        w = self.windows
        if not w.commit_open_ms <= now_ms < w.commit_close_ms:
            raise OutsideWindow(
                f"commit: expected a time in [{w.commit_open_ms}, {w.commit_close_ms}) for "
                f"batch {self.batch_id}, got {now_ms}"
            )
        if c.batch_id != self.batch_id:
            raise WrongBatch(f"batch_id: expected {self.batch_id}, got {c.batch_id}")
        if c.market not in self.markets:
            raise WrongMarket(f"market: expected one of {sorted(self.markets)}, got {c.market!r}")
        if now_ms > c.expiry_ms:
            raise CommitmentExpired(f"expiry: expected at least {now_ms}, got {c.expiry_ms}")
        if signer is None and not verified:
            try:
                signer = recover_signer(c.digest(self.domain), signed.signature)
            except (SignatureError, ValueError) as exc:
                raise BadSignature(f"signature: {exc}") from exc
        try:
            trader = checksum_address(c.trader)
        except ValueError as exc:
            raise BadSignature(f"trader: expected an address, got {c.trader!r}") from exc
        if signer is not None and signer != trader:
            raise BadSignature(f"signature: expected signer {trader}, got {signer}")
        if not is_commitment_digest(c.commitment):
            raise BadCommitment(
                "commitment: expected a Poseidon2 digest (8 little-endian uint32 field "
                f"elements below 2013265921, not all zero), got {_hex(c.commitment)}"
            )
        if not within(c.margin_lock, 0, MAX_BALANCE):
            raise InvalidOrder(
                bound_message("margin_lock", c.margin_lock, 0, MAX_BALANCE, "base units")
            )
        # the bond is one field element of the commitment's leaf (docs/formats.md)
        if not within(c.bond, 0, MAX_BOND):
            raise InvalidOrder(bound_message("bond", c.bond, 0, MAX_BOND, "base units"))
        if len(self._order) >= 1 << COMMITMENT_TREE_DEPTH:
            raise BadCommitment(
                f"commitment: expected at most 2^{COMMITMENT_TREE_DEPTH} commitments per batch, "
                f"batch {self.batch_id} is full"
            )
        if c.commitment in self._entries:
            raise DuplicateCommitment(f"commitment 0x{c.commitment.hex()} was already taken")
        if self.nonces.is_used(trader, c.nonce):
            raise NonceReused(f"nonce: {c.nonce} was already used by {trader}")
        if self.commit_check is not None:
            self.commit_check(trader, c)
        return trader

    def reveal(self, reveal: Reveal, now_ms: int, expected: bytes | None = None) -> RevealedOrder:
        """Take a reveal; returns the revealed order (``expected``: the commitment
        already computed, e.g. in one vectorised hash, from this reveal's order and
        salt with the committed trader and this batch; None: computed here).

        Raises:
            OutsideWindow, UnknownCommitment, DuplicateReveal, RevealMismatch,
            WrongMarket, SizeOutOfRange, OutsideBand, or whatever
            ``reveal_check`` raises.
        """
        return self._take_reveal(reveal, now_ms, expected)

    def reveal_decrypted(self, reveal: Reveal, now_ms: int) -> RevealedOrder:
        """Take an order decrypted from its ciphertext once the batch's threshold key
        was released (after the commit window; the reveal window does not bound it:
        the order was sent, encrypted, with its commitment).

        Raises:
            OutsideWindow (before the commit window closed), and every other
            refusal of :meth:`reveal`.
        """
        if now_ms < self.windows.commit_close_ms:
            raise self._reject(
                OutsideWindow(
                    f"decrypted reveal: expected a time at or after "
                    f"{self.windows.commit_close_ms}, got {now_ms}"
                ),
                reveal.commitment,
                now_ms,
            )
        return self._take_reveal(reveal, now_ms, None, check_window=False)

    def reveal_many(
        self, reveals: Sequence[tuple[Reveal, int]]
    ) -> list[RevealedOrder | AuctionError]:
        """Take many reveals, each with its arrival time in ms, as :meth:`reveal` would
        one after another, but recompute their commitments in one vectorised
        Poseidon2 hash (:func:`~sealbatch.auction.commitment.digest_preimages`).

        Returns:
            Per reveal, in order, its :class:`RevealedOrder` or the
            :class:`AuctionError` that refused it (recorded as a rejection, as
            :meth:`reveal` records it); the outcomes, the rejections and the
            book's state are exactly those of calling :meth:`reveal` in order.

        Raises:
            Whatever ``reveal_check`` raises that is not an :class:`AuctionError`.
        """
        preimages: list[list[int]] = []
        rows: list[int] = []
        for i, (r, _) in enumerate(reveals):
            entry = self._entries.get(r.commitment)
            if entry is None:
                continue
            try:
                preimages.append(
                    commitment_preimage(r.order, r.salt, entry.commit.trader, self.batch_id)
                )
            except ValueError:
                continue  # _check_reveal recomputes it and reports the field
            rows.append(i)
        expected = dict(zip(rows, digest_preimages(preimages), strict=True))
        out: list[RevealedOrder | AuctionError] = []
        for i, (r, now_ms) in enumerate(reveals):
            try:
                out.append(self._take_reveal(r, now_ms, expected.get(i)))
            except AuctionError as err:
                out.append(err)
        return out

    def _take_reveal(
        self, reveal: Reveal, now_ms: int, expected: bytes | None, check_window: bool = True
    ) -> RevealedOrder:
        try:
            entry = self._check_reveal(reveal, now_ms, expected, check_window)
            if self.reveal_check is not None:
                self.reveal_check(entry.commit.trader, reveal.order)
        except AuctionError as err:
            raise self._reject(err, reveal.commitment, now_ms) from None
        c = entry.commit
        revealed = RevealedOrder(
            c.commitment,
            c.trader,
            reveal.order,
            entry.sequence,
            c.nonce,
            c.margin_lock,
            c.bond,
            reveal.salt,
        )
        entry.revealed = revealed
        return revealed

    def _check_reveal(
        self, reveal: Reveal, now_ms: int, expected: bytes | None, check_window: bool = True
    ) -> _Entry:
        """Raise the rejection of ``reveal``, if any; ``expected`` is its commitment
        when already computed from the same order, salt, trader and batch."""
        w = self.windows
        if check_window and not w.commit_close_ms <= now_ms < w.reveal_close_ms:
            raise OutsideWindow(
                f"reveal: expected a time in [{w.commit_close_ms}, {w.reveal_close_ms}) for "
                f"batch {self.batch_id}, got {now_ms}"
            )
        entry = self._entries.get(reveal.commitment)
        if entry is None:
            raise UnknownCommitment(
                f"commitment 0x{reveal.commitment.hex()} was not taken in batch {self.batch_id}"
            )
        if entry.revealed is not None:
            raise DuplicateReveal(f"commitment 0x{reveal.commitment.hex()} was already revealed")
        c = entry.commit
        if expected is None:
            try:
                expected = compute_commitment(reveal.order, reveal.salt, c.trader, self.batch_id)
            except ValueError as exc:
                raise RevealMismatch(f"reveal: {exc}") from exc
        if expected != c.commitment:
            raise RevealMismatch(
                f"reveal: expected the order and salt to hash to 0x{c.commitment.hex()}, "
                f"got 0x{expected.hex()}"
            )
        if reveal.order.market != c.market:
            raise WrongMarket(f"market: expected {c.market!r}, got {reveal.order.market!r}")
        self.markets[c.market].check_order(reveal.order, self.references.get(c.market))
        return entry

    def close(self, now_ms: int, *, seed: bytes | None = None) -> SealedBatch:
        """Close the batch after the reveal window.

        Args:
            now_ms: the time of the close.
            seed: this batch's :attr:`seed`, already computed from the same
                commitments in receipt order (e.g. in a worker process while the
                reveal window ran); None: computed here.

        Raises:
            OutsideWindow: the reveal window is still open.
        """
        if now_ms < self.windows.reveal_close_ms:
            raise OutsideWindow(
                f"close: expected a time at or after {self.windows.reveal_close_ms}, got {now_ms}"
            )
        revealed = []
        forfeited = []
        for commitment in self._order:
            entry = self._entries[commitment]
            if entry.revealed is not None:
                revealed.append(entry.revealed)
            else:
                c = entry.commit
                signed = signed_typed_data(self.domain, COMMIT_TYPE, c.message(), entry.signature)
                forfeited.append(
                    Forfeit(commitment, c.trader, c.market, entry.sequence, c.bond, signed=signed)
                )
        return SealedBatch(
            self.batch_id,
            self.seed if seed is None else seed,
            tuple(self._receipts),
            tuple(revealed),
            tuple(forfeited),
            tuple(self._rejections),
        )


def _hex(data: object) -> str:
    return "0x" + bytes(data).hex() if isinstance(data, bytes | bytearray) else repr(data)
