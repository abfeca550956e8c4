"""Batch records: what the venue keeps, stores and serves about each batch.

A :class:`BatchRecord` is made once, when the batch clears and settles; its
``result_hash`` is what a replay of the log must reproduce (the status and
the hash itself are left out of it, so a batch can move on to proven and
anchored). :class:`OpenBatch` is what the venue shows of a batch still
collecting commitments or reveals. ``to_json`` gives the answers of
``GET /v1/batches/{id}`` (docs/api.md), key for key.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sealbatch.auction.batch import Fill, MarketResult, market_json
from sealbatch.auction.clearing import curves_json
from sealbatch.auction.commit_reveal import BatchWindows, Forfeit
from sealbatch.auction.orders import Side
from sealbatch.crypto.eip712 import Address
from sealbatch.crypto.keccak import keccak256
from sealbatch.venue.rfq import Acceptance

__all__ = [
    "BatchRecord",
    "BatchStatus",
    "BlockOutcome",
    "MarketOutcome",
    "OpenBatch",
    "PublishedCurves",
    "RevealRejection",
    "record_hash",
]

BatchStatus = Literal["settled", "failed", "proven", "anchored"]
"""A cleared batch's status: ``failed`` when settlement refused it (nothing applied)."""


def _windows_json(w: BatchWindows) -> dict[str, int]:
    return {
        "commit_open_ms": w.commit_open_ms,
        "commit_close_ms": w.commit_close_ms,
        "reveal_close_ms": w.reveal_close_ms,
    }


def _hex32(value: str) -> bytes:
    """``0x`` + hex (as the venue writes it) back to bytes."""
    return bytes.fromhex(value.removeprefix("0x"))


@dataclass(frozen=True)
class PublishedCurves:
    """The demand and supply curves a batch publishes per market (lots at each
    candidate price, market orders apart)."""

    prices: tuple[int, ...]
    demand: tuple[int, ...]
    supply: tuple[int, ...]
    market_buy: int
    market_sell: int

    def to_json(self) -> dict[str, object]:
        return curves_json(self)


@dataclass(frozen=True)
class MarketOutcome:
    """One market's clearing as a batch record publishes it (the auction's
    :class:`~sealbatch.auction.batch.MarketResult` without its working arrays)."""

    market: str
    reference_price: int | None
    price: int | None
    volume: int
    buy_volume: int
    sell_volume: int
    imbalance: int
    orders: int
    fills: tuple[Fill, ...]
    curves: PublishedCurves

    @classmethod
    def of(cls, mr: MarketResult) -> MarketOutcome:
        """What the record keeps of the auction's result."""
        c = mr.curves
        return cls(
            mr.market,
            mr.reference_price,
            mr.price,
            mr.volume,
            mr.buy_volume,
            mr.sell_volume,
            mr.imbalance,
            mr.orders,
            mr.fills,
            PublishedCurves(
                tuple(int(v) for v in c.prices),
                tuple(int(v) for v in c.demand),
                tuple(int(v) for v in c.supply),
                c.market_buy,
                c.market_sell,
            ),
        )

    def to_json(self) -> dict[str, object]:
        """The market's clearing as the record publishes it: ``result.json``'s
        (:func:`~sealbatch.auction.batch.market_json`, one source for both)."""
        return market_json(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> MarketOutcome:
        c = d["curves"]
        return cls(
            d["market"],
            d["reference_price"],
            d["price"],
            d["volume"],
            d["buy_volume"],
            d["sell_volume"],
            d["imbalance"],
            d["orders"],
            tuple(
                Fill(
                    _hex32(f["order_id"]),
                    Address(f["trader"]),
                    f["market"],
                    Side(f["side"]),
                    f["price"],
                    f["quantity"],
                )
                for f in d["fills"]
            ),
            PublishedCurves(
                tuple(c["prices"]),
                tuple(c["demand"]),
                tuple(c["supply"]),
                c["market_buy"],
                c["market_sell"],
            ),
        )


@dataclass(frozen=True)
class RevealRejection:
    """A reveal refused for a reason that concerns the order (recorded and logged:
    the commitment then forfeits its bond)."""

    commitment: bytes
    code: str
    reason: str
    at_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "commitment": "0x" + self.commitment.hex(),
            "code": self.code,
            "reason": self.reason,
            "at_ms": self.at_ms,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RevealRejection:
        return cls(_hex32(d["commitment"]), d["code"], d["reason"], d["at_ms"])


@dataclass(frozen=True)
class BlockOutcome:
    """A block accepted for the batch and what became of it.

    Attributes:
        acceptance: the accepted block.
        status: ``filled`` (settled in the batch) or ``failed``.
        reason: why it failed (``no_reference_price``, ``outside_band`` or the
            clearinghouse's refusal).
        band: the ``[low, high]`` price band it had to lie in, when there was a
            price to centre it on.
    """

    acceptance: Acceptance
    status: Literal["filled", "failed"]
    reason: str | None
    band: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = self.acceptance.to_dict()
        if self.band is not None:
            out["band"] = list(self.band)
        out["status"] = self.status
        out["reason"] = self.reason
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BlockOutcome:
        acceptance = Acceptance.from_dict(d)
        band = d.get("band")
        return cls(
            acceptance, d["status"], d["reason"], (band[0], band[1]) if band is not None else None
        )


@dataclass(frozen=True)
class BatchRecord:
    """A cleared batch: prices, fills, curves, forfeits, rejections, blocks, settlement.

    Attributes:
        batch_id: the batch.
        status: see :data:`BatchStatus`.
        windows: its commit and reveal windows.
        seed: the allocation tie-break seed (the commitment root).
        commitments, revealed: commitments taken and revealed in the batch.
        carried_in, carried_out: GTC rests that took part, and that rest on.
        markets: each market's clearing, by market id.
        forfeits: commitments (and sealed RFQ quotes) never revealed.
        rejections: the batch's recorded reveal refusals.
        blocks: the blocks accepted for the batch.
        settlement: the clearinghouse's JSON summary
            (:func:`sealbatch.settlement.clearinghouse.settlement_summary`), or
            ``settled: false`` with the error when it refused the batch.
        proof, anchor: the batch's proof and L1 anchoring, once they exist.
        result_hash: :func:`record_hash` of the rest (set by :meth:`hashed`).
        threshold: for a batch with encrypted orders, its threshold key, seal,
            released shares, combined secret, faults recorded against keypers and
            each encrypted order's outcome (docs/threshold.md); absent otherwise.
    """

    batch_id: int
    status: BatchStatus
    windows: BatchWindows
    seed: bytes
    commitments: int
    revealed: int
    carried_in: int
    carried_out: int
    markets: Mapping[str, MarketOutcome]
    forfeits: tuple[Forfeit, ...]
    rejections: tuple[RevealRejection, ...]
    blocks: tuple[BlockOutcome, ...]
    settlement: Mapping[str, Any] | None
    proof: Mapping[str, Any] | None = None
    anchor: Mapping[str, Any] | None = None
    result_hash: str = ""
    threshold: Mapping[str, Any] | None = None

    def hashed(self) -> BatchRecord:
        """This record with its :func:`record_hash` filled in."""
        return dataclasses.replace(self, result_hash=record_hash(self.to_json()))

    @property
    def settled(self) -> bool:
        """Settlement applied the batch (its status is not ``failed``)."""
        return self.settlement is not None and bool(self.settlement["settled"])

    def to_json(self) -> dict[str, Any]:
        """The record as the venue serves and stores it (docs/api.md)."""
        out: dict[str, Any] = {
            "batch_id": self.batch_id,
            "status": self.status,
            "windows": _windows_json(self.windows),
            "seed": "0x" + self.seed.hex(),
            "commitments": self.commitments,
            "revealed": self.revealed,
            "carried_in": self.carried_in,
            "carried_out": self.carried_out,
            "markets": {m: mr.to_json() for m, mr in sorted(self.markets.items())},
            "forfeits": [
                {
                    "commitment": "0x" + f.commitment.hex(),
                    "trader": f.trader,
                    "market": f.market,
                    "sequence": f.sequence,
                    "bond": f.bond,
                    "rfq_id": None if f.rfq_id is None else "0x" + f.rfq_id.hex(),
                    "signed": None if f.signed is None else dict(f.signed),
                }
                for f in self.forfeits
            ],
            "rejections": [r.to_json() for r in self.rejections],
            "blocks": [b.to_json() for b in self.blocks],
            "settlement": self.settlement,
            "proof": self.proof,
            "anchor": self.anchor,
            "result_hash": self.result_hash,
        }
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BatchRecord:
        """A record from its :meth:`to_json` form (as stored)."""
        return cls(
            batch_id=d["batch_id"],
            status=d["status"],
            windows=BatchWindows(**d["windows"]),
            seed=_hex32(d["seed"]),
            commitments=d["commitments"],
            revealed=d["revealed"],
            carried_in=d["carried_in"],
            carried_out=d["carried_out"],
            markets={m: MarketOutcome.from_json(mr) for m, mr in d["markets"].items()},
            forfeits=tuple(
                Forfeit(
                    _hex32(f["commitment"]),
                    Address(f["trader"]),
                    f["market"],
                    f["sequence"],
                    f["bond"],
                    None if f.get("rfq_id") is None else _hex32(f["rfq_id"]),
                    signed=f.get("signed"),
                )
                for f in d["forfeits"]
            ),
            rejections=tuple(RevealRejection.from_json(r) for r in d["rejections"]),
            blocks=tuple(BlockOutcome.from_json(b) for b in d["blocks"]),
            settlement=d["settlement"],
            proof=d["proof"],
            anchor=d["anchor"],
            result_hash=d["result_hash"],
            threshold=d.get("threshold"),
        )


def record_hash(record: Mapping[str, Any]) -> str:
    """Keccak of a batch record's canonical JSON, without its status fields."""
    body = {k: v for k, v in record.items() if k not in ("status", "result_hash")}
    return "0x" + keccak256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hex()


@dataclass(frozen=True)
class OpenBatch:
    """A batch still collecting commitments (``phase`` ``commit``) or reveals."""

    batch_id: int
    phase: Literal["commit", "reveal"]
    windows: BatchWindows
    commitments: int

    status: Literal["committed"] = "committed"

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "status": self.status,
            "phase": self.phase,
            "windows": _windows_json(self.windows),
            "commitments": self.commitments,
        }
