"""The demo's L1: an embedded chain, the exchange deployed for the demo's batches, each
proven batch anchored in order (``sealbatch demo``; docs/contracts.md)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sealbatch.settlement.anchor import Chain
from sealbatch.settlement.anchor_exchange import ExchangeContract, deploy_exchange
from sealbatch.settlement.oracle import OracleConfig

__all__ = ["AnchoredBatch", "DemoChain"]


@dataclass(frozen=True)
class AnchoredBatch:
    """One batch anchored on the demo's chain (``batch-<n>/anchor.json``)."""

    batch_id: int
    exchange: str
    tx: str
    block: int
    gas_used: int
    post_root: bytes
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "exchange": self.exchange,
            "tx": self.tx,
            "block": self.block,
            "gas_used": self.gas_used,
            "post_root": "0x" + self.post_root.hex(),
            "seconds": round(self.seconds, 3),
        }


class DemoChain:
    """The embedded py-evm chain and, from the first batch on, the exchange.

    The exchange is deployed with the first batch: one batch verifier for each distinct
    shape among ``shapes`` (the demo knows its batches before it runs them, so the
    deployment fixes every verifier they need), its genesis root is the first batch's
    pre-state root (the demo's traders are funded in the genesis ledger), and its oracle
    sources are the demo's.

    Args:
        oracle: the oracle sources whose signed reports the contract accepts, their families
            and the index rules the contract reads each round by.
        shapes: published batch folders whose shapes the exchange must verify (the first
            batch's is always included).
        url: a JSON-RPC node instead of the embedded chain.
    """

    def __init__(
        self,
        oracle: OracleConfig,
        shapes: Sequence[Mapping[str, str]] = (),
        url: str | None = None,
    ) -> None:
        self.chain = Chain(url)
        self.oracle = oracle
        self.shapes = tuple(dict(f) for f in shapes)
        self.exchange: ExchangeContract | None = None
        #: seconds the deployment took (verifier programs, verifiers, hasher, token, exchange)
        self.deploy_s = 0.0
        #: whether the demo printed the deployment
        self.announced = False

    def anchor(self, batch_id: int, files: Mapping[str, str], proof: bytes) -> AnchoredBatch:
        """Anchor one proven batch (deploying the exchange with the first).

        Raises:
            AnchorError: the exchange cannot anchor the batch (ContractReverted: the
                contract refused it, naming its custom error).
        """
        if self.exchange is None:
            started = time.perf_counter()
            self.exchange = deploy_exchange(
                self.chain, dict(files), oracle=self.oracle, shapes=self.shapes
            )
            self.deploy_s = time.perf_counter() - started
        started = time.perf_counter()
        receipt = self.exchange.anchor(dict(files), proof)
        seconds = time.perf_counter() - started
        return AnchoredBatch(
            batch_id,
            self.exchange.address,
            receipt.tx_hash,
            receipt.block,
            receipt.gas_used,
            self.exchange.state_root(),
            seconds,
        )
