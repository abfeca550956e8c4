"""The venue's one door into the settlement layer (ledger, margin, funding).

The operator talks to settlement only through :class:`SettlementEngine`:
the initial-margin check on every matching reveal, deposits, oracle
reports, applying a cleared batch (fills, block trades, forfeited bonds,
funding, liquidations) and account / market views. :class:`LedgerSettlement`
runs the real ledger (:func:`sealbatch.settlement.transition.apply_batch`); it is
deterministic in the sequence of calls, so replaying the venue's log
rebuilds it exactly.

Block trades (RFQ) settle as two fills at the batch's clearing price plus a
zero-sum collateral transfer of ``(block price − clearing price) × lots ×
multiplier`` from buyer to seller, applied just before the batch's
transition: economically a trade at the block price. A block in a market
that did not trade in its batch (no clearing price) fails with
``no_clearing_price``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sealbatch.auction.batch import BatchResult, Fill, RestingOrder
from sealbatch.auction.commit_reveal import Commit
from sealbatch.auction.markets import Market
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address, address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.errors import (
    InsufficientBond,
    InsufficientCollateral,
    InsufficientMargin,
    ReduceOnlyViolation,
    SettlementError,
)
from sealbatch.settlement.ledger import (
    AccountKey,
    LedgerState,
    deposit,
    empty_state,
    equity,
    open_account,
    withdraw,
)
from sealbatch.settlement.liquidation import batch_length_factor, price_band_bps
from sealbatch.settlement.margin import (
    RevealMarginCheck,
    cap_reduce_only,
    check_carried,
    cross_requirements,
    free_collateral,
    requirements,
)
from sealbatch.settlement.oracle import OracleConfig, OracleRound, OracleSource, SignedReport
from sealbatch.settlement.params import SettlementConfig, default_config
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.transition import apply_batch
from sealbatch.venue.errors import BadRequest
from sealbatch.venue.rfq import Acceptance

__all__ = [
    "DEV_ORACLE_FAMILIES",
    "LedgerSettlement",
    "SettleOutcome",
    "SettlementEngine",
    "dev_oracle_keys",
    "make_settlement_engine",
]

#: Families of the embedded development oracle's four sources (two each).
DEV_ORACLE_FAMILIES = ("alpha", "alpha", "beta", "beta")

#: The least an unrevealed commitment forfeits by default: 1 USDC (6 decimals).
DEFAULT_MIN_BOND = 1_000_000


def dev_oracle_keys() -> list[bytes]:
    """Keys of the embedded development oracle: ``keccak("sealbatch dev oracle", i)``.

    Public by design (like the default operator key); configure real sources
    with ``SEALBATCH_ORACLE_SOURCES`` for anything of value.
    """
    return [keccak256(b"sealbatch dev oracle", bytes([i])) for i in range(4)]


@dataclass(frozen=True)
class SettleOutcome:
    """What settling a batch produced: a JSON summary and the blocks refused."""

    summary: dict[str, Any] | None
    failed_blocks: Mapping[bytes, str]


class SettlementEngine(Protocol):
    """What the operator needs from sealbatch.settlement."""

    name: str

    def reveal_check(self, batch_id: int, trader: Address, order: Order) -> None:
        """Raise an ``AuctionError`` (InsufficientMargin) to refuse a reveal."""
        ...

    def commit_check(self, batch_id: int, trader: Address, commit: Commit) -> None:
        """Raise ``InsufficientBond`` unless the trader's free collateral covers the
        bonds of its commitments in open batches, this one included; otherwise
        reserve this commitment's bond until its batch settles."""
        ...

    def deposit(self, trader: Address, amount: int, at_ms: int) -> None: ...

    def withdraw(self, trader: Address, amount: int, at_ms: int) -> None:
        """Debit free collateral with the next batch; raises InsufficientCollateral."""
        ...

    def block_check(self, block: Acceptance) -> None:
        """Raise InsufficientMargin if either side cannot carry the block."""
        ...

    def fits(self, batch_id: int, trader: Address, order: Order) -> bool:
        """Whether ``order`` would pass ``batch_id``'s margin check now (records nothing)."""
        ...

    def oracle_report(self, report: SignedReport, at_ms: int) -> None: ...

    def has_pending(self) -> bool:
        """Deposits or liquidation orders wait for the next batch."""
        ...

    def carried_in(self) -> list[RestingOrder]:
        """Liquidation orders that enter the next batch."""
        ...

    def carry(self, orders: Sequence[RestingOrder]) -> list[RestingOrder]:
        """The GTC remainders that may rest into the next batch, reduce-only ones
        capped so that they can never open, increase or flip a position."""
        ...

    def settle(
        self, result: BatchResult, blocks: Sequence[Acceptance], at_ms: int
    ) -> SettleOutcome: ...

    def account(self, trader: Address) -> dict[str, Any]: ...

    def band_bps(self, market: str) -> int:
        """The price band the venue should use now (wider in protective mode)."""
        ...

    def market_state(self, market: str) -> dict[str, Any]: ...


class LedgerSettlement:
    """The settlement ledger behind the venue.

    Args:
        markets: the venue's markets.
        oracle: trusted oracle sources (default: the development oracle).
        config: settlement rules (default: :func:`sealbatch.settlement.params.default_config`
            with ``forfeit_bond = min_bond``).
        min_bond: the least an unrevealed commitment forfeits, in collateral base
            units (default 1 USDC); ignored when ``config`` is given.
    """

    name = "ledger"

    def __init__(
        self,
        markets: Mapping[str, Market],
        oracle: OracleConfig | None = None,
        config: SettlementConfig | None = None,
        min_bond: int = DEFAULT_MIN_BOND,
    ) -> None:
        self.config = config or dataclasses.replace(
            default_config(dict(markets)), forfeit_bond=min_bond
        )
        self.oracle = oracle or OracleConfig(
            tuple(
                OracleSource(address_of(k), f)
                for k, f in zip(dev_oracle_keys(), DEV_ORACLE_FAMILIES, strict=True)
            )
        )
        self.state: LedgerState = empty_state(self.config)
        self.pending_deposits: list[tuple[AccountKey, int]] = []
        self.pending_withdrawals: list[tuple[AccountKey, int]] = []
        self.reports: dict[tuple[str, str], SignedReport] = {}
        self._checks: dict[int, RevealMarginCheck] = {}
        self._resting: list[RestingOrder] = []  # GTC orders carried into the next batch
        self._taken: dict[int, list[tuple[Address, Order]]] = {}  # batch -> orders taken
        self._bonds: dict[int, dict[Address, int]] = {}  # batch -> trader -> bonds at stake
        self._cache: tuple[tuple[LedgerState, int, int], LedgerState, np.ndarray | None] | None = (
            None
        )
        self.last_summary: dict[str, Any] | None = None
        self._round = 0

    # ------------------------------------------------------------ inputs

    def _pending_key(self) -> tuple[LedgerState, int, int]:
        # The ledger object itself, compared by identity: holding it keeps its id
        # from being reused by a later ledger.
        return self.state, len(self.pending_deposits), len(self.pending_withdrawals)

    def _cache_fresh(self) -> bool:
        if self._cache is None:
            return False
        (state, deposits, withdrawals), _, _ = self._cache
        return (
            state is self.state
            and deposits == len(self.pending_deposits)
            and withdrawals == len(self.pending_withdrawals)
        )

    def _check_state(self) -> LedgerState:
        """The ledger with pending deposits, then pending withdrawals, applied
        (the order :func:`apply_batch` applies them in). Cached until the ledger
        or the pending lists change: every commitment's bond check reads it."""
        if self._cache is None or not self._cache_fresh():
            state = self.state
            for account, amount in self.pending_deposits:
                state = deposit(state, account, amount)
            for account, amount in self.pending_withdrawals:
                state = withdraw(state, account, amount, self.config)
            self._cache = (self._pending_key(), state, None)
        return self._cache[1]

    def _free_collateral(self, trader: Address) -> int:
        """Free collateral of ``trader`` on :meth:`_check_state` (cached per ledger)."""
        state = self._check_state()
        assert self._cache is not None  # set by _check_state
        key, _, free = self._cache
        if free is None:
            free = free_collateral(state, self.config)
            self._cache = (key, state, free)
        account = AccountKey(trader, 0)
        return int(free[state.row(account)]) if state.has(account) else 0

    def bond_of(self, commit: Commit) -> int:
        """What an unrevealed ``commit`` forfeits: its own bond, at least the minimum."""
        return max(commit.bond, self.config.forfeit_bond)

    def commit_check(self, batch_id: int, trader: Address, commit: Commit) -> None:
        at_stake = sum(bonds.get(trader, 0) for bonds in self._bonds.values())
        need = at_stake + self.bond_of(commit)
        free = self._free_collateral(trader)
        if free < need:
            raise InsufficientBond(
                f"bond: expected free collateral of at least {need} (this commitment's bond "
                f"{self.bond_of(commit)} plus {at_stake} at stake in open batches), got {free}"
            )
        bonds = self._bonds.setdefault(batch_id, {})
        bonds[trader] = bonds.get(trader, 0) + self.bond_of(commit)

    def _fresh_check(self, batch_id: int) -> RevealMarginCheck:
        """A margin check of ``batch_id`` on the ledger as it stands now (deposits
        credited, GTC rests counted), with the orders already taken for the batch."""
        check = RevealMarginCheck(self._check_state(), self.config, resting=self._resting)
        for trader, order in self._taken.get(batch_id, ()):
            # Taken earlier on an older ledger (a block accepted before the previous
            # batch settled): it still counts, even if it no longer fits.
            with contextlib.suppress(InsufficientMargin, ReduceOnlyViolation):
                check(trader, order)
        return check

    def reveal_check(self, batch_id: int, trader: Address, order: Order) -> None:
        check = self._checks.get(batch_id)
        if check is None:
            # Built when the batch starts revealing: its predecessor has settled.
            check = self._checks[batch_id] = self._fresh_check(batch_id)
        check(trader, order)
        self._taken.setdefault(batch_id, []).append((trader, order))

    def block_check(self, block: Acceptance) -> None:
        """Initial margin of both sides for the whole block at its price, together
        with the orders already taken for the batch the block settles in."""
        orders = [
            (block.buyer, Order(block.market, Side.BUY, block.price, block.quantity)),
            (block.seller, Order(block.market, Side.SELL, block.price, block.quantity)),
        ]
        check = self._checks.get(block.batch_id) or self._fresh_check(block.batch_id)
        check.check_together(orders)
        self._taken.setdefault(block.batch_id, []).extend(orders)

    def fits(self, batch_id: int, trader: Address, order: Order) -> bool:
        """Whether ``order`` would pass ``batch_id``'s margin check now, with the
        orders already taken for it; records nothing."""
        try:
            self._fresh_check(batch_id)(trader, order)
        except (InsufficientMargin, ReduceOnlyViolation):
            return False
        return True

    def deposit(self, trader: Address, amount: int, at_ms: int) -> None:
        key = AccountKey(trader, 0)
        try:
            after = deposit(self._check_state(), key, amount)  # validates amount, 2^62 cap
        except SettlementError as exc:
            raise BadRequest(f"deposit: {exc}") from exc
        self.pending_deposits.append((key, amount))
        # Deposits and withdrawals only add to and take from collateral, so the
        # ledger with this deposit last equals the one with deposits first.
        self._cache = (self._pending_key(), after, None)
        self._rebase_checks(after)

    def _rebase_checks(self, state: LedgerState) -> None:
        """Let the margin checks of batches already revealing see ``state`` (a
        deposit or withdrawal just made): the orders they took are judged on
        marks and limits, which a change of collateral leaves as they are."""
        for check in self._checks.values():
            check.state = state

    def withdraw(self, trader: Address, amount: int, at_ms: int) -> None:
        """Raises InsufficientCollateral or UnknownAccount (nothing changes).

        Beyond free collateral, the amount must leave the trader's orders still
        to settle (blocks accepted for an open batch, carried GTC rests) covered
        in the worst case: at most ``RevealMarginCheck.headroom`` of every open
        batch the trader has such orders in."""
        key = AccountKey(trader, 0)
        after = withdraw(self._check_state(), key, amount, self.config)
        batches = [b for b, taken in self._taken.items() if any(t == trader for t, _ in taken)]
        if any(r.trader == trader for r in self._resting):
            batches.append(-1)  # no batch taken yet: a check counting the rests alone
        for b in batches:
            room = self._fresh_check(b).headroom(trader)
            if amount > room:
                raise InsufficientCollateral(
                    f"expected a withdrawal of at most {room} (what the orders still to "
                    f"settle in batch {b} leave free), got {amount}"
                    if b >= 0
                    else f"expected a withdrawal of at most {room} (what the carried GTC "
                    f"orders leave free), got {amount}"
                )
        self.pending_withdrawals.append((key, amount))
        self._cache = (self._pending_key(), after, None)
        self._rebase_checks(after)

    def oracle_report(self, report: SignedReport, at_ms: int) -> None:
        """Keep a source's newest report per market for the next round.

        Raises:
            BadRequest: unknown source, bad signature, unknown market, or a
                timestamp in the future or older than the kept one.
        """
        r = report.report
        if self.oracle.family_of(r.source) is None:
            raise BadRequest(f"source: expected a configured oracle source, got {r.source}")
        try:
            report.verify()
        except SettlementError as exc:
            raise BadRequest(str(exc)) from exc
        if r.market not in self.config.market_ids:
            raise BadRequest(f"market: expected one of {self.config.market_ids}, got {r.market!r}")
        if r.timestamp_ms > at_ms:
            raise BadRequest(f"timestamp_ms: expected at most {at_ms} (now), got {r.timestamp_ms}")
        old = self.reports.get((r.market, r.source))
        if old is not None and old.report.timestamp_ms >= r.timestamp_ms:
            raise BadRequest(
                f"timestamp_ms: expected after {old.report.timestamp_ms}, got {r.timestamp_ms}"
            )
        self.reports[(r.market, r.source)] = report

    def has_pending(self) -> bool:
        return bool(
            self.pending_deposits or self.pending_withdrawals or self.state.pending_liquidations
        )

    def carried_in(self) -> list[RestingOrder]:
        return [lo.resting for lo in self.state.pending_liquidations]

    def carry(self, orders: Sequence[RestingOrder]) -> list[RestingOrder]:
        capped = cap_reduce_only(self.state, self.config, orders, self.carried_in())
        # Checked against the settled ledger; the next batch's reveals count them too.
        self._resting = check_carried(self.state, self.config, capped)
        return list(self._resting)

    # ------------------------------------------------------------ settle

    def _blocks(
        self, result: BatchResult, blocks: Sequence[Acceptance], state: LedgerState
    ) -> tuple[BatchResult, LedgerState, dict[bytes, str], list[dict[str, Any]]]:
        failed: dict[bytes, str] = {}
        extra: dict[str, list[Fill]] = {}
        collateral = state.collateral.copy()
        adjustments = []
        for a in blocks:
            mr = result.markets.get(a.market)
            if mr is None or mr.price is None:
                failed[a.rfq_id] = "no_clearing_price"
                continue
            funded = {k for k, _ in self.pending_deposits}
            missing = [p for p in (a.buyer, a.seller) if not state.has(AccountKey(p, 0))]
            if any(AccountKey(p, 0) not in funded for p in missing):
                failed[a.rfq_id] = "no_account"
                continue
            for p in missing:  # funded in this very batch: open it now, credited below
                state = open_account(state, AccountKey(p, 0))
                collateral = np.append(collateral, 0)
            buy_id = keccak256(b"sealbatch.block", a.rfq_id, b"buy")
            sell_id = keccak256(b"sealbatch.block", a.rfq_id, b"sell")
            extra.setdefault(a.market, []).extend(
                [
                    Fill(buy_id, a.buyer, a.market, Side.BUY, mr.price, a.quantity),
                    Fill(sell_id, a.seller, a.market, Side.SELL, mr.price, a.quantity),
                ]
            )
            amount = (a.price - mr.price) * a.quantity * self.config.risk(a.market).multiplier
            collateral[state.row(AccountKey(a.buyer, 0))] -= amount
            collateral[state.row(AccountKey(a.seller, 0))] += amount
            adjustments.append(
                {
                    "rfq_id": "0x" + a.rfq_id.hex(),
                    "buyer_pays_seller": amount,
                    "clearing_price": mr.price,
                    "block_price": a.price,
                }
            )
        if extra:
            markets = {
                m: dataclasses.replace(mr, fills=mr.fills + tuple(extra.get(m, ())))
                for m, mr in result.markets.items()
            }
            result = dataclasses.replace(result, markets=markets)
            state = state.with_arrays(collateral=collateral)
        return result, state, failed, adjustments

    def settle(
        self, result: BatchResult, blocks: Sequence[Acceptance], at_ms: int
    ) -> SettleOutcome:
        """Apply the batch to the ledger; on a settlement error nothing changes and
        the summary says why (the batch stays ``cleared``)."""
        self._checks.pop(result.batch_id, None)
        self._taken.pop(result.batch_id, None)
        self._bonds.pop(result.batch_id, None)  # forfeited now, or revealed: no longer at stake
        for b in [b for b in self._checks if b < result.batch_id]:
            del self._checks[b]
        for b in [b for b in self._taken if b < result.batch_id]:
            del self._taken[b]
        reports = tuple(
            r
            for _, r in sorted(self.reports.items())
            if at_ms - r.report.timestamp_ms <= self.oracle.stale_ms
        )
        self._round += 1
        oracle_round = OracleRound(self._round, at_ms, reports)
        result2, pre, failed, adjustments = self._blocks(result, blocks, self.state)
        try:
            post, witness = apply_batch(
                pre,
                result2,
                oracle_round,
                self.config,
                self.oracle,
                deposits=self.pending_deposits,
                withdrawals=self.pending_withdrawals,
            )
        except SettlementError as exc:
            return SettleOutcome(
                {"settled": False, "error": str(exc), "code": getattr(exc, "code", "")},
                {a.rfq_id: "settlement_failed" for a in blocks},
            )
        self.state = post
        self.pending_deposits = []
        self.pending_withdrawals = []
        summary = {
            "settled": True,
            "pre_root": "0x" + witness.pre_root.hex(),
            "post_root": "0x" + witness.post_root.hex(),
            "oracle_round": {
                "round_id": oracle_round.round_id,
                "timestamp_ms": at_ms,
                "digest": "0x" + oracle_round.digest().hex(),
                "reports": len(reports),
            },
            "readings": {m: r.to_dict() for m, r in sorted(witness.readings.items())},
            "funding": {m: f.to_dict() for m, f in sorted(witness.funding.items())},
            "fees": witness.fees,
            "forfeits": [[k.address, amt] for k, amt in witness.forfeits],
            "deposits": [[k.address, amt] for k, amt in witness.deposits],
            "withdrawals": [[k.address, amt] for k, amt in witness.withdrawals],
            "liquidations": len(witness.liquidations),
            "deficits": [d.to_dict() for d in witness.deficits],
            "tripped": list(witness.tripped),
            "block_adjustments": adjustments,
            "insurance_fund": post.insurance_fund,
            "fee_pool": post.fee_pool,
        }
        self.last_summary = summary
        return SettleOutcome(summary, failed)

    # ------------------------------------------------------------ views

    def account(self, trader: Address) -> dict[str, Any]:
        """Collateral, positions, equity, margin requirements and liquidation prices.

        The liquidation price of a market holds the other marks fixed and
        solves equity = maintenance (linear within the current margin tier);
        it is None without a position.
        """
        key = AccountKey(trader, 0)
        pending = sum(a for k, a in self.pending_deposits if k == key)
        pending_out = sum(a for k, a in self.pending_withdrawals if k == key)
        s = self.state
        if not s.has(key):
            return {
                "exists": False,
                "collateral": 0,
                "pending_deposits": pending,
                "pending_withdrawals": pending_out,
                "positions": {},
                "equity": 0,
                "initial_margin": 0,
                "maintenance_margin": 0,
                "liquidation_prices": {},
            }
        row = s.row(key)
        marks = s.mark_prices()
        eq = int(equity(s, self.config)[row])
        req = requirements(s, self.config)
        pos = s.positions[row]
        liq: dict[str, int | None] = {}
        for j, m in enumerate(self.config.market_ids):
            liq[m] = self._liquidation_price(row, j, eq, int(req.maintenance[row]))
        return {
            "exists": True,
            "collateral": int(s.collateral[row]),
            "pending_deposits": pending,
            "pending_withdrawals": pending_out,
            "positions": {m: int(pos[j]) for j, m in enumerate(self.config.market_ids)},
            "mark_prices": {m: int(marks[j]) for j, m in enumerate(self.config.market_ids)},
            "equity": eq,
            "initial_margin": int(req.initial[row]),
            "maintenance_margin": int(req.maintenance[row]),
            "liquidation_prices": liq,
            "portfolio_margin": bool(s.portfolio[row]),
            "state_root": "0x" + state_root(s).hex(),
        }

    def _liquidation_price(self, row: int, j: int, eq: int, maint: int) -> int | None:
        s = self.state
        q = int(s.positions[row, j])
        mark = int(s.mark_prices()[j])
        if q == 0 or mark <= 0:
            return None
        mult = self.config.markets[j].multiplier
        pos = s.positions[row : row + 1]
        bumped = s.mark_prices().copy()
        bumped[j] = mark + 1
        slope_m = int(cross_requirements(pos, bumped, self.config).maintenance[0]) - int(
            cross_requirements(pos, s.mark_prices(), self.config).maintenance[0]
        )
        slope_e = q * mult
        denom = slope_e - slope_m
        if denom == 0:
            return None
        # equity(p) = eq + slope_e (p − mark); maint(p) = maint + slope_m (p − mark)
        delta = (maint - eq) / denom
        price = mark + delta
        return max(1, int(np.ceil(price)) if q > 0 else int(np.floor(price)))

    def band_bps(self, market: str) -> int:
        return price_band_bps(self.state.market_state(market), self.config.risk(market))

    def market_state(self, market: str) -> dict[str, Any]:
        ms = self.state.market_state(market)
        return {
            "oracle": {"index_price": ms.index_price, "flagged": ms.flagged},
            "mark_price": ms.mark_price,
            "funding": {
                "funding_index": ms.funding_index,
                "premium_sum": ms.premium_sum,
                "premium_time": ms.premium_time,
                "interval_batches": ms.interval_batches,
                "interval_length_batches": self.config.risk(market).funding_interval_batches,
            },
            "breaker": {
                "protective": ms.protective,
                "calm": ms.calm,
                "band_bps": self.band_bps(market),
                "batch_length_factor": batch_length_factor(ms, self.config.risk(market)),
            },
            "settlement": self.name,
        }


def make_settlement_engine(
    markets: Mapping[str, Market], min_bond: int = DEFAULT_MIN_BOND
) -> SettlementEngine:
    """The settlement engine the venue runs with: the real ledger."""
    return LedgerSettlement(markets, min_bond=min_bond)
