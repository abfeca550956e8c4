"""A settled batch as the published folder of docs/formats.md.

:class:`BatchPublication` holds everything one batch transition took and
produced (the auction's result, the oracle round, deposits, RFQ blocks,
withdrawals, the ledger before and after); :meth:`BatchPublication.files`
renders it as the files of a ``batch-<n>/`` folder that ``sealbatch replay``
re-derives. ``transfers.json`` carries the deposits, withdrawals and blocks
in the order the transition applied them; the withdrawals that serve L1
forced-withdrawal requests come first, each naming its request's queue
position (``request``), so the L1 requests a batch consumes are exact.

:meth:`PublishedBatch.from_files` reads a folder's inputs back and
:meth:`PublishedBatch.resettle` re-clears and re-settles the batch from them
on a given pre-state: the one re-derivation that ``sealbatch replay``, the
batch statement's witness and the tests share.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sealbatch.auction.batch import BatchResult, RestingOrder, clear_batch
from sealbatch.auction.bounds import MAX_BALANCE
from sealbatch.auction.commit_reveal import Forfeit, RevealedOrder, SealedBatch
from sealbatch.auction.commitment import receipt_order
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement import published_values as pv
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.errors import BatchStatementError, SettlementError
from sealbatch.settlement.json_text import loads_json
from sealbatch.settlement.ledger import AccountKey, LedgerState
from sealbatch.settlement.oracle import OracleConfig, OracleRound
from sealbatch.settlement.params import SettlementConfig
from sealbatch.settlement.snapshot import (
    MAX_SUBACCOUNT,
    oracle_config_from_dict,
    oracle_config_to_dict,
    orders_from_csv,
    orders_to_csv,
    resting_from_json,
    result_to_dict,
    state_to_dict,
)
from sealbatch.settlement.transition import BatchWitness, apply_batch

__all__ = [
    "BATCH_FILES",
    "TRANSFERS_FORMAT",
    "BatchPublication",
    "PublishedBatch",
    "Resettled",
    "check_result",
    "document_text",
    "forced_requests_from_dict",
    "read_oracle_config",
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
    forced_requests: Sequence[int] = (),
) -> dict[str, Any]:
    """The ``transfers.json`` document: deposits, blocks and withdrawals in order.

    Args:
        forced_requests: the L1 queue positions of the forced-withdrawal requests the
            first ``len(forced_requests)`` withdrawals serve, in queue order.

    Raises:
        SettlementError: more forced requests than withdrawals.
    """
    if len(forced_requests) > len(withdrawals):
        raise SettlementError(
            f"forced_requests: expected at most {len(withdrawals)} (one per withdrawal), "
            f"got {len(forced_requests)}"
        )
    flows = _flows_to_list(withdrawals)
    for entry, request in zip(flows, forced_requests, strict=False):
        entry["request"] = request
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
        "withdrawals": flows,
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
        address = pv.address(d.get("address"), f"{at}.address")
        subaccount = pv.integer(d.get("subaccount"), f"{at}.subaccount", 0, MAX_SUBACCOUNT)
        out.append((AccountKey(address, subaccount), _int(d, "amount", at)))
    return tuple(out)


def forced_requests_from_dict(data: Any) -> tuple[int, ...]:
    """The L1 queue positions of the forced withdrawals a ``transfers.json`` document's
    withdrawals serve (their ``request`` fields), in order.

    Raises:
        SettlementError: a ``request`` that is not a non-negative integer, one on a
            withdrawal after a withdrawal without one (forced withdrawals come first),
            or positions that do not increase (the queue's order).
    """
    items = data.get("withdrawals") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise SettlementError(f"withdrawals: expected a list, got {type(items).__name__}")
    out: list[int] = []
    for i, d in enumerate(items):
        if not isinstance(d, dict) or d.get("request") is None:
            continue
        at = f"withdrawals[{i}]"
        request = _int(d, "request", at)
        if i != len(out):
            raise SettlementError(
                f"{at}.request: expected forced withdrawals first, got one at position {i} "
                f"after {i - len(out)} withdrawal(s) without a request"
            )
        if request < 0 or (out and request <= out[-1]):
            floor = out[-1] + 1 if out else 0
            raise SettlementError(
                f"{at}.request: expected a queue position of at least {floor}, got {request}"
            )
        out.append(request)
    return tuple(out)


def transfers_from_dict(data: Any) -> Transfers:
    """Parse a ``transfers.json`` document (amounts are checked by the transition).

    Raises:
        SettlementError: a missing or mistyped field, naming the file and the field.
    """
    try:
        return _transfers_from_dict(data)
    except SettlementError as exc:
        raise BatchStatementError(f"transfers.json: {exc}") from None


def _transfers_from_dict(data: Any) -> Transfers:
    if not isinstance(data, dict) or data.get("format") != TRANSFERS_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise SettlementError(f"format: expected {TRANSFERS_FORMAT!r}, got {got!r}")
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
        block_id = pv.hex_bytes(d.get("block_id"), f"{at}.block_id")
        buyer = pv.address(d.get("buyer"), f"{at}.buyer")
        seller = pv.address(d.get("seller"), f"{at}.seller")
        blocks.append(
            BlockTrade(
                block_id=block_id,
                market=pv.text(d.get("market"), f"{at}.market"),
                buyer=buyer,
                seller=seller,
                price=_int(d, "price", at),
                quantity=_int(d, "quantity", at),
                batch_id=_int(d, "batch_id", at),
            )
        )
    return deposits, tuple(blocks), withdrawals


_U64 = (1 << 64) - 1
_TICKS = (1 << 30) - 1


def check_result(doc: object) -> dict[str, Any]:
    """``result.json``'s document, every value a reader takes checked for its type and
    range (docs/formats.md): the batch id, seed, markets (prices, counts, fills),
    forfeits and carried orders. Values only compared with a recomputation are not.

    Raises:
        BatchStatementError: a missing value, or one of another type or range, naming
            it (``result.json: markets.BTC-PERP.fills[3].quantity: ...``).
    """
    name = "result.json"
    d = pv.obj(doc, name)
    pv.integer(pv.member(d, "batch_id", name), pv.at(name, "batch_id"), 0, _U64)
    pv.hex_bytes(pv.member(d, "seed", name), pv.at(name, "seed"))
    markets_at = pv.at(name, "markets")
    for m, raw in pv.obj(pv.member(d, "markets", name), markets_at).items():
        where = pv.at(markets_at, m)
        market = pv.obj(raw, where)
        for key in ("price", "reference_price"):
            if market.get(key) is not None:
                pv.integer(market[key], pv.at(where, key), 0, _TICKS)
        for key in ("volume", "orders"):
            pv.integer(market.get(key, 0), pv.at(where, key), 0, MAX_BALANCE)
        fills_at = pv.at(where, "fills")
        for n, f in enumerate(pv.items(market.get("fills", []), fills_at)):
            at = pv.at(fills_at, n)
            fill = pv.obj(f, at)
            pv.hex_bytes(pv.member(fill, "order_id", at), pv.at(at, "order_id"))
            pv.integer(pv.member(fill, "quantity", at), pv.at(at, "quantity"), 0, _TICKS)
            pv.integer(pv.member(fill, "price", at), pv.at(at, "price"), 0, _TICKS)
            if "market" in fill:
                pv.text(fill["market"], pv.at(at, "market"))
    forfeits_at = pv.at(name, "forfeited")
    for n, f in enumerate(pv.items(d.get("forfeited", []), forfeits_at)):
        at = pv.at(forfeits_at, n)
        forfeit = pv.obj(f, at)
        pv.hex_bytes(pv.member(forfeit, "commitment", at), pv.at(at, "commitment"))
        pv.address(pv.member(forfeit, "trader", at), pv.at(at, "trader"))
        pv.text(pv.member(forfeit, "market", at), pv.at(at, "market"))
        pv.integer(pv.member(forfeit, "sequence", at), pv.at(at, "sequence"), 0, _U64)
        # an order commitment's bond is below 2^30, an RFQ quote's a balance
        pv.integer(pv.member(forfeit, "bond", at), pv.at(at, "bond"), 0, MAX_BALANCE)
        if forfeit.get("rfq_id") is not None:
            pv.hex_bytes(forfeit["rfq_id"], pv.at(at, "rfq_id"))
        if forfeit.get("signed") is not None:
            pv.obj(forfeit["signed"], pv.at(at, "signed"))
    carried_at = pv.at(name, "carried")
    for n, c in enumerate(pv.items(d.get("carried", []), carried_at)):
        resting_from_json(c, pv.at(carried_at, n))
    return dict(d)


def read_oracle_config(oracle_doc: Mapping[str, Any]) -> OracleConfig:
    """The oracle configuration ``oracle.json`` publishes (its ``config``).

    Raises:
        BatchStatementError: it is missing or malformed, naming the field.
    """
    try:
        return oracle_config_from_dict(pv.member(oracle_doc, "config", "oracle.json"))
    except BatchStatementError:
        raise
    except SettlementError as exc:  # OracleConfig.from_dict's OracleError names the field
        raise BatchStatementError(f"oracle.json: config.{exc}") from None


def _document(files: Mapping[str, str], name: str) -> dict[str, Any]:
    """The JSON object of the published file ``name``.

    Raises:
        BatchStatementError: the file is missing, no JSON, or no JSON object.
    """
    if name not in files:
        raise BatchStatementError(f"expected the file {name}, got none")
    try:
        doc = loads_json(files[name])
    except (ValueError, RecursionError) as exc:  # also too deep, or an int over 4300 digits
        raise BatchStatementError(f"{name}: expected JSON, got {exc}") from exc
    if not isinstance(doc, dict):
        raise BatchStatementError(f"{name}: expected a JSON object, got {type(doc).__name__}")
    return doc


def document_text(data: object) -> str:
    """A published JSON file's text: ``json.dumps`` with one space of indent, keys in the
    writer's order, and one closing newline (docs/formats.md, "Canonical form")."""
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
    #: the L1 queue positions of the forced-withdrawal requests the first withdrawals serve
    forced_requests: tuple[int, ...] = ()

    @property
    def batch_id(self) -> int:
        return self.result.batch_id

    def files(self, config: SettlementConfig, oracle: OracleConfig) -> dict[str, str]:
        """File name → text of the batch folder (names as :data:`BATCH_FILES`)."""
        return {
            "orders.csv": orders_to_csv(self.result.orders),
            "result.json": document_text(result_to_dict(self.result)),
            "oracle.json": document_text(
                {**self.oracle_round.to_dict(), "config": oracle_config_to_dict(oracle)}
            ),
            "transfers.json": document_text(
                transfers_to_dict(
                    self.deposits, self.blocks, self.withdrawals, self.forced_requests
                )
            ),
            "pre_state.json": document_text(state_to_dict(self.pre, config)),
            "post_state.json": document_text(state_to_dict(self.post, config)),
        }


@dataclass(frozen=True)
class Resettled:
    """A published batch cleared and settled again: the auction's result, the
    ledger after it, and the transition's witness."""

    result: BatchResult
    post: LedgerState
    witness: BatchWitness


@dataclass(frozen=True)
class PublishedBatch:
    """The inputs a published batch folder gives (docs/formats.md), parsed but not
    checked: what re-clearing and re-settling the batch takes beside a pre-state.

    ``orders`` is orders.csv in its order (the batch's revealed orders in receipt
    order, then the carried-in ones); ``references`` the reference price per
    market from result.json; ``forfeited`` its forfeits with their signed commits.
    """

    batch_id: int
    seed: bytes
    references: Mapping[str, int | None]
    orders: tuple[RestingOrder, ...]
    forfeited: tuple[Forfeit, ...]
    oracle_round: OracleRound
    oracle: OracleConfig
    deposits: tuple[tuple[AccountKey, int], ...]
    blocks: tuple[BlockTrade, ...]
    withdrawals: tuple[tuple[AccountKey, int], ...]

    @classmethod
    def from_files(cls, files: Mapping[str, str]) -> PublishedBatch:
        """Parse orders.csv, result.json, oracle.json and transfers.json.

        Raises:
            SettlementError: a file is missing, is no JSON object, or holds a value of
                another type or range (:class:`BatchStatementError`, naming it), or an
                oracle report or transfer is malformed (naming it).
            AuctionError: an order of orders.csv is not one.
        """
        result = check_result(_document(files, "result.json"))
        oracle_doc = _document(files, "oracle.json")
        transfers = _document(files, "transfers.json")
        if "orders.csv" not in files:
            raise BatchStatementError("expected the file orders.csv, got none")
        deposits, blocks, withdrawals = transfers_from_dict(transfers)
        return cls.from_parsed(
            result,
            orders_from_csv(files["orders.csv"]),
            OracleRound.from_dict(oracle_doc, "oracle.json"),
            read_oracle_config(oracle_doc),
            (deposits, blocks, withdrawals),
        )

    @classmethod
    def from_parsed(
        cls,
        result: Mapping[str, Any],
        orders: Sequence[RestingOrder],
        oracle_round: OracleRound,
        oracle: OracleConfig,
        transfers: Transfers,
    ) -> PublishedBatch:
        """The batch from files already read: ``result`` as :func:`check_result` returns
        it, orders.csv's orders, oracle.json's round and config, and transfers.json's
        ``(deposits, blocks, withdrawals)`` (:func:`transfers_from_dict`). The batch
        statement reads them once for itself and for the replay.

        """
        deposits, blocks, withdrawals = transfers
        return cls(
            batch_id=result["batch_id"],
            seed=bytes.fromhex(result["seed"].removeprefix("0x")),
            references={m: r.get("reference_price") for m, r in result["markets"].items()},
            orders=tuple(orders),
            forfeited=tuple(
                Forfeit(
                    bytes.fromhex(f["commitment"].removeprefix("0x")),
                    Address(f["trader"]),
                    f["market"],
                    f["sequence"],
                    f["bond"],
                    None
                    if f.get("rfq_id") is None
                    else bytes.fromhex(f["rfq_id"].removeprefix("0x")),
                    signed=f.get("signed"),
                )
                for f in result.get("forfeited", [])
            ),
            oracle_round=oracle_round,
            oracle=oracle,
            deposits=deposits,
            blocks=blocks,
            withdrawals=withdrawals,
        )

    def commitments(self) -> list[tuple[bytes, str, str, int]]:
        """The batch's commitments in receipt order, ``(commitment, market, trader, bond)``
        each:
        the leaves of its commitment root (:func:`~sealbatch.auction.commitment.commitment_root`).

        The revealed orders are orders.csv's rows of this batch with a bond (an order
        carried in, a liquidation order included, has none), the forfeits those of
        order commitments (an RFQ quote is not under the root).

        Raises:
            ValueError: a forfeit's receipt number is outside the batch or taken twice.
        """
        return receipt_order(
            [
                (r.order_id, r.order.market, r.trader, r.bond)
                for r in self.orders
                if r.origin_batch == self.batch_id and r.bond is not None
            ],
            [
                (f.sequence, f.commitment, f.market, f.trader, f.bond)
                for f in self.forfeited
                if f.rfq_id is None
            ],
        )

    def split_orders(
        self, pre: LedgerState
    ) -> tuple[tuple[RevealedOrder, ...], list[RestingOrder]]:
        """orders.csv split into the batch's own revealed orders (receipt numbers in
        file order) and the orders carried in: rests of earlier batches and the
        liquidation orders ``pre`` holds pending."""
        liquidations = {lo.resting.order_id for lo in pre.pending_liquidations}
        revealed = tuple(
            RevealedOrder(r.order_id, r.trader, r.order, n, 0, 0, r.bond or 0, r.salt)
            for n, r in enumerate(self.orders)
            if r.origin_batch == self.batch_id and r.order_id not in liquidations
        )
        carried = [
            r for r in self.orders if r.origin_batch != self.batch_id or r.order_id in liquidations
        ]
        return revealed, carried

    def resettle(
        self,
        pre: LedgerState,
        config: SettlementConfig,
        carried: Sequence[RestingOrder] | None = None,
        revealed: Sequence[RevealedOrder] | None = None,
    ) -> Resettled:
        """Re-clear the batch with its published seed and reference prices, then settle
        it on ``pre`` with its oracle round and transfers.

        Args:
            pre: the ledger the batch starts from (the published pre-state, or another).
            config: the settlement rules (pre_state.json's).
            carried: the orders carried in; by default those orders.csv carries in.
            revealed: the batch's own orders; by default those of orders.csv
                (:meth:`split_orders` on ``pre``).

        Raises:
            AuctionError, SettlementError: the batch does not clear or settle.
        """
        own, published_carried = self.split_orders(pre)
        sealed = SealedBatch(
            self.batch_id,
            self.seed,
            (),
            own if revealed is None else tuple(revealed),
            self.forfeited,
            (),
        )
        result = clear_batch(
            sealed,
            config.auction_markets,
            dict(self.references),
            published_carried if carried is None else list(carried),
        )
        post, witness = apply_batch(
            pre,
            result,
            self.oracle_round,
            config,
            self.oracle,
            deposits=self.deposits,
            blocks=self.blocks,
            withdrawals=self.withdrawals,
        )
        return Resettled(result, post, witness)
