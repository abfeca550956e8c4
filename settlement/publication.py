"""A settled batch as the published folder of docs/formats.md.

:class:`BatchPublication` holds everything one batch transition took and
produced (the auction's result, the oracle round, deposits, RFQ blocks,
withdrawals, the ledger before and after); :meth:`BatchPublication.files`
renders it as the files of a ``batch-<n>/`` folder that ``sealbatch replay``
re-derives. ``transfers.json`` carries the deposits, withdrawals and blocks
in the order the transition applied them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sealbatch.auction.batch import BatchResult
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.ledger import AccountKey, LedgerState
from sealbatch.settlement.oracle import OracleConfig, OracleRound
from sealbatch.settlement.params import SettlementConfig
from sealbatch.settlement.snapshot import (
    oracle_config_to_dict,
    orders_to_csv,
    result_to_dict,
    state_to_dict,
)

__all__ = [
    "BATCH_FILES",
    "TRANSFERS_FORMAT",
    "BatchPublication",
    "transfers_from_dict",
    "transfers_to_dict",
]

TRANSFERS_FORMAT = "sealbatch.transfers.v1"

#: The files of a published batch folder, in the order they are written.
BATCH_FILES = (
    "orders.csv",
    "result.json",
    "oracle.json",
    "transfers.json",
    "pre_state.json",
    "post_state.json",
)

Transfers = tuple[
    tuple[tuple[AccountKey, int], ...],
    tuple[BlockTrade, ...],
    tuple[tuple[AccountKey, int], ...],
]


def _flows_to_list(flows: Sequence[tuple[AccountKey, int]]) -> list[dict[str, Any]]:
    return [{"address": k.address, "subaccount": k.subaccount, "amount": a} for k, a in flows]


def transfers_to_dict(
    deposits: Sequence[tuple[AccountKey, int]],
    blocks: Sequence[BlockTrade],
    withdrawals: Sequence[tuple[AccountKey, int]],
) -> dict[str, Any]:
    """The ``transfers.json`` document: deposits, blocks and withdrawals in order."""
    return {
        "format": TRANSFERS_FORMAT,
        "deposits": _flows_to_list(deposits),
        "blocks": [
            {
                "block_id": "0x" + b.block_id.hex(),
                "market": b.market,
                "buyer": b.buyer,
                "seller": b.seller,
                "price": b.price,
                "quantity": b.quantity,
                "batch_id": b.batch_id,
            }
            for b in blocks
        ],
        "withdrawals": _flows_to_list(withdrawals),
    }


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    v = d.get(key)
    if type(v) is not int:
        raise SettlementError(f"{where}.{key}: expected an integer, got {v!r}")
    return v


def _flows_from_list(items: Any, where: str) -> tuple[tuple[AccountKey, int], ...]:
    if not isinstance(items, list):
        raise SettlementError(f"{where}: expected a list, got {type(items).__name__}")
    out = []
    for i, d in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(d, dict):
            raise SettlementError(f"{at}: expected an object, got {type(d).__name__}")
        try:
            address = Address(str(d.get("address")))
        except ValueError as exc:
            raise SettlementError(f"{at}.address: {exc}") from exc
        out.append((AccountKey(address, _int(d, "subaccount", at)), _int(d, "amount", at)))
    return tuple(out)


def transfers_from_dict(data: Any) -> Transfers:
    """Parse a ``transfers.json`` document (amounts are checked by the transition).

    Raises:
        SettlementError: a missing or mistyped field, naming it.
    """
    if not isinstance(data, dict) or data.get("format") != TRANSFERS_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise SettlementError(f"transfers.json format: expected {TRANSFERS_FORMAT!r}, got {got!r}")
    deposits = _flows_from_list(data.get("deposits"), "deposits")
    withdrawals = _flows_from_list(data.get("withdrawals"), "withdrawals")
    raw = data.get("blocks")
    if not isinstance(raw, list):
        raise SettlementError(f"blocks: expected a list, got {type(raw).__name__}")
    blocks = []
    for i, d in enumerate(raw):
        at = f"blocks[{i}]"
        if not isinstance(d, dict):
            raise SettlementError(f"{at}: expected an object, got {type(d).__name__}")
        try:
            block_id = bytes.fromhex(str(d.get("block_id")).removeprefix("0x"))
            buyer, seller = Address(str(d.get("buyer"))), Address(str(d.get("seller")))
        except ValueError as exc:
            raise SettlementError(f"{at}: {exc}") from exc
        if len(block_id) != 32:
            raise SettlementError(f"{at}.block_id: expected 32 bytes, got {len(block_id)}")
        blocks.append(
            BlockTrade(
                block_id=block_id,
                market=str(d.get("market")),
                buyer=buyer,
                seller=seller,
                price=_int(d, "price", at),
                quantity=_int(d, "quantity", at),
                batch_id=_int(d, "batch_id", at),
            )
        )
    return deposits, tuple(blocks), withdrawals


def _json(data: object) -> str:
    return json.dumps(data, indent=1) + "\n"


@dataclass(frozen=True)
class BatchPublication:
    """What one batch transition took and produced (see the module docstring)."""

    result: BatchResult
    oracle_round: OracleRound
    pre: LedgerState
    post: LedgerState
    deposits: tuple[tuple[AccountKey, int], ...] = ()
    blocks: tuple[BlockTrade, ...] = ()
    withdrawals: tuple[tuple[AccountKey, int], ...] = ()

    @property
    def batch_id(self) -> int:
        return self.result.batch_id

    def files(self, config: SettlementConfig, oracle: OracleConfig) -> dict[str, str]:
        """File name → text of the batch folder (names as :data:`BATCH_FILES`)."""
        return {
            "orders.csv": orders_to_csv(self.result.orders),
            "result.json": _json(result_to_dict(self.result)),
            "oracle.json": _json(
                {**self.oracle_round.to_dict(), "config": oracle_config_to_dict(oracle)}
            ),
            "transfers.json": _json(
                transfers_to_dict(self.deposits, self.blocks, self.withdrawals)
            ),
            "pre_state.json": _json(state_to_dict(self.pre, config)),
            "post_state.json": _json(state_to_dict(self.post, config)),
        }
