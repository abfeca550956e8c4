"""Staged liquidation, insurance fund, deleveraging, and the circuit breaker.

* An account whose equity at the oracle indexes is below its maintenance
  requirement at the indexes is *liquidating*; the mark does not enter the
  test, so no auction print can trigger or prevent a liquidation. For it,
  settlement emits reduce-only liquidation orders for a slice of its
  positions — enough to bring it back above *initial* margin at the indexes,
  capped per batch — limited to the tighter of mark ∓ ``max_slippage_bps`` and
  index ∓ ``max_slippage_bps``. They enter the
  NEXT batch's auction as carried-in orders, so there is no race to
  liquidate and no liquidation at a single bad print. A liquidation fill pays
  ``liquidation_penalty_bps`` of its notional (never more than the account's
  remaining equity) to the insurance fund.
* Negative equity is covered by the insurance fund. When the fund cannot
  cover it, the rest is handled by :class:`~settlement.params.DeleverageMode`:
  ADL closes the bankrupt account's positions at the mark against the
  opposite positions of the highest-ranked accounts (rank: leverage in that
  market, then equity, then row), which also absorb the shortfall pro rata to
  the notional they took over (remainder units to the first-ranked), never
  beyond their own equity; SOCIALISE — and ADL for what it could not place —
  spreads the shortfall over every account with positive equity pro rata to
  its equity, never beyond it (remainder units one each to the richest);
  SOCIALISE also closes the bankrupt account's positions at the mark against
  the same ranked opposite positions (which it leaves their equity as it was),
  so they are not sold down below the mark in the next batch. What
  no one can cover stays with the bankrupt account. Either way value is
  conserved exactly.
* Circuit breaker: a trusted oracle index more than ``breaker_bps`` away from
  the previous trusted index, or a flagged oracle, puts the market in protective mode
  (a wider band, smaller liquidation slices, and no new liquidation orders on
  a flagged price; batches keep their length, as one batch clock serves every
  market) until ``calm_batches`` calm batches in a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.commitment import address_limbs, limbs, market_code
from sealbatch.auction.markets import MAX_TICKS
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import Address
from sealbatch.crypto.poseidon2 import digest_to_bytes, hash_rows
from sealbatch.settlement.ledger import AccountKey, LiquidationOrder, MarketState, notional_matrix
from sealbatch.settlement.params import BPS, DeleverageMode, MarketRisk, SettlementConfig

__all__ = [
    "LIQUIDATION_DOMAIN",
    "DeficitFlow",
    "cover_deficits",
    "liquidation_id_elements",
    "liquidation_order_id",
    "liquidation_order_ids",
    "liquidation_slice_lots",
    "plan_liquidations",
    "price_band_bps",
    "update_breaker",
]

I64 = npt.NDArray[np.int64]

#: The first element of a liquidation order id's preimage (docs/formats.md "Liquidation
#: order ids"): the commitments' is ``COMMITMENT_DOMAIN``, so no order id of a trader's
#: preimage can be a liquidation order's.
LIQUIDATION_DOMAIN = 0x5EA1_000A


def liquidation_id_elements(batch_id: int, account: AccountKey, market: str) -> list[int]:
    """The 16 field elements whose Poseidon2 sponge is the order id (two rate blocks):
    ``[LIQUIDATION_DOMAIN, batch_id×3, market_code, 0, 0, 0]`` and
    ``[trader×7, subaccount]`` (the batch id as three 24-bit limbs, the trader's address
    as seven, low limb first; the second block is the pending record's second block).

    Raises:
        ValueError: a batch id that is not a uint64, a subaccount not below 2^16, or a
            malformed address.
    """
    if isinstance(batch_id, bool) or not isinstance(batch_id, int) or not 0 <= batch_id < 1 << 64:
        raise ValueError(f"batch_id: expected a uint64, got {batch_id!r}")
    if not 0 <= account.subaccount < 1 << 16:
        raise ValueError(f"subaccount: expected 0 to 65535, got {account.subaccount}")
    return [
        LIQUIDATION_DOMAIN,
        *limbs(batch_id, 3),
        market_code(market),
        0,
        0,
        0,
        *address_limbs(account.address),
        account.subaccount,
    ]


def liquidation_order_id(batch_id: int, account: AccountKey, market: str) -> bytes:
    """``digest_to_bytes(hash_elements(liquidation_id_elements(batch_id, account, market)))``.

    ``batch_id`` is the batch that stages the order (its post-state's batch id; the order
    trades in the next batch, its ``origin_batch``). Deterministic and unique per batch,
    account and market; every 4-byte word is a field element (the id is a Poseidon2
    digest), so the pending record's quotient element is 0, and the batch AIR recomputes
    the id (``batch_air/liq_orders.py``).
    """
    return liquidation_order_ids(batch_id, [(account, market)])[0]


def liquidation_order_ids(batch_id: int, orders: Sequence[tuple[AccountKey, str]]) -> list[bytes]:
    """:func:`liquidation_order_id` of each ``(account, market)``, hashed together (one
    vectorised sponge: thousands of accounts may be liquidated in one batch)."""
    if not orders:
        return []
    rows = np.array(
        [liquidation_id_elements(batch_id, key, market) for key, market in orders],
        dtype=np.uint64,
    )
    return [digest_to_bytes(d) for d in hash_rows(rows)]


def _limit(mark: int, index: int, side: Side, slippage_bps: int) -> int:
    """The tighter of mark ± slippage and index ± slippage (the index where there is
    one): for a buy the lower (rounded down, at most MAX_TICKS), for a sell the higher
    (rounded up, at least 1 tick). A liquidation order thus never trades further than
    ``slippage_bps`` from the oracle index, however far the auction or the mark strays."""
    refs = [mark, index] if index > 0 else [mark]
    if side is Side.BUY:
        return min(MAX_TICKS, *(r * (BPS + slippage_bps) // BPS for r in refs))
    return max(1, *(-((-r * (BPS - slippage_bps)) // BPS) for r in refs))


def plan_liquidations(
    accounts: tuple[AccountKey, ...],
    positions: I64,
    equity: I64,
    initial: I64,
    maintenance: I64,
    marks: I64,
    market_states: tuple[MarketState, ...],
    config: SettlementConfig,
    next_batch: int,
) -> tuple[LiquidationOrder, ...]:
    """Liquidation orders for every account below maintenance, for batch ``next_batch``.

    ``equity``, ``initial`` and ``maintenance`` are the accounts' figures at the oracle
    indexes (the mark where a market has no index yet): an account is liquidated when
    its equity there is below its maintenance requirement there, whatever the auction's
    prints did to the mark — a print can neither trigger a liquidation nor prevent one.

    The slice per account is counted at the same indexes (the mark where a market has
    no index yet), so a print moves neither its size nor its order: markets by
    decreasing notional at the indexes; in each, the lots that release the
    initial-margin shortfall ``initial − equity`` (at the indexes: positive for every
    account below maintenance there) at the market's lowest-tier initial fraction of
    the index (rounded up, so the slice errs on the large side), capped by the
    position, by the per-batch cap (the smaller protective cap in protective mode) and
    by the market's largest order. Accounts with a position in a
    market whose oracle is flagged are skipped (their equity is measured at a doubtful
    price). Each order's limit is the tighter of mark ∓ ``max_slippage_bps`` and index ∓
    ``max_slippage_bps``, its id ``liquidation_order_id(next_batch − 1, account, market)``
    (the staging batch's).
    """
    planned: list[tuple[AccountKey, Order]] = []
    # An account holding a position in a flagged market has its equity measured at a
    # doubtful mark: none of its positions is liquidated on the strength of it.
    flagged = np.array([ms.flagged for ms in market_states], dtype=np.bool_)
    doubtful = (positions[:, flagged] != 0).any(axis=1)
    below = np.flatnonzero((equity < maintenance) & (positions != 0).any(axis=1) & ~doubtful)
    # the price a slice is counted at: the index, the mark where there is no index yet
    refs = [int(ms.index_price) or int(marks[j]) for j, ms in enumerate(market_states)]
    for row in below.tolist():
        shortfall = int(initial[row]) - int(equity[row])
        order_cols = sorted(
            range(positions.shape[1]),
            key=lambda j: (
                -abs(int(positions[row, j]) * refs[j] * config.markets[j].multiplier),
                j,
            ),
        )
        for j in order_cols:
            pos = int(positions[row, j])
            risk = config.markets[j]
            ms = market_states[j]
            if pos == 0 or ms.flagged or marks[j] <= 0 or shortfall <= 0:
                continue
            per_lot = max(1, refs[j] * risk.multiplier * risk.tiers[0].initial_bps // BPS)
            lots = -(-shortfall // per_lot)
            cap = liquidation_slice_lots(ms, risk)
            lots = min(lots, abs(pos), cap, risk.market.max_order_lots)
            side = Side.SELL if pos > 0 else Side.BUY
            order = Order(
                risk.market_id,
                side,
                _limit(int(marks[j]), int(ms.index_price), side, risk.max_slippage_bps),
                lots,
                TimeInForce.IOC,
                reduce_only=True,
            )
            planned.append((accounts[row], order))
            shortfall -= lots * per_lot
    # the id names the batch that stages the order (this one), the order trades in the next
    ids = liquidation_order_ids(next_batch - 1, [(key, o.market) for key, o in planned])
    return tuple(
        LiquidationOrder(key, RestingOrder(oid, Address(key.address), order, next_batch))
        for (key, order), oid in zip(planned, ids, strict=True)
    )


@dataclass(frozen=True)
class DeficitFlow:
    """How one bankrupt account's negative equity was covered.

    Attributes:
        account: the bankrupt account.
        deficit: its negative equity (as a positive amount).
        insurance: the part the insurance fund paid.
        deleveraged: ``(account, market, lots taken over, share of the shortfall)``
            for ADL; ``(account, "", 0, share)`` for socialised loss.
    """

    account: AccountKey
    deficit: int
    insurance: int
    deleveraged: tuple[tuple[AccountKey, str, int, int], ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "address": self.account.address,
            "subaccount": self.account.subaccount,
            "deficit": self.deficit,
            "insurance": self.insurance,
            "deleveraged": [
                {
                    "address": k.address,
                    "subaccount": k.subaccount,
                    "market": m,
                    "lots": q,
                    "share": s,
                }
                for k, m, q, s in self.deleveraged
            ],
        }


def _split(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` pro rata to ``weights`` (floors; the remainder to the first)."""
    wsum = sum(weights)
    shares = [total * w // wsum for w in weights]
    shares[0] += total - sum(shares)
    return shares


def cover_deficits(
    accounts: tuple[AccountKey, ...],
    collateral: I64,
    positions: I64,
    marks: I64,
    insurance_fund: int,
    config: SettlementConfig,
    flagged: Sequence[bool] = (),
) -> tuple[I64, I64, int, int, tuple[DeficitFlow, ...]]:
    """Cover every negative equity: insurance fund first, then ADL or socialised loss.

    An account holding a position in a market whose oracle is ``flagged`` is
    left as it is until the price is trusted again: neither the fund nor other
    accounts pay for a deficit measured at a doubtful mark.

    Returns:
        ``(collateral, positions, insurance_fund, socialised, flows)`` — new
        arrays, the fund left, and the amount socialised in this call.

    Raises:
        SettlementError: a notional at the marks reaches 2^62.
    """
    mult = np.array([r.multiplier for r in config.markets], dtype=np.int64)
    price = marks * mult
    # notional_matrix refuses notionals from 2^62 up (SettlementError): below that,
    # every equity and transfer here is exact in int64
    eq = collateral + notional_matrix(positions, marks, mult).sum(axis=1)
    doubtful = np.zeros(len(eq), dtype=np.bool_)
    for j, flag in enumerate(flagged):
        if flag:
            doubtful |= positions[:, j] != 0
    bankrupt = np.flatnonzero((eq < 0) & ~doubtful)
    if bankrupt.size == 0:
        return collateral, positions, insurance_fund, 0, ()
    collateral = collateral.copy()
    positions = positions.copy()
    socialised = 0
    flows: list[DeficitFlow] = []
    for row in bankrupt.tolist():
        deficit = -int(collateral[row] + (positions[row] * price).sum())
        if deficit <= 0:
            continue
        paid = min(deficit, insurance_fund)
        insurance_fund -= paid
        collateral[row] += paid
        rest = deficit - paid
        moves: list[tuple[AccountKey, str, int, int]] = []
        if rest > 0 and config.deleverage is DeleverageMode.ADL:
            moves = _deleverage(row, rest, accounts, collateral, positions, price, config)
            rest -= sum(s for *_, s in moves)
        elif rest > 0:
            # SOCIALISE closes the bankrupt positions at the mark too (the
            # counterparties' equity is unchanged by it): left open they would be
            # liquidated below the mark, growing the loss the others then share.
            moves = [
                (accounts[r], config.markets[j].market_id, q, 0)
                for r, j, q in _close_at_mark(row, collateral, positions, price)
            ]
        if rest > 0:
            # SOCIALISE, or what ADL could not place (no position left to close
            # against, or counterparties without the equity): spread it over
            # positive equity.
            spread = _socialise(row, rest, accounts, collateral, positions, price)
            socialised += sum(s for *_, s in spread)
            moves = moves + spread
        flows.append(DeficitFlow(accounts[row], deficit, paid, tuple(moves)))
    return collateral, positions, insurance_fund, socialised, tuple(flows)


def _socialise(
    row: int,
    shortfall: int,
    accounts: tuple[AccountKey, ...],
    collateral: I64,
    positions: I64,
    price: I64,
) -> list[tuple[AccountKey, str, int, int]]:
    """Spread ``shortfall`` over every other account's positive equity (in place).

    Each payer pays ``floor(covered × equity / Σ equity)``, the remainder lots
    one each to the richest (ties by row), where ``covered = min(shortfall,
    Σ equity)``: no payer ever pays more than its equity. Whatever the payers
    cannot cover stays with the bankrupt account (the venue is insolvent by
    that much).
    """
    eq_now = collateral.astype(object) + (positions.astype(object) * price.astype(object)).sum(
        axis=1
    )
    eq_now[row] = 0
    payers = sorted(
        (r for r in range(len(eq_now)) if eq_now[r] > 0), key=lambda r: (-int(eq_now[r]), r)
    )
    weights = [int(eq_now[r]) for r in payers]
    covered = min(shortfall, sum(weights))
    if covered <= 0:
        return []
    wsum = sum(weights)
    shares = [covered * w // wsum for w in weights]
    for i in range(covered - sum(shares)):  # fewer than len(payers); covered < wsum here
        shares[i] += 1
    moves = []
    for r, s in zip(payers, shares, strict=True):
        if s:
            collateral[r] -= s
            moves.append((accounts[r], "", 0, s))
    collateral[row] += covered
    return moves


def _close_at_mark(
    row: int, collateral: I64, positions: I64, price: I64
) -> list[tuple[int, int, int]]:
    """Close ``row``'s positions at the mark against ranked opposite positions (in
    place); returns ``(counterparty row, column, lots)`` per counterparty.

    Rank in each market: leverage there (notional / equity), then equity, then
    row; accounts without positive equity come last.
    """
    taken: list[tuple[int, int, int]] = []
    for j in range(positions.shape[1]):
        pos = int(positions[row, j])
        if pos == 0:
            continue
        eq = collateral + (positions * price[None, :]).sum(axis=1)
        opposite = np.flatnonzero(np.sign(positions[:, j]) == -np.sign(pos))
        opposite = opposite[opposite != row]

        def rank(r: int, j: int = j, eq: I64 = eq) -> tuple[int, int, int]:
            e = int(eq[r])
            notional = abs(int(positions[r, j]) * int(price[j]))
            lev = notional * 1_000_000 // e if e > 0 else -1
            return (-lev, -e, r)

        need = abs(pos)
        for r in sorted(opposite.tolist(), key=rank):
            if need == 0:
                break
            q = min(need, abs(int(positions[r, j])))
            s = 1 if pos > 0 else -1  # the bankrupt account sells s×q
            positions[row, j] -= s * q
            positions[r, j] += s * q
            collateral[row] += s * q * int(price[j])
            collateral[r] -= s * q * int(price[j])
            taken.append((r, j, q))
            need -= q
    return taken


def _deleverage(
    row: int,
    shortfall: int,
    accounts: tuple[AccountKey, ...],
    collateral: I64,
    positions: I64,
    price: I64,
    config: SettlementConfig,
) -> list[tuple[AccountKey, str, int, int]]:
    """Close ``row``'s positions at the mark (:func:`_close_at_mark`) and charge the
    counterparties ``shortfall`` pro rata to the notional taken over (in place)."""
    taken = _close_at_mark(row, collateral, positions, price)
    if not taken:
        return []
    weights = [q * int(price[j]) for _, j, q in taken]
    if sum(weights) == 0:
        weights = [1] * len(taken)
    shares = _split(shortfall, weights)
    # No counterparty pays beyond its equity (closing at the mark left it unchanged);
    # the caller spreads what is left over the other accounts.
    room = {
        r: max(
            int(collateral[r])
            + sum(int(positions[r, k]) * int(price[k]) for k in range(positions.shape[1])),
            0,
        )
        for r, _, _ in taken
    }
    for i, (r, _, _) in enumerate(taken):
        shares[i] = min(shares[i], room[r])
        room[r] -= shares[i]
        collateral[r] -= shares[i]
    collateral[row] += sum(shares)
    return [
        (accounts[r], config.markets[j].market_id, q, share)
        for (r, j, q), share in zip(taken, shares, strict=True)
    ]


def update_breaker(
    state: MarketState, risk: MarketRisk, index: int, flagged: bool
) -> tuple[MarketState, bool]:
    """Trip or release the circuit breaker; returns the new state and whether it tripped now.

    ``state`` is the market before the batch (its ``index_price`` the previous
    trusted index ``I``) and ``index`` the index the batch leaves (``I'``: this
    round's trusted index, or ``I`` where the reading is flagged). Trips when
    ``|I' − I| × 10 000 > breaker_bps × I`` (never where the market had no
    trusted index before, ``I = 0``: its first index has nothing to be compared
    with) or the reading is flagged; releases after ``calm_batches`` calm batches
    in a row (batches that do not trip it, traded or not). The clearing price and the
    mark take no part, so a print never decides whether the market trips. The
    returned state keeps ``state``'s index and mark: the caller sets the new ones.
    """
    prev = state.index_price
    moved = bool(prev and abs(index - prev) * BPS > risk.breaker_bps * prev)
    if moved or flagged:
        return replace(state, protective=True, calm=0, flagged=flagged), not state.protective
    if state.protective:
        calm = state.calm + 1
        if calm >= risk.calm_batches:
            return replace(state, protective=False, calm=0, flagged=False), False
        return replace(state, calm=calm, flagged=False), False
    return replace(state, flagged=False), False


def liquidation_slice_lots(state: MarketState, risk: MarketRisk) -> int:
    """The largest liquidation slice per account per batch in this market (smaller in
    protective mode)."""
    return risk.protective_liquidation_lots if state.protective else risk.max_liquidation_lots


def price_band_bps(state: MarketState, risk: MarketRisk) -> int:
    """The price band the venue should use for this market (wider in protective mode)."""
    return (
        max(risk.market.band_bps, risk.protective_band_bps)
        if state.protective
        else risk.market.band_bps
    )
