"""The batch statement, derived by the verifier from a published batch folder.

A batch proof never supplies its own statement: :func:`statement_from_files`
reads the files of docs/formats.md (``orders.csv``, ``result.json``,
``oracle.json``, ``transfers.json``, ``pre_state.json``, ``post_state.json``)
and derives

* the **public inputs** (O(1) in the batch size, docs/stark.md "The batch
  AIR"): the batch id, the pre- and post-state roots recomputed from the
  published states, the commitment root (the published seed), the inputs
  and outputs digests (Poseidon2 sponges over the canonical encodings of
  docs/formats.md "Batch digests"), and per market its clearing price,
  funding index, mark price and order count;
* the **public tables** the verifier adds to the bus itself: each market's
  code and price (``TAG_MARKET``, once per order of the market); which order
  took which fill is bound by the outputs digest, whose fill records carry the
  order id; which pending orders a halted market holds is proved in the AIR
  (:mod:`.headers`) from the oracle's ``max_price_age_ms``, a constant of the AIR;
* the outputs digest's preimage as rate-8 blocks (:func:`outputs_blocks`),
  which the prover absorbs in the AIR's digest section (:mod:`.digests`).

This module is the verifier's side: it never imports the prover.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.commitment import (
    MAX_BOND,
    address_limbs,
    bytes32_elements,
    commitment_root,
    leaf_tail,
    limbs,
    market_code,
    receipt_order,
)
from sealbatch.auction.orders import Side, TimeInForce
from sealbatch.crypto.eip712 import Address
from sealbatch.crypto.poseidon2 import digest_from_bytes, hash_elements
from sealbatch.settlement.batch_air.settle_witness import (
    SettleStatement,
    SettleWitness,
    settle_from_files,
)
from sealbatch.settlement.errors import BatchStatementError, SettlementError
from sealbatch.settlement.input_files import BATCH_FILE_CAP, read_input_text
from sealbatch.settlement.json_text import loads_json
from sealbatch.settlement.l1_statement import block_elements, inputs_blocks
from sealbatch.settlement.ledger import AccountKey, LedgerState, deposit
from sealbatch.settlement.oracle import OracleConfig, OracleRound, read_index
from sealbatch.settlement.params import MarketRisk, SettlementConfig
from sealbatch.settlement.publication import (
    BATCH_FILES,
    PublishedBatch,
    check_result,
    read_oracle_config,
    transfers_from_dict,
)
from sealbatch.settlement.published_values import member
from sealbatch.settlement.roots import encode_signed, state_root
from sealbatch.settlement.snapshot import (
    commitment_difference,
    config_from_dict,
    orders_from_csv,
    state_from_dict,
    state_to_dict,
)
from sealbatch.settlement.transition import forfeit_charge, halted_markets

__all__ = [
    "INPUTS_DOMAIN",
    "OUTPUTS_DOMAIN",
    "PUBLIC_HEADER",
    "PUBLIC_PER_MARKET",
    "BatchStatement",
    "OrderRow",
    "index_inputs",
    "outputs_blocks",
    "read_batch_dir",
    "statement_from_files",
]

#: Domain tags, element 0 of the digests' preimages (after the commitment's 0x5EA10003
#: and the market code's 0x5EA10004).
OUTPUTS_DOMAIN = 0x5EA10005
INPUTS_DOMAIN = 0x5EA10006
#: Public inputs before the per-market block: batch id (3 limbs), five digests of 8, n_markets,
#: the number of commitments under the commitment root (the tree's leaves).
PUBLIC_HEADER = 3 + 5 * 8 + 2
#: Public inputs per market: price, funding index (4, signed encoding), mark price, order
#: count, reference price (0: none), then the post-state's index price, index time (two 24-bit
#: limbs) and oracle flag as the oracle round gives them (:func:`index_inputs`).
PUBLIC_PER_MARKET = 12


@dataclass(frozen=True)
class OrderRow:
    """One published order as the clearing section sees it."""

    order_id: bytes
    market: int  # index in the markets' id order
    is_buy: int
    has_limit: int
    limit: int  # ticks, 0 for a market order
    quantity: int
    fill: int  # lots filled in this batch (0: none)
    fill_price: int  # the published fill's price (0 without a fill)
    account: int  # row in post_state.json's accounts
    revealed: int = 0  # 1: revealed in this batch (a leaf of its commitment tree)
    sequence: int = 0  # its receipt sequence number when revealed
    gtc: int = 0  # 1: good till cancelled (its rest carries into the next batch)
    reduce_only: int = 0
    client_id: int = 0  # a revealed order's client id (in its commitment)
    salt: bytes | None = None  # a revealed order's salt (prover side: the commitment preimage)
    trader: str = ""  # the trader's address (a revealed order's commitment binds it)
    liquidation: int = 0  # 1: a pre-state pending liquidation order (carried in)
    bond: int = 0  # a revealed order's bond (its commitment's leaf binds it)

    def flags(self) -> int:
        """``isBuy | hasLimit << 1 | isGtc << 2 | reduceOnly << 3`` (docs/formats.md)."""
        return self.is_buy | self.has_limit << 1 | self.gtc << 2 | self.reduce_only << 3

    def id_elements(self) -> tuple[int, ...]:
        """The order id as 8 field elements (``bytes32_elements``)."""
        return tuple(bytes32_elements(self.order_id))


@dataclass(frozen=True)
class BatchStatement:
    """What a batch proof proves, as the verifier derives it (see the module docstring)."""

    batch_id: int
    markets: tuple[str, ...]
    prices: tuple[int, ...]  # clearing price per market, 0: no trade
    order_counts: tuple[int, ...]
    orders: tuple[OrderRow, ...]
    public_inputs: tuple[int, ...]
    pre: LedgerState
    post: LedgerState
    settle: SettleStatement
    settle_witness: SettleWitness
    references: tuple[int, ...] = ()  # reference price per market, 0: none
    #: (sequence, commitment×8, market code, trader×7, bond) per forfeit of an order
    #: commitment: the parts of its leaf under the commitment root
    forfeit_leaves: tuple[tuple[int, ...], ...] = ()
    #: the outputs digest's preimage, rate-8 blocks (docs/formats.md "Batch digests"): the
    #: header, then ``output_fills`` fills of two blocks each (order id, fill), then the rest
    output_blocks: tuple[tuple[int, ...], ...] = ()
    output_fills: int = 0
    #: the inputs digest's preimage, rate-8 blocks (docs/formats.md "Batch digests"): three
    #: header blocks, then the deposits, RFQ blocks and withdrawals, each record tagged
    input_blocks: tuple[tuple[int, ...], ...] = ()
    #: the markets halted at the batch's time (their pending orders are held, not carried in)
    halted: tuple[str, ...] = ()
    #: the oracle's ``max_price_age_ms`` (``oracle.json`` config): a constant of the AIR,
    #: which proves from it which markets are halted (:mod:`.headers`)
    max_price_age_ms: int = 0
    #: the exchange's ``forfeit_bond`` (the least a forfeit charges): a constant of the
    #: AIR, which proves each forfeit's charge ``max(bond, forfeit_bond)`` (:mod:`.digests`)
    forfeit_bond: int = 0
    #: per forfeit of ``result.json`` (in its order): ``(account, charge)``, the account's
    #: row in the post-state (0 when the trader has none) and what the forfeit moves to
    #: the insurance fund (:func:`sealbatch.settlement.transition.forfeit_charge`)
    forfeit_charges: tuple[tuple[int, int], ...] = ()
    #: per market ``(mark_step_bps, mark_band_bps)`` (``pre_state.json`` config): constants
    #: of the AIR, which proves the mark rule with them (:mod:`.marks`)
    mark_terms: tuple[tuple[int, int], ...] = ()
    #: per market ``(funding_interval_batches, funding_cap_bps)`` (``pre_state.json``
    #: config): constants of the AIR, which proves each funding step from them
    #: (:mod:`.funding_rule`)
    funding_terms: tuple[tuple[int, int], ...] = ()
    #: per market ``(breaker_bps, calm_batches)`` (``pre_state.json`` config): constants
    #: of the AIR, which proves the circuit breaker with them (:mod:`.breaker`)
    breaker_terms: tuple[tuple[int, int], ...] = ()
    #: per market (id order) its ``max_slippage_bps``: a constant of the AIR, which proves
    #: each liquidation order's limit from it (:mod:`.liq_orders`)
    liquidation_slippage: tuple[int, ...] = ()
    #: per market (id order) each cross-margin tier's ``initial_bps``, in tier order: a
    #: constant of the AIR, which proves each account's initial requirement per market
    #: from it (:mod:`.liq_slice`)
    liquidation_initial_bps: tuple[tuple[int, ...], ...] = ()
    #: per market (id order) ``(min(max_liquidation_lots, max_order_lots),
    #: min(protective_liquidation_lots, max_order_lots))``: the slice caps of a calm and of
    #: a protective market, constants of the AIR; the proved post-state protective flag
    #: picks one (:mod:`.breaker`, :mod:`.liq_orders`, :mod:`.liq_slice`)
    liquidation_slice_caps: tuple[tuple[int, int], ...] = ()

    def market_rows(self) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
        """``TAG_MARKET`` rows ``(market, code, price, traded, reference, has_reference)``
        and their multiplicities (the market's order count)."""
        refs = self.references or (0,) * len(self.prices)
        rows = tuple(
            (j, market_code(m), p, int(p > 0), r, int(r > 0))
            for j, (m, p, r) in enumerate(zip(self.markets, self.prices, refs, strict=True))
        )
        return rows, self.order_counts


def read_batch_dir(batch_dir: Path) -> dict[str, str]:
    """The texts of a published batch folder's files.

    Raises:
        BatchStatementError: a file is missing or unreadable.
    """
    out = {}
    for name in BATCH_FILES:
        try:
            out[name] = read_input_text(Path(batch_dir) / name, BATCH_FILE_CAP, newline="")
        except (OSError, UnicodeDecodeError) as exc:
            raise BatchStatementError(f"cannot read {Path(batch_dir) / name}: {exc}") from exc
    return out


def _json(files: Mapping[str, str], name: str) -> dict[str, Any]:
    try:
        doc = loads_json(files[name])
    except KeyError:
        raise BatchStatementError(f"expected the file {name}, got none") from None
    except (ValueError, RecursionError) as exc:  # also too deep, or an int over 4300 digits
        raise BatchStatementError(f"{name}: expected JSON, got {exc}") from exc
    if not isinstance(doc, dict):
        raise BatchStatementError(f"{name}: expected a JSON object, got {type(doc).__name__}")
    return doc


def _config(doc: Mapping[str, Any], name: str) -> SettlementConfig:
    """The settlement rules a published state file carries (its ``config``)."""
    try:
        return config_from_dict(member(doc, "config", name), f"{name}: config")
    except BatchStatementError:
        raise
    except SettlementError as exc:
        raise BatchStatementError(f"{name}: config: {exc}") from None


def _digest_elements(hex_text: object, what: str) -> list[int]:
    try:
        return [int(v) for v in digest_from_bytes(bytes.fromhex(str(hex_text).removeprefix("0x")))]
    except ValueError as exc:
        raise BatchStatementError(f"{what}: expected a 32-byte digest, got {hex_text!r}") from exc


def _signed(value: int) -> list[int]:
    return [int(v) for v in encode_signed([value])[0]]


def _account_of(
    order: RestingOrder, state: LedgerState, liquidations: Mapping[bytes, AccountKey]
) -> int:
    key = liquidations.get(order.order_id) or AccountKey(order.trader, 0)
    if not state.has(key):
        raise BatchStatementError(
            f"order 0x{order.order_id.hex()}: expected its account {key.address}/"
            f"{key.subaccount} in post_state.json, got none"
        )
    return state.row(key)


def statement_from_files(files: Mapping[str, str]) -> BatchStatement:
    """Derive the statement from a batch folder's file texts (names as ``BATCH_FILES``).

    Every value read is checked for its type and range where it is read
    (:mod:`sealbatch.settlement.published_values`).

    Raises:
        BatchStatementError: a missing, malformed or inconsistent file, naming it (an
            oracle report or a transfer the settlement layer refuses included).
    """
    try:
        return _statement_from_files(files)
    except BatchStatementError:
        raise
    except SettlementError as exc:
        raise BatchStatementError(str(exc)) from exc


def _statement_from_files(files: Mapping[str, str]) -> BatchStatement:
    result = check_result(_json(files, "result.json"))
    pre_doc, post_doc = _json(files, "pre_state.json"), _json(files, "post_state.json")
    oracle_doc, transfers_doc = _json(files, "oracle.json"), _json(files, "transfers.json")
    if "orders.csv" not in files:
        raise BatchStatementError("expected the file orders.csv, got none")
    config = _config(pre_doc, "pre_state.json")
    pre = state_from_dict(pre_doc, config, "pre_state.json")
    post_config = _config(post_doc, "post_state.json")
    post = state_from_dict(post_doc, post_config, "post_state.json")
    orders = orders_from_csv(files["orders.csv"])
    oracle_round = OracleRound.from_dict(oracle_doc, "oracle.json")
    oracle_config = read_oracle_config(oracle_doc)
    digest = "0x" + oracle_round.digest().hex()
    if oracle_doc.get("digest") != digest:
        # the inputs digest takes the round's recomputed digest, not this copy of it
        raise BatchStatementError(
            f"oracle.json digest: published {oracle_doc.get('digest')!r}, recomputed {digest}"
        )
    halted = halted_markets(pre, oracle_config, oracle_round.timestamp_ms)
    deposits, blocks, withdrawals = transfers_from_dict(transfers_doc)
    batch_id: int = result["batch_id"]
    markets_doc: dict[str, Any] = result["markets"]
    seed = bytes32_elements(bytes.fromhex(result["seed"].removeprefix("0x")))
    if not 0 <= batch_id < 1 << 64:
        raise BatchStatementError(f"result.json batch_id: expected a uint64, got {batch_id}")
    markets = tuple(post.markets)
    if tuple(sorted(markets_doc)) != tuple(sorted(markets)) or list(markets) != sorted(markets):
        raise BatchStatementError(
            f"result.json markets: expected {sorted(markets)}, got {sorted(markets_doc)}"
        )
    for name, state, doc in (("pre", pre, pre_doc), ("post", post, post_doc)):
        root = "0x" + state_root(state).hex()
        if doc.get("state_root") != root:
            raise BatchStatementError(
                f"{name}_state.json state_root: published {doc.get('state_root')}, "
                f"recomputed {root}"
            )
    for name, state, cfg, doc in (
        ("pre_state.json", pre, config, pre_doc),
        ("post_state.json", post, post_config, post_doc),
    ):
        # the fields outside the state root (equity, requirements, the multiplier's copy)
        # are recomputed from the state: a file whose copy differs says another thing
        problem = _difference(state_to_dict(state, cfg), doc, "")
        if problem:
            raise BatchStatementError(f"{name} {problem}")
    liquidations = {lo.resting.order_id: lo.account for lo in pre.pending_liquidations}
    fills = _published_fills(markets_doc, markets)
    rows = []
    for r in orders:
        if r.order.market not in markets:
            raise BatchStatementError(f"orders.csv: unknown market {r.order.market!r}")
        lots, price = fills.pop(r.order_id, (0, 0))
        rows.append(
            OrderRow(
                order_id=r.order_id,
                market=markets.index(r.order.market),
                is_buy=int(r.order.side is Side.BUY),
                has_limit=int(r.order.limit_price is not None),
                limit=r.order.limit_price or 0,
                quantity=r.order.quantity,
                fill=lots,
                fill_price=price,
                account=_account_of(r, post, liquidations),
                gtc=int(r.order.time_in_force is TimeInForce.GTC),
                reduce_only=int(r.order.reduce_only),
                client_id=r.order.client_id,
                salt=r.salt,
                trader=r.trader,
                liquidation=int(r.order_id in liquidations),
                bond=r.bond or 0,
            )
        )
    # The AIR recomputes every revealed order's commitment; a published salt that does
    # not open it is refused here already, naming the row.
    problem = commitment_difference(orders, batch_id, liquidations)
    if problem:
        raise BatchStatementError(problem)
    if fills:
        oid = next(iter(fills))
        raise BatchStatementError(f"result.json fill of 0x{oid.hex()}: no such order in orders.csv")
    _check_fill_orders(markets_doc, markets, orders)
    rows, forfeit_leaves = _receipt_order(batch_id, orders, rows, liquidations, result)
    _check_seed(batch_id, orders, liquidations, result)
    counts = tuple(sum(1 for o in rows if o.market == j) for j in range(len(markets)))
    references = _references(markets, markets_doc, pre)
    prices = []
    for j, m in enumerate(markets):
        doc = markets_doc[m]
        price = doc.get("price")
        if price is not None and (type(price) is not int or not 1 <= price < 1 << 30):
            raise BatchStatementError(f"result.json {m} price: expected ticks or null, got {price}")
        if doc.get("orders") != counts[j]:
            raise BatchStatementError(
                f"result.json {m} orders: published {doc.get('orders')}, orders.csv has {counts[j]}"
            )
        prices.append(price or 0)
    _check_volumes(markets, markets_doc, rows, prices)
    out_blocks, out_fills = outputs_blocks(batch_id, markets, markets_doc, rows, result)
    in_blocks = _inputs_blocks(batch_id, oracle_round, deposits, blocks, withdrawals)
    header = [
        *limbs(batch_id, 3),
        *_digest_elements(pre_doc["state_root"], "pre_state.json state_root"),
        *_digest_elements(post_doc["state_root"], "post_state.json state_root"),
        *seed,
        *_hash([v for b in in_blocks for v in b]),
        *_blocks_digest(out_blocks),
        len(markets),
        sum(o.revealed for o in rows) + len(forfeit_leaves),
    ]
    public = list(header)
    try:
        indexes = index_inputs(oracle_round, oracle_config, pre)
    except SettlementError as exc:
        raise BatchStatementError(f"oracle.json: {exc}") from exc
    for j, ms in enumerate(post.market_states):
        public += [prices[j], *_signed(ms.funding_index), ms.mark_price, counts[j], references[j]]
        public += indexes[j]
    # the replay takes the inputs as read above: each file is parsed once
    batch = PublishedBatch.from_parsed(
        result, orders, oracle_round, oracle_config, (deposits, blocks, withdrawals)
    )
    settle, settle_witness = settle_from_files(files, pre, post, config, batch)
    public += settle.to_elements()
    charges = _forfeit_charges(result, pre, post, config, halted, deposits)
    return BatchStatement(
        batch_id=batch_id,
        markets=markets,
        prices=tuple(prices),
        order_counts=counts,
        orders=tuple(rows),
        public_inputs=tuple(public),
        pre=pre,
        post=post,
        settle=settle,
        settle_witness=settle_witness,
        references=references,
        forfeit_leaves=forfeit_leaves,
        output_blocks=out_blocks,
        output_fills=out_fills,
        input_blocks=in_blocks,
        halted=tuple(sorted(halted)),
        max_price_age_ms=oracle_config.max_price_age_ms,
        forfeit_bond=config.forfeit_bond,
        forfeit_charges=charges,
        mark_terms=tuple(
            (r.mark_step_bps, r.mark_band_bps)
            for r in (config.markets[config.column(m)] for m in markets)
        ),
        funding_terms=tuple(
            (r.funding_interval_batches, r.funding_cap_bps)
            for r in (config.markets[config.column(m)] for m in markets)
        ),
        breaker_terms=tuple(
            (r.breaker_bps, r.calm_batches)
            for r in (config.markets[config.column(m)] for m in markets)
        ),
        liquidation_slippage=tuple(_risk(config, name).max_slippage_bps for name in markets),
        liquidation_initial_bps=tuple(
            tuple(t.initial_bps for t in _risk(config, name).tiers) for name in markets
        ),
        liquidation_slice_caps=tuple(
            (
                min(r.max_liquidation_lots, r.market.max_order_lots),
                min(r.protective_liquidation_lots, r.market.max_order_lots),
            )
            for r in (_risk(config, name) for name in markets)
        ),
    )


def _risk(config: SettlementConfig, market: str) -> MarketRisk:
    return next(r for r in config.markets if r.market_id == market)


def index_inputs(
    oracle_round: OracleRound, oracle: OracleConfig, pre: LedgerState
) -> list[list[int]]:
    """Per market ``[index price, index time low limb, high limb, flagged]`` of the post-state,
    as the oracle round gives them (settlement/transition.py step 4): an unflagged reading's
    index at the round's time, else the pre-state's last trusted index and its time carried
    over (0 and 0 for a market that never had one) with the flag set. Exchange.sol derives
    the same public inputs from the round it checks (``OracleIndex.checkRound``).

    Raises:
        UnknownOracleSource, BadOracleSignature: a report not signed by a configured source.
    """
    readings = read_index(oracle_round, oracle, pre.markets)
    out = []
    for ms in pre.market_states:
        r = readings[ms.market]
        index, at = (
            (ms.index_price, ms.index_time_ms)
            if r.flagged
            else (r.index, oracle_round.timestamp_ms)
        )
        out.append([index or 0, at % (1 << 24), (at >> 24) % (1 << 24), int(r.flagged)])
    return out


def _forfeit_charges(
    result: Mapping[str, Any],
    pre: LedgerState,
    post: LedgerState,
    config: SettlementConfig,
    halted: Collection[str],
    deposits: Sequence[tuple[AccountKey, int]] = (),
) -> tuple[tuple[int, int], ...]:
    """Each published forfeit's account row (post-state) and charge, in ``result.json`` order.

    The charge is the transition's, on the state after the batch's deposits (an account a
    deposit opens in this batch is charged: it exists when the forfeits are taken).

    Raises:
        BatchStatementError: a malformed forfeit, or a bond or ``forfeit_bond`` of 2^30 or
            more (the batch AIR proves a charge below 2^30 only).
    """
    if not 0 <= config.forfeit_bond <= MAX_BOND:
        raise BatchStatementError(
            f"forfeit_bond: expected at most {MAX_BOND} for a batch proof, "
            f"got {config.forfeit_bond}"
        )
    funded = pre
    for key, amount in deposits:
        funded = deposit(funded, key, amount)
    out = []
    for f in result.get("forfeited", ()):
        # check_result has checked each forfeit's values
        trader, market, bond = Address(f["trader"]), f["market"], f["bond"]
        if not 0 <= bond <= MAX_BOND:
            raise BatchStatementError(
                f"result.json forfeited bond: expected at most {MAX_BOND} for a batch proof, "
                f"got {bond}"
            )
        key = AccountKey(trader, 0)
        account = post.row(key) if post.has(key) else 0
        out.append((account, forfeit_charge(funded, config, halted, trader, market, bond)))
    return tuple(out)


def _receipt_order(
    batch_id: int,
    orders: Sequence[RestingOrder],
    rows: list[OrderRow],
    liquidations: Mapping[bytes, AccountKey],
    result: Mapping[str, Any],
) -> tuple[list[OrderRow], tuple[tuple[int, ...], ...]]:
    """Mark the orders revealed in this batch with their receipt sequence numbers, and the
    forfeits' leaves: together the commitments under the commitment root, in receipt
    order (the forfeits name their sequence numbers; the revealed orders of orders.csv,
    in file order, fill the others — docs/formats.md, "Commitments").

    Raises:
        BatchStatementError: a forfeit's sequence number outside the batch or taken twice.
    """
    revealed = [
        i
        for i, r in enumerate(orders)
        if r.origin_batch == batch_id and r.order_id not in liquidations
    ]
    # an unrevealed RFQ quote (its rfq_id set) is not under the batch's commitment root
    forfeits = [f for f in result.get("forfeited", ()) if f.get("rfq_id") is None]
    total = len(revealed) + len(forfeits)
    taken: set[int] = set()
    leaves = []
    for f in forfeits:
        # check_result has checked each forfeit's values' types
        seq = f["sequence"]
        elements = bytes32_elements(bytes.fromhex(f["commitment"].removeprefix("0x")))
        try:
            code = market_code(f["market"])
            # the leaf's bond is one field element: a bond of 2^30 or more is no leaf's
            tail = leaf_tail(f["trader"], f["bond"])
        except ValueError as exc:
            raise BatchStatementError(f"result.json forfeited (sequence {seq}): {exc}") from exc
        if not 0 <= seq < total or seq in taken:
            raise BatchStatementError(
                f"result.json forfeit sequence {seq}: expected a free slot in [0, {total})"
            )
        taken.add(seq)
        leaves.append((seq, *elements, code, *tail))
    free = iter(s for s in range(total) if s not in taken)
    out = list(rows)
    for i in revealed:
        out[i] = replace(out[i], revealed=1, sequence=next(free))
    return out, tuple(sorted(leaves))


def _check_seed(
    batch_id: int,
    orders: Sequence[RestingOrder],
    liquidations: Mapping[bytes, AccountKey],
    result: Mapping[str, Any],
) -> None:
    """The published ``seed`` is the commitment root of the batch's commitments: the proof
    takes the seed as a public input, and a revealed order's leaf binds its bond, which
    only orders.csv publishes (its commitment binds the order's other fields).

    Raises:
        BatchStatementError: another root, naming both.
    """
    revealed = [
        (r.order_id, r.order.market, str(r.trader), r.bond or 0)
        for r in orders
        if r.origin_batch == batch_id and r.order_id not in liquidations
    ]
    forfeits = [
        (f["sequence"], bytes.fromhex(f["commitment"].removeprefix("0x")), f["market"],
         f["trader"], f["bond"])
        for f in result.get("forfeited", ())
        if f.get("rfq_id") is None
    ]  # fmt: skip
    try:
        leaves = receipt_order(revealed, forfeits)
        root = commitment_root(
            [c for c, _, _, _ in leaves],
            [m for _, m, _, _ in leaves],
            [t for _, _, t, _ in leaves],
            [b for _, _, _, b in leaves],
        )
    except ValueError as exc:
        raise BatchStatementError(f"result.json seed: {exc}") from exc
    seed = bytes.fromhex(result["seed"].removeprefix("0x"))
    if root != seed:
        raise BatchStatementError(
            f"result.json seed: published 0x{seed.hex()}, recomputed 0x{root.hex()} from the "
            f"{len(leaves)} commitments of orders.csv and result.json forfeited"
        )


def _references(
    markets: Sequence[str], markets_doc: Mapping[str, Any], pre: LedgerState
) -> tuple[int, ...]:
    """Each market's reference price (0: none): result.json's, which must be the
    pre-state's mark, and null before a first mark (docs/formats.md)."""
    out = []
    for m, ms in zip(markets, pre.market_states, strict=True):
        ref = markets_doc[m].get("reference_price")
        if ref is not None and (type(ref) is not int or not 1 <= ref < 1 << 30):
            raise BatchStatementError(f"result.json {m} reference_price: expected ticks, got {ref}")
        if (ref or 0) != ms.mark_price:
            raise BatchStatementError(
                f"result.json {m} reference_price: published {ref}, the pre-state's mark is "
                f"{ms.mark_price or 'none (0): expected null'}"
            )
        out.append(ref or 0)
    return tuple(out)


def _published_fills(
    markets_doc: Mapping[str, Any], markets: Sequence[str]
) -> dict[bytes, tuple[int, int]]:
    out: dict[bytes, tuple[int, int]] = {}
    for m in markets:
        for f in markets_doc[m].get("fills", ()):
            oid = bytes.fromhex(str(f["order_id"]).removeprefix("0x"))
            lots, price = f["quantity"], f["price"]
            if oid in out:
                raise BatchStatementError(f"result.json fill of 0x{oid.hex()}: listed twice")
            if f.get("market", m) != m:
                raise BatchStatementError(
                    f"result.json fill of 0x{oid.hex()}: listed under {m}, its market "
                    f"{f.get('market')!r}"
                )
            if type(lots) is not int or type(price) is not int:
                raise BatchStatementError(f"result.json fill of 0x{oid.hex()}: expected integers")
            if not 0 <= lots < 1 << 30 or not 0 <= price < 1 << 30:
                raise BatchStatementError(
                    f"result.json fill of 0x{oid.hex()}: expected lots and price below 2^30, "
                    f"got {lots} at {price}"
                )
            out[oid] = (lots, price)
    return out


_SCALARS = frozenset((int, str, bool, type(None)))


def _difference(expected: object, published: object, path: str) -> str | None:
    """The first value of ``expected`` that ``published`` does not hold, of the same JSON
    type (a further key of ``published`` is ignored, like any extra key), or None."""
    kind = type(expected)
    if kind in _SCALARS:  # most values: checked first, without the ABC checks below
        if type(published) is not kind or published != expected:
            return f"{path}: published {published!r}, recomputed {expected!r}"
        return None
    if isinstance(expected, Mapping):
        if not isinstance(published, Mapping):
            return f"{path or '.'}: published {published!r}, recomputed an object"
        for key, value in expected.items():
            if key not in published:
                return f"{path}.{key}: published none, recomputed {value!r}"
            problem = _difference(value, published[key], f"{path}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(published, list) or len(published) != len(expected):
            return f"{path}: published {published!r}, recomputed {list(expected)!r}"
        for n, (e, p) in enumerate(zip(expected, published, strict=True)):
            problem = _difference(e, p, f"{path}[{n}]")
            if problem:
                return problem
        return None
    if type(published) is not type(expected) or published != expected:
        return f"{path}: published {published!r}, recomputed {expected!r}"
    return None


def _check_fill_orders(
    markets_doc: Mapping[str, Any], markets: Sequence[str], orders: Sequence[RestingOrder]
) -> None:
    """Each published fill's ``trader``, ``market`` and ``side`` are its order's (orders.csv):
    the proof binds a fill's record to its order's row, not these copies of its fields.

    Raises:
        BatchStatementError: a fill whose copy differs from its order, naming both.
    """
    by_id = {r.order_id: r for r in orders}
    for m in markets:
        for n, f in enumerate(markets_doc[m].get("fills", ())):
            r = by_id[bytes.fromhex(str(f["order_id"]).removeprefix("0x"))]
            where = f"result.json markets.{m}.fills[{n}]"
            for key, want in (
                ("trader", str(r.trader)),
                ("market", r.order.market),
                ("side", r.order.side.value),
            ):
                got = f.get(key, m) if key == "market" else f.get(key)
                if got != want:
                    raise BatchStatementError(
                        f"{where}.{key}: published {got!r}, its order in orders.csv has {want!r}"
                    )


def _check_volumes(
    markets: Sequence[str],
    markets_doc: Mapping[str, Any],
    rows: Sequence[OrderRow],
    prices: Sequence[int],
) -> None:
    """Each market's ``buy_volume``, ``sell_volume`` and ``imbalance`` are the demand and
    supply at its proved clearing price of its orders in orders.csv (0, 0 and 0 without a
    trade), as the auction publishes them (``auction/clearing.py``).

    Raises:
        BatchStatementError: a published value that differs, naming it.
    """
    for j, m in enumerate(markets):
        p = prices[j]
        demand = supply = 0
        if p:
            for o in rows:
                if o.market == j and (
                    not o.has_limit or (o.limit >= p if o.is_buy else o.limit <= p)
                ):
                    if o.is_buy:
                        demand += o.quantity
                    else:
                        supply += o.quantity
        doc = markets_doc[m]
        for key, want in (
            ("buy_volume", demand),
            ("sell_volume", supply),
            ("imbalance", abs(demand - supply)),
        ):
            got = doc.get(key)
            if type(got) is not int or got != want:
                raise BatchStatementError(
                    f"result.json markets.{m}.{key}: published {got!r}, orders.csv gives {want} "
                    f"at the clearing price"
                )


def _hash(elements: Sequence[int]) -> list[int]:
    return [int(v) for v in hash_elements(list(elements))]


def outputs_blocks(
    batch_id: int,
    markets: Sequence[str],
    markets_doc: Mapping[str, Any],
    rows: Sequence[OrderRow],
    result: Mapping[str, Any],
) -> tuple[tuple[tuple[int, ...], ...], int]:
    """The outputs digest's preimage as rate-8 blocks (docs/formats.md, "Batch digests").

    Returns:
        The blocks (8 elements each) and the number of fills ``f`` (two blocks each,
        blocks 1 … 2f: the order id, then the fill).

    Raises:
        BatchStatementError: a malformed forfeit or carried order.
    """
    by_id = {o.order_id: o for o in rows}
    forfeits = result.get("forfeited", ())
    carried = result.get("carried", ())
    fills: list[list[int]] = []
    per_market: list[list[int]] = []
    for j, m in enumerate(markets):
        doc = markets_doc[m]
        listed = doc.get("fills", ())
        per_market.append([market_code(m), doc.get("price") or 0, int(doc.get("volume", 0)),
                           len(listed)])  # fmt: skip
        for f in listed:
            o = by_id[bytes.fromhex(str(f["order_id"]).removeprefix("0x"))]
            fills.append([*o.id_elements()])
            fills.append([o.account, j, o.is_buy, o.fill, o.fill_price])
    tail: list[list[int]] = []
    for f in forfeits:
        try:
            commitment = bytes.fromhex(str(f["commitment"]).removeprefix("0x"))
            tail.append([*bytes32_elements(commitment)])
            quote = int(f.get("rfq_id") is not None)
            tail.append([int(f["sequence"]), quote, *limbs(int(f["bond"]), 3)])
            tail.append([*address_limbs(str(f["trader"])), market_code(str(f["market"]))])
        except (KeyError, ValueError) as exc:
            raise BatchStatementError(f"result.json forfeited: {exc}") from exc
    tail += per_market
    for c in carried:
        try:
            limit = c["limit_price"]
            flags = (
                int(c["side"] == "buy")
                | int(limit not in (None, "")) << 1
                | int(c["time_in_force"] == "gtc") << 2
                | int(bool(c["reduce_only"])) << 3
            )
            tail.append([*bytes32_elements(bytes.fromhex(str(c["order_id"]).removeprefix("0x")))])
            tail.append([
                market_code(str(c["market"])),
                flags,
                int(limit or 0),
                int(c["quantity"]),
                *limbs(int(c["origin_batch"]), 3),
            ])  # fmt: skip
        except (KeyError, ValueError) as exc:
            raise BatchStatementError(f"result.json carried: {exc}") from exc
    count = len(fills) // 2
    header = [OUTPUTS_DOMAIN, *limbs(batch_id, 3), len(markets), count, len(forfeits),
              len(carried)]  # fmt: skip
    blocks = [header, *fills, *tail]
    padded = tuple(tuple(int(v) for v in (*b, *(0,) * (8 - len(b)))) for b in blocks)
    return padded, count


def _blocks_digest(blocks: Sequence[Sequence[int]]) -> list[int]:
    try:
        return _hash([v for b in blocks for v in b])
    except ValueError as exc:
        raise BatchStatementError(f"result.json: expected field elements, got {exc}") from exc


def _inputs_blocks(
    batch_id: int,
    oracle_round: OracleRound,
    deposits: Sequence[tuple[AccountKey, int]],
    blocks: Sequence[Any],
    withdrawals: Sequence[tuple[AccountKey, int]],
) -> tuple[tuple[int, ...], ...]:
    """The inputs digest's preimage blocks (docs/formats.md, "Batch digests"), exactly as
    the exchange contract lays them out (:func:`.l1_statement.inputs_blocks`)."""
    try:
        return inputs_blocks(
            batch_id=batch_id,
            oracle=oracle_round,
            deposits=[(k.address, k.subaccount, a) for k, a in deposits],
            block_elements=block_elements(blocks),
            withdrawals=[(k.address, k.subaccount, a) for k, a in withdrawals],
        )
    except ValueError as exc:
        raise BatchStatementError(f"transfers.json: {exc}") from exc


def _inputs_digest(
    batch_id: int,
    oracle_round: OracleRound,
    deposits: Sequence[tuple[AccountKey, int]],
    blocks: Sequence[Any],
    withdrawals: Sequence[tuple[AccountKey, int]],
) -> list[int]:
    """The inputs digest (docs/formats.md, "Batch digests")."""
    preimage = _inputs_blocks(batch_id, oracle_round, deposits, blocks, withdrawals)
    return _hash([v for b in preimage for v in b])
