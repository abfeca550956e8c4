"""Published batch formats: state snapshots, the revealed orders, the clearing result.

``sealbatch demo --out DIR`` writes these for each batch and ``sealbatch
replay`` reads them back (docs/formats.md documents every field). All
amounts are exact integers written as JSON numbers (read them with an
arbitrary-precision parser when they may exceed 2^53).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sealbatch.auction.batch import BatchResult, RestingOrder, market_json
from sealbatch.auction.bounds import MAX_BOND
from sealbatch.auction.commitment import compute_commitments
from sealbatch.auction.errors import AuctionError
from sealbatch.auction.markets import Market
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.ledger import (
    AccountKey,
    LedgerState,
    LiquidationOrder,
    MarketState,
    equity,
)
from sealbatch.settlement.margin import requirements
from sealbatch.settlement.oracle import OracleConfig
from sealbatch.settlement.params import DeleverageMode, MarginTier, MarketRisk, SettlementConfig
from sealbatch.settlement.roots import state_root

__all__ = [
    "ORDER_COLUMNS",
    "REVEAL_COLUMNS",
    "STATE_FORMAT",
    "commitment_difference",
    "config_from_dict",
    "config_to_dict",
    "oracle_config_from_dict",
    "oracle_config_to_dict",
    "orders_from_csv",
    "orders_to_csv",
    "result_to_dict",
    "state_from_dict",
    "state_to_dict",
]

STATE_FORMAT = "sealbatch.state.v1"
ORDER_COLUMNS = (
    "order_id",
    "trader",
    "market",
    "side",
    "limit_price",
    "quantity",
    "time_in_force",
    "reduce_only",
    "origin_batch",
    "client_id",
    "salt",
    "bond",
)
#: The columns only an order revealed in this batch fills (empty for one carried in):
#: with its fields, the trader and the batch id the first two are its commitment's
#: preimage; the bond (its signed Commit's) is, with the trader, the rest of its leaf.
REVEAL_COLUMNS = ("client_id", "salt", "bond")
_SALT_BYTES = 32
_SALT = re.compile(r"0x[0-9a-fA-F]{64}")


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _resting_to_dict(r: RestingOrder) -> dict[str, Any]:
    return {
        "order_id": _hex(r.order_id),
        "trader": r.trader,
        "market": r.order.market,
        "side": r.order.side.value,
        "limit_price": r.order.limit_price,
        "quantity": r.order.quantity,
        "time_in_force": r.order.time_in_force.value,
        "reduce_only": r.order.reduce_only,
        "origin_batch": r.origin_batch,
    }


def _resting_from_dict(d: Mapping[str, Any], where: str) -> RestingOrder:
    try:
        order = Order(
            str(d["market"]),
            Side(d["side"]),
            None if d["limit_price"] in (None, "") else int(d["limit_price"]),
            int(d["quantity"]),
            TimeInForce(d.get("time_in_force") or "ioc"),
            d.get("reduce_only") in (True, "true", "True", "1"),
        )
        oid = bytes.fromhex(str(d["order_id"]).removeprefix("0x"))
        return RestingOrder(oid, Address(str(d["trader"])), order, int(d["origin_batch"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise SettlementError(f"{where}: expected a valid order, got {exc}") from None


_RISK_FIELDS = (
    "fee_bps",
    "funding_interval_batches",
    "funding_cap_bps",
    "shock_bps",
    "liquidation_penalty_bps",
    "max_slippage_bps",
    "max_liquidation_lots",
    "breaker_bps",
    "calm_batches",
    "protective_band_bps",
    "protective_liquidation_lots",
    "mark_band_bps",
    "mark_step_bps",
)
_MARKET_FIELDS = (
    "tick_size",
    "lot_size",
    "contract_multiplier",
    "min_order_lots",
    "max_order_lots",
    "block_min_lots",
    "band_bps",
)


def config_to_dict(config: SettlementConfig) -> dict[str, Any]:
    """Every settlement rule, so that a published batch can be replayed on its own."""
    return {
        "markets": {
            r.market_id: {
                **{f: getattr(r.market, f) for f in _MARKET_FIELDS},
                **{f: getattr(r, f) for f in _RISK_FIELDS},
                "tiers": [[t.max_lots, t.initial_bps, t.maintenance_bps] for t in r.tiers],
            }
            for r in config.markets
        },
        "correlation_bps": [list(row) for row in config.correlation_bps],
        "portfolio_floor_bps": config.portfolio_floor_bps,
        "portfolio_maintenance_bps": config.portfolio_maintenance_bps,
        "forfeit_bond": config.forfeit_bond,
        "deleverage": config.deleverage.value,
    }


def config_from_dict(data: Mapping[str, Any]) -> SettlementConfig:
    """Inverse of :func:`config_to_dict`; raises SettlementError on a bad field."""
    try:
        risks = tuple(
            MarketRisk(
                Market(mid, **{f: m[f] for f in _MARKET_FIELDS}),
                tuple(MarginTier(*t) for t in m["tiers"]),
                **{f: m[f] for f in _RISK_FIELDS},
            )
            for mid, m in sorted(data["markets"].items())
        )
        return SettlementConfig(
            risks,
            tuple(tuple(row) for row in data["correlation_bps"]),
            portfolio_floor_bps=data["portfolio_floor_bps"],
            portfolio_maintenance_bps=data["portfolio_maintenance_bps"],
            forfeit_bond=data["forfeit_bond"],
            deleverage=DeleverageMode(data["deleverage"]),
        )
    except (KeyError, TypeError, ValueError, AuctionError) as exc:
        raise SettlementError(f"config: expected every settlement rule, got {exc!r}") from None


def oracle_config_to_dict(config: OracleConfig) -> dict[str, Any]:
    """The oracle configuration as published in ``oracle.json`` (:meth:`OracleConfig.to_dict`)."""
    return config.to_dict()


def oracle_config_from_dict(data: Mapping[str, Any]) -> OracleConfig:
    """Inverse of :func:`oracle_config_to_dict`; raises OracleError (a SettlementError)."""
    return OracleConfig.from_dict(data)


def state_to_dict(state: LedgerState, config: SettlementConfig) -> dict[str, Any]:
    """A ledger snapshot: accounts with equity and margin, pools, markets, pending liquidations."""
    eq = equity(state, config).tolist() if state.size else []
    req = requirements(state, config)
    accounts = []
    for i, k in enumerate(state.accounts):
        accounts.append(
            {
                "address": k.address,
                "subaccount": k.subaccount,
                "portfolio_margin": bool(state.portfolio[i]),
                "collateral": int(state.collateral[i]),
                "positions": {m: int(state.positions[i, j]) for j, m in enumerate(state.markets)},
                "equity": int(eq[i]),
                "initial_requirement": int(req.initial[i]),
                "maintenance_requirement": int(req.maintenance[i]),
                "liquidating": bool(eq[i] < req.maintenance[i]),
            }
        )
    return {
        "format": STATE_FORMAT,
        "batch_id": state.batch_id,
        "timestamp_ms": state.timestamp_ms,
        "state_root": _hex(state_root(state)),
        "fee_pool": state.fee_pool,
        "insurance_fund": state.insurance_fund,
        "socialised_loss": state.socialised_loss,
        "markets": {
            ms.market: {"contract_multiplier": config.risk(ms.market).multiplier, **ms.to_dict()}
            for ms in state.market_states
        },
        "accounts": accounts,
        "pending_liquidations": [
            {"subaccount": lo.account.subaccount, **_resting_to_dict(lo.resting)}
            for lo in state.pending_liquidations
        ],
        "resting_orders": [_resting_to_dict(r) for r in state.resting_orders],
        "config": config_to_dict(config),
    }


def state_from_dict(data: Mapping[str, Any], config: SettlementConfig) -> LedgerState:
    """Rebuild a ledger from :func:`state_to_dict` (derived fields are ignored).

    Raises:
        SettlementError: a missing or malformed field, or markets that differ
            from ``config``.
    """
    if data.get("format") != STATE_FORMAT:
        raise SettlementError(f"format: expected {STATE_FORMAT!r}, got {data.get('format')!r}")
    try:
        markets = data["markets"]
        if sorted(markets) != list(config.market_ids):
            raise SettlementError(
                f"markets: expected {list(config.market_ids)}, got {sorted(markets)}"
            )
        accounts = data["accounts"]
        keys = tuple(AccountKey(Address(a["address"]), int(a["subaccount"])) for a in accounts)
        pending = tuple(
            LiquidationOrder(
                AccountKey(Address(p["trader"]), int(p["subaccount"])),
                _resting_from_dict(p, f"pending_liquidations[{n}]"),
            )
            for n, p in enumerate(data.get("pending_liquidations", []))
        )
        resting = tuple(
            _resting_from_dict(r, f"resting_orders[{n}]")
            for n, r in enumerate(data.get("resting_orders", []))
        )
        return LedgerState(
            markets=config.market_ids,
            accounts=keys,
            collateral=np.array([int(a["collateral"]) for a in accounts], dtype=np.int64),
            positions=np.array(
                [[int(a["positions"][m]) for m in config.market_ids] for a in accounts],
                dtype=np.int64,
            ).reshape(len(keys), len(config.market_ids)),
            portfolio=np.array([bool(a.get("portfolio_margin", False)) for a in accounts]),
            fee_pool=int(data["fee_pool"]),
            insurance_fund=int(data["insurance_fund"]),
            socialised_loss=int(data["socialised_loss"]),
            market_states=tuple(MarketState.from_dict(m, markets[m]) for m in config.market_ids),
            pending_liquidations=pending,
            resting_orders=resting,
            batch_id=int(data["batch_id"]),
            timestamp_ms=int(data["timestamp_ms"]),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise SettlementError(
            f"state: expected every field of {STATE_FORMAT}, got {exc!r}"
        ) from None


def orders_to_csv(orders: Iterable[RestingOrder]) -> str:
    """The orders of a batch as CSV text (columns :data:`ORDER_COLUMNS`).

    An order revealed in this batch (one with a salt) also gets its ``client_id``
    and ``salt`` (0x and 64 hex digits), the rest of its commitment's preimage, and
    its ``bond`` (base units), the rest of its commitment's leaf.
    """
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=ORDER_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in orders:
        d = _resting_to_dict(r)
        d["limit_price"] = "" if d["limit_price"] is None else d["limit_price"]
        d["reduce_only"] = "true" if d["reduce_only"] else "false"
        d["client_id"] = "" if r.salt is None else r.order.client_id
        d["salt"] = "" if r.salt is None else _hex(r.salt)
        d["bond"] = "" if r.salt is None else (r.bond or 0)
        w.writerow(d)
    return out.getvalue()


def orders_from_csv(text: str) -> list[RestingOrder]:
    """Parse :func:`orders_to_csv` output.

    Raises:
        SettlementError: a missing column (folders published before the salts were
            lack ``client_id`` and ``salt``, before the leaves bound the bonds ``bond``),
            or a malformed row, naming it.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    missing = [c for c in ORDER_COLUMNS if c not in header]
    if missing:
        raise SettlementError(
            f"orders.csv: expected the columns {','.join(ORDER_COLUMNS)}, missing "
            f"{','.join(missing)}"
            + (
                " (the salts of the revealed orders: published since the batch proof "
                "recomputes their commitments)"
                if "salt" in missing
                else " (the bonds of the revealed orders: each commitment's leaf binds its "
                "trader and bond)"
                if "bond" in missing
                else ""
            )
        )
    return [_order_from_row(r, f"orders.csv row {n}") for n, r in enumerate(reader, start=1)]


def commitment_difference(
    orders: Sequence[RestingOrder], batch_id: int, liquidation_ids: Collection[bytes]
) -> str | None:
    """Why an order orders.csv reveals in batch ``batch_id`` does not open its
    commitment, or None: each one (``origin_batch`` = the batch, not a liquidation
    order) must have a salt, and its fields, client id, salt, trader and the batch id
    must hash to its ``order_id`` (docs/formats.md, "Commitments"); an order carried
    in has no salt.
    """
    revealed = []
    for n, r in enumerate(orders, start=1):
        if r.origin_batch == batch_id and r.order_id not in liquidation_ids:
            if r.salt is None:
                return (
                    f"orders.csv row {n} (0x{r.order_id.hex()}): expected the client_id and "
                    f"salt of an order revealed in batch {batch_id}, got none"
                )
            revealed.append((n, r))
        elif r.salt is not None:
            return (
                f"orders.csv row {n} (0x{r.order_id.hex()}): expected no salt for an order "
                f"carried in, got 0x{r.salt.hex()}"
            )
    if not revealed:
        return None
    try:
        ids = compute_commitments(
            [r.order for _, r in revealed],
            [r.salt or b"" for _, r in revealed],
            [r.trader for _, r in revealed],
            batch_id,
        )
    except ValueError as exc:
        return f"orders.csv: a revealed order has no commitment: {exc}"
    for (n, r), got in zip(revealed, ids, strict=True):
        if got != r.order_id:
            return (
                f"orders.csv row {n}: its order, client_id, salt, trader and batch {batch_id} "
                f"hash to 0x{got.hex()}, published order_id 0x{r.order_id.hex()}"
            )
    return None


def _order_from_row(row: Mapping[str, Any], where: str) -> RestingOrder:
    """One orders.csv row: the order, with its client id and salt when it has them."""
    r = _resting_from_dict(row, where)
    salt_text, cid_text = str(row.get("salt") or ""), str(row.get("client_id") or "")
    bond_text = str(row.get("bond") or "")
    if not salt_text and not cid_text and not bond_text:
        return r
    if not salt_text or not cid_text or not bond_text:
        raise SettlementError(
            f"{where}: expected client_id, salt and bond (a revealed order) or none of them "
            f"(an order carried in), got client_id {cid_text!r}, salt {salt_text!r} and "
            f"bond {bond_text!r}"
        )
    if not bond_text.isascii() or not bond_text.isdigit() or int(bond_text, 10) > MAX_BOND:
        raise SettlementError(
            f"{where}: bond: expected base units from 0 to {MAX_BOND}, got {bond_text!r}"
        )
    if not _SALT.fullmatch(salt_text):
        raise SettlementError(
            f"{where}: salt: expected 0x and {2 * _SALT_BYTES} hex digits, got {salt_text!r}"
        )
    if not cid_text.isascii() or not cid_text.isdigit():
        raise SettlementError(f"{where}: client_id: expected a uint64, got {cid_text!r}")
    try:
        order = replace(r.order, client_id=int(cid_text, 10))
    except AuctionError as exc:
        raise SettlementError(f"{where}: {exc}") from None
    salt = bytes.fromhex(salt_text[2:])
    return RestingOrder(r.order_id, r.trader, order, r.origin_batch, salt, int(bond_text, 10))


def result_to_dict(batch: BatchResult) -> dict[str, Any]:
    """Per market: reference price, clearing price, volumes and fills; plus forfeits."""
    return {
        "batch_id": batch.batch_id,
        "seed": _hex(batch.seed),
        # the record's market JSON (market_json) without the market's name and curves
        "markets": {
            mid: {k: v for k, v in market_json(m).items() if k not in ("market", "curves")}
            for mid, m in sorted(batch.markets.items())
        },
        "forfeited": [
            {
                "commitment": _hex(f.commitment),
                "trader": f.trader,
                "market": f.market,
                "sequence": f.sequence,
                "bond": f.bond,
                "rfq_id": None if f.rfq_id is None else _hex(f.rfq_id),
                "signed": None if f.signed is None else dict(f.signed),
            }
            for f in batch.forfeited
        ],
        "carried": [_resting_to_dict(r) for r in batch.carried],
    }
