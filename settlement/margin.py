"""Margin: tiered cross margin, portfolio (stress-scenario) margin, the reveal-time check.

Cross margin (per subaccount): each position needs ``|notional| × fraction``
(rounded up), the fraction taken from the market's tier for the position's
size; the account's requirement is the sum over markets.

Portfolio margin, in the spirit of SPAN: the initial requirement is the worst
loss of the account over a set of joint price scenarios (each market in turn
moves by ± its ``shock_bps``, and every other market moves with it by
``ρ × shock`` or by only ``(2ρ − 1) × shock``, the weaker co-move where a
hedge partly breaks; plus all markets together by ± their shock), never
below ``portfolio_floor_bps`` of the gross notional. The maintenance
requirement is ``portfolio_maintenance_bps`` of the initial one. Losses are
rounded up (against the account).

An account is *healthy* while ``equity ≥ maintenance``; orders are taken only
while the account stays at or above *initial* margin at the order's limit
price (:class:`RevealMarginCheck`, the commit book's ``reveal_check``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.bounds import MAX_POSITION
from sealbatch.auction.markets import MAX_TICKS
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.errors import (
    InsufficientMargin,
    MarketFlagged,
    PositionLimit,
    ReduceOnlyViolation,
    SettlementError,
)
from sealbatch.settlement.ledger import (
    AccountKey,
    LedgerState,
    check_not_frozen,
    equity,
    fill_fee,
    multipliers,
    notional_matrix,
)
from sealbatch.settlement.liquidation import price_band_bps
from sealbatch.settlement.params import BPS, SettlementConfig

__all__ = [
    "Requirements",
    "RevealMarginCheck",
    "cap_reduce_only",
    "check_carried",
    "cross_requirements",
    "free_collateral",
    "portfolio_requirements",
    "requirements",
    "stress_scenarios",
    "tier_fractions",
]

I64 = npt.NDArray[np.int64]
_SAFE = 1 << 63


@dataclass(frozen=True)
class Requirements:
    """Initial and maintenance requirement per account, base units."""

    initial: I64
    maintenance: I64


def _ceil_div(a: npt.NDArray[np.int64] | npt.NDArray[np.object_], b: int) -> I64:
    return np.asarray(-((-a) // b)).astype(np.int64)


def _mul_ceil_bps(a: I64, bps: I64) -> I64:
    """``ceil(a × bps / 10 000)`` elementwise, exact even when ``a × bps`` leaves int64."""
    peak = int(np.abs(a).max()) if a.size else 0
    if peak * BPS < _SAFE:
        return _ceil_div(a * bps, BPS)
    return _ceil_div(a.astype(object) * bps.astype(object), BPS)


def tier_fractions(risk_tiers: tuple[tuple[int, int, int], ...], size: I64) -> tuple[I64, I64]:
    """Initial and maintenance bps for each absolute position ``size`` (lots).

    Args:
        risk_tiers: ``(max_lots, initial_bps, maintenance_bps)`` in increasing order.
        size: ``(n,)`` absolute positions.
    """
    bounds = np.array([t[0] for t in risk_tiers], dtype=np.int64)
    idx = np.searchsorted(bounds, size, side="left")
    idx = np.minimum(idx, len(risk_tiers) - 1)
    im = np.array([t[1] for t in risk_tiers], dtype=np.int64)[idx]
    mm = np.array([t[2] for t in risk_tiers], dtype=np.int64)[idx]
    return im, mm


def _tiers(config: SettlementConfig, j: int) -> tuple[tuple[int, int, int], ...]:
    return tuple((t.max_lots, t.initial_bps, t.maintenance_bps) for t in config.markets[j].tiers)


def cross_requirements(positions: I64, marks: I64, config: SettlementConfig) -> Requirements:
    """Tiered cross-margin requirements of every account (see module docstring)."""
    n, m = positions.shape
    notional = np.abs(notional_matrix(positions, marks, multipliers(config)))
    initial = np.zeros(n, dtype=np.int64)
    maintenance = np.zeros(n, dtype=np.int64)
    for j in range(m):
        im, mm = tier_fractions(_tiers(config, j), np.abs(positions[:, j]))
        initial += _mul_ceil_bps(notional[:, j], im)
        maintenance += _mul_ceil_bps(notional[:, j], mm)
    return Requirements(initial, maintenance)


def _away(a: int, b: int) -> int:
    """``a / b`` rounded away from zero (``b > 0``)."""
    q = -(-abs(a) // b)
    return q if a >= 0 else -q


def stress_scenarios(config: SettlementConfig) -> I64:
    """The ``(k, m)`` price moves in bps of the portfolio stress scenarios.

    For each lead market ``i`` and direction ``d = ±1``: market ``i`` moves
    ``d × shock_i``; each other market ``j`` moves ``d × ρ_ij × shock_j``
    (co-move) in one scenario and ``d × (2ρ_ij − 1) × shock_j`` (a weaker
    co-move: the hedge partly breaks) in another; ρ = 1 gives one joint move,
    ρ = 0 a move alone and an opposite move. Plus all markets moving
    ``± shock`` together. Moves round away from zero, alike up and down (no
    co-move is smaller than the exact one; they rounded toward −∞ before, which
    shrank every upward co-move).
    """
    m = len(config.markets)
    shocks = [r.shock_bps for r in config.markets]
    rows: list[list[int]] = []
    for d in (1, -1):
        rows.append([d * s for s in shocks])
        for i in range(m):
            for breaks in (False, True):
                row = []
                for j in range(m):
                    rho = config.correlation_bps[i][j]
                    if j == i:
                        row.append(d * shocks[j])
                    elif breaks:
                        row.append(d * _away((2 * rho - BPS) * shocks[j], BPS))
                    else:
                        row.append(d * _away(rho * shocks[j], BPS))
                rows.append(row)
    unique = sorted({tuple(r) for r in rows})
    return np.array(unique, dtype=np.int64).reshape(len(unique), m)


def portfolio_requirements(positions: I64, marks: I64, config: SettlementConfig) -> Requirements:
    """Portfolio-margin requirements: worst stress loss, floored (see module docstring)."""
    notional = notional_matrix(positions, marks, multipliers(config))
    moves = stress_scenarios(config)  # (k, m)
    gross = np.abs(notional).sum(axis=1)
    peak = int(gross.max()) if gross.size else 0
    if peak * BPS < _SAFE:
        pnl = notional @ moves.T  # (n, k), × BPS
        worst = _ceil_div(-pnl.min(axis=1), BPS) if moves.size else np.zeros(len(gross), np.int64)
    else:
        pnl_o = notional.astype(object) @ moves.T.astype(object)
        worst = _ceil_div(-pnl_o.min(axis=1), BPS)
    floor = _mul_ceil_bps(gross, np.full(len(gross), config.portfolio_floor_bps, dtype=np.int64))
    initial = np.maximum(np.maximum(worst, floor), 0)
    maintenance = _mul_ceil_bps(
        initial, np.full(len(initial), config.portfolio_maintenance_bps, dtype=np.int64)
    )
    return Requirements(initial, maintenance)


def requirements(
    state: LedgerState, config: SettlementConfig, marks: I64 | None = None
) -> Requirements:
    """Each account's requirements: portfolio margin where chosen, cross margin elsewhere."""
    marks = state.mark_prices() if marks is None else marks
    cross = cross_requirements(state.positions, marks, config)
    if not state.portfolio.any():
        return cross
    port = portfolio_requirements(state.positions, marks, config)
    pick = state.portfolio
    return Requirements(
        np.where(pick, port.initial, cross.initial),
        np.where(pick, port.maintenance, cross.maintenance),
    )


def free_collateral(state: LedgerState, config: SettlementConfig) -> I64:
    """What each account may withdraw: ``max(0, equity − initial requirement)``."""
    req = requirements(state, config)
    return np.maximum(equity(state, config) - req.initial, 0)


@dataclass
class _Book:
    """One account's orders taken in this batch, summarised for the worst case.

    ``buys`` / ``sells``: lots per market that may fill; ``worst``: the sum over
    those orders of ``min(0, pnl at the limit against the mark) − fee at the limit``;
    ``top``: the highest price per market among them (stands in for a missing mark).
    """

    buys: list[int]
    sells: list[int]
    worst: int
    top: list[int]


@dataclass
class RevealMarginCheck:
    """The initial-margin check at reveal, usable as ``CommitBook(reveal_check=...)``.

    The account's orders taken in this batch (plus its pending liquidation
    orders) may fill in any combination, in part or in full, so an order is
    judged on the worst case over all of them, never on all of them filling
    together (orders on opposite sides must not lean on each other):

    * positions: in each market the position may end anywhere between
      ``current − sells`` and ``current + buys``; the requirement is the largest
      one over that box (cross margin grows with ``|position|``, portfolio margin
      is convex, so the corners suffice);
    * equity: the current equity at the mark plus, for every order, its loss at
      its limit against the mark (a gain is not counted: a resting bid below the
      mark may never fill) and its fee at the limit (a market order at the worse
      of the mark ± the maximum slippage and the edge of the price band).

    An order is taken when that worst-case equity covers the worst-case initial
    requirement, or — an order that adds no risk, e.g. one that closes a position
    of an account already below initial margin — when it does not raise the
    worst-case initial requirement, the worst-case equity still covers the
    worst-case maintenance requirement, and it cannot take its market's position
    through zero (selling 200 lots of a 100-lot long keeps the requirement of 100
    lots but opens a short the account's equity does not margin). Otherwise
    :class:`InsufficientMargin`.

    While a market's oracle is flagged (after it had a trusted index) only
    reduce-only orders are taken in it, and from an account holding a position
    in it: anything else would be margined at a mark the oracle no longer
    vouches for (:class:`MarketFlagged`).

    A reduce-only order that reduces the current position is taken unless its
    worst case (its loss at the limit against the mark and its fee, with the
    account's other orders) leaves negative equity (:class:`InsufficientMargin`:
    closed at a limit far from the mark against a sibling account, the loss
    beyond the equity was the insurance fund's or the other traders'); one
    that would open, increase or flip it — counting the account's reduce-only
    orders already taken in this batch and its pending liquidation orders — is
    refused with :class:`ReduceOnlyViolation`. Markets without a mark yet use
    the highest price among the account's orders there as the mark. An order
    whose notional would leave the exact int64 range is refused
    (:class:`InsufficientMargin`), and so is one that, with the account's
    other orders on its side, could take the position to 2^22 lots or beyond
    (:class:`PositionLimit`, :data:`sealbatch.auction.bounds.MAX_POSITION`).

    Args:
        state: the ledger before the batch.
        config: the rules.
        subaccounts: optional trader → subaccount routing (default 0).
        resting: the GTC orders carried into this batch (after
            :func:`check_carried`); they count like orders already taken. The
            liquidation orders come from ``state`` and must not be passed here.
    """

    state: LedgerState
    config: SettlementConfig
    subaccounts: Mapping[str, int] = field(default_factory=dict)
    resting: Sequence[RestingOrder] = ()
    _pending: dict[AccountKey, _Book] = field(default_factory=dict, init=False)
    _reducing: dict[tuple[AccountKey, int], int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for lo in self.state.pending_liquidations:
            slot = (lo.account, self.config.column(lo.resting.order.market))
            self._reducing[slot] = self._reducing.get(slot, 0) + lo.resting.order.quantity
        for r in self.resting:  # carried GTC orders: they may fill in this batch too
            key = AccountKey(r.trader, self.subaccounts.get(r.trader, 0))
            if not self.state.has(key):
                continue
            self._pending[key] = self._add(self._book(key), r.order, self._price(r.order))
            if r.order.reduce_only:
                slot = (key, self.config.column(r.order.market))
                self._reducing[slot] = self._reducing.get(slot, 0) + r.order.quantity

    def check_together(self, orders: Sequence[tuple[Address, Order]]) -> None:
        """Take several orders as one (both sides of a block trade), or none.

        Raises:
            InsufficientMargin, ReduceOnlyViolation: as for one order; then
                nothing of ``orders`` is recorded.
        """
        saved = dict(self._pending), dict(self._reducing)
        try:
            for trader, order in orders:
                self(trader, order)
        except (InsufficientMargin, MarketFlagged, PositionLimit, ReduceOnlyViolation):
            self._pending, self._reducing = saved
            raise

    def fits_together(self, orders: Sequence[tuple[Address, Order]]) -> bool:
        """Whether :meth:`check_together` would take ``orders`` now; records nothing."""
        saved = dict(self._pending), dict(self._reducing)
        try:
            for trader, order in orders:
                self(trader, order)
        except (InsufficientMargin, MarketFlagged, PositionLimit, ReduceOnlyViolation):
            return False
        finally:
            self._pending, self._reducing = saved
        return True

    def _book(self, key: AccountKey) -> _Book:
        book = self._pending.get(key)
        if book is None:
            m = len(self.config.markets)
            book = _Book([0] * m, [0] * m, 0, [0] * m)
            for lo in self.state.pending_liquidations:
                if lo.account == key:
                    book = self._add(book, lo.resting.order, self._price(lo.resting.order))
        return book

    def _price(self, order: Order) -> int:
        """The order's limit; for a market order the worse of the mark ± the maximum
        slippage and the edge of the price band (the wider protective band in
        protective mode) around the reference the batch clears around, the mark
        (:func:`sealbatch.settlement.transition.reference_prices`): a market order may
        fill anywhere in the band. Around the last clearing price instead, a thin
        print below the mark hid the top of the band from a market buy."""
        if order.limit_price is not None:
            return order.limit_price
        j = self.config.column(order.market)
        ms = self.state.market_states[j]
        risk = self.config.markets[j]
        mark = int(ms.mark_price)
        if mark <= 0:
            raise InsufficientMargin(
                f"expected a limit price in {order.market} before its first mark, "
                "got a market order"
            )
        slip = mark * risk.max_slippage_bps // BPS
        band = price_band_bps(ms, risk)
        ref = mark  # the clearing reference: the band of the batch is around it
        if order.side is Side.BUY:
            edge = min(MAX_TICKS, ref * (BPS + band) // BPS) if ref and band else 0
            return max(mark + slip, edge)
        edge = max(1, -((-ref * (BPS - band)) // BPS)) if ref and band else mark
        return max(1, min(mark - slip, edge))

    def _add(self, book: _Book, order: Order, price: int) -> _Book:
        j = self.config.column(order.market)
        risk = self.config.markets[j]
        mark = int(self.state.market_states[j].mark_price)
        sign = order.side.sign
        pnl = sign * order.quantity * (mark - price) * risk.multiplier if mark > 0 else 0
        fee = fill_fee(order.quantity, price, risk.multiplier, risk.fee_bps)
        buys, sells, top = list(book.buys), list(book.sells), list(book.top)
        if sign > 0:
            buys[j] += order.quantity
        else:
            sells[j] += order.quantity
        top[j] = max(top[j], price)
        return _Book(buys, sells, book.worst + min(0, pnl) - fee, top)

    def _worst(self, row: int, book: _Book) -> tuple[int, int, int]:
        """Worst-case equity, initial and maintenance requirement of ``row`` with ``book``."""
        marks = self.state.mark_prices().copy()
        marks[marks <= 0] = np.array(book.top, dtype=np.int64)[marks <= 0]
        current = [int(p) for p in self.state.positions[row]]
        ends = [
            (p - s, p + b) if b or s else (p,)
            for p, b, s in zip(current, book.buys, book.sells, strict=True)
        ]
        if self.state.portfolio[row]:
            corners = np.array(list(itertools.product(*ends)), dtype=np.int64)
            req = portfolio_requirements(corners, marks, self.config)
        else:  # separable and growing with |position|: the larger end of each market
            corner = [max(e, key=abs) for e in ends]
            req = cross_requirements(np.array([corner], dtype=np.int64), marks, self.config)
        cash = int(self.state.collateral[row])
        held = sum(
            p * int(mk) * r.multiplier
            for p, mk, r in zip(current, marks.tolist(), self.config.markets, strict=True)
        )
        return cash + held + book.worst, int(req.initial.max()), int(req.maintenance.max())

    def headroom(self, trader: Address) -> int:
        """What ``trader`` may still withdraw without breaking this check: worst-case
        equity minus worst-case initial requirement over the orders taken so far (the
        resting and liquidation orders included), at least 0.

        A withdrawal settled with the batch comes out before its fills, so the venue
        should refuse one above ``min(free collateral, headroom)``.
        """
        key = AccountKey(trader, self.subaccounts.get(trader, 0))
        if not self.state.has(key):
            return 0
        row = self.state.row(key)
        eq, need, _ = self._worst(row, self._book(key))
        return max(0, eq - need)

    def __call__(self, trader: Address, order: Order) -> None:
        key = AccountKey(trader, self.subaccounts.get(trader, 0))
        if not self.state.has(key):
            raise InsufficientMargin(f"expected an account with collateral, got none for {trader}")
        row = self.state.row(key)
        j = self.config.column(order.market)
        sign = order.side.sign
        current = int(self.state.positions[row, j])
        if not order.reduce_only:
            ms = self.state.market_states[j]
            if ms.frozen:
                raise MarketFlagged(
                    f"{order.market}: expected a reduce-only order while its oracle is "
                    f"flagged, got a {order.side.value} of {order.quantity}"
                )
            check_not_frozen(self.state, row, "order")
        if order.reduce_only:
            # Only the part of the position not already claimed by this account's
            # reduce-only orders in this batch may still be reduced.
            reducible = max(-current * sign, 0) - self._reducing.get((key, j), 0)
            if order.quantity > reducible:
                raise ReduceOnlyViolation(
                    f"reduce_only: expected at most {max(reducible, 0)} lots against the "
                    f"{current:+d}-lot position in {order.market}, got a {order.side.value} "
                    f"of {order.quantity}"
                )
        price = self._price(order)
        before = self._book(key)
        after = self._add(before, order, price)
        low, high = current - after.sells[j], current + after.buys[j]
        if max(-low, high) > MAX_POSITION:
            raise PositionLimit(
                f"quantity: expected a position of at most {MAX_POSITION} lots (below 2^22) "
                f"in {order.market} if every order fills, got {current:+d} with "
                f"{after.buys[j]} bought and {after.sells[j]} sold: {order.quantity} lots "
                "too many"
            )
        try:
            eq_after, need_after, maint_after = self._worst(row, after)
            _, need_before, _ = self._worst(row, before)
        except SettlementError as exc:
            raise InsufficientMargin(
                f"quantity: expected a notional below 2^62 in {order.market}, got "
                f"{order.quantity} lots at {price} ticks ({exc})"
            ) from None
        # Through zero the order opens a position on the other side: that is new risk
        # even where the requirement of the flipped position is no larger.
        flips = low < 0 if current > 0 else high > 0 if current < 0 else False
        if order.reduce_only:
            if eq_after < 0:
                # Its loss at the limit would be the insurance fund's (or the other
                # traders'): a limit far from the mark hands a sibling account the rest.
                raise InsufficientMargin(
                    f"limit_price: expected a reduce-only order whose loss at its limit and "
                    f"fee leave the account's equity at least 0 in the worst case, got "
                    f"{eq_after} at {price} ticks in {order.market}"
                )
            self._reducing[(key, j)] = self._reducing.get((key, j), 0) + order.quantity
        elif eq_after < need_after and (
            flips or not (need_after <= need_before and eq_after >= maint_after)
        ):
            raise InsufficientMargin(
                f"expected equity of at least the initial requirement {need_after} in the "
                f"worst case after the order, got {eq_after}"
                + (
                    f" (below initial margin an order may reduce the {current:+d}-lot "
                    f"position in {order.market}, not take it through zero)"
                    if flips
                    else ""
                )
            )
        self._pending[key] = after


def cap_reduce_only(
    state: LedgerState,
    config: SettlementConfig,
    orders: Iterable[RestingOrder],
    reserved: Iterable[RestingOrder] = (),
    subaccounts: Mapping[str, int] | None = None,
) -> list[RestingOrder]:
    """Shrink or drop resting reduce-only orders so that none can open, increase or flip a position.

    Run between batches on the GTC remainders carried into the next batch: the
    position an order was revealed against may have shrunk since. Orders in
    ``reserved`` (the liquidation orders, which are reduce-only and sized from
    the same state) claim their quantity first; then ``orders`` are served in
    the given order. Orders that are not reduce-only pass unchanged.

    Args:
        state: the ledger after the batch just settled.
        config: the rules (market columns).
        orders: resting orders to carry into the next batch.
        reserved: reduce-only orders that take precedence.
        subaccounts: optional trader → subaccount routing (default 0).

    Returns:
        The orders to carry, in their given order, reduce-only ones capped.
    """
    routing = subaccounts or {}
    claimed: dict[tuple[AccountKey, int], int] = {}

    def reducible(r: RestingOrder) -> tuple[tuple[AccountKey, int], int]:
        key = AccountKey(r.trader, routing.get(r.trader, 0))
        j = config.column(r.order.market)
        current = int(state.positions[state.row(key), j]) if state.has(key) else 0
        slot = (key, j)
        return slot, max(-current * r.order.side.sign, 0) - claimed.get(slot, 0)

    for r in reserved:
        slot, _ = reducible(r)
        claimed[slot] = claimed.get(slot, 0) + r.order.quantity
    out: list[RestingOrder] = []
    for r in orders:
        if not r.order.reduce_only:
            out.append(r)
            continue
        slot, room = reducible(r)
        quantity = min(r.order.quantity, room)
        if quantity <= 0:
            continue
        claimed[slot] = claimed.get(slot, 0) + quantity
        if quantity != r.order.quantity:
            r = RestingOrder(r.order_id, r.trader, r.order.with_quantity(quantity), r.origin_batch)
        out.append(r)
    return out


def check_carried(
    state: LedgerState,
    config: SettlementConfig,
    orders: Iterable[RestingOrder],
    subaccounts: Mapping[str, int] | None = None,
) -> list[RestingOrder]:
    """Drop carried GTC orders that no longer pass the reveal-time check on ``state``.

    Run between batches after :func:`cap_reduce_only`: an order was checked
    against the ledger of the batch it was revealed in, and the account may
    since have lost equity, withdrawn collateral or grown its position. The
    orders are judged in the given order, together (as
    :class:`RevealMarginCheck` judges one batch's reveals, the account's
    pending liquidation orders included); an order that fails is cancelled.

    Returns:
        The orders that still pass, in their given order.
    """
    check = RevealMarginCheck(state, config, dict(subaccounts or {}))
    out: list[RestingOrder] = []
    for r in orders:
        try:
            check(r.trader, r.order)
        except (InsufficientMargin, MarketFlagged, PositionLimit, ReduceOnlyViolation):
            continue
        out.append(r)
    return out
