"""The secp256k1 work of bulk commitments in worker processes, on every core.

A bulk ``POST /v1/commitments`` spends most of its CPU on two elliptic-curve
operations per commitment: recovering the trader who signed it and signing
the operator's receipt. :class:`SignerPool` moves both off the venue's thread
into worker processes, one slice of the request per worker:

1. before the commitments are taken under the venue's lock, :meth:`recover`
   hashes each EIP-712 ``Commit`` and recovers its signer in the workers; the
   state machine is handed each body's recovered address instead of recovering
   it again, and still checks everything itself (the signer against the named
   trader, window, nonce, bond, the commitment's form): the workers only do the
   expensive part. A signature that does not recover there is recovered (and
   refused with its own error) by the state machine as before.
2. once the commitments are taken (their sequence numbers given), while the
   group commit makes them durable, :meth:`sign_receipts` signs their
   ``Receipt`` messages in the workers with the operator's key. The message
   and the signature are exactly those the venue's thread would make
   (:func:`~sealbatch.auction.commit_reveal.sign_receipt`, deterministic
   RFC 6979 nonces); a receipt is handed out only signed and only once durable.

Requests below :data:`MIN_BULK` commitments are done in place (a round trip
to the workers costs more). If the pool breaks (a worker died), the work is
done in place and a new pool is started on the next request.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sealbatch.auction.commit_reveal import Receipt, commit_digest, receipt_digest
from sealbatch.crypto.eip712 import Address, Eip712Domain, recover_signers, sign_digests
from sealbatch.venue.schemas import CommitIn, hexb

__all__ = ["MIN_BULK", "SignerPool"]

log = logging.getLogger(__name__)

#: Fewer commitments than this are handled in place (a round trip costs more).
MIN_BULK = 64

#: What a worker needs of one commitment: the ``Commit`` fields and the signature.
_CommitFields = tuple[str, int, str, str, int, int, int, int, str]


def _fields(body: CommitIn) -> _CommitFields:
    return (
        body.trader,
        body.batch_id,
        body.market,
        body.commitment,
        body.nonce,
        body.margin_lock,
        body.bond,
        body.expiry_ms,
        body.signature,
    )


def _recover(domain: Eip712Domain, items: list[_CommitFields]) -> list[str | None]:
    """In a worker: the address that signed each commitment, None where the
    signature does not recover (the state machine refuses it with its own error)."""
    pairs: list[tuple[bytes, bytes]] = []
    for trader, batch_id, market, commitment, nonce, margin_lock, bond, expiry, sig in items:
        try:
            digest = commit_digest(
                domain, trader, batch_id, market, hexb(commitment), nonce, margin_lock, bond, expiry
            )
            pairs.append((digest, hexb(sig)))
        except ValueError:
            pairs.append((b"", b""))  # recovers nobody (a digest is 32 bytes): None
    return list(recover_signers(pairs))


def _sign(
    domain: Eip712Domain, operator_key: bytes, items: list[tuple[int, int, bytes, int]]
) -> list[bytes]:
    """In a worker: the operator's ``Receipt`` signature of each ``(batch_id, sequence,
    commitment, received_at_ms)`` (:func:`~sealbatch.auction.commit_reveal.sign_receipt`'s)."""
    return sign_digests(operator_key, [receipt_digest(domain, *item) for item in items])


class SignerPool:
    """Worker processes that recover commitment signers and sign receipts.

    Args:
        workers: processes (0: everything in place, no pool).
        domain: the venue's EIP-712 domain.
        operator_key: the operator's private key (receipts are signed with it).
    """

    def __init__(self, workers: int, domain: Eip712Domain, operator_key: bytes) -> None:
        self.workers = workers
        self.domain = domain
        self._operator_key = operator_key
        self._pool: ProcessPoolExecutor | None = None
        self.recovered = 0
        self.signed = 0

    def pooled(self, n: int) -> bool:
        """Whether ``n`` commitments of one request go to the workers."""
        return self.workers > 0 and n >= MIN_BULK

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the venue process runs threads (the writer, the publisher)
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)
        return self._pool

    def _slices(self, n: int) -> list[slice]:
        step = -(-n // self.workers)  # ceiling: every item in one slice
        return [slice(i, i + step) for i in range(0, n, step)]

    async def _map(self, fn: Any, *args: Any, items: Sequence[Any]) -> list[Any] | None:
        """``fn(*args, slice)`` over the workers, results in order; None if the pool broke."""
        loop = asyncio.get_running_loop()
        try:
            pool = self._executor()
            parts = await asyncio.gather(
                *(
                    loop.run_in_executor(pool, fn, *args, list(items[s]))
                    for s in self._slices(len(items))
                )
            )
        except BrokenProcessPool:
            log.exception("a signer worker died: working in place, a new pool next time")
            self._discard()
            return None
        return [x for part in parts for x in part]

    async def recover(self, bodies: Sequence[CommitIn]) -> list[Address | None]:
        """The signer of each of ``bodies``, recovered in the workers; all None (the
        state machine recovers them) when they are few or the pool broke."""
        if self.pooled(len(bodies)):
            found = await self._map(_recover, self.domain, items=[_fields(b) for b in bodies])
            if found is not None:
                self.recovered += sum(a is not None for a in found)
                return [None if a is None else Address(a) for a in found]
        return [None] * len(bodies)

    async def sign_receipts(self, receipts: Sequence[Receipt]) -> list[Receipt]:
        """``receipts`` with the operator's signature, signed in the workers (in place
        when they are few or the pool broke)."""
        items = [(r.batch_id, r.sequence, r.commitment, r.received_at_ms) for r in receipts]
        sigs: list[bytes] | None = None
        if self.pooled(len(items)):
            sigs = await self._map(_sign, self.domain, self._operator_key, items=items)
            if sigs is not None:
                self.signed += len(sigs)
        if sigs is None:
            sigs = _sign(self.domain, self._operator_key, items)
        return [
            Receipt.of(r.batch_id, r.sequence, r.commitment, r.received_at_ms, sig)
            for r, sig in zip(receipts, sigs, strict=True)
        ]

    def _discard(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
