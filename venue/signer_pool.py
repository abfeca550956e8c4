"""Signature recovery of bulk commitments in worker processes.

A bulk ``POST /v1/commitments`` spends most of its CPU recovering each
commitment's signer (secp256k1) and hashing its EIP-712 message. Before the
commitments are taken under the venue's lock, :class:`SignerPool` recovers
them in worker processes, one slice per worker, while the event loop serves
other requests; each recovered ``(digest, signature) -> signer`` is handed to
:func:`sealbatch.crypto.eip712.remember_signer`, so the state machine's own
:func:`~sealbatch.crypto.eip712.recover_signer` of that pair is a lookup. The
state machine still checks everything itself (window, nonce, bond, signer
against the named trader): the workers only move the expensive part onto the
other cores. A signature that does not recover is left alone and refused by
the state machine as before.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from sealbatch.crypto.eip712 import Address, Eip712Domain, recover_signer, remember_signer
from sealbatch.crypto.exceptions import SealbatchError, SignatureError
from sealbatch.venue.schemas import CommitIn

__all__ = ["MIN_BULK", "SignerPool"]

#: Fewer commitments than this are recovered in place (a round trip costs more).
MIN_BULK = 64


def _recover(domain: Eip712Domain, bodies: list[str]) -> list[tuple[bytes, bytes, str]]:
    """In a worker: ``(digest, signature, signer)`` of each body whose signature recovers."""
    out = []
    for raw in bodies:
        try:
            signed = CommitIn.model_validate_json(raw).to_domain()
            digest = signed.commit.digest(domain)
            out.append((digest, signed.signature, str(recover_signer(digest, signed.signature))))
        except (SealbatchError, SignatureError, ValueError):
            continue  # refused by the state machine with its own error
    return out


class SignerPool:
    """Worker processes that recover commitment signers ahead of need.

    Args:
        workers: processes (0: recover in place, no pool).
        domain: the venue's EIP-712 domain.
    """

    def __init__(self, workers: int, domain: Eip712Domain) -> None:
        self.workers = workers
        self.domain = domain
        self._pool: ProcessPoolExecutor | None = None
        self.recovered = 0

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the venue process runs threads (the writer, the publisher)
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)
        return self._pool

    async def prime(self, bodies: Sequence[CommitIn]) -> None:
        """Recover the signers of ``bodies`` in the workers (when there are enough)."""
        if not self.workers or len(bodies) < MIN_BULK:
            return
        raw = [b.model_dump_json() for b in bodies]
        step = -(-len(raw) // self.workers)  # ceiling: every body in one slice
        loop = asyncio.get_running_loop()
        pool = self._executor()
        slices = await asyncio.gather(
            *(
                loop.run_in_executor(pool, _recover, self.domain, raw[i : i + step])
                for i in range(0, len(raw), step)
            )
        )
        for part in slices:
            for digest, signature, signer in part:
                remember_signer(digest, signature, Address(signer))
            self.recovered += len(part)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
