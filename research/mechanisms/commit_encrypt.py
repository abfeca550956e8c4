"""Frequent batch auction with threshold-encrypted commitments ("commit-encrypt").

As :mod:`~sealbatch.research.mechanisms.commit_reveal`, but every order goes
with its commitment encrypted to the batch's threshold key
(:func:`sealbatch.auction.encrypted_orders.encrypt_order`, the venue's own
bytes), and the batch opens itself: once the reveal window has closed the
keypers release the batch secret (docs/threshold.md) and every ciphertext is
decrypted (:func:`~sealbatch.auction.encrypted_orders.open_ciphertexts`),
checked against its commitment and taken by the book
(:meth:`~sealbatch.auction.commit_reveal.CommitBook.reveal_decrypted`).
Nobody decides whether to reveal: the selective revealer has no option to
keep, a maker cannot withhold a quote the fundamental has run through, and a
cancel sent after an order was committed changes nothing (the order is sealed
in the batch already).

The lab's keyper committee is one deterministic secret per batch (the
secret ``t`` keypers would combine); the threshold sharing itself is the
venue's business and costs the batch nothing here but its release time, which
the batch's reveal window stands for.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

from sealbatch.auction.commit_reveal import Reveal
from sealbatch.auction.encrypted_orders import encrypt_order, open_ciphertexts
from sealbatch.auction.errors import AuctionError
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.threshold import CURVE_ORDER, scalar_point
from sealbatch.research.mechanisms.commit_crypto import sealed_order
from sealbatch.research.mechanisms.commit_reveal import _NS_PER_MS, CommitRevealMechanism
from sealbatch.research.scenario import MechanismSpec
from sealbatch.research.simulation import Cancel, Message, Simulation

if TYPE_CHECKING:
    from sealbatch.auction.orders import Order
    from sealbatch.research.scenario import Scenario

__all__ = ["CommitEncryptMechanism", "lab_batch_secret"]


def lab_batch_secret(batch_id: int) -> int:
    """The lab's batch secret of ``batch_id`` (simulation only), in ``[1, n)``."""
    raw = int.from_bytes(keccak256(b"sealbatch.lab.batch-secret", batch_id.to_bytes(8, "big")))
    return raw % (CURVE_ORDER - 1) + 1


class CommitEncryptMechanism(CommitRevealMechanism):
    """Commit-encrypt batch auction; unit = batch number."""

    def __init__(
        self, sim: Simulation, spec: MechanismSpec, scenario: Scenario, crypto_workers: int = 0
    ) -> None:
        super().__init__(sim, spec, scenario, crypto_workers)
        #: batch -> commitment -> (ciphertext, trader)
        self.ciphertexts: dict[int, dict[bytes, tuple[bytes, str]]] = {}
        self.decrypted = 0

    def _commit_close(self, k: int) -> None:
        """Open the next batch and take this one's commitments; nothing to decide."""
        self._open(k + 1)
        self._take_commitments(k)

    def _take_commitments(self, k: int, closing: bool = True) -> None:
        super()._take_commitments(k, closing)
        started = perf_counter()
        key = scalar_point(lab_batch_secret(k))
        out = self.ciphertexts.setdefault(k, {})
        for p in self.pending.get(k, {}).values():
            if not p.commitment or p.commitment in out:
                continue
            trader = self._traders[p.order.agent]
            order: Order = sealed_order(self.market_id, p.order)
            out[p.commitment] = (encrypt_order(key, order, p.salt, trader, k), trader)
        self.venue_code_s += perf_counter() - started

    def _close(self, k: int) -> None:
        """Decrypt every ciphertext of the batch with its secret, take what opens to
        its commitment, then close and clear as commit-reveal does."""
        book = self.books.get(k)
        cts = self.ciphertexts.pop(k, {})
        if book is not None and cts:
            started = perf_counter()
            secret = lab_batch_secret(k)
            items = [(ct, trader, c) for c, (ct, trader) in cts.items()]
            at_ms = self.sim.now // _NS_PER_MS
            for (_, _, c), opened in zip(
                items, open_ciphertexts(secret, scalar_point(secret), k, items), strict=True
            ):
                if opened.order is None or opened.salt is None:
                    self.rejections += 1
                    continue
                try:
                    book.reveal_decrypted(Reveal(c, opened.order, opened.salt), at_ms)
                except AuctionError:
                    self.rejections += 1  # outside the band: refused like a reveal
                    continue
                self.reveals += 1
                self.decrypted += 1
            self.venue_code_s += perf_counter() - started
        super()._close(k)

    def arrive(self, msg: Message) -> None:
        if type(msg) is Cancel:
            # A committed order is sealed in its batch and opens itself: a cancel
            # changes nothing (it still counts as an attempt on a stale quote).
            if self._stale:
                self._touch_cancel(msg.oid)
            return
        super().arrive(msg)
