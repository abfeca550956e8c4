"""Frequent batch auction with commit-reveal, run through the venue's own code.

Batch ``k`` collects commitments during ``[kT, (k+1)T)`` and reveals during
``[(k+1)T, (k+1)T + ρ)``; then it closes and clears. Each arriving order is
committed for its trader through :class:`sealbatch.auction.commit_reveal.CommitBook`
(an EIP-712 commitment signed with the trader's secp256k1 key; the book
verifies it and signs a receipt). At the close of the commit window every
trader decides, at its own time (:meth:`~sealbatch.research.agents.Agent.reveal_time`),
whether to reveal (:meth:`~sealbatch.research.agents.Agent.should_reveal`) and
sends the reveal as a message like any other: it travels with the trader's
latency, is visible in flight and passes through the sequencer, who may hold,
drop or reorder it; a reveal that arrives after the window is refused by the
book. A cancel under commit-reveal means "do not reveal". Unrevealed commitments forfeit their bond
to the insurance fund. The closed batch is cleared by
:func:`sealbatch.auction.batch.clear_batch`.

Until the batch closes nobody sees an order: messages in flight and the
book are sealed, so front-runners see only that a commitment went out.
Every order lasts one batch (market makers re-quote each batch).

The cryptography runs batch-wise, with the same bytes and the same outcomes
as order by order. Nothing about a commitment is visible before its commit
window closes, so the commitments that arrived during the window are hashed
at its close in one vectorised Poseidon2 call
(:func:`~sealbatch.auction.commitment.compute_commitments`), then signed by
their traders and taken by the book in arrival order, each at its arrival
time (the book checks that time against the window). Reveals are handed to
the book as they arrive and checked at the batch's close in one vectorised
hash (:meth:`~sealbatch.auction.commit_reveal.CommitBook.reveal_many`), each
at its arrival time; the market's size and band check, the only check an
honest reveal that arrived in time can fail, runs on arrival as well, so an
order the book will refuse is dead at once, as it would be order by order.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter
from typing import TYPE_CHECKING

from sealbatch.auction.batch import clear_batch
from sealbatch.auction.commit_reveal import (
    BatchWindows,
    Commit,
    CommitBook,
    NonceRegistry,
    Reveal,
    RevealedOrder,
    SignedCommit,
)
from sealbatch.auction.errors import AuctionError
from sealbatch.auction.markets import Market
from sealbatch.crypto.eip712 import Address, Eip712Domain
from sealbatch.crypto.keccak import keccak256
from sealbatch.research.errors import ConservationError, LabError
from sealbatch.research.mechanisms.base import Mechanism
from sealbatch.research.mechanisms.batch import CROSS_ORDER_ID
from sealbatch.research.mechanisms.commit_crypto import (
    CommitContext,
    CommitCrypto,
    lab_key,
    sealed_order,
    trader_address,
)
from sealbatch.research.scenario import MechanismSpec
from sealbatch.research.simulation import Cancel, LabOrder, Message, RevealMsg, Simulation

if TYPE_CHECKING:
    from sealbatch.research.scenario import Scenario

__all__ = ["CommitRevealMechanism", "lab_key"]

_NS_PER_MS = 1_000_000


class _Pending:
    """An order that arrived in a commit window; its salt and commitment come
    from its trader at the window's close (``b""`` until then)."""

    __slots__ = ("at_ms", "commitment", "nonce", "order", "salt")

    def __init__(self, order: LabOrder, nonce: int, at_ms: int) -> None:
        self.order = order
        self.commitment = b""
        self.salt = b""
        self.nonce = nonce
        self.at_ms = at_ms


class CommitRevealMechanism(Mechanism):
    """Commit-reveal batch auction; unit = batch number."""

    sealed = True
    per_batch = True
    #: A race needs arrival order to decide who gets a stale quote; here the
    #: owner withholds it at reveal whatever arrived first. A sandwich needs a
    #: front leg placed after seeing the victim; here the victim is sealed until
    #: its batch's commitments are closed. Counts of either are the detectors'
    #: false positives by definition.
    not_applicable = frozenset({"races", "sandwiches"})

    def __init__(
        self, sim: Simulation, spec: MechanismSpec, scenario: Scenario, crypto_workers: int = 0
    ) -> None:
        super().__init__(sim, spec, scenario)
        self.interval_ns = spec.interval_ms * _NS_PER_MS
        self.reveal_ns = spec.reveal_ms * _NS_PER_MS
        self.bond = spec.bond
        self.market_id = scenario.market_id
        self.markets = {self.market_id: Market(self.market_id, band_bps=scenario.band_bps)}
        self.domain = Eip712Domain()
        self.operator_key = keccak256(b"sealbatch.lab.operator")
        self.nonces = NonceRegistry()
        #: The traders' and the book's cryptography, in place or in worker processes.
        self.crypto = CommitCrypto(
            CommitContext(
                self.market_id, self.bond, sim.seed_bytes, self.domain, self.operator_key
            ),
            crypto_workers,
        )
        self._nonce: dict[int, int] = {}
        #: Each account's address, as its trader named it in its commitments.
        self._traders: dict[int, Address] = {}
        self.books: dict[int, CommitBook] = {}
        self.pending: dict[int, dict[int, _Pending]] = {}
        #: Reveals handed to each batch's book, with their arrival times (ms).
        self.revealed: dict[int, list[tuple[Reveal, int]]] = {}
        self.commits = 0
        #: Every commitment taken: (batch, receipt sequence, commitment, the trader's
        #: signature), in the order the books took them (what a test compares); kept
        #: only while recording (:meth:`enable_recording`), so a long run's memory
        #: does not grow with its commitments.
        self.signed_log: list[tuple[int, int, bytes, bytes]] = []
        self.keep_signatures = False
        self.reveals = 0
        self.rejections = 0
        self.forfeits = 0
        self.bonds_paid = 0
        self.batches = 0
        self.batches_traded = 0
        self.forfeits_by_account: dict[int, int] = {}
        #: Wall seconds spent inside the venue's commit-reveal code (signing,
        #: verification, hashing, clearing) — reported by bench/lab.py.
        self.venue_code_s = 0.0

    def enable_recording(self, levels: int = 10) -> None:
        """Also keep every commitment's trader and receipt signatures (``signed_log``,
        ``crypto.receipt_signatures``): what a test compares across runs."""
        super().enable_recording(levels)
        self.keep_signatures = True
        self.crypto.keep_receipts = True

    def start(self) -> None:
        self.crypto.start()
        self._open(0)

    def after(self, t: int) -> int:
        k = t // self.interval_ns
        return (k + 1) * self.interval_ns + self.reveal_ns

    def resting_orders(self) -> Iterable[LabOrder]:
        return [p.order for batch in self.pending.values() for p in batch.values()]

    def finish(self) -> None:
        """End of the run: the open commit window's commitments are taken too (they
        were sent and arrived; only the window's close is past the horizon)."""
        for k, pending in self.pending.items():
            if any(not p.commitment for p in pending.values()):
                self._take_commitments(k, closing=False)
        if self.crypto.pooled:
            self.crypto.collect(wait=True)
            if self.crypto.receipts_signed != self.commits:
                raise LabError(
                    f"receipts: expected one signed receipt per commitment ({self.commits}), "
                    f"got {self.crypto.receipts_signed}"
                )
        super().finish()

    # -- batch lifecycle ------------------------------------------------------------
    def _open(self, k: int) -> None:
        t0 = k * self.interval_ns
        windows = BatchWindows(
            t0 // _NS_PER_MS,
            (t0 + self.interval_ns) // _NS_PER_MS,
            (t0 + self.interval_ns + self.reveal_ns) // _NS_PER_MS,
        )
        ref = self.sim.last_price
        self.books[k] = CommitBook(
            k,
            self.markets,
            self.domain,
            self.operator_key,
            windows,
            references={self.market_id: ref},
            nonces=self.nonces,
        )
        self.pending[k] = {}
        self.revealed[k] = []
        sim = self.sim
        sim.schedule(t0 + self.interval_ns, self._commit_close, k)
        sim.schedule(t0 + self.interval_ns + self.reveal_ns, self._close, k)
        for agent in sim.batch_listeners:
            agent.on_batch_open(k)

    def _commit_close(self, k: int) -> None:
        sim = self.sim
        self._open(k + 1)
        self._take_commitments(k)
        close = sim.now
        deadline = close + self.reveal_ns
        for p in list(self.pending[k].values()):
            agent = sim.agents[p.order.agent]
            decide = close if agent is None else agent.reveal_time(close, deadline)
            sim.schedule(max(decide, close), self._decide, (k, p))

    def _decide(self, arg: tuple[int, _Pending]) -> None:
        """The owner decides whether to reveal; a reveal travels like any message."""
        k, p = arg
        o = p.order
        if k not in self.books or not o.live:
            return
        sim = self.sim
        agent = sim.agents[o.agent]
        if agent is None:
            self._reveal(RevealMsg(o, p.commitment, p.salt))
            return
        if not agent.should_reveal(o):
            o.live = False
            if self._stale:
                self._touch_cancel(o.oid)
            return
        sim.send(agent, RevealMsg(o, p.commitment, p.salt))

    def _take_commitments(self, k: int, closing: bool = True) -> None:
        """Hand to the book every commitment of batch ``k``, signed by its trader, in
        arrival order; with workers, their receipts are signed there and the batch's
        commitment root starts there too (unless the run is ``closing`` no more)."""
        pending = self.pending[k]
        if not pending:
            return
        started = perf_counter()
        crypto = self.crypto
        pooled = crypto.pooled
        entries = list(pending.values())
        signed = crypto.take(k)
        if len(signed) != len(entries):
            raise LabError(
                f"batch {k}: expected {len(entries)} signed commitments, got {len(signed)}"
            )
        book = self.books[k]
        market, bond = self.market_id, self.bond
        receipts = []
        taken = []
        for p, (salt, commitment, trader, signature, signer) in zip(entries, signed, strict=True):
            o = p.order
            p.salt = salt
            p.commitment = commitment
            self._traders[o.agent] = trader
            commit = Commit(trader, k, market, commitment, p.nonce, 0, bond)
            try:
                if pooled:  # recovered in a worker; the book checks it names the trader
                    receipt = book.commit(
                        SignedCommit(commit, signature), p.at_ms, sign=False, signer=signer
                    )
                else:  # the book recovers the signer and signs the receipt itself
                    receipt = book.commit(SignedCommit(commit, signature), p.at_ms)
            except AuctionError:
                self.rejections += 1
                o.live = False
                del pending[o.oid]
                continue
            self.commits += 1
            if self.keep_signatures:
                self.signed_log.append((k, receipt.sequence, commitment, signature))
            taken.append((commitment, market, commit.trader, bond))
            if pooled:
                receipts.append((k, receipt.sequence, receipt.commitment, receipt.received_at_ms))
            else:
                crypto.keep_receipt(k, receipt.sequence, receipt.operator_signature)
        if pooled:
            crypto.sign_receipts(receipts)
            if closing:
                crypto.start_root(k, taken)
        self.venue_code_s += perf_counter() - started

    def _reveal(self, msg: RevealMsg) -> None:
        o = msg.order
        book = self.books.get(o.batch)
        if book is None or not o.live:
            self.rejections += book is None
            return
        order = sealed_order(self.market_id, o)
        self.revealed[o.batch].append(
            (Reveal(msg.commitment, order, msg.salt), self.sim.now // _NS_PER_MS)
        )
        self.crypto.add_reveal(
            (o.side, o.price, o.qty, o.oid, msg.salt, self._traders[o.agent], o.batch)
        )
        try:  # what the book will refuse at the close is dead now, as order by order
            self.markets[self.market_id].check_order(order, book.references.get(self.market_id))
        except AuctionError:
            o.live = False

    def _close(self, k: int) -> None:
        sim = self.sim
        self.unit = k
        self.batches += 1
        book = self.books.pop(k)
        pending = self.pending.pop(k)
        started = perf_counter()
        for outcome in self._take_reveals(k, book):
            if isinstance(outcome, RevealedOrder):
                self.reveals += 1
            else:
                self.rejections += 1  # late (past the reveal window) or malformed
        sealed = book.close(sim.now // _NS_PER_MS, seed=self.crypto.root(k))
        self.crypto.collect()
        by_commitment = {p.commitment: p.order for p in pending.values()}
        result = clear_batch(sealed, self.markets, {self.market_id: sim.last_price})
        self.venue_code_s += perf_counter() - started
        market = result.markets[self.market_id]
        bought = sold = 0
        for f in market.fills:
            o = by_commitment[f.order_id]
            o.rem -= f.quantity
            if o.side > 0:
                bought += f.quantity
            else:
                sold += f.quantity
            sim.record_fill(o, f.price, f.quantity, k)
        if bought != sold:
            raise ConservationError(f"batch {k}: expected bought = sold, got {bought} and {sold}")
        if market.price is not None and market.volume:
            sim.last_price = market.price
            self.batches_traded += 1
            if self.log is not None:
                self._log(6, CROSS_ORDER_ID, market.volume, market.price, 1)
        for forfeit in sealed.forfeited:
            o = by_commitment[forfeit.commitment]
            self.forfeits += 1
            self.forfeits_by_account[o.agent] = self.forfeits_by_account.get(o.agent, 0) + 1
            if forfeit.bond:
                sim.transfer(o.agent, sim.insurance, forfeit.bond)
                self.bonds_paid += forfeit.bond
        for o in by_commitment.values():
            o.live = False
            if o.rem:
                agent = sim.agents[o.agent]
                if agent is not None:
                    agent.on_unfilled(o)
        if self._stale:
            self._expire(oids=[o.oid for o in by_commitment.values()])

    def _take_reveals(self, k: int, book: CommitBook) -> list[RevealedOrder | AuctionError]:
        """The book takes batch ``k``'s reveals, each at its arrival time, as one
        :meth:`~CommitBook.reveal` after another: their commitments recomputed in the
        workers as they arrived, or here in one vectorised hash
        (:meth:`~CommitBook.reveal_many`)."""
        reveals = self.revealed.pop(k)
        hashes = self.crypto.reveal_hashes(k)
        if hashes is None:
            return book.reveal_many(reveals)
        if len(hashes) != len(reveals):
            raise LabError(f"batch {k}: expected {len(reveals)} reveal hashes, got {len(hashes)}")
        out: list[RevealedOrder | AuctionError] = []
        for (r, at_ms), expected in zip(reveals, hashes, strict=True):
            try:
                out.append(book.reveal(r, at_ms, expected))
            except AuctionError as err:
                out.append(err)
        return out

    # -- messages -------------------------------------------------------------------
    def _account_key(self, account: int) -> tuple[bytes, Address]:
        """Lab account ``account``'s key and address."""
        return lab_key(account), trader_address(account)

    def arrive(self, msg: Message) -> None:
        sim = self.sim
        if type(msg) is RevealMsg:
            self._reveal(msg)
            return
        k = sim.now // self.interval_ns
        if type(msg) is Cancel:
            if self._stale:
                self._touch_cancel(msg.oid)
            for batch in self.pending.values():
                p = batch.get(msg.oid)
                if p is not None:
                    p.order.live = False  # withheld at reveal: forfeits the bond
            return
        o: LabOrder = msg  # type: ignore[assignment]
        book = self.books.get(k)
        if book is None:
            o.live = False
            return
        if self._stale:
            self.unit = k
            self._touch_take(o)
        nonce = self._nonce.get(o.agent, 0)
        self._nonce[o.agent] = nonce + 1
        o.batch = k
        self.pending[k][o.oid] = _Pending(o, nonce, sim.now // _NS_PER_MS)
        self.crypto.add((o.agent, o.side, o.price, o.qty, o.oid, nonce, k))
