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
from typing import Any

import numpy as np

from sealbatch.auction.batch import BatchResult, RestingOrder, market_json
from sealbatch.auction.bounds import (
    MAX_BALANCE,
    MAX_BOND,
    MAX_LOTS,
    MAX_POSITION,
    MAX_PRICE,
    integer_in,
)
from sealbatch.auction.commitment import compute_commitments
from sealbatch.auction.errors import AuctionError
from sealbatch.auction.markets import Market
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement import published_values as pv
from sealbatch.settlement.config_digest import MARKET_FIELDS as _MARKET_FIELDS
from sealbatch.settlement.config_digest import RISK_FIELDS as _RISK_FIELDS
from sealbatch.settlement.config_digest import config_digest, config_to_dict
from sealbatch.settlement.errors import BatchStatementError, SettlementError
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
    "MAX_SUBACCOUNT",
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
    "resting_from_json",
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
_U64 = (1 << 64) - 1
#: The largest subaccount number (settlement/ledger.py).
MAX_SUBACCOUNT = (1 << 16) - 1


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


_DECIMAL = re.compile(r"-?[0-9]+")
_UNSIGNED = re.compile(r"[0-9]+")
# the published spellings of a side and a time in force (an Enum's members are slow
# to list, and orders.csv names one of each a row)
_SIDES = tuple(x.value for x in Side)
_TIFS = tuple(x.value for x in TimeInForce)


def _resting_from_dict(d: Mapping[str, Any], where: str, *, csv_row: bool) -> RestingOrder:
    """One published order: a JSON object's (typed values) or an orders.csv row's (text).

    Raises:
        SettlementError: a missing field, or one of another type or range, naming it
            (BatchStatementError), or fields that make no order.
    """

    def number(key: str, low: int, high: int) -> int:
        value = pv.member(d, key, where)
        if csv_row and isinstance(value, str) and _DECIMAL.fullmatch(value):
            # Out of range (of any length, unconverted): the text, which pv.integer names.
            parsed = integer_in(value, low, high)
            value = value if parsed is None else parsed
        return pv.integer(value, pv.at(where, key), low, high)

    def choice(key: str, options: tuple[str, ...]) -> str:
        value = pv.member(d, key, where)
        if value not in options:
            raise BatchStatementError(
                f"{pv.at(where, key)}: expected one of {', '.join(options)}, got {value!r}"
            )
        return str(value)

    side = Side(choice("side", _SIDES))
    limit_text = pv.member(d, "limit_price", where)
    limit = None if limit_text in (None, "") else number("limit_price", 1, MAX_PRICE)
    quantity = number("quantity", 1, MAX_LOTS)
    tif = (
        TimeInForce.IOC
        if d.get("time_in_force") in ("", None)
        else TimeInForce(choice("time_in_force", _TIFS))
    )
    if csv_row:
        flag = choice("reduce_only", ("true", "false", "True", "False", "1", "0", ""))
        reduce = flag in ("true", "True", "1")
    else:
        reduce = pv.flag(d.get("reduce_only", False), pv.at(where, "reduce_only"))
    market = pv.text(pv.member(d, "market", where), pv.at(where, "market"))
    oid = pv.hex_bytes(pv.member(d, "order_id", where), pv.at(where, "order_id"))
    trader = pv.address(pv.member(d, "trader", where), pv.at(where, "trader"))
    origin = number("origin_batch", 0, (1 << 64) - 1)
    try:
        order = Order(market, side, limit, quantity, tif, reduce)
    except (ValueError, AuctionError) as exc:
        raise SettlementError(f"{where}: expected a valid order, got {exc}") from None
    return RestingOrder(oid, trader, order, origin)


def config_from_dict(data: Mapping[str, Any], name: str = "config") -> SettlementConfig:
    """Inverse of :func:`config_to_dict`.

    Args:
        name: the place read (``pre_state.json: config``), which the errors name.

    Raises:
        SettlementError: a missing field, one of another type or range (naming it), or
            rules the settlement layer refuses together.
    """
    d = pv.obj(data, name)
    markets_at = pv.at(name, "markets")
    risks = []
    for mid, raw in sorted(pv.obj(pv.member(d, "markets", name), markets_at).items()):
        where = pv.at(markets_at, mid)
        m = pv.obj(raw, where)
        words = {f: pv.text(pv.member(m, f, where), pv.at(where, f))
                 for f in ("tick_size", "lot_size")}  # "0.1 USD"  # fmt: skip
        ints = {
            f: pv.integer(pv.member(m, f, where), pv.at(where, f), 0, MAX_BALANCE)
            for f in (*_MARKET_FIELDS, *_RISK_FIELDS)
            if f not in words
        }
        tiers_at = pv.at(where, "tiers")
        tiers = []
        for n, t in enumerate(pv.items(pv.member(m, "tiers", where), tiers_at)):
            tier = pv.items(t, pv.at(tiers_at, n))
            if len(tier) != 3:
                raise BatchStatementError(
                    f"{pv.at(tiers_at, n)}: expected [max_lots, initial_bps, maintenance_bps], "
                    f"got {len(tier)} values"
                )
            tiers.append([pv.integer(v, pv.at(pv.at(tiers_at, n), k), 0, MAX_BALANCE)
                          for k, v in enumerate(tier)])  # fmt: skip
        try:
            risks.append(
                MarketRisk(
                    Market(
                        mid,
                        words["tick_size"],
                        words["lot_size"],
                        **{f: ints[f] for f in _MARKET_FIELDS if f not in words},
                    ),
                    tuple(MarginTier(*t) for t in tiers),
                    **{f: ints[f] for f in _RISK_FIELDS},
                )
            )
        except (ValueError, AuctionError) as exc:
            raise SettlementError(f"{where}: {exc}") from None
    corr_at = pv.at(name, "correlation_bps")
    correlation = tuple(
        tuple(
            pv.integer(v, pv.at(pv.at(corr_at, i), j), -MAX_BALANCE, MAX_BALANCE)
            for j, v in enumerate(pv.items(row, pv.at(corr_at, i)))
        )
        for i, row in enumerate(pv.items(pv.member(d, "correlation_bps", name), corr_at))
    )
    rules = {
        f: pv.integer(pv.member(d, f, name), pv.at(name, f), 0, MAX_BALANCE)
        for f in ("portfolio_floor_bps", "portfolio_maintenance_bps", "forfeit_bond")
    }
    mode = pv.member(d, "deleverage", name)
    modes = [m.value for m in DeleverageMode]
    if mode not in modes:
        raise BatchStatementError(
            f"{pv.at(name, 'deleverage')}: expected one of {modes}, got {mode!r}"
        )
    try:
        return SettlementConfig(tuple(risks), correlation, **rules, deleverage=DeleverageMode(mode))
    except (ValueError, AuctionError) as exc:
        raise SettlementError(f"{name}: expected every settlement rule, got {exc}") from None


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


def resting_from_json(raw: object, where: str) -> RestingOrder:
    """One order of a JSON document (``resting_orders``, ``carried``), every field
    checked for its type and range (naming it)."""
    return _resting_from_dict(pv.obj(raw, where), where, csv_row=False)


def state_from_dict(
    data: Mapping[str, Any], config: SettlementConfig, name: str = "state"
) -> LedgerState:
    """Rebuild a ledger from :func:`state_to_dict` (derived fields are ignored).

    ``config`` must be the file's own ``config`` (``config_from_dict(data["config"])``):
    the ledger's :attr:`~LedgerState.config_digest` is its digest.

    Args:
        name: the file read (``pre_state.json``), which the error messages name.

    Raises:
        SettlementError: a missing or malformed field (BatchStatementError, naming the
            file and the field), or markets that differ from ``config``.
    """
    if data.get("format") != STATE_FORMAT:
        raise SettlementError(
            f"{name}: format: expected {STATE_FORMAT!r}, got {data.get('format')!r}"
        )
    markets = pv.obj(pv.member(data, "markets", name), pv.at(name, "markets"))
    if sorted(markets) != list(config.market_ids):
        raise SettlementError(
            f"{name}: markets: expected {list(config.market_ids)}, got {sorted(markets)}"
        )
    accounts = pv.items(pv.member(data, "accounts", name), pv.at(name, "accounts"))
    keys, collateral, positions, portfolio = [], [], [], []
    for n, raw in enumerate(accounts):
        where = pv.at(pv.at(name, "accounts"), n)
        a = pv.obj(raw, where)
        keys.append(
            AccountKey(
                pv.address(pv.member(a, "address", where), pv.at(where, "address")),
                pv.integer(pv.member(a, "subaccount", where), pv.at(where, "subaccount"), 0,
                           MAX_SUBACCOUNT),
            )
        )  # fmt: skip
        collateral.append(
            pv.integer(pv.member(a, "collateral", where), pv.at(where, "collateral"),
                       -MAX_BALANCE, MAX_BALANCE)
        )  # fmt: skip
        held = pv.obj(pv.member(a, "positions", where), pv.at(where, "positions"))
        positions.append(
            [
                pv.integer(pv.member(held, m, pv.at(where, "positions")),
                           pv.at(pv.at(where, "positions"), m), -MAX_POSITION, MAX_POSITION)
                for m in config.market_ids
            ]
        )  # fmt: skip
        portfolio.append(
            pv.flag(a.get("portfolio_margin", False), pv.at(where, "portfolio_margin"))
        )
    pending = []
    for n, p in enumerate(pv.items(data.get("pending_liquidations", []),
                                   pv.at(name, "pending_liquidations"))):  # fmt: skip
        where = pv.at(pv.at(name, "pending_liquidations"), n)
        resting = resting_from_json(p, where)
        sub = pv.integer(pv.member(p, "subaccount", where), pv.at(where, "subaccount"), 0,
                         MAX_SUBACCOUNT)  # fmt: skip
        pending.append(LiquidationOrder(AccountKey(resting.trader, sub), resting))
    resting_orders = tuple(
        resting_from_json(r, pv.at(pv.at(name, "resting_orders"), n))
        for n, r in enumerate(pv.items(data.get("resting_orders", []),
                                       pv.at(name, "resting_orders")))
    )  # fmt: skip
    totals = {
        f: pv.integer(pv.member(data, f, name), pv.at(name, f), -MAX_BALANCE, MAX_BALANCE)
        for f in ("fee_pool", "insurance_fund", "socialised_loss")
    }
    market_states = []
    for m in config.market_ids:
        where = pv.at(pv.at(name, "markets"), m)
        try:
            market_states.append(MarketState.from_dict(m, pv.obj(markets[m], where)))
        except SettlementError as exc:
            raise BatchStatementError(f"{name}: markets.{exc}") from None
    return LedgerState(
        markets=config.market_ids,
        accounts=tuple(keys),
        collateral=np.array(collateral, dtype=np.int64),
        positions=np.array(positions, dtype=np.int64).reshape(len(keys), len(config.market_ids)),
        portfolio=np.array(portfolio, dtype=bool),
        fee_pool=totals["fee_pool"],
        insurance_fund=totals["insurance_fund"],
        socialised_loss=totals["socialised_loss"],
        market_states=tuple(market_states),
        pending_liquidations=tuple(pending),
        resting_orders=resting_orders,
        # -1: the ledger before its first batch
        batch_id=pv.integer(pv.member(data, "batch_id", name), pv.at(name, "batch_id"), -1, _U64),
        timestamp_ms=pv.integer(pv.member(data, "timestamp_ms", name),
                                pv.at(name, "timestamp_ms"), 0, _U64),
        # the rules the file publishes (its own ``config``): the root commits to them
        config_digest=config_digest(config),
    )  # fmt: skip


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
            a column named twice, a row with more or fewer fields than the header,
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
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise SettlementError(
            f"orders.csv: expected each column once, got {','.join(repeated)} more than once"
        )
    orders = []
    for n, r in enumerate(reader, start=1):
        fields = len(header) + len(r.get(None) or ()) - sum(v is None for v in r.values())
        if fields != len(header):
            raise SettlementError(
                f"orders.csv row {n}: expected {len(header)} fields (one per column of the "
                f"header), got {fields}"
            )
        orders.append(_order_from_row(r, f"orders.csv row {n}"))
    return orders


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
    r = _resting_from_dict(row, where, csv_row=True)
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
    bond = integer_in(bond_text, 0, MAX_BOND) if _UNSIGNED.fullmatch(bond_text) else None
    if bond is None:
        raise SettlementError(
            f"{where}: bond: expected base units from 0 to {MAX_BOND}, got {bond_text!r}"
        )
    if not _SALT.fullmatch(salt_text):
        raise SettlementError(
            f"{where}: salt: expected 0x and {2 * _SALT_BYTES} hex digits, got {salt_text!r}"
        )
    client_id = integer_in(cid_text, 0, (1 << 64) - 1) if _UNSIGNED.fullmatch(cid_text) else None
    if client_id is None:
        raise SettlementError(f"{where}: client_id: expected a uint64, got {cid_text!r}")
    try:
        o = r.order  # the order with its client id (the constructor, not replace: 10^4 rows)
        order = Order(
            o.market, o.side, o.limit_price, o.quantity, o.time_in_force, o.reduce_only, client_id
        )
    except AuctionError as exc:
        raise SettlementError(f"{where}: {exc}") from None
    salt = bytes.fromhex(salt_text[2:])
    return RestingOrder(r.order_id, r.trader, order, r.origin_batch, salt, bond)


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
