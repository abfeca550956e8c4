"""The batch state transition: ``apply_batch(state, batch_result, oracle_round)``.

The steps, in order (each one a pure function of what came before):

0. the oracle round is bound to the batch: its ``round_id`` is the batch id
   and its time (the batch's own time) is after the previous batch's; a
   market *halted* at that time (its last trusted index older than
   ``max_price_age_ms``) must have no fills; the orders carried into the
   batch are exactly the pre-state's pending orders (its liquidation orders
   and GTC rests) outside halted markets, none dropped, added or altered
   (a GTC rest in a halted market rests on); then the pre-state root is
   hashed: nothing the batch brings in (deposits, blocks, withdrawals)
   touches the ledger before it, so each batch's pre-root is the previous
   batch's post-root;
1. deposits (an account is opened by its first deposit);
2. blocks (RFQ): each settles as two fills at the clearing price plus a
   zero-sum transfer of the price difference from buyer to seller
   (:mod:`sealbatch.settlement.blocks`); a block whose market did not trade
   or whose side has no account fails and changes nothing;
3. withdrawals (free collateral only, against the pre-batch marks; none from
   an account holding a position in a flagged market);
4. oracle round → each market's index; a flagged reading leaves the market's
   last trusted index (and its time) as they were;
5. forfeited commitments move their bond (at least ``forfeit_bond``) to the
   insurance fund, all of it (collateral and equity may go negative: the account
   is then liquidated or its deficit covered like any other), except
   where the oracle refused the reveal: a commitment in a flagged or halted
   market, or of a trader holding a position in a flagged market;
6. funding: each market with a trusted index this round adds its premium
   sample (the mark premium before the batch, in force over the time since the
   previous one, weighted by it) and, at an interval end, steps its funding index (a flagged market
   neither samples nor counts the batch); accounts pay ``position × Δindex``
   on the positions they held during the interval (before this batch's fills);
7. fills (the auction's, then the blocks'): positions move by ± lots,
   collateral by ∓ lots × price × multiplier, and each fill pays its fee to
   the fee pool;
8. mark prices (the index plus a premium one batch moves by at most
   ``mark_step_bps`` and never beyond ``± mark_band_bps``; unchanged on a
   flagged reading; the last clearing price before a first index), then the
   circuit breaker on the trusted indexes (this round's against the previous
   one's; never a market's first index);
9. liquidation penalties on fills of liquidation orders, to the insurance fund;
10. negative equity: insurance fund, then ADL or socialised loss (not for
    accounts with a position in a market whose oracle is flagged);
11. health at the new indexes and the staged liquidation orders for the next
    batch (accounts below maintenance at the oracle indexes; the mark does
    not enter the test);
    then the GTC rests for the next batch: the batch's unfilled GTC
    remainders and the rests held in halted markets, reduce-only ones capped
    behind the liquidation orders, every one re-checked against the new
    state's margin (:func:`~settlement.margin.cap_reduce_only`,
    :func:`~settlement.margin.check_carried`); both lists are in the state
    and so under its root;
12. invariants: Σ collateral + fee pool + insurance fund changes by exactly
    deposits − withdrawals, and Σ positions is zero in every market.

The returned :class:`BatchWitness` holds what a proof needs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from sealbatch.auction.batch import BatchResult, Fill, RestingOrder
from sealbatch.auction.bounds import MAX_BALANCE, MAX_POSITION
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.blocks import BlockTrade, SettledBlock, settle_blocks
from sealbatch.settlement.collateral import apply_withdrawal
from sealbatch.settlement.errors import InvariantViolation, MarketHalted, SettlementError
from sealbatch.settlement.funding import FundingUpdate, funding_payments, update_funding
from sealbatch.settlement.ledger import (
    INT64_SAFE,
    AccountKey,
    LedgerState,
    LiquidationOrder,
    deposit,
    equity,
    fill_fee,
    multipliers,
    total_value,
)
from sealbatch.settlement.liquidation import (
    DeficitFlow,
    cover_deficits,
    plan_liquidations,
    update_breaker,
)
from sealbatch.settlement.margin import cap_reduce_only, check_carried, requirements
from sealbatch.settlement.oracle import (
    IndexReading,
    OracleConfig,
    OracleRound,
    read_index,
    update_mark,
)
from sealbatch.settlement.params import BPS, SettlementConfig
from sealbatch.settlement.roots import state_root

__all__ = [
    "BatchWitness",
    "SettledFill",
    "apply_batch",
    "carried_in_orders",
    "check_carried_in",
    "check_invariants",
    "check_references",
    "describe_order",
    "forfeit_charge",
    "halted_markets",
    "pending_carried_in",
    "reference_prices",
]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SettledFill:
    """A fill as settled: its account, fee and liquidation penalty."""

    fill: Fill
    account: AccountKey
    fee: int
    liquidation: bool

    def to_dict(self) -> dict[str, object]:
        d = self.fill.to_dict()
        d.update(subaccount=self.account.subaccount, fee=self.fee, liquidation=self.liquidation)
        return d


@dataclass(frozen=True)
class BatchWitness:
    """Everything a proof of one batch needs.

    Attributes:
        batch_id: the batch.
        oracle_digest: :meth:`OracleRound.digest` of the round that went in.
        pre_root, post_root: state roots before and after.
        pre, post: the states (every account before and after, by row; rows
            of accounts opened by a deposit in this batch are appended).
        fills: every fill with its account, fee and liquidation flag.
        readings: the oracle reading of each market.
        funding: each market's funding update.
        forfeits: ``(account, amount)`` moved to the insurance fund.
        penalties: ``(account, amount)`` liquidation penalties to the insurance fund.
        deficits: how each negative equity was covered.
        liquidations: liquidation orders emitted for the next batch.
        deposits, withdrawals: ``(account, amount)`` applied first.
        blocks: the blocks settled (their fills are among ``fills``).
        failed_blocks: block id → why it failed (``no_clearing_price``,
            ``no_account``).
        tripped: markets whose circuit breaker tripped in this batch.
    """

    batch_id: int
    oracle_digest: bytes
    pre_root: bytes
    post_root: bytes
    pre: LedgerState
    post: LedgerState
    fills: tuple[SettledFill, ...]
    readings: Mapping[str, IndexReading]
    funding: Mapping[str, FundingUpdate]
    forfeits: tuple[tuple[AccountKey, int], ...]
    penalties: tuple[tuple[AccountKey, int], ...]
    deficits: tuple[DeficitFlow, ...]
    liquidations: tuple[LiquidationOrder, ...]
    deposits: tuple[tuple[AccountKey, int], ...]
    withdrawals: tuple[tuple[AccountKey, int], ...]
    tripped: tuple[str, ...]
    blocks: tuple[SettledBlock, ...] = ()
    failed_blocks: Mapping[bytes, str] = field(default_factory=dict)

    @property
    def fees(self) -> int:
        return sum(f.fee for f in self.fills)


def check_invariants(pre: LedgerState, post: LedgerState, net_flow: int) -> None:
    """Raise InvariantViolation unless value is conserved and every market nets to zero.

    Args:
        net_flow: deposits − withdrawals applied between ``pre`` and ``post``.
    """
    before, after = total_value(pre), total_value(post)
    if after - before != net_flow:
        raise InvariantViolation(
            f"expected Σ collateral + fee pool + insurance fund to change by {net_flow}, "
            f"got {after - before}"
        )
    net = post.positions.sum(axis=0) if post.size else np.zeros(len(post.markets), np.int64)
    if np.any(net != 0):
        raise InvariantViolation(f"expected zero net position per market, got {net.tolist()}")


def halted_markets(state: LedgerState, oracle: OracleConfig, at_ms: int) -> frozenset[str]:
    """The markets in which a batch settling at ``at_ms`` on ``state`` may not trade:
    their last trusted index is older than ``oracle.max_price_age_ms`` (a market
    that never had a trusted index is not halted). They trade again in the batch
    after one whose oracle round gives them a trusted index."""
    return frozenset(
        ms.market for ms in state.market_states if ms.halted(at_ms, oracle.max_price_age_ms)
    )


def reference_prices(state: LedgerState) -> dict[str, int | None]:
    """Each market's clearing reference for the next batch: its mark price (index
    plus a bounded premium), so one trade cannot steer the next batch's tie-break;
    before a first price, None."""
    return {ms.market: (ms.mark_price or None) for ms in state.market_states}


def check_references(state: LedgerState, batch: BatchResult) -> None:
    """Raise SettlementError unless every market of ``batch`` cleared around the
    reference :func:`reference_prices` gives ``state``: its mark, or none (the
    midpoint rule) before a first mark. The reference picks the price within the
    optimal interval, so an operator free to state one could steer it."""
    want = reference_prices(state)
    for market, mr in sorted(batch.markets.items()):
        if mr.reference_price != want.get(market):
            raise SettlementError(
                f"{market} reference price: expected {want.get(market)} (the pre-state's "
                f"mark, None before a first mark), got {mr.reference_price}"
            )


def describe_order(r: RestingOrder) -> str:
    """One line naming a resting order and every field that decides how it trades."""
    o = r.order
    limit = "market" if o.limit_price is None else f"limit {o.limit_price}"
    return (
        f"0x{r.order_id.hex()} ({r.trader} {o.side.value} {o.quantity} lots of {o.market} "
        f"{limit}, {o.time_in_force.value}, reduce_only={o.reduce_only}, origin batch "
        f"{r.origin_batch}{f', client_id {o.client_id}' if o.client_id else ''})"
    )


def pending_carried_in(state: LedgerState, halted: frozenset[str]) -> dict[bytes, RestingOrder]:
    """The orders a batch settled on ``state`` must carry in, by id: the pending
    liquidation orders, then the GTC rests, outside the ``halted`` markets."""
    return {
        r.order_id: r
        for r in (*(lo.resting for lo in state.pending_liquidations), *state.resting_orders)
        if r.order.market not in halted
    }


def carried_in_orders(state: LedgerState, batch: BatchResult) -> dict[bytes, RestingOrder]:
    """The orders ``batch`` carried in, by id: those committed in an earlier batch,
    and the liquidation orders of ``state`` (emitted for this batch)."""
    liquidations = {lo.resting.order_id for lo in state.pending_liquidations}
    return {
        r.order_id: r
        for r in batch.orders
        if r.origin_batch != batch.batch_id or r.order_id in liquidations
    }


def check_carried_in(state: LedgerState, batch: BatchResult, halted: frozenset[str]) -> None:
    """Raise SettlementError unless the orders ``batch`` carried in are exactly the
    pending orders of ``state`` (its liquidation orders and GTC rests) outside the
    ``halted`` markets: an operator can neither drop, add nor alter one.
    """
    liquidations = {lo.resting.order_id for lo in state.pending_liquidations}
    want, got = pending_carried_in(state, halted), carried_in_orders(state, batch)
    for oid, r in want.items():
        kind = "liquidation order" if oid in liquidations else "GTC rest"
        if oid not in got:
            raise SettlementError(
                f"carried-in orders: expected the pre-state's {kind} {describe_order(r)}, "
                "got no such order carried in"
            )
        if got[oid] != r:
            raise SettlementError(
                f"carried-in {kind}: expected {describe_order(r)} (the pre-state's), "
                f"got {describe_order(got[oid])}"
            )
    for oid, r in got.items():
        if oid not in want:
            raise SettlementError(
                f"carried-in orders: expected only the pre-state's pending orders, got "
                f"{describe_order(r)}, which the pre-state does not hold"
            )


def _account_of(
    fill: Fill, liquidations: Mapping[bytes, AccountKey], subaccounts: Mapping[bytes, int]
) -> tuple[AccountKey, bool]:
    liq = liquidations.get(fill.order_id)
    if liq is not None:
        return liq, True
    return AccountKey(fill.trader, subaccounts.get(fill.order_id, 0)), False


def _check_bounds(
    batch_id: int,
    accounts: Sequence[AccountKey],
    positions: npt.NDArray[np.int64],
    fee_pool: int,
    insurance: int,
) -> None:
    """Refuse a post-state outside the value bounds (:mod:`sealbatch.auction.bounds`).

    The reveal check keeps every position inside its bound and the ledger every
    balance, so this never fires for a batch built by the venue; it stops a
    batch that was not (a replayed file, a hand-made result) from reaching a
    state the proof could not range-check.

    Raises:
        InvariantViolation: a position of MAX_POSITION + 1 lots or more, or a
            fee pool or insurance fund of 2^62 or more in absolute value.
    """
    for name, value in (("fee_pool", fee_pool), ("insurance_fund", insurance)):
        if abs(value) > MAX_BALANCE:
            raise InvariantViolation(
                f"{name}: expected below 2^62 in absolute value after batch {batch_id}, got {value}"
            )
    if positions.size and int(np.abs(positions).max()) > MAX_POSITION:
        r, j = (int(v) for v in np.argwhere(np.abs(positions) > MAX_POSITION)[0])
        k = accounts[r]
        raise InvariantViolation(
            f"position: expected at most {MAX_POSITION} lots (below 2^22) in absolute value "
            f"after batch {batch_id}, got {int(positions[r, j])} in market {j} for "
            f"{k.address}/{k.subaccount}"
        )


def forfeit_charge(
    state: LedgerState,
    config: SettlementConfig,
    halted: Collection[str],
    trader: Address,
    market: str,
    bond: int,
) -> int:
    """What one forfeited commitment (or unrevealed RFQ quote) moves to the insurance fund.

    The whole ``max(bond, forfeit_bond)``, even beyond the trader's equity (an account
    this leaves below maintenance is liquidated in the next batch, and the insurance
    fund, which received the bond, covers any deficit), except 0 where the oracle
    refused the reveal through no fault of the trader's — its market halted
    (``halted``) or flagged in ``state``, or the trader holding a position in a
    flagged market — or where the trader has no account (subaccount 0).

    Args:
        state: the state before the batch.
        halted: the markets halted at the batch's time.
    """
    key = AccountKey(trader, 0)
    if not state.has(key):
        return 0
    frozen = np.array([ms.frozen for ms in state.market_states], dtype=np.bool_)
    if (
        market in halted
        or (market in state.markets and state.market_state(market).frozen)
        or bool((state.positions[state.row(key), frozen] != 0).any())
    ):
        return 0
    return max(bond, config.forfeit_bond)


def apply_batch(
    state: LedgerState,
    batch: BatchResult,
    oracle_round: OracleRound,
    config: SettlementConfig,
    oracle: OracleConfig,
    *,
    deposits: Sequence[tuple[AccountKey, int]] = (),
    blocks: Sequence[BlockTrade] = (),
    withdrawals: Sequence[tuple[AccountKey, int]] = (),
    subaccounts: Mapping[bytes, int] | None = None,
) -> tuple[LedgerState, BatchWitness]:
    """Settle one cleared batch: pure and deterministic (see module docstring).

    Args:
        state: the ledger after the previous batch.
        batch: the auction's result for this batch.
        oracle_round: this batch's oracle input.
        config: settlement rules.
        oracle: the oracle sources and rules.
        deposits, withdrawals: collateral moves settled with this batch.
        blocks: the RFQ blocks accepted for this batch (a failed one is
            reported in the witness, not raised).
        subaccounts: order id → subaccount for orders of subaccounts other
            than 0 (liquidation orders are routed by the state itself).

    Returns:
        The new state and the batch's witness.

    Raises:
        SettlementError: a batch id not above the last, an oracle round not
            bound to the batch (another round id, a time not after the last),
            carried-in orders other than the pre-state's pending ones, a market
            cleared around another reference than the pre-state's mark (none
            before a first mark), a fill in
            an unknown market or of an unknown account, a fill off its
            market's clearing price, a block of another batch;
            InsufficientCollateral for a withdrawal
            beyond free collateral; OracleError for a bad report;
            InvariantViolation if conservation fails (a bug); MarketHalted for
            fills in a halted market; MarketFlagged for a withdrawal from an
            account with a position in a flagged market.
    """
    if batch.batch_id <= state.batch_id:
        raise SettlementError(f"batch_id: expected above {state.batch_id}, got {batch.batch_id}")
    if oracle_round.round_id != batch.batch_id:
        raise SettlementError(
            f"oracle round: expected round_id {batch.batch_id} (the batch's), "
            f"got {oracle_round.round_id}"
        )
    if state.batch_id >= 0 and oracle_round.timestamp_ms <= state.timestamp_ms:
        raise SettlementError(
            f"oracle round time: expected after {state.timestamp_ms} (the previous batch's), "
            f"got {oracle_round.timestamp_ms}"
        )
    halted = halted_markets(state, oracle, oracle_round.timestamp_ms)
    for mid in sorted(halted):
        mr = batch.markets.get(mid)
        if mr is not None and mr.fills:
            ms = state.market_state(mid)
            raise MarketHalted(
                f"{mid}: expected no fills while halted (trusted index of "
                f"{ms.index_time_ms}, older than {oracle.max_price_age_ms} ms at "
                f"{oracle_round.timestamp_ms}), got {len(mr.fills)}"
            )
    check_carried_in(state, batch, halted)
    check_references(state, batch)
    # 0. the pre-state, as the previous batch left it
    pre = state
    pre_root = state_root(pre)
    dt = oracle_round.timestamp_ms - state.timestamp_ms if state.batch_id >= 0 else 0

    # 1. deposits
    for key, amount in deposits:
        state = deposit(state, key, amount)

    # 2. blocks: price difference from buyer to seller, fills settled in step 7
    state, block_fills, settled_blocks, failed_blocks = settle_blocks(state, batch, blocks, config)

    # 3. withdrawals
    for key, amount in withdrawals:
        state = apply_withdrawal(state, key, amount, config)
    net_flow = sum(a for _, a in deposits) - sum(a for _, a in withdrawals)
    start = state

    # 4. oracle: only an unflagged reading moves the index
    readings = read_index(oracle_round, oracle, state.markets)
    trusted = {m: r.trusted for m, r in readings.items()}
    # Exact Python integers until the batch's flows are all in (checked back into int64
    # before deficits are covered): a fill's lots × price × multiplier can leave int64.
    collateral = state.collateral.astype(object)
    positions_before = state.positions
    insurance = state.insurance_fund

    # 5. forfeited bonds, waived where the oracle refused the reveal: a reveal in a
    # flagged or halted market, or by an account holding a position in a flagged
    # market, is refused (market_flagged / market_halted) through no fault of its own
    forfeits: list[tuple[AccountKey, int]] = []
    for f in batch.forfeited:
        key = AccountKey(f.trader, 0)
        amount = forfeit_charge(state, config, halted, f.trader, f.market, f.bond)
        if amount:
            row = state.row(key)
            collateral[row] -= amount
            insurance += amount
            forfeits.append((key, amount))

    # 6. funding on the positions held before this batch's fills; where the index is
    # trusted its sample is the mark premium in force over dt, the one before the batch
    # (this batch's print moves the mark, step 8, and counts from the next batch on)
    mult = multipliers(config)
    new_ms = []
    funding: dict[str, FundingUpdate] = {}
    deltas = np.zeros(len(state.markets), dtype=np.int64)
    clearing: dict[str, int | None] = {}
    marked: dict[str, tuple[int, int]] = {}
    for j, ms in enumerate(state.market_states):
        mid = ms.market
        mr = batch.markets.get(mid)
        price = mr.price if mr is not None and mr.volume > 0 else None
        clearing[mid] = price
        index = trusted[mid]
        if index is not None:
            risk = config.markets[j]
            marked[mid] = update_mark(
                index, ms.premium, price, risk.mark_band_bps, risk.mark_step_bps
            )
            ms2, upd = update_funding(
                replace(ms, index_price=index, index_time_ms=oracle_round.timestamp_ms),
                risk,
                ms.premium,
                index,
                dt,
            )
        else:  # no trusted index: funding neither samples nor steps
            ms2, upd = ms, FundingUpdate(mid, None, 0, 0, ms.funding_index)
        funding[mid] = upd
        deltas[j] = upd.delta_index
        new_ms.append(ms2)
    collateral = collateral - funding_payments(positions_before, deltas).astype(object)

    # 7. fills and fees (the auction's, then the blocks')
    pending = {lo.resting.order_id: lo.account for lo in state.pending_liquidations}
    routes = subaccounts or {}
    settled: list[SettledFill] = []
    positions = positions_before.copy()
    fee_pool = state.fee_pool
    liq_notional: dict[AccountKey, list[tuple[int, int]]] = {}
    for fill in (*batch.fills(), *block_fills):
        j = config.column(fill.market)
        mr = batch.markets[fill.market]
        if fill.price != mr.price or fill.quantity <= 0:
            raise SettlementError(
                f"fill: expected {fill.market}'s clearing price {mr.price} and positive lots, "
                f"got {fill.quantity} at {fill.price}"
            )
        key, is_liq = _account_of(fill, pending, routes)
        row = state.row(key)
        risk = config.markets[j]
        fee = fill_fee(fill.quantity, fill.price, risk.multiplier, risk.fee_bps)
        positions[row, j] += fill.side.sign * fill.quantity
        collateral[row] -= fill.side.sign * fill.quantity * fill.price * risk.multiplier + fee
        fee_pool += fee
        if is_liq:
            liq_notional.setdefault(key, []).append(
                (j, fill.quantity * fill.price * risk.multiplier)
            )
        settled.append(SettledFill(fill, key, fee, is_liq))

    # 8. marks and circuit breaker
    tripped: list[str] = []
    final_ms = []
    for j, ms in enumerate(new_ms):
        mid = ms.market
        price = clearing[mid]
        risk = config.markets[j]
        last = price or ms.last_price
        mark, premium = ms.mark_price, ms.premium
        if mid in marked:  # trusted: the mark rule's (the next batch's funding sample)
            mark, premium = marked[mid]
        elif not ms.index_price:  # never a trusted index: the last clearing price
            mark = last or ms.mark_price
        # the breaker compares the trusted indexes (before and after the batch): no print
        # and no mark takes part
        brk, trip = update_breaker(
            state.market_states[j], risk, ms.index_price, trusted[mid] is None
        )
        if trip:
            tripped.append(mid)
        final_ms.append(
            replace(
                ms,
                protective=brk.protective,
                calm=brk.calm,
                flagged=brk.flagged,
                mark_price=mark,
                premium=premium,
                last_price=last,
            )
        )
    marks = np.array([ms.mark_price for ms in final_ms], dtype=np.int64)

    # 9. liquidation penalties, never beyond the account's remaining equity
    penalties: list[tuple[AccountKey, int]] = []
    if liq_notional:
        eq_now = collateral + (positions.astype(object) * (marks * mult).astype(object)).sum(axis=1)
        for key in sorted(liq_notional):
            row = state.row(key)
            due = sum(
                -((-n * config.markets[j].liquidation_penalty_bps) // BPS)
                for j, n in liq_notional[key]
            )
            amount = min(due, max(int(eq_now[row]), 0))
            if amount:
                collateral[row] -= amount
                insurance += amount
                penalties.append((key, amount))

    # 10. negative equity
    out_of_range = [r for r, c in enumerate(collateral.tolist()) if abs(c) >= INT64_SAFE]
    if out_of_range:
        r = out_of_range[0]
        k = state.accounts[r]
        raise SettlementError(
            f"collateral: expected below 2^62 in absolute value after batch {batch.batch_id}, "
            f"got {collateral[r]} for {k.address}/{k.subaccount}"
        )
    collateral, positions, insurance, socialised, deficits = cover_deficits(
        state.accounts,
        np.array(collateral.tolist(), dtype=np.int64),
        positions,
        marks,
        insurance,
        config,
        [ms.flagged for ms in final_ms],
    )
    _check_bounds(batch.batch_id, state.accounts, positions, fee_pool, insurance)

    post = replace(
        start,
        collateral=collateral,
        positions=positions,
        fee_pool=fee_pool,
        insurance_fund=insurance,
        socialised_loss=state.socialised_loss + socialised,
        market_states=tuple(final_ms),
        pending_liquidations=(),
        batch_id=batch.batch_id,
        timestamp_ms=oracle_round.timestamp_ms,
    )

    # 11. health and staged liquidations for the next batch
    # judged at the oracle indexes (the mark where a market has no index yet): no auction
    # print, through the mark, can trigger or prevent a liquidation
    index_marks = np.array(
        [ms.index_price or ms.mark_price for ms in post.market_states], dtype=np.int64
    )
    req_index = requirements(post, config, index_marks)
    orders = plan_liquidations(
        post.accounts,
        post.positions,
        equity(post, config, index_marks),
        req_index.initial,
        req_index.maintenance,
        marks,
        post.market_states,
        config,
        batch.batch_id + 1,
    )
    post = replace(post, pending_liquidations=orders)
    # the rests are judged on the state they rest on, its liquidation orders included
    held = [r for r in pre.resting_orders if r.order.market in halted]
    rests = cap_reduce_only(post, config, (*batch.carried, *held), [lo.resting for lo in orders])
    post = replace(post, resting_orders=tuple(check_carried(post, config, rests)))

    # 12. invariants
    check_invariants(pre, post, net_flow)
    witness = BatchWitness(
        batch_id=batch.batch_id,
        oracle_digest=oracle_round.digest(),
        pre_root=pre_root,
        post_root=state_root(post),
        pre=pre,
        post=post,
        fills=tuple(settled),
        readings=readings,
        funding=funding,
        forfeits=tuple(forfeits),
        penalties=tuple(penalties),
        deficits=deficits,
        liquidations=orders,
        deposits=tuple(deposits),
        withdrawals=tuple(withdrawals),
        tripped=tuple(tripped),
        blocks=settled_blocks,
        failed_blocks=failed_blocks,
    )
    return post, witness
