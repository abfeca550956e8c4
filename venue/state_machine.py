"""The venue's state machine: every write and every batch close, deterministic.

:class:`VenueStateMachine` holds the open commit books, the RFQ book, carried GTC
orders, reference prices, batch records and every order's status. It has no
I/O and no clock of its own: each write takes the time at which it was
accepted, and :meth:`VenueStateMachine.advance` closes, clears and settles every
batch whose reveal window has ended by a given time. The service logs each
accepted write (kind, time, wire payload) durably; replaying that log
through :meth:`VenueStateMachine.apply` with :meth:`VenueStateMachine.advance` before each
event rebuilds the same state and the same batch results, byte for byte —
this is how the venue restarts after a crash.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from sealbatch.auction.batch import BatchResult, RestingOrder, clear_batch
from sealbatch.auction.commit_reveal import (
    CommitBook,
    Forfeit,
    NonceRegistry,
    Receipt,
    Reveal,
    RevealedOrder,
    SealedBatch,
)
from sealbatch.auction.commitment import commitment_preimage, digest_preimages
from sealbatch.auction.encrypted_orders import open_ciphertexts
from sealbatch.auction.errors import (
    AuctionError,
    BadSignature,
    OutsideWindow,
    UnknownCommitment,
    WrongBatch,
)
from sealbatch.auction.markets import Market
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import (
    Address,
    Eip712Domain,
    StructType,
    address_of,
    checksum_address,
    recover_signer,
)
from sealbatch.crypto.exceptions import SealbatchError, SignatureError
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.clearinghouse import Clearinghouse
from sealbatch.settlement.errors import (
    BadOracleSignature,
    InsufficientMargin,
    MarketHalted,
    PositionLimit,
    SettlementError,
    UnknownOracleSource,
)
from sealbatch.settlement.ledger import AccountKey
from sealbatch.settlement.publication import BatchPublication
from sealbatch.venue.auth import (
    DEPOSIT_TYPE,
    RESUME_TYPE,
    REVEAL_TYPE,
    WITHDRAW_TYPE,
    check_fresh,
    verify_signed,
)
from sealbatch.venue.batch_record import (
    BatchRecord,
    BlockOutcome,
    MarketOutcome,
    OpenBatch,
    RevealRejection,
)
from sealbatch.venue.clock import BatchSchedule
from sealbatch.venue.committee import (
    ANSWER_TYPE,
    COMPLAINT_TYPE,
    DEALING_TYPE,
    ENCRYPTED_ORDER_TYPE,
    KEY_SHARE_TYPE,
    Committee,
)
from sealbatch.venue.errors import BadRequest, Conflict, Halted, NotFound
from sealbatch.venue.key_book import (
    AnswerOutcome,
    ComplaintRecord,
    KeyBook,
    ShareOutcome,
    batch_key_json,
    round_deadlines,
    withheld_faults,
)
from sealbatch.venue.order_status import OrderStatus, update_order_statuses
from sealbatch.venue.rfq import (
    ACCEPT_TYPE,
    QUOTE_COMMIT_TYPE,
    QUOTE_REVEAL_TYPE,
    RFQ_TYPE,
    Acceptance,
    BlockSide,
    Quote,
    Rfq,
    RfqBook,
)
from sealbatch.venue.schemas import (
    AcceptIn,
    AnswerIn,
    CommitIn,
    ComplaintIn,
    DealingIn,
    DepositIn,
    KeyShareIn,
    L1RequestIn,
    OracleReportIn,
    ProofHaltIn,
    QuoteCommitIn,
    QuoteRevealIn,
    ResumeIn,
    RevealIn,
    RfqIn,
    WithdrawIn,
    hexb,
)

__all__ = ["EVENT_MODELS", "RevealOutcome", "VenueStateMachine", "block_trade"]

#: Wire model of each kind of logged write.
EVENT_MODELS: dict[str, type[BaseModel]] = {
    "commit": CommitIn,
    "reveal": RevealIn,
    "rfq": RfqIn,
    "quote_commit": QuoteCommitIn,
    "quote_reveal": QuoteRevealIn,
    "accept": AcceptIn,
    "deposit": DepositIn,
    "oracle": OracleReportIn,
    "withdraw": WithdrawIn,
    "resume": ResumeIn,
    "dealing": DealingIn,
    "complaint": ComplaintIn,
    "answer": AnswerIn,
    "key_share": KeyShareIn,
    "proof_halt": ProofHaltIn,
    "l1_request": L1RequestIn,
}

#: Reveal refusals that concern a commitment the batch holds: they are logged
#: (so the order's status can say why it did not fill) and replayed.
RECORDED_REVEAL_CODES = frozenset(
    {
        "reveal_mismatch",
        "outside_band",
        "size_out_of_range",
        "wrong_market",
        "invalid_order",
        "insufficient_margin",
        "reduce_only_increases",
    }
)

#: Fate reason per rejection code (what ``GET /v1/orders/{c}`` reports).
_REASON = {"insufficient_margin": "margin_rejected"}


@dataclass(frozen=True)
class RevealOutcome:
    """A reveal's result: the order taken, or the error and whether it was logged."""

    revealed: RevealedOrder | None
    error: AuctionError | None
    recorded: bool


def block_trade(acceptance: Acceptance) -> BlockTrade:
    """The block an accepted RFQ settles as (its id is the RFQ's)."""
    return BlockTrade(
        block_id=acceptance.rfq_id,
        market=acceptance.market,
        buyer=acceptance.buyer,
        seller=acceptance.seller,
        price=acceptance.price,
        quantity=acceptance.quantity,
        batch_id=acceptance.batch_id,
    )


def _quote_orders(rfq: Rfq, bid: int, ask: int) -> list[Order]:
    """The orders a quote priced ``bid``/``ask`` (0: no price) in ``rfq`` may hand its
    maker: one per side the requester may take."""
    orders = []
    if ask and rfq.side is not BlockSide.SELL:  # the requester may buy
        orders.append(Order(rfq.market, Side.SELL, ask, rfq.size))
    if bid and rfq.side is not BlockSide.BUY:  # the requester may sell
        orders.append(Order(rfq.market, Side.BUY, bid, rfq.size))
    return orders


class VenueStateMachine:
    """All venue state; see the module docstring.

    Args:
        markets: tradable markets by id.
        domain: EIP-712 domain of every signed message.
        operator_key: signs receipts.
        schedule: the batch clock.
        settlement: ledger and margin (see :mod:`sealbatch.settlement.clearinghouse`).
        rfq_window_ms: (min, max) RFQ window length.
        rfq_band_bps: a block price may differ from its batch's clearing price
            by at most this many basis points.
        quote_bond: collateral each sealed RFQ quote puts at stake (forfeited to
            the insurance fund when the quote is not revealed).
        rfq_bond: collateral each open RFQ holds from its requester (released when
            it is accepted or its window ends; 0: none).
        publications_kept: settled batches whose transition (the published
            folder's content) stays in memory, newest first.
        memory_batches: cleared batches whose records and order statuses stay in
            memory; older ones are dropped (the operator stores them with each
            batch and reads them back from the database on request). So do closed
            RFQs whose last batch is that old (:meth:`_forget_rfqs`).
        rfq_max_open: (per requester, venue-wide) most RFQs open at once (0: no cap).
    """

    #: The request bond of each open RFQ (a class default: a core pickled before it
    #: existed holds none; the operator sets it from its settings on a restart).
    rfq_bond = 0

    def __init__(
        self,
        *,
        markets: Mapping[str, Market],
        domain: Eip712Domain,
        operator_key: bytes,
        schedule: BatchSchedule,
        settlement: Clearinghouse,
        rfq_window_ms: tuple[int, int] = (400, 120_000),
        rfq_band_bps: int = 200,
        quote_bond: int = 0,
        rfq_bond: int = 0,
        publications_kept: int = 64,
        memory_batches: int = 256,
        rfq_max_open: tuple[int, int] = (0, 0),
        committee: Committee | None = None,
        key_wait_ms: int = 2_000,
    ) -> None:
        self.markets = dict(markets)
        self.domain = domain
        self.operator_key = operator_key
        self.operator: Address = address_of(operator_key)
        self.schedule = schedule
        self.settlement = settlement
        self.rfq_band_bps = rfq_band_bps
        self.quote_bond = quote_bond
        self.rfq_bond = rfq_bond
        #: batch -> (rfq id, quote) whose bond that batch forfeits if unrevealed
        self.quote_bonds: dict[int, list[tuple[bytes, bytes]]] = {}
        self.nonces = NonceRegistry()
        # Each market's clearing reference: its mark in the ledger the venue starts on
        # (a restart keeps them), none before a first mark; the transition takes no other.
        marks = settlement.reference_prices()
        self.references: dict[str, int | None] = {m: marks.get(m) for m in self.markets}
        self.books: dict[int, CommitBook] = {}
        self.rfqs = RfqBook(domain, self.markets, self.nonces, *rfq_window_ms, *rfq_max_open)
        #: RFQs that left memory since the operator last took them (it stores their
        #: final views and reads them back from the database on request)
        self.rfqs_out: list[Rfq] = []
        self.blocks: dict[int, list[Acceptance]] = {}
        self.records: dict[int, BatchRecord] = {}
        self.order_statuses: dict[bytes, OrderStatus] = {}
        self.by_trader: dict[str, list[bytes]] = {}
        self.rejections: dict[int, list[RevealRejection]] = {}
        self.last_cleared = -1
        self.events_applied = 0
        self.publications_kept = publications_kept
        #: batch -> its transition, for the published folder (the newest few only)
        self.publications: dict[int, BatchPublication] = {}
        #: Whether the transitions of batches leaving ``publications`` unproven go to
        #: ``transitions_out`` (the operator proves batches and stores them for that).
        self.keep_unproven = False
        #: Transitions that left memory unproven since the operator last took them.
        self.transitions_out: list[BatchPublication] = []
        #: During a replay only: ``(trader, batch, order, salt) -> commitment`` of the
        #: reveals to come, computed in one vectorised hash (:meth:`prepare_replay`).
        self.replay_digests: dict[tuple[Address, int, Order, bytes], bytes] = {}
        #: set when a batch failed: the venue takes no write that trades and clears
        #: no batch until the operator resumes it (``{"batch_id", "reason", "at_ms"}``)
        self.halted: dict[str, Any] | None = None
        self.memory_batches = memory_batches
        #: cleared batch -> the order statuses it changed, for the operator to store
        self.statuses_out: dict[int, list[OrderStatus]] = {}
        #: batch -> commitments taken into it (what to drop from memory once old)
        self._taken_in: dict[int, list[bytes]] = {}
        #: commitments taken long ago and no longer in memory (the operator looks
        #: them up in the database before a run of commitments): hash -> batch
        self.taken_elsewhere: Mapping[bytes, int] = {}
        #: whether any order status was dropped from memory (then lookups go to the database)
        self.evicted_any = False
        #: the keyper committee's state (None: the venue takes no encrypted orders)
        self.keys: KeyBook | None = KeyBook(committee, domain) if committee is not None else None
        #: how long after its reveal window a batch with encrypted orders waits for
        #: its keypers' shares before it clears without them
        self.key_wait_ms = key_wait_ms
        #: batch -> its threshold.json (the published folder's), the newest few only
        self.threshold_files: dict[int, dict[str, Any]] = {}
        #: the index of the next L1 request to credit (requests before it are in the ledger
        #: or pending for the next batch)
        self.l1_next = 0
        #: settled batch -> the L1 queue position after the requests it consumed (what its
        #: anchor names as ``queueTo``), on an L1 only; the operator drops a batch's once
        #: it is anchored
        self.l1_queue_to: dict[int, int] = {}
        #: set by the operator when it anchors on an L1 (snapshots then keep the files of
        #: proven batches until they are anchored)
        self.l1_anchoring = False

    def __getstate__(self) -> dict[str, Any]:
        """What a snapshot keeps: everything but the operator's private key (the
        operator sets it again with :meth:`set_operator_key`), the transitions of
        batches already proven (written out already: the others are kept, so a
        restart can still prove them) and what the operator hands over at once."""
        state = dict(self.__dict__)
        books = {}
        for b, book in self.books.items():
            keyless = copy.copy(book)
            keyless.operator_key = b""
            books[b] = keyless
        # On an L1 a proven batch still needs its files until it is anchored.
        waiting = ("settled", "proven") if self.l1_anchoring else ("settled",)
        unproven = {
            b: p
            for b, p in self.publications.items()
            if (rec := self.records.get(b)) is not None and rec.status in waiting
        }
        state.update(
            operator_key=b"",
            books=books,
            publications=unproven,
            statuses_out={},
            rfqs_out=[],
            transitions_out=[],
            replay_digests={},
            taken_elsewhere={},
            threshold_files={b: f for b, f in self.threshold_files.items() if b in unproven},
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Load a snapshot; one written before the L1 fields existed gets their defaults
        (no L1 request credited yet)."""
        state.setdefault("l1_next", 0)
        state.setdefault("l1_queue_to", {})
        state.setdefault("l1_anchoring", False)
        state.setdefault("rfqs_out", [])
        self.__dict__.update(state)
        if not self.settlement.anchored:
            # A snapshot of a venue without an L1 written while every batch kept its
            # queue position: nothing will ever anchor them.
            self.l1_queue_to = {}

    def set_operator_key(self, key: bytes) -> None:
        """Give a core loaded from a snapshot its operator key back (the same operator).

        Raises:
            BadRequest: the key is not the key of the operator the snapshot was of.
        """
        if address_of(key) != self.operator:
            raise BadRequest(f"operator key: expected the key of {self.operator}, got another")
        self.operator_key = key
        for book in self.books.values():
            book.operator_key = key

    @property
    def carried(self) -> tuple[RestingOrder, ...]:
        """The GTC rests carried into the next batch: the ledger's (after settlement a
        reduce-only remainder is capped and every rest re-checked; a refused batch
        applies nothing, so the orders carried into it rest on)."""
        return self.settlement.resting()

    # ------------------------------------------------------------------ writes

    def book(self, batch_id: int, register: bool = True) -> CommitBook:
        """The commit book of ``batch_id``; a new one is kept only if ``register``."""
        book = self.books.get(batch_id)
        if book is None:
            book = CommitBook(
                batch_id,
                self.markets,
                self.domain,
                self.operator_key,
                self.schedule.windows(batch_id),
                self.references,  # live: a batch reveals after its predecessor cleared
                self.nonces,
                # partials, not lambdas: a snapshot pickles the books
                functools.partial(self._reveal_check, batch_id),
                functools.partial(self.settlement.commit_check, batch_id),
            )
            if register:
                self.books[batch_id] = book
        return book

    def _reveal_check(self, batch_id: int, trader: Address, order: Order) -> None:
        """Refuse a reveal in a market halted for ``batch_id`` (its trusted index will
        be too old when the batch clears: ``market_halted``), then the margin check."""
        at_ms = self.schedule.clears_at(batch_id)
        if order.market in self.settlement.halted_markets(at_ms):
            raise MarketHalted(
                f"{order.market}: expected a market with a recent trusted index, got one "
                f"halted at {at_ms} (no fresh oracle price): batch {batch_id} does not trade it"
            )
        self.settlement.reveal_check(batch_id, trader, order)

    def _check_running(self) -> None:
        """Refuse a write while the venue is halted after a failed batch."""
        if self.halted is not None:
            raise Halted(
                f"venue: expected it running, got it halted since batch "
                f"{self.halted['batch_id']} failed ({self.halted['reason']}); the operator "
                "resumes it"
            )

    def _check_open(self, batch_id: int, now_ms: int) -> None:
        """Refuse a write into a batch already cleared (a clock set back across a
        restart): it would never clear, and its bond would stay locked."""
        if batch_id <= self.last_cleared:
            raise OutsideWindow(
                f"batch {batch_id}: expected a batch after {self.last_cleared} (cleared), got "
                f"time {now_ms}; the venue's clock is behind its log"
            )

    def commit(
        self,
        body: CommitIn,
        now_ms: int,
        *,
        sign: bool = True,
        verified: bool = False,
        signer: Address | None = None,
    ) -> Receipt:
        """Take a signed commitment into the batch collecting now.

        ``sign``, ``verified`` and ``signer`` as :meth:`CommitBook.commit`'s: with
        ``sign=False`` the receipt's signature is left to the caller; ``verified``
        only for the replay of the venue's own log, whose commitments were verified
        when taken; ``signer`` recovered by the venue's workers from this body.

        Raises:
            WrongBatch, Conflict (``commitment_taken``: the hash was taken before,
            in any batch, by anyone) and every error of :meth:`CommitBook.commit`.
        """
        self._check_running()
        collecting = self.schedule.collecting(now_ms)
        self._check_open(collecting, now_ms)
        if body.batch_id != collecting:
            raise WrongBatch(
                f"batch_id: expected {collecting} (collecting commitments now), got {body.batch_id}"
            )
        signed = body.to_domain()
        known = self.order_statuses.get(signed.commit.commitment)
        taken_in = known.batch_id if known is not None else None
        if taken_in is None:
            taken_in = self.taken_elsewhere.get(signed.commit.commitment)
        if taken_in is not None:
            # Hashes are unique for ever: a copy of another trader's commitment taken
            # into a later batch would make the true owner's reveal fail and forfeit.
            raise Conflict(
                f"commitment {body.commitment.lower()}: expected a hash never taken before, "
                f"got one taken in batch {taken_in}",
                "commitment_taken",
            )
        encrypted = self._check_ciphertext(body)
        # A refused commitment must leave no trace, not even an empty book.
        book = self.book(body.batch_id, register=False)
        receipt = book.commit(signed, now_ms, sign=sign, verified=verified, signer=signer)
        self.books[body.batch_id] = book
        c = signed.commit
        if encrypted is not None and self.keys is not None:
            self.keys.ciphertexts.setdefault(c.batch_id, {})[c.commitment] = encrypted
        # The book keeps the trader's checksummed spelling (one per trader).
        trader = book._entries[c.commitment].commit.trader
        self.by_trader.setdefault(trader, []).append(c.commitment)
        self._taken_in.setdefault(c.batch_id, []).append(c.commitment)
        self.order_statuses[c.commitment] = OrderStatus.committed(
            c.commitment, trader, c.market, c.batch_id, receipt.sequence, c.bond
        )
        self.events_applied += 1
        return receipt

    def _check_ciphertext(self, body: CommitIn) -> tuple[bytes, bytes] | None:
        """The ciphertext sent with a commitment and its signature, checked: the batch
        has a threshold key and the trader signed the ciphertext.

        Raises:
            BadRequest: a ciphertext without its signature (or the reverse), or the
                venue runs no keyper committee. NotFound (``no_batch_key``): the
                batch has no key. BadSignature: the trader did not sign it.
        """
        if body.ciphertext is None and body.ciphertext_signature is None:
            return None
        if body.ciphertext is None or body.ciphertext_signature is None:
            raise BadRequest(
                "ciphertext: expected a ciphertext and its ciphertext_signature together, "
                "got one of them"
            )
        if self.keys is None:
            raise BadRequest(
                "ciphertext: expected a venue with a keyper committee, got one without "
                "(reveal by hand)"
            )
        if self.keys.key(body.batch_id, body.batch_id) is None:
            raise NotFound(
                f"batch {body.batch_id} has no threshold key (fewer than "
                f"{self.keys.committee.threshold} keypers dealt for it): reveal by hand",
                "no_batch_key",
            )
        ciphertext = hexb(body.ciphertext)
        signature = hexb(body.ciphertext_signature)
        verify_signed(
            self.domain,
            ENCRYPTED_ORDER_TYPE,
            {
                "trader": body.trader,
                "batchId": body.batch_id,
                "commitment": hexb(body.commitment),
                "ciphertextHash": keccak256(ciphertext),
            },
            "trader",
            signature,
        )
        return ciphertext, signature

    def deal(self, body: DealingIn, now_ms: int) -> Any:
        """Take a keyper's dealing for a future batch (see :meth:`KeyBook.deal`).

        Raises:
            BadRequest: the venue runs no committee; and every error of
                :meth:`KeyBook.deal`.
        """
        keys = self._key_book()
        record = keys.deal(body, now_ms, self.schedule.collecting(now_ms))
        self.events_applied += 1
        return record

    def complain(self, body: ComplaintIn, now_ms: int) -> ComplaintRecord:
        """Take a keyper's complaint about a dealing share (see :meth:`KeyBook.complain`)."""
        keys = self._key_book()
        record = keys.complain(body, now_ms, self.schedule.collecting(now_ms))
        self.events_applied += 1
        return record

    def answer_complaint(self, body: AnswerIn, now_ms: int) -> AnswerOutcome:
        """Take a dealer's answer to a complaint (see :meth:`KeyBook.answer`); a bad one
        is recorded (the dealer is disqualified) and returned with its error."""
        keys = self._key_book()
        outcome = keys.answer(body, now_ms, self.schedule.collecting(now_ms))
        self.events_applied += 1
        return outcome

    def release_share(self, body: KeyShareIn, now_ms: int) -> ShareOutcome:
        """Take a keyper's released share (see :meth:`KeyBook.release`); a bad one is
        recorded and returned with its error (logged, then answered)."""
        keys = self._key_book()
        if body.batch_id <= self.last_cleared:
            raise Conflict(
                f"batch {body.batch_id}: expected a batch not cleared yet, got one cleared "
                f"(the last cleared is {self.last_cleared})",
                "batch_cleared",
            )
        outcome = keys.release(body, now_ms, self.schedule.collecting(now_ms))
        self.events_applied += 1
        return outcome

    def _key_book(self) -> KeyBook:
        if self.keys is None:
            raise BadRequest("keypers: expected a venue with a keyper committee, got none")
        return self.keys

    def reveal(self, body: RevealIn, now_ms: int, *, verified: bool = False) -> RevealOutcome:
        """Reveal a committed order; refusals that concern the order are recorded.

        ``verified`` only for the replay of the venue's own log (a reveal is logged
        only once its signature checked out): the signer is not recovered again,
        and the commitment is taken from :attr:`replay_digests` when there.

        Raises:
            UnknownCommitment, OutsideWindow, BadSignature, CommitmentExpired,
            NonceReused, InvalidOrder (refusals that are not recorded).
        """
        self._check_running()
        commitment = hexb(body.commitment)
        status = self.order_statuses.get(commitment)
        if status is None:
            raise UnknownCommitment(f"commitment {body.commitment} was never taken")
        book = self.books.get(status.batch_id)
        if book is None:
            raise OutsideWindow(
                f"reveal: the reveal window of batch {status.batch_id} closed at "
                f"{self.schedule.windows(status.batch_id).reveal_close_ms}, got {now_ms}"
            )
        order = body.order.to_domain()
        expected = None
        if verified:
            trader = checksum_address(body.trader)
            expected = self.replay_digests.pop(
                (trader, status.batch_id, order, hexb(body.salt)), None
            )
        else:
            trader = verify_signed(
                self.domain, REVEAL_TYPE, body.message(order), "trader", hexb(body.signature)
            )
        if trader != status.trader:
            raise BadSignature(f"trader: expected {status.trader}, got {trader}")
        check_fresh(self.nonces, trader, body.nonce, body.expiry_ms, now_ms)
        w = book.windows
        if not w.commit_close_ms <= now_ms < w.reveal_close_ms:
            raise OutsideWindow(
                f"reveal: expected a time in [{w.commit_close_ms}, {w.reveal_close_ms}) for "
                f"batch {book.batch_id}, got {now_ms}"
            )
        try:
            revealed = book.reveal(Reveal(commitment, order, hexb(body.salt)), now_ms, expected)
        except AuctionError as err:
            if err.code not in RECORDED_REVEAL_CODES:
                raise
            self.nonces.use(trader, body.nonce, body.expiry_ms)
            self.rejections.setdefault(book.batch_id, []).append(
                RevealRejection(commitment, err.code, str(err), now_ms)
            )
            self.order_statuses[commitment] = dataclasses.replace(
                status, reason=_REASON.get(err.code, err.code), detail=str(err)
            )
            self.events_applied += 1
            return RevealOutcome(None, err, True)
        self.nonces.use(trader, body.nonce, body.expiry_ms)
        self.order_statuses[commitment] = dataclasses.replace(
            status, status="revealed", order=order, reason=None, detail=None
        )
        self.events_applied += 1
        return RevealOutcome(revealed, None, True)

    def request_rfq(self, body: RfqIn, now_ms: int, *, capped: bool = True) -> Rfq:
        """Open an RFQ (see :meth:`RfqBook.request`), holding ``rfq_bond`` of the
        requester's free collateral until it is accepted or its window ends.

        ``capped=False`` only for the replay of the venue's own log: an RFQ taken
        once stays taken under caps lowered or a bond raised since (its bond is held
        if the collateral covers it, as it did when it was taken under this bond).

        Raises:
            InsufficientBond: free collateral below the bonds at stake plus the
                request bond; or what :meth:`RfqBook.request` raises.
        """
        self._check_running()
        bond = self.rfq_bond

        def reserve(requester: Address, rfq_id: bytes, close_ms: int) -> None:
            if bond and (capped or self.settlement.room(requester) >= bond):
                self.settlement.hold_request(rfq_id, requester, bond, close_ms)

        rfq = self.rfqs.request(
            body.message(), hexb(body.signature), now_ms, capped=capped, reserve=reserve
        )
        self.events_applied += 1
        return rfq

    def quote_commit(self, body: QuoteCommitIn, now_ms: int) -> Quote:
        """Take a sealed quote; its bond is reserved until the batch that clears
        first after the RFQ's reveal phase, which forfeits it if unrevealed."""
        self._check_running()

        def reserve(maker: Address, rfq: Rfq) -> tuple[int, int]:
            batch = max(
                self.schedule.first_clearing_at_or_after(rfq.reveal_close_ms),
                self.last_cleared + 1,
            )
            self.settlement.reserve_bond(batch, maker, self.quote_bond, "this quote's bond")
            return self.quote_bond, batch

        quote = self.rfqs.quote_commit(body.message(), hexb(body.signature), now_ms, reserve)
        assert quote.bond_batch is not None  # set by ``reserve``
        self.quote_bonds.setdefault(quote.bond_batch, []).append(
            (hexb(body.rfq_id), quote.commitment)
        )
        self.events_applied += 1
        return quote

    def quote_reveal(self, body: QuoteRevealIn, now_ms: int, *, checked: bool = True) -> Quote:
        """Reveal a sealed quote: firm from now until its RFQ closes or is accepted, so
        the maker's collateral behind it stays (no withdrawal or bond may take it:
        a quote made uncarryable on purpose would be a last look).

        The maker must carry the block on each side the quote prices now, as an
        accept would judge it (:meth:`Clearinghouse.quote_check`): a reveal it cannot
        carry is refused and the quote stays sealed, so its bond forfeits unless a
        carried reveal comes before the reveal phase ends. Else collateral taken
        away while the quote was sealed would abandon it for free (passed over at
        accept, bond released). ``checked=False`` only for the replay of the
        venue's own log: a reveal taken once stays taken (a log from before the
        check may hold uncarried ones).

        Raises:
            InsufficientMargin, PositionLimit: the maker cannot carry a side.
        """
        self._check_running()

        def carry(rfq: Rfq, maker: Address, bid: int, ask: int) -> None:
            orders = _quote_orders(rfq, bid, ask)
            try:
                self.settlement.quote_check(maker, orders)
            except (InsufficientMargin, PositionLimit) as err:
                sides = ", ".join(
                    f"{o.side.name.lower()} {o.quantity} at {o.limit_price}" for o in orders
                )
                raise type(err)(
                    f"quote reveal: expected {maker} to carry the block it quotes ({sides} in "
                    f"{rfq.market}), got: {err}. The quote stays sealed and forfeits its "
                    "bond unless revealed, carried, before the reveal phase ends"
                ) from err

        quote = self.rfqs.quote_reveal(
            body.message(), hexb(body.signature), now_ms, carry if checked else None
        )
        rfq = self.rfqs.get(hexb(body.rfq_id))
        orders = _quote_orders(rfq, quote.bid or 0, quote.ask or 0)
        self.settlement.hold_quote(rfq.rfq_id, quote.maker, orders, rfq.close_ms)
        self.events_applied += 1
        return quote

    def accept(self, body: AcceptIn, now_ms: int) -> Acceptance:
        """Accept the best quote; the block settles in the batch collecting now."""
        self._check_running()
        batch_id = self.schedule.collecting(now_ms)
        self._check_open(batch_id, now_ms)
        held = self.settlement.request_bond(hexb(body.rfq_id))
        # the accept releases the RFQ's request bond: the block need not leave room for it
        freed = {held[0]: held[1]} if held is not None else {}
        acceptance = self.rfqs.accept(
            body.message(),
            hexb(body.signature),
            now_ms,
            batch_id,
            lambda a: self.settlement.block_check(
                block_trade(a), freed, self.rfqs.get(a.rfq_id).requester
            ),
            lambda maker, order: self.settlement.fits(batch_id, maker, order),
        )
        self.blocks.setdefault(batch_id, []).append(acceptance)
        rfq = self.rfqs.get(acceptance.rfq_id)
        self.settlement.release_quotes(rfq.rfq_id, [q.maker for q in rfq.quotes.values()])
        self.settlement.release_request(rfq.rfq_id)
        self.events_applied += 1
        return acceptance

    def deposit(self, body: DepositIn, now_ms: int) -> None:
        self._check_running()
        trader = verify_signed(
            self.domain, DEPOSIT_TYPE, body.message(), "trader", hexb(body.signature)
        )
        check_fresh(self.nonces, trader, body.nonce, body.expiry_ms, now_ms)
        try:
            self.settlement.deposit(trader, body.amount, now_ms)
        except SettlementError as exc:
            raise BadRequest(f"deposit: {exc}") from exc
        self.nonces.use(trader, body.nonce, body.expiry_ms)
        self.events_applied += 1

    def withdraw(self, body: WithdrawIn, now_ms: int) -> None:
        """Withdraw free collateral with the next batch.

        Raises:
            BadSignature, CommitmentExpired, NonceReused, Conflict (the trader
            has orders in an open batch), InsufficientCollateral, UnknownAccount.
        """
        self._check_running()
        trader = verify_signed(
            self.domain, WITHDRAW_TYPE, body.message(), "trader", hexb(body.signature)
        )
        check_fresh(self.nonces, trader, body.nonce, body.expiry_ms, now_ms)
        open_batches = [
            self.order_statuses[c].batch_id
            for c in self.by_trader.get(trader, [])
            if self.order_statuses[c].batch_id in self.books
        ]
        if open_batches:
            raise Conflict(
                f"withdrawal: expected no orders in open batches, got some in batch "
                f"{open_batches[-1]}; withdraw after it clears",
                "orders_pending",
            )
        self.settlement.withdraw(trader, body.amount, now_ms)
        self.nonces.use(trader, body.nonce, body.expiry_ms)
        self.events_applied += 1

    def l1_request(self, body: L1RequestIn, now_ms: int, *, deferrable: bool = True) -> int:
        """Credit L1 request ``body.index`` with the next batch: a deposit, or a forced
        withdrawal served with ``min(asked, what the account can give)``.

        Requests are taken in queue order, each exactly once, halted or not (they are
        on chain already: the next batch that settles consumes them).

        Returns:
            The amount credited (the deposit) or queued for withdrawal.

        Raises:
            Conflict (``l1_request_out_of_order``): not the next request of the queue.
            Conflict (``forced_withdrawal_unservable``): a forced withdrawal the account
                cannot serve yet (nothing to give).
            Conflict (``l1_deposit_waits``): a deposit opening an account the next batch
                cannot take (:meth:`_check_tree_growth`; not when replayed, ``deferrable``
                false: a logged request was credited when it was).
            BadRequest: the ledger refused the deposit (its reason).
        """
        if body.index != self.l1_next:
            raise Conflict(
                f"l1 request: expected index {self.l1_next} (the next of the queue), "
                f"got {body.index}",
                "l1_request_out_of_order",
            )
        account = Address(body.account)
        if body.kind == "deposit":
            if deferrable:
                self._check_tree_growth(AccountKey(account, body.subaccount), body.index)
            try:
                self.settlement.deposit(account, body.amount, now_ms, body.subaccount)
            except SettlementError as exc:
                raise BadRequest(f"l1 deposit {body.index}: {exc}") from exc
            amount = body.amount
        else:
            try:
                amount = self.settlement.forced_withdrawal(
                    account, body.subaccount, body.amount, now_ms, request=body.index
                )
            except SettlementError as exc:
                raise Conflict(
                    f"l1 forced withdrawal {body.index}: {exc}", "forced_withdrawal_unservable"
                ) from exc
        self.l1_next += 1
        self.events_applied += 1
        return amount

    def _check_tree_growth(self, key: AccountKey, index: int) -> None:
        """Refuse, for now, a deposit that opens an account past one more level of the
        account tree in the next batch.

        The exchange verifies batches whose tree stays at its depth or grows one level
        (``venue.l1.venue_shapes``); a batch growing it two levels could never be anchored
        and, retried forever, would let anyone freeze the exchange with the next forced
        withdrawal's deadline — for the price of a few deposits of one base unit from new
        subaccounts. Such a deposit (and the queue behind it) waits for the next batch,
        which grows the tree a level; the L1 link credits it on a later pass.

        Raises:
            Conflict (``l1_deposit_waits``): the deposit must wait for the next batch.
        """
        house = self.settlement
        state = house.state
        if state.has(key):
            return
        opened = {k for k, _ in house.pending_deposits if not state.has(k)}
        if key in opened:
            return
        before, after = state.size, state.size + len(opened) + 1
        if _tree_depth(after) > _tree_depth(before) + 1:
            raise Conflict(
                f"l1 deposit {index}: expected the next batch to grow the account tree at most "
                f"one level (from {before} accounts, at most {1 << (_tree_depth(before) + 1)} "
                f"after it), got account {after} opened by this deposit; it waits for the "
                f"next batch",
                "l1_deposit_waits",
            )

    def oracle_report(self, body: OracleReportIn, now_ms: int) -> None:
        """Take a signed oracle price report from a configured source.

        Raises:
            BadOracleSignature: the signature is not the named source's.
            UnknownOracleSource: the source is not a configured one.
            BadRequest: the clearinghouse refused the report otherwise (its reason).
        """
        try:
            self.settlement.oracle_report(body.to_domain(), now_ms)
        except (BadOracleSignature, UnknownOracleSource):
            raise  # their own codes: 401 bad_signature, 403 unknown_oracle_source
        except SettlementError as exc:
            raise BadRequest(str(exc)) from exc
        self.events_applied += 1

    def resume(self, body: ResumeIn, now_ms: int) -> dict[str, Any]:
        """Resume the venue halted after a failed batch (signed by the operator).

        The batch clock restarts at the batch collecting now: the batches due
        while the venue was halted are skipped (their books were cancelled at
        the halt). A batch that fails again halts the venue again.

        Returns:
            ``{"batch_id": the failed batch, "reason", "resumed_at_ms", "collecting"}``.

        Raises:
            BadSignature: not signed by the operator. Conflict (``not_halted``): the
            venue is running; (``wrong_batch``) it halted after another batch.
            CommitmentExpired, NonceReused.
        """
        signer = verify_signed(
            self.domain, RESUME_TYPE, body.message(), "operator", hexb(body.signature)
        )
        if signer != self.operator:
            raise BadSignature(f"operator: expected {self.operator}, got {signer}")
        if self.halted is None:
            raise Conflict("resume: expected a halted venue, got one running", "not_halted")
        if body.batch_id != self.halted["batch_id"]:
            raise Conflict(
                f"batch_id: expected {self.halted['batch_id']} (the batch that halted the "
                f"venue), got {body.batch_id}",
                "wrong_batch",
            )
        check_fresh(self.nonces, signer, body.nonce, body.expiry_ms, now_ms)
        self.nonces.use(signer, body.nonce, body.expiry_ms)
        halted, self.halted = self.halted, None
        self.last_cleared = max(self.last_cleared, self.schedule.last_cleared_by(now_ms))
        self.events_applied += 1
        return {
            "batch_id": halted["batch_id"],
            "reason": halted["reason"],
            "resumed_at_ms": now_ms,
            "collecting": self.schedule.collecting(now_ms),
        }

    def halt_unproven(self, body: ProofHaltIn, now_ms: int) -> list[bytes]:
        """Halt the venue because settled batch ``body.batch_id`` could not be proved
        (the operator logs it when its proving pipeline fails; replay applies it).

        The same halt as after a failed batch (:meth:`_halt`): open batches are
        cancelled without forfeits and nothing trades until the operator's
        signed :meth:`resume` naming this batch. The batch itself stays settled
        (its ledger moved). A venue already halted stays as it is.

        Returns:
            The commitments cancelled (none when already halted).
        """
        if self.halted is not None:
            return []
        self.events_applied += 1
        return self._halt(
            body.batch_id,
            body.reason,
            now_ms,
            f"batch {body.batch_id} could not be proved and the venue halted: this batch "
            "was cancelled",
        )

    def signed_by(self, kind: str, body: Any) -> str | None:
        """The address that signed ``body`` (a write of ``kind``), or None when its
        signature does not verify. For a refused write: only its true signer's
        rate budget may pay for it (many refusals come before the signature check)."""
        try:
            if kind == "commit":
                c = body.to_domain()
                signer = recover_signer(c.commit.digest(self.domain), c.signature)
                return signer if signer.lower() == body.trader.lower() else None
            if kind == "oracle":
                report = body.to_domain()
                report.verify()
                return str(report.report.source)
            struct, field, message = self._signed_message(kind, body)
            return verify_signed(self.domain, struct, message, field, hexb(body.signature))
        except (SealbatchError, SignatureError, ValueError):
            return None

    def _signed_message(self, kind: str, body: Any) -> tuple[StructType, str, dict[str, Any]]:
        if kind == "reveal":
            return REVEAL_TYPE, "trader", body.message(body.order.to_domain())
        types: dict[str, tuple[StructType, str]] = {
            "rfq": (RFQ_TYPE, "requester"),
            "quote_commit": (QUOTE_COMMIT_TYPE, "maker"),
            "quote_reveal": (QUOTE_REVEAL_TYPE, "maker"),
            "accept": (ACCEPT_TYPE, "requester"),
            "deposit": (DEPOSIT_TYPE, "trader"),
            "withdraw": (WITHDRAW_TYPE, "trader"),
            "resume": (RESUME_TYPE, "operator"),
            "dealing": (DEALING_TYPE, "keyper"),
            "complaint": (COMPLAINT_TYPE, "keyper"),
            "answer": (ANSWER_TYPE, "keyper"),
            "key_share": (KEY_SHARE_TYPE, "keyper"),
        }
        struct, field = types[kind]
        return struct, field, body.message()

    def prepare_replay(self, events: Sequence[tuple[str, str]]) -> int:
        """Compute the commitments the reveals among ``events`` (``(kind, payload)``
        of the log to replay, in order) will be checked against, in one vectorised
        Poseidon2 hash instead of one pure-Python hash per reveal; returns how many.

        Each is the commitment of the reveal's order and salt with the trader and
        batch of the commitment it names (taken earlier in ``events``, or already
        here): the very value :meth:`CommitBook.reveal` would compute. A reveal
        whose commitment or fields do not resolve is left to be hashed as usual.
        """
        taken: dict[str, int] = {}
        keys: list[tuple[Address, int, Order, bytes]] = []
        preimages: list[list[int]] = []
        for kind, payload in events:
            if kind == "commit":
                c = CommitIn.model_validate_json(payload)
                taken[c.commitment.lower()] = c.batch_id
            elif kind == "reveal":
                r = RevealIn.model_validate_json(payload)
                batch_id = taken.get(r.commitment.lower())
                if batch_id is None:
                    status = self.order_statuses.get(hexb(r.commitment))
                    batch_id = status.batch_id if status is not None else None
                if batch_id is None:
                    continue
                try:
                    order = r.order.to_domain()
                    trader = checksum_address(r.trader)
                    salt = hexb(r.salt)
                    preimages.append(commitment_preimage(order, salt, trader, batch_id))
                except (SealbatchError, ValueError):
                    continue
                keys.append((trader, batch_id, order, salt))
        self.replay_digests = dict(zip(keys, digest_preimages(preimages), strict=True))
        return len(keys)

    def apply(self, kind: str, payload: str, at_ms: int) -> None:
        """Re-apply one logged write (replay). Refusals are expected for logged
        reveal rejections and ignored; they rebuild the same state as live."""
        model = EVENT_MODELS.get(kind)
        if model is None:
            raise BadRequest(f"event kind: expected one of {sorted(EVENT_MODELS)}, got {kind!r}")
        body: Any = model.model_validate_json(payload)
        handler: dict[str, Any] = {
            # Logged only once verified, and its receipt already answered: neither
            # the signer is recovered nor the receipt signed again.
            "commit": functools.partial(self.commit, sign=False, verified=True),
            "reveal": functools.partial(self.reveal, verified=True),
            # Taken under the caps of its time: caps lowered since do not undo it.
            "rfq": functools.partial(self.request_rfq, capped=False),
            "quote_commit": self.quote_commit,
            # Taken under the rules of its time (a log from before the carry check).
            "quote_reveal": functools.partial(self.quote_reveal, checked=False),
            "accept": self.accept,
            "deposit": self.deposit,
            "oracle": self.oracle_report,
            "withdraw": self.withdraw,
            "resume": self.resume,
            "dealing": self.deal,
            "complaint": self.complain,
            "answer": self.answer_complaint,
            "key_share": self.release_share,
            "proof_halt": self.halt_unproven,
            # Credited when it was (a log from before deposits waited for the tree too).
            "l1_request": functools.partial(self.l1_request, deferrable=False),
        }
        handler[kind](body, at_ms)

    # ------------------------------------------------------------ batch clock

    def advance(self, now_ms: int) -> list[BatchRecord]:
        """Close, clear and settle every batch whose reveal window ended by ``now_ms``.

        Batches with nothing in them (no commitment, no carried order, no
        block) are skipped and leave no record. A failed batch halts the
        clock: nothing more clears until :meth:`resume`.
        """
        target = self.schedule.last_cleared_by(now_ms)
        out: list[BatchRecord] = []
        before = self.last_cleared
        self._seal_closed(now_ms)
        while self.last_cleared < target and self.halted is None:
            nxt = self._next_to_clear(target)
            if nxt is None:
                self.last_cleared = target
                break
            if self._awaits_key(nxt, now_ms):
                break  # its encrypted orders wait for the keypers' shares
            out.append(self._clear(nxt))
            self.last_cleared = nxt
        if self.keys is not None and self.halted is None:
            self.keys.forget_through(self.last_cleared)
        self.nonces.forget_expired(now_ms)
        self.settlement.release_closed(now_ms)
        if out:
            self._forget_old()
        if self.last_cleared != before:
            self._forget_rfqs()
        return out

    def _next_to_clear(self, target: int) -> int | None:
        """The next batch :meth:`advance` clears on its way to ``target`` (None: every
        batch up to ``target`` is empty, the clock skips them)."""
        if self.carried or self.settlement.has_pending():
            return self.last_cleared + 1
        pending = [b for b in self.books if b <= target]
        pending += [b for b in self.blocks if b <= target]
        pending += [b for b in self.quote_bonds if b <= target]
        if not pending:
            return None
        return max(min(pending), self.last_cleared + 1)

    def clear_due(self, now_ms: int) -> bool:
        """Whether :meth:`advance` at ``now_ms`` would clear a batch or move the clock
        (the operator runs that off its event loop); False while halted, or while the
        next batch waits for its keypers' secret."""
        target = self.schedule.last_cleared_by(now_ms)
        if self.last_cleared >= target or self.halted is not None:
            return False
        nxt = self._next_to_clear(target)
        return nxt is None or not self._awaits_key(nxt, now_ms)

    def _seal_closed(self, now_ms: int) -> None:
        """Seal every batch holding encrypted orders whose reveal window has closed:
        its commitments and hand reveals are final, so its keypers may release their
        shares (not earlier: decrypted orders seen during the reveal window would tell
        a trader who has not revealed yet what the others did)."""
        keys = self.keys
        if keys is None:
            return
        for b in sorted(keys.ciphertexts):
            if b in keys.seals or b not in self.books:
                continue
            w = self.schedule.windows(b)
            if now_ms < w.reveal_close_ms:
                break
            book = self.books[b]
            keys.seal(b, book.seed, len(book._order), self.operator_key, w.reveal_close_ms)

    def _awaits_key(self, batch_id: int, now_ms: int) -> bool:
        """Whether ``batch_id`` still waits for its secret: it holds encrypted orders
        not revealed by hand, the secret is not combined, and its wait has not run out."""
        keys = self.keys
        if keys is None or batch_id in keys.secrets or batch_id not in keys.ciphertexts:
            return False
        if now_ms >= self.schedule.windows(batch_id).reveal_close_ms + self.key_wait_ms:
            return False
        book = self.books.get(batch_id)
        if book is None:
            return False
        return any(book._entries[c].revealed is None for c in keys.ciphertexts[batch_id])

    def _open_encrypted(self, batch_id: int, book: CommitBook, at_ms: int) -> dict[str, Any] | None:
        """Decrypt the batch's encrypted orders with its combined secret and take each
        that opens to its commitment's order as revealed (the margin and market
        rules apply as to a hand reveal). Returns the batch's threshold record.

        Every encrypted commitment gets one outcome: ``revealed_by_hand``,
        ``decrypted`` (taken), ``rejected`` (decrypted, refused like a reveal,
        with its code), ``forfeited`` (with the reason of
        :func:`~sealbatch.auction.encrypted_orders.open_ciphertext`), or
        ``key_unavailable`` (fewer than ``t`` shares by the deadline).
        """
        keys = self.keys
        if keys is None or batch_id not in keys.ciphertexts:
            return None
        cts = keys.ciphertexts[batch_id]
        key = keys.keys.get(batch_id)
        secret = keys.secrets.get(batch_id)
        outcomes: dict[bytes, dict[str, Any]] = {}
        to_open: list[bytes] = []
        for c in cts:
            entry = book._entries[c]
            if entry.revealed is not None:
                outcomes[c] = {"outcome": "revealed_by_hand", "reason": None, "detail": None}
            elif secret is None:
                outcomes[c] = {
                    "outcome": "key_unavailable",
                    "reason": "key_unavailable",
                    "detail": f"fewer than {keys.committee.threshold} valid shares of batch "
                    f"{batch_id} by {self.schedule.windows(batch_id).reveal_close_ms} + "
                    f"{self.key_wait_ms} ms; the commitment was not revealed by hand",
                }
            else:
                to_open.append(c)
        if to_open and key is not None and secret is not None:
            opened = open_ciphertexts(
                secret,
                key.public_key,
                batch_id,
                [(cts[c][0], book._entries[c].commit.trader, c) for c in to_open],
            )
            for c, o in zip(to_open, opened, strict=True):
                status = self.order_statuses.get(c)
                if o.forfeited or o.order is None or o.salt is None:
                    outcomes[c] = {"outcome": "forfeited", "reason": o.reason, "detail": o.detail}
                    if status is not None:
                        self.order_statuses[c] = dataclasses.replace(
                            status, reason=o.reason, detail=o.detail
                        )
                    continue
                try:
                    book.reveal_decrypted(Reveal(c, o.order, o.salt), at_ms)
                except AuctionError as err:
                    outcomes[c] = {"outcome": "rejected", "reason": err.code, "detail": str(err)}
                    self.rejections.setdefault(batch_id, []).append(
                        RevealRejection(c, err.code, str(err), at_ms)
                    )
                    if status is not None:
                        self.order_statuses[c] = dataclasses.replace(
                            status, reason=_REASON.get(err.code, err.code), detail=str(err)
                        )
                    continue
                outcomes[c] = {"outcome": "decrypted", "reason": None, "detail": o.detail}
                if status is not None:
                    self.order_statuses[c] = dataclasses.replace(
                        status, status="revealed", order=o.order, reason=None, detail=None
                    )
        seal = keys.seals.get(batch_id)
        shares = keys.shares.get(batch_id, {})
        dealing_round = keys.round_json(batch_id)
        faults = list(keys.faults.get(batch_id, []))
        if key is not None and any(o["outcome"] == "key_unavailable" for o in outcomes.values()):
            faults += withheld_faults(
                keys.committee,
                batch_id,
                shares,
                self.schedule.windows(batch_id).reveal_close_ms + self.key_wait_ms,
            )
        summary: dict[str, Any] = {
            "public_key": None if key is None else "0x" + key.public_key.hex(),
            # the dealers left out of the key, as threshold.json's round lists them
            "disqualified": dealing_round["disqualified"],
            "seal": None if seal is None else seal.to_json(),
            "shares": [s.to_json() for _, s in sorted(shares.items())],
            "secret": None if secret is None else "0x" + secret.to_bytes(32, "big").hex(),
            "faults": faults,
            "outcomes": [{"commitment": "0x" + c.hex(), **outcomes[c]} for c in cts],
        }
        if self.publications_kept:
            self.threshold_files[batch_id] = {
                "format": "sealbatch.threshold.v1",
                "domain": self.domain.as_dict(),
                "committee": keys.committee.to_json(),
                "key": None if key is None else batch_key_json(key),
                "round": round_deadlines(
                    self.schedule.windows(batch_id).commit_open_ms, self.schedule.commit_ms
                ),
                **dealing_round,
                **summary,
                "ciphertexts": [
                    {
                        "commitment": "0x" + c.hex(),
                        "trader": book._entries[c].commit.trader,
                        "ciphertext": "0x" + ct.hex(),
                        "signature": "0x" + sig.hex(),
                    }
                    for c, (ct, sig) in cts.items()
                ],
            }
            while len(self.threshold_files) > self.publications_kept:
                del self.threshold_files[min(self.threshold_files)]
        return summary

    def _forget_old(self) -> None:
        """Drop the records and final order statuses of batches more than
        ``memory_batches`` behind the last cleared one (the operator stored them
        with their batch). Resting GTC orders stay until they end."""
        horizon = self.last_cleared - self.memory_batches
        while self.records:
            oldest = next(iter(self.records))
            if oldest >= horizon:
                break
            del self.records[oldest]
        dropped: dict[str, set[bytes]] = {}
        for b in sorted(b for b in self._taken_in if b < horizon):
            for c in self._taken_in.pop(b):
                status = self.order_statuses.get(c)
                if status is None:
                    continue
                if status.status in ("committed", "revealed", "resting"):
                    self._taken_in.setdefault(self.last_cleared, []).append(c)
                    continue
                del self.order_statuses[c]
                dropped.setdefault(status.trader, set()).add(c)
        for trader, gone in dropped.items():
            kept = [c for c in self.by_trader.get(trader, []) if c not in gone]
            if kept:
                self.by_trader[trader] = kept
            else:
                self.by_trader.pop(trader, None)
        if dropped:
            self.evicted_any = True

    def _rfq_last_batch(self, rfq: Rfq) -> int:
        """The last batch an RFQ takes part in: the one collecting when its window
        closes, or a later one its block settles in or its quotes' bonds wait for."""
        last = self.schedule.collecting(rfq.close_ms)
        if rfq.accepted is not None:
            last = max(last, rfq.accepted.batch_id)
        for q in rfq.quotes.values():
            if q.bond_batch is not None:
                last = max(last, q.bond_batch)
        return last

    def _forget_rfqs(self) -> None:
        """Drop the oldest RFQs whose last batch is more than ``memory_batches`` behind
        the last cleared one (closed, their blocks settled, their quote bonds
        released or forfeited) into :attr:`rfqs_out`, for the operator to store."""
        horizon = self.last_cleared - self.memory_batches
        self.rfqs_out += self.rfqs.forget(lambda rfq: self._rfq_last_batch(rfq) < horizon)

    def _clear(self, batch_id: int) -> BatchRecord:
        clears_at = self.schedule.clears_at(batch_id)
        book = self.books.pop(batch_id, None) or self.book(batch_id, register=False)
        threshold = self._open_encrypted(batch_id, book, clears_at)
        sealed = book.close(clears_at)
        quote_forfeits = self._quote_forfeits(batch_id)
        if quote_forfeits:
            sealed = dataclasses.replace(sealed, forfeited=sealed.forfeited + quote_forfeits)
        # The ledger's marks (none before a first mark): the only references it settles.
        self.references.update(self.settlement.reference_prices())
        references = dict(self.references)
        carried_in = (*self.carried, *self.settlement.carried_in())
        halted = self.settlement.halted_markets(clears_at)
        if halted:
            # No batch trades in a market whose index is too old: its fresh orders
            # lapse, its carried GTC orders rest on (the transition holds them over).
            sealed = dataclasses.replace(
                sealed,
                revealed=tuple(r for r in sealed.revealed if r.order.market not in halted),
            )
            carried_in = tuple(r for r in carried_in if r.order.market not in halted)
        try:
            result = clear_batch(sealed, self.markets, references, carried_in)
        except AuctionError as exc:
            # The clearing refused the batch: it fails as when settlement refuses one.
            return self._fail_unclearable(batch_id, sealed, threshold, exc)
        blocks, checked = self._check_blocks(batch_id, result, references)
        outcome = self.settlement.settle(result, [block_trade(a) for a in blocks], clears_at)
        summary = outcome.summary
        if outcome.publication is not None and self.publications_kept:
            self.publications[batch_id] = outcome.publication
            while len(self.publications) > self.publications_kept:
                oldest = min(self.publications)
                leaving = self.publications.pop(oldest)
                rec = self.records.get(oldest)
                if self.keep_unproven and (rec is None or rec.status == "settled"):
                    self.transitions_out.append(leaving)
        block_outcomes = tuple(
            dataclasses.replace(b, status="failed", reason=reason)
            if b.status == "filled"
            and (reason := outcome.failed_blocks.get(b.acceptance.rfq_id)) is not None
            else b
            for b in checked
        )
        # The next batch's tie-break reference is each market's mark (index plus a
        # bounded premium), not the last print, so one trade cannot steer it.
        self.references.update(self.settlement.reference_prices())
        settled = summary is not None and bool(summary["settled"])
        # The circuit breaker widens the price band in protective mode. Books
        # hold this dict, so batches still revealing see the new band too.
        for market_id, market in self.markets.items():
            band = self.settlement.band_bps(market_id)
            if band != market.band_bps:
                self.markets[market_id] = dataclasses.replace(market, band_bps=band)
        record = BatchRecord(
            batch_id=batch_id,
            # settlement refused the batch: loud, with the reason in settlement.error
            status="settled" if settled else "failed",
            windows=self.schedule.windows(batch_id),
            seed=result.seed,
            commitments=len(sealed.receipts),
            revealed=len(sealed.revealed),
            carried_in=len(result.orders) - len(sealed.revealed),
            carried_out=len(self.carried),
            markets={m: MarketOutcome.of(mr) for m, mr in sorted(result.markets.items())},
            forfeits=result.forfeited,
            rejections=tuple(self.rejections.pop(batch_id, [])),
            blocks=block_outcomes,
            settlement=summary,
            threshold=threshold,
        ).hashed()
        statuses = self.order_statuses
        touched = [
            *(r.commitment for r in sealed.receipts),
            *(r.order_id for r in result.orders),
            *(f.commitment for f in result.forfeited),
        ]
        if not settled:
            # Nothing of the batch was applied: no fill, no forfeit, no rest.
            error = summary["error"] if summary is not None else "settlement refused the batch"
            for c in (
                *(r.commitment for r in sealed.revealed),
                *(f.commitment for f in result.forfeited),
            ):
                old = statuses.get(c)
                if old is not None:
                    statuses[c] = dataclasses.replace(
                        old, status="not_filled", reason="batch_failed", detail=error
                    )
            self.records[batch_id] = record
            touched += self._halt(batch_id, error, clears_at)
            self._statuses_out(batch_id, touched)
            return record
        update_order_statuses(statuses, result)
        kept = {r.order_id: r.order.quantity for r in self.carried}
        for r in result.carried:
            old = statuses.get(r.order_id)
            if old is None or kept.get(r.order_id) == r.order.quantity:
                continue
            if r.order_id in kept:
                statuses[r.order_id] = dataclasses.replace(
                    old,
                    detail=f"GTC rest shrunk from {r.order.quantity} to {kept[r.order_id]} "
                    "lots: a reduce-only order may not exceed the position left to reduce",
                )
            else:
                statuses[r.order_id] = dataclasses.replace(
                    old,
                    status="partially_filled" if old.filled else "not_filled",
                    reason="rest_cancelled",
                    detail="GTC rest cancelled after settlement: it no longer passes the "
                    "margin check, or as reduce-only it would not reduce the position",
                )
        self.records[batch_id] = record
        # Every L1 request credited so far went into this batch or an earlier one. Only
        # a venue on an L1 anchors (and drops the entry then): without one, a position
        # kept per batch would grow for ever.
        if self.settlement.anchored:
            self.l1_queue_to[batch_id] = self.l1_next
        self._statuses_out(batch_id, touched)
        return record

    def _fail_unclearable(
        self,
        batch_id: int,
        sealed: SealedBatch,
        threshold: dict[str, Any] | None,
        exc: AuctionError,
    ) -> BatchRecord:
        """Record ``batch_id`` as failed because the clearing refused it, and halt: as
        for a batch settlement refuses, nothing of it is applied (its bonds are
        released, not forfeited; its blocks fail; its orders end ``not_filled`` with
        the reason ``batch_failed``) and nothing clears until the operator resumes."""
        error = f"the clearing refused batch {batch_id}: {exc}"
        self.settlement.release(batch_id)
        blocks = tuple(
            BlockOutcome(a, "failed", "batch_failed") for a in self.blocks.pop(batch_id, [])
        )
        record = BatchRecord(
            batch_id=batch_id,
            status="failed",
            windows=self.schedule.windows(batch_id),
            seed=sealed.seed,
            commitments=len(sealed.receipts),
            revealed=len(sealed.revealed),
            carried_in=0,
            carried_out=len(self.carried),
            markets={},
            forfeits=(),
            rejections=tuple(self.rejections.pop(batch_id, [])),
            blocks=blocks,
            settlement={"settled": False, "error": error, "code": exc.code},
            threshold=threshold,
        ).hashed()
        touched = [r.commitment for r in sealed.receipts]
        for c in (
            *(r.commitment for r in sealed.revealed),
            *(f.commitment for f in sealed.forfeited),
        ):
            old = self.order_statuses.get(c)
            if old is not None:
                self.order_statuses[c] = dataclasses.replace(
                    old, status="not_filled", reason="batch_failed", detail=error
                )
        self.records[batch_id] = record
        touched += self._halt(batch_id, error, self.schedule.clears_at(batch_id))
        self._statuses_out(batch_id, touched)
        return record

    def _statuses_out(self, batch_id: int, touched: list[bytes]) -> None:
        """Hand the order statuses ``batch_id`` changed to the operator to store."""
        seen: set[bytes] = set()
        out = []
        for c in touched:
            status = self.order_statuses.get(c)
            if status is not None and c not in seen:
                seen.add(c)
                out.append(status)
        self.statuses_out[batch_id] = out

    def _halt(
        self, batch_id: int, reason: str, at_ms: int, detail: str | None = None
    ) -> list[bytes]:
        """Halt after ``batch_id`` failed: cancel every open batch (its commitments end
        ``not_filled`` with the reason ``venue_halted``, no bond is forfeited, its
        accepted blocks and quote bonds are released) until the operator resumes.
        Carried GTC orders and pending deposits and withdrawals wait for the next
        batch after the resume. Returns the commitments cancelled."""
        self.halted = {"batch_id": batch_id, "reason": reason, "at_ms": at_ms}
        if detail is None:
            detail = f"batch {batch_id} failed and the venue halted: this batch was cancelled"
        open_batches = sorted({*self.books, *self.blocks, *self.quote_bonds})
        cancelled: list[bytes] = []
        for b in open_batches:
            book = self.books.pop(b, None)
            if book is not None:
                for c in book._entries:
                    status = self.order_statuses.get(c)
                    if status is not None:
                        self.order_statuses[c] = dataclasses.replace(
                            status, status="not_filled", reason="venue_halted", detail=detail
                        )
                        cancelled.append(c)
            self.blocks.pop(b, None)
            self.quote_bonds.pop(b, None)
            self.rejections.pop(b, None)
            self.settlement.release(b)
        return cancelled

    def _quote_forfeits(self, batch_id: int) -> tuple[Forfeit, ...]:
        """The sealed RFQ quotes whose bond this batch forfeits: never revealed by
        the end of their RFQ's reveal phase (which came before this batch clears)."""
        out = []
        for rfq_id, commitment in self.quote_bonds.pop(batch_id, []):
            rfq = self.rfqs.rfqs[rfq_id]
            q = rfq.quotes[commitment]
            if q.revealed_ms is None and q.bond:
                out.append(
                    Forfeit(
                        commitment, q.maker, rfq.market, q.sequence, q.bond, rfq_id, signed=q.signed
                    )
                )
        return tuple(out)

    def _check_blocks(
        self, batch_id: int, result: BatchResult, references: Mapping[str, int | None]
    ) -> tuple[list[Acceptance], list[BlockOutcome]]:
        """Blocks accepted for this batch settle if their price lies within
        ``rfq_band_bps`` of the batch's clearing price (or, with no clearing
        price, of the reference price). Band ends round inwards."""
        ok: list[Acceptance] = []
        outcomes: list[BlockOutcome] = []
        for a in self.blocks.pop(batch_id, []):
            center = result.markets[a.market].price or references.get(a.market)
            if center is None:
                outcomes.append(BlockOutcome(a, "failed", "no_reference_price"))
                continue
            low = -((-center * (10_000 - self.rfq_band_bps)) // 10_000)
            high = center * (10_000 + self.rfq_band_bps) // 10_000
            if low <= a.price <= high:
                outcomes.append(BlockOutcome(a, "filled", None, (low, high)))
                ok.append(a)
            else:
                outcomes.append(BlockOutcome(a, "failed", "outside_band", (low, high)))
        return ok, outcomes

    # ------------------------------------------------------------------ views

    def batch_view(self, batch_id: int, now_ms: int) -> BatchRecord | OpenBatch:
        """The record of a cleared batch, or the state of an open one.

        Raises:
            NotFound: no such batch (never opened, or skipped as empty).
        """
        record = self.records.get(batch_id)
        if record is not None:
            return record
        collecting = self.schedule.collecting(now_ms)
        if (
            batch_id > collecting
            or batch_id < 0
            or (batch_id <= self.last_cleared and batch_id not in self.books)
        ):
            raise NotFound(f"batch {batch_id} does not exist", "unknown_batch")
        w = self.schedule.windows(batch_id)
        book = self.books.get(batch_id)
        return OpenBatch(
            batch_id=batch_id,
            phase="commit" if now_ms < w.commit_close_ms else "reveal",
            windows=w,
            commitments=len(book._order) if book is not None else 0,
        )

    def order_status(self, commitment: bytes) -> OrderStatus:
        """An order's status as the venue shows it (see :meth:`OrderStatus.sealed`).

        A revealed order stays sealed to everyone else until its batch clears:
        showing it during the reveal window would tell late revealers what
        the others did. So does the detail of a refused reveal (it quotes the
        order's price, size or the trader's margin); the trader had it in the
        refusal.

        Raises:
            NotFound: the commitment was never taken.
        """
        status = self.order_statuses.get(commitment)
        if status is None:
            raise NotFound(f"commitment 0x{commitment.hex()} was never taken", "unknown_commitment")
        return status.sealed()

    def trader_orders(self, trader: str, last: int = 100) -> list[OrderStatus]:
        """The statuses of a trader's latest orders, oldest first."""
        return [self.order_status(c) for c in self.by_trader.get(trader, [])[-last:]]


def _tree_depth(n: int) -> int:
    """The account tree's depth for ``n`` accounts (:mod:`sealbatch.settlement.roots`)."""
    return max(1, (max(n, 1) - 1).bit_length())
