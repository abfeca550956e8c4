"""The clearinghouse: the settlement ledger as the venue runs it between batches.

:class:`Clearinghouse` holds the settled ledger and everything waiting for
the next batch transition: deposits, withdrawals, the oracle's newest
reports, the bonds at stake in open batches and the orders each open batch
has taken (for the margin checks at commit, reveal and block acceptance).
Nothing here changes the ledger itself: :meth:`Clearinghouse.settle` hands
the batch, its blocks, deposits and withdrawals to
:func:`sealbatch.settlement.transition.apply_batch`, which applies them as
numbered steps after hashing the pre-state, so each settled batch's pre-root
is the post-root of the one before. It is deterministic in the sequence of
calls, so replaying the venue's log rebuilds it exactly.

Every refusal is a :class:`~sealbatch.settlement.errors.SettlementError`
(the venue maps it to an HTTP answer).
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sealbatch.auction.batch import BatchResult, RestingOrder
from sealbatch.auction.commit_reveal import Commit
from sealbatch.auction.markets import Market
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.account_view import AccountView, MarketView, account_view, market_view
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.collateral import apply_withdrawal, withdraw
from sealbatch.settlement.dev_oracle import dev_oracle_config
from sealbatch.settlement.errors import (
    InsufficientBond,
    InsufficientCollateral,
    InsufficientMargin,
    MarketFlagged,
    OracleError,
    PositionLimit,
    ReduceOnlyViolation,
    SettlementError,
    Unanchorable,
    UnknownOracleSource,
)
from sealbatch.settlement.ledger import (
    AccountKey,
    LedgerState,
    check_amount,
    check_key,
    deposit,
    empty_state,
)
from sealbatch.settlement.liquidation import price_band_bps
from sealbatch.settlement.margin import (
    RevealMarginCheck,
    free_collateral,
)
from sealbatch.settlement.oracle import OracleConfig, OracleRound, SignedReport
from sealbatch.settlement.params import SettlementConfig, default_config
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import (
    BatchWitness,
    apply_batch,
    halted_markets,
    reference_prices,
)

__all__ = ["DEFAULT_MIN_BOND", "Clearinghouse", "SettleOutcome", "settlement_summary"]

#: The least an unrevealed commitment forfeits by default: 1 USDC (6 decimals).
DEFAULT_MIN_BOND = 1_000_000


@dataclass(frozen=True)
class SettleOutcome:
    """What settling a batch produced: a JSON summary and the blocks refused."""

    summary: dict[str, Any] | None
    failed_blocks: Mapping[bytes, str]
    publication: BatchPublication | None = None


def settlement_summary(
    witness: BatchWitness, oracle_round: OracleRound, post: LedgerState
) -> dict[str, Any]:
    """The JSON summary of a settled batch (the ``settlement`` of a batch record)."""
    return {
        "settled": True,
        "pre_root": "0x" + witness.pre_root.hex(),
        "post_root": "0x" + witness.post_root.hex(),
        "oracle_round": {
            "round_id": oracle_round.round_id,
            "timestamp_ms": oracle_round.timestamp_ms,
            "digest": "0x" + oracle_round.digest().hex(),
            "reports": len(oracle_round.reports),
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
        "block_adjustments": [b.to_dict() for b in witness.blocks],
        "insurance_fund": post.insurance_fund,
        "fee_pool": post.fee_pool,
    }


def _check_anchorable(batch_id: int, witness: BatchWitness) -> None:
    """Refuse a batch whose deficits the insurance fund did not cover in full and other
    accounts paid for (deleveraging or socialised loss): the exchange contract refuses
    its proof's adjustments table (``TableNotDerivable``), so it could never anchor,
    and neither could any batch after it.

    Raises:
        Unanchorable: names the first such account, its deficit and what the fund paid.
    """
    for flow in witness.deficits:
        if flow.deleveraged:
            raise Unanchorable(
                f"batch {batch_id}: account {flow.account.address} (subaccount "
                f"{flow.account.subaccount}) has a deficit of {flow.deficit} of which the "
                f"insurance fund paid {flow.insurance}; the rest needs deleveraging or "
                "socialised loss, which the batch proof does not prove yet, so the exchange "
                "contract could not anchor this batch (docs/contracts.md, Limits)"
            )


class Clearinghouse:
    """The settled ledger and what waits for the next batch transition.

    Args:
        markets: the venue's markets.
        oracle: trusted oracle sources (default: the development oracle).
        config: settlement rules (default: :func:`sealbatch.settlement.params.default_config`
            with ``forfeit_bond = min_bond``).
        min_bond: the least an unrevealed commitment forfeits, in collateral base
            units (default 1 USDC); ignored when ``config`` is given.
        anchored: every batch must anchor on the exchange contract (a venue on an
            L1): a batch whose deficits need deleveraging or socialised loss, which
            the batch proof does not prove yet, is refused (:class:`Unanchorable`)
            instead of settled.
    """

    name = "ledger"

    def __init__(
        self,
        markets: Mapping[str, Market],
        oracle: OracleConfig | None = None,
        config: SettlementConfig | None = None,
        min_bond: int = DEFAULT_MIN_BOND,
        anchored: bool = False,
    ) -> None:
        self.anchored = anchored
        self.config = config or dataclasses.replace(
            default_config(dict(markets)), forfeit_bond=min_bond
        )
        self.oracle = oracle or dev_oracle_config()
        self.state: LedgerState = empty_state(self.config)
        self.pending_deposits: list[tuple[AccountKey, int]] = []
        self.pending_withdrawals: list[tuple[AccountKey, int]] = []
        #: L1 queue positions of the forced withdrawals pending: the first
        #: ``len(forced_requests)`` entries of ``pending_withdrawals``, in queue order
        self.forced_requests: list[int] = []
        self.reports: dict[tuple[str, str], SignedReport] = {}
        self._checks: dict[int, RevealMarginCheck] = {}
        self._taken: dict[int, list[tuple[Address, Order]]] = {}  # batch -> orders taken
        self._bonds: dict[int, dict[Address, int]] = {}  # batch -> trader -> bonds at stake
        #: trader -> the sum of its bonds in ``_bonds`` (kept with it: O(1) per commitment)
        self._stake: dict[Address, int] = {}
        #: (the ledger, the traders with GTC rests on it): rebuilt when the ledger changes
        self._resting_on: tuple[LedgerState, frozenset[Address]] | None = None
        self._takers: dict[int, set[Address]] = {}  # batch -> traders with orders taken
        self._cache: tuple[tuple[LedgerState, int, int], LedgerState, np.ndarray | None] | None = (
            None
        )
        self.last_summary: dict[str, Any] | None = None
        #: maker -> RFQ id -> the orders a revealed quote may hand it (one per priced
        #: side), firm until the RFQ closes or is accepted: :meth:`room` keeps them carried
        self._firm: dict[Address, dict[bytes, tuple[Order, ...]]] = {}
        #: (close_ms, RFQ id, maker) of every entry of ``_firm``: a heap
        self._firm_closing: list[tuple[int, bytes, Address]] = []
        #: maker -> (ledger, key, room) of :meth:`_firm_room`'s last answer
        self._firm_cache: dict[Address, tuple[LedgerState, tuple[Any, ...], int | None]] = {}
        #: RFQ id -> (requester, bond) of every open RFQ's request bond
        #: (:meth:`hold_request`), counted in ``_stake`` until it is released
        self._requests: dict[bytes, tuple[Address, int]] = {}
        #: (close_ms, RFQ id) of every entry of ``_requests``: a heap
        self._requests_closing: list[tuple[int, bytes]] = []

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
                state = apply_withdrawal(state, account, amount, self.config)
            self._cache = (self._pending_key(), state, None)
        return self._cache[1]

    def _free_collateral(self, trader: Address) -> int:
        """Free collateral of ``trader`` on :meth:`_check_state` (cached per ledger)."""
        state = self._check_state()
        key, _, free = self._cache or (self._pending_key(), state, None)
        if free is None:
            free = free_collateral(state, self.config)
            self._cache = (key, state, free)
        account = AccountKey(trader, 0)
        return int(free[state.row(account)]) if state.has(account) else 0

    def bond_of(self, commit: Commit) -> int:
        """What an unrevealed ``commit`` forfeits: its own bond, at least the minimum."""
        return max(commit.bond, self.config.forfeit_bond)

    def commit_check(self, batch_id: int, trader: Address, commit: Commit) -> None:
        self.reserve_bond(batch_id, trader, self.bond_of(commit), "this commitment's bond")

    def reserve_bond(self, batch_id: int, trader: Address, amount: int, what: str) -> None:
        """Reserve ``amount`` of ``trader``'s free collateral until ``batch_id`` settles
        (which forfeits or releases it), together with every bond already at stake.

        Raises:
            InsufficientBond: free collateral below the bonds at stake plus ``amount``.
        """
        room = self.room(trader)
        if room < amount:
            raise InsufficientBond(
                f"bond: expected free collateral of at least {amount} ({what}) beyond the "
                f"{self._at_stake(trader)} at stake in open batches and RFQs and the orders "
                f"still to settle, got {room}"
            )
        bonds = self._bonds.setdefault(batch_id, {})
        bonds[trader] = bonds.get(trader, 0) + amount
        self._stake[trader] = self._stake.get(trader, 0) + amount

    def _drop_bonds(self, batch_id: int) -> None:
        """Take ``batch_id``'s bonds off the stake (settled: forfeited or released)."""
        for trader, amount in self._bonds.pop(batch_id, {}).items():
            self._unstake(trader, amount)

    def _unstake(self, trader: Address, amount: int) -> None:
        """Take ``amount`` off ``trader``'s running bonds at stake (none left: no entry)."""
        left = self._stake.get(trader, 0) - amount
        if left:
            self._stake[trader] = left
        else:
            self._stake.pop(trader, None)

    def _at_stake(self, trader: Address) -> int:
        """The bonds ``trader`` has at stake in open batches and RFQs (the running
        sum over ``_bonds``, exact: every change of ``_bonds`` updates it)."""
        return self._stake.get(trader, 0)

    def _rests(self, trader: Address) -> bool:
        """Whether ``trader`` has GTC rests on the ledger (one scan per ledger, not per
        question: every commitment's bond check asks)."""
        cached = self._resting_on
        if cached is None or cached[0] is not self.state:
            cached = (self.state, frozenset(r.trader for r in self.state.resting_orders))
            self._resting_on = cached
        return trader in cached[1]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle (a snapshot) without its per-ledger caches (resting traders, firm room)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_resting_on", "_firm_cache")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle (a snapshot), rebuilding the running figures a snapshot taken
        before they existed lacks."""
        state.setdefault("_firm", {})
        state.setdefault("_firm_closing", [])
        state.setdefault("_requests", {})
        state.setdefault("_requests_closing", [])
        state["_firm_cache"] = {}
        self.__dict__.update(state)
        if "_stake" not in state:
            stake: dict[Address, int] = {}
            for bonds in self._bonds.values():
                for trader, amount in bonds.items():
                    stake[trader] = stake.get(trader, 0) + amount
            self._stake = {t: a for t, a in stake.items() if a}
        self._resting_on = None

    def room(self, trader: Address) -> int:
        """What ``trader``'s collateral can still back: a new bond or a withdrawal.

        One check for every use of free collateral: the free collateral on the
        ledger with pending deposits and withdrawals applied, at most the
        worst-case headroom of every open batch holding the trader's orders
        (revealed orders, accepted blocks) and of its carried GTC rests, and
        what leaves each side of its revealed quotes still open carried
        (:meth:`hold_quote`), less the bonds it already has at stake. May be negative.
        """
        room = self._free_collateral(trader)
        batches = [b for b, takers in self._takers.items() if trader in takers]
        if self._rests(trader):
            batches.append(-1)  # no batch taken yet: a check counting the rests alone
        for b in batches:
            check = self._checks.get(b) or self._fresh_check(b)
            room = min(room, check.headroom(trader))
        firm = self._firm_room(trader, batches)
        if firm is not None:
            room = min(room, firm)
        return room - self._at_stake(trader)

    def _firm_room(self, trader: Address, batches: Sequence[int]) -> int | None:
        """What ``trader`` may still give up beside each side of its revealed quotes
        still open that its collateral carries now (None: no such side). A revealed
        quote is firm (no last look): what carries it stays. Cached until the ledger,
        the pending deposits and withdrawals, the quotes held or the orders taken in
        any open batch change (every commitment's bond check asks)."""
        held = self._firm.get(trader)
        if not held:
            return None
        key = (
            id(self.state),
            len(self.pending_deposits),
            len(self.pending_withdrawals),
            tuple(held.items()),
            tuple(batches),
            tuple((b, len(taken)) for b, taken in sorted(self._taken.items())),
        )
        cached = self._firm_cache.get(trader)
        if cached is not None and cached[0] is self.state and cached[1] == key:
            return cached[2]
        room: int | None = None
        for orders in held.values():
            for order in orders:
                for b in batches or [-1]:
                    trial = self._fresh_check(b)
                    try:
                        trial(trader, order)
                    except (InsufficientMargin, MarketFlagged, PositionLimit, ReduceOnlyViolation):
                        continue  # not carried now: nothing here takes it away
                    headroom = trial.headroom(trader)
                    room = headroom if room is None else min(room, headroom)
        # The ledger itself is kept with its id: held, the id is not reused.
        self._firm_cache[trader] = (self.state, key, room)
        return room

    def quote_check(self, maker: Address, orders: Sequence[Order]) -> None:
        """Whether ``maker`` carries each of the ``orders`` a quote it reveals may hand
        it (one per priced side), as :meth:`block_check` would judge its side of the
        block now: beside every order it has still to settle, leaving its bonds at
        stake covered. Records nothing. A market whose oracle is flagged is not
        judged here (the accept is refused then).

        Raises:
            InsufficientMargin, PositionLimit: a side the maker cannot carry.
        """
        batches = [b for b, takers in self._takers.items() if maker in takers]
        for order in orders:
            for b in batches or [-1]:
                trial = self._fresh_check(b)
                try:
                    trial(maker, order)
                except MarketFlagged:
                    continue
                room, at_stake = trial.headroom(maker), self._at_stake(maker)
                if room < at_stake:
                    raise InsufficientMargin(
                        f"expected {maker} to keep {at_stake} free for its bonds at stake "
                        f"beside the block, got {room}"
                    )

    def hold_quote(
        self, rfq_id: bytes, maker: Address, orders: Sequence[Order], close_ms: int
    ) -> None:
        """Keep ``maker``'s collateral behind the ``orders`` a revealed quote in RFQ
        ``rfq_id`` may hand it (one per priced side) until :meth:`release_quotes`
        (accepted) or :meth:`release_closed` at ``close_ms``: :meth:`room`, so no
        withdrawal or bond takes the quote's margin away while the requester may
        still accept it."""
        self._firm.setdefault(maker, {})[rfq_id] = tuple(orders)
        heapq.heappush(self._firm_closing, (close_ms, rfq_id, maker))

    def release_quotes(self, rfq_id: bytes, makers: Sequence[Address]) -> None:
        """Stop holding the quotes of RFQ ``rfq_id`` (accepted: its block counts now)."""
        for maker in makers:
            held = self._firm.get(maker)
            if held is not None and held.pop(rfq_id, None) is not None and not held:
                del self._firm[maker]
                self._firm_cache.pop(maker, None)

    def release_closed(self, now_ms: int) -> None:
        """Stop holding the quotes and request bonds of RFQs closed by ``now_ms``."""
        closing = self._firm_closing
        while closing and closing[0][0] <= now_ms:
            _, rfq_id, maker = heapq.heappop(closing)
            self.release_quotes(rfq_id, (maker,))
        requests = self._requests_closing
        while requests and requests[0][0] <= now_ms:
            self.release_request(heapq.heappop(requests)[1])

    def hold_request(self, rfq_id: bytes, requester: Address, bond: int, close_ms: int) -> None:
        """Hold ``bond`` of ``requester``'s free collateral while its RFQ ``rfq_id`` is
        open: until :meth:`release_request` (accepted) or :meth:`release_closed` at
        ``close_ms``. Counted with the bonds at stake (:meth:`room`), never forfeited:
        each open RFQ ties up collateral, so the venue's cap on open RFQs costs
        that much per RFQ to fill.

        Raises:
            InsufficientBond: free collateral below the bonds at stake plus ``bond``.
        """
        room = self.room(requester)
        if room < bond:
            raise InsufficientBond(
                f"rfq: expected free collateral of at least {bond} (the request bond every "
                f"open RFQ holds) beyond the {self._at_stake(requester)} at stake in open "
                f"batches and RFQs and the orders still to settle, got {room}"
            )
        self._requests[rfq_id] = (requester, bond)
        heapq.heappush(self._requests_closing, (close_ms, rfq_id))
        self._stake[requester] = self._stake.get(requester, 0) + bond

    def request_bond(self, rfq_id: bytes) -> tuple[Address, int] | None:
        """(requester, bond) held for the open RFQ ``rfq_id``, or None."""
        return self._requests.get(rfq_id)

    def release_request(self, rfq_id: bytes) -> None:
        """Release the request bond of RFQ ``rfq_id`` (accepted, or closed); once."""
        held = self._requests.pop(rfq_id, None)
        if held is None:
            return
        self._unstake(*held)

    def _fresh_check(self, batch_id: int) -> RevealMarginCheck:
        """A margin check of ``batch_id`` on the ledger as it stands now (deposits
        credited, GTC rests counted), with the orders already taken for the batch and
        for every other batch still to settle: a block accepted for the batch
        collecting while the one before it reveals may fill as well as that batch's
        orders, so one budget carries both (each side's worst case over all of them)."""
        check = RevealMarginCheck(
            self._check_state(), self.config, resting=self.state.resting_orders
        )
        others = sorted(b for b in self._taken if b != batch_id)
        for b in (batch_id, *others):
            for trader, order in self._taken.get(b, ()):
                # Taken earlier on an older ledger (a block accepted before the previous
                # batch settled): it still counts, even if it no longer fits.
                with contextlib.suppress(
                    InsufficientMargin, MarketFlagged, PositionLimit, ReduceOnlyViolation
                ):
                    check(trader, order)
        return check

    def _keep_firm(
        self,
        check: RevealMarginCheck,
        trader: Address,
        orders: Sequence[Order],
        skip: bytes | None = None,
    ) -> None:
        """Refuse ``orders`` for ``trader`` on ``check`` (a batch's margin check, left
        as it was) when, beside them, a side of one of its revealed quotes (other than
        RFQ ``skip``'s) that its account carries now would no longer be carried. A
        revealed quote is firm until its window closes (no last look): an order or a
        block taking away the margin behind it would let the quote be passed over at
        accept, its bond released. Orders that do not fit at all are left to the
        caller's own check. Costs two trials a quoted side, for traders with revealed
        quotes only.

        Raises:
            InsufficientMargin: names the RFQ and the side left uncarried.
        """
        held = self._firm.get(trader)
        if not held:
            return
        mine = [(trader, order) for order in orders]
        if not check.fits_together(mine):
            return  # refused on its own by the caller's check
        for rfq_id, sides in held.items():
            if rfq_id == skip:
                continue
            for quoted in sides:
                if not check.fits_together([(trader, quoted)]):
                    continue  # not carried now: nothing here takes it away
                if not check.fits_together([*mine, (trader, quoted)]):
                    raise InsufficientMargin(
                        f"expected {trader} to keep carrying its revealed quote in RFQ "
                        f"0x{rfq_id.hex()} ({quoted.side.name.lower()} {quoted.quantity} at "
                        f"{quoted.limit_price} in {quoted.market}; firm until the RFQ "
                        "closes) beside this, got a side it would no longer carry"
                    )

    def reveal_check(self, batch_id: int, trader: Address, order: Order) -> None:
        """Take ``order`` for ``batch_id`` if its account carries it at its limit price,
        and still carries each side of its revealed quotes it carries now.

        Raises:
            InsufficientMargin, ReduceOnlyViolation: the order is refused.
        """
        check = self._checks.get(batch_id)
        if check is None:
            # Built when the batch starts revealing: its predecessor has settled.
            check = self._checks[batch_id] = self._fresh_check(batch_id)
        self._keep_firm(check, trader, [order])
        check(trader, order)
        self._taken.setdefault(batch_id, []).append((trader, order))
        self._takers.setdefault(batch_id, set()).add(trader)

    def block_check(
        self,
        block: BlockTrade,
        freed: Mapping[Address, int] | None = None,
        requester: Address | None = None,
    ) -> None:
        """Take both sides of ``block`` for its batch if both carry it.

        Initial margin of both sides for the whole block at its price, together
        with the orders already taken for the batch the block settles in.
        ``freed``: bonds at stake the block itself releases (its RFQ's request bond),
        which need no room beside it. ``requester``: the side that asked for the
        block, which must still carry each side of its own revealed quotes in other
        RFQs that it carries now (the maker's side is its quote being taken: its
        quotes elsewhere are each firm alone, and the first accepted is served).

        Raises:
            InsufficientMargin: either side cannot carry the block, or the requester's
                revealed quotes would be left uncarried by it.
        """
        orders = [
            (block.buyer, Order(block.market, Side.BUY, block.price, block.quantity)),
            (block.seller, Order(block.market, Side.SELL, block.price, block.quantity)),
        ]
        # Tried first on a copy: the block must also leave each side's bonds at
        # stake covered (one budget for bonds, blocks and withdrawals).
        trial = self._fresh_check(block.batch_id)
        trial.check_together(orders)
        for side in (block.buyer, block.seller):
            room = trial.headroom(side)
            at_stake = self._at_stake(side) - (freed or {}).get(side, 0)
            if room < at_stake:
                raise InsufficientMargin(
                    f"block: expected {side} to keep {at_stake} free for its bonds at stake "
                    f"after the block, got {room}"
                )
        check = self._checks.get(block.batch_id) or self._fresh_check(block.batch_id)
        if requester is not None:
            mine = [o for t, o in orders if t == requester]
            self._keep_firm(check, requester, mine, skip=block.block_id)
        check.check_together(orders)
        for b, other in self._checks.items():
            if b != block.batch_id:
                # the batch revealing now: its reveals count the block too
                for trader, order in orders:
                    with contextlib.suppress(
                        InsufficientMargin, MarketFlagged, PositionLimit, ReduceOnlyViolation
                    ):
                        other(trader, order)
        self._taken.setdefault(block.batch_id, []).extend(orders)
        self._takers.setdefault(block.batch_id, set()).update((block.buyer, block.seller))

    def fits(self, batch_id: int, trader: Address, order: Order) -> bool:
        """Whether ``order`` would pass ``batch_id``'s margin check now, with the
        orders already taken for it; records nothing."""
        try:
            self._fresh_check(batch_id)(trader, order)
        except (InsufficientMargin, MarketFlagged, PositionLimit, ReduceOnlyViolation):
            return False
        return True

    def deposit(self, trader: Address, amount: int, at_ms: int, subaccount: int = 0) -> None:
        """Credit ``amount`` to (``trader``, ``subaccount``) with the next batch.

        Raises:
            SettlementError: an amount not a positive integer, a subaccount not in
                [0, 2^16), or collateral reaching 2^62 (nothing changes).
        """
        key = check_key(AccountKey(trader, subaccount))
        after = deposit(self._check_state(), key, amount)  # validates amount, 2^62 cap
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
        room = self.room(trader)
        if amount > room:
            raise InsufficientCollateral(
                f"expected a withdrawal of at most {room} (what the orders still to settle, "
                f"the carried GTC orders and the {self._at_stake(trader)} of bonds at stake "
                f"leave free), got {amount}"
            )
        self.pending_withdrawals.append((key, amount))
        self._cache = (self._pending_key(), after, None)
        self._rebase_checks(after)

    def forced_withdrawal(
        self, trader: Address, subaccount: int, asked: int, at_ms: int, request: int | None = None
    ) -> int:
        """Serve an L1 forced withdrawal with the next batch: ``min(asked, what the account
        can give)``, where what it can give is :meth:`room` for subaccount 0 (the one that
        trades) and the free collateral for another. Returns the amount queued.

        With ``request`` (its L1 queue position) it is served ahead of the voluntary
        withdrawals pending, after the forced ones before it, and the batch publishes the
        position with it: the exchange contract pays the k-th forced withdrawal a batch
        consumes with the batch's k-th withdrawal, and the requests a batch consumed are
        then exact (``transfers.json``'s ``request``). Taking one before the others does
        not change what any of them may take: every pending withdrawal was checked
        against the collateral all of them leave.

        An account that can give nothing (no free collateral, or a position in a
        market whose oracle is flagged) is served with a withdrawal of nothing: the
        request is consumed and the queue behind it moves on (the exchange contract
        takes a withdrawal of nothing only for a forced one).

        Raises:
            InsufficientCollateral: no such account (the contract queues forced
                withdrawals only for accounts that deposited, so only a ledger that
                refused their deposit meets this; nothing changes).
            SettlementError: a malformed request, or a queue position not after the
                forced withdrawals pending.
        """
        key = check_key(AccountKey(trader, subaccount))
        check_amount("amount", asked)
        forced = self._forced()
        if request is not None and (request < 0 or (forced and request <= forced[-1])):
            floor = forced[-1] + 1 if forced else 0
            raise SettlementError(
                f"request: expected an L1 queue position of at least {floor}, got {request}"
            )
        state = self._check_state()
        if not state.has(key):
            raise InsufficientCollateral(
                f"forced withdrawal: expected an account ({trader}, {subaccount}), got none"
            )
        if subaccount == 0:
            can_give = self.room(trader)
        elif state.has(key):
            can_give = int(free_collateral(state, self.config)[state.row(key)])
        else:
            can_give = 0
        amount = max(min(asked, can_give), 0)
        try:
            after = withdraw(state, key, amount, self.config) if amount else state
        except MarketFlagged:
            # a position in a market whose oracle is flagged: nothing to give now
            amount, after = 0, state
        if request is None:
            self.pending_withdrawals.append((key, amount))
        else:
            self.pending_withdrawals.insert(len(forced), (key, amount))
            forced.append(request)
        if amount:
            self._cache = (self._pending_key(), after, None)
            self._rebase_checks(after)
        return amount

    def _forced(self) -> list[int]:
        """:attr:`forced_requests` (a ledger loaded from before it existed has none)."""
        if "forced_requests" not in self.__dict__:
            self.forced_requests = []
        return self.forced_requests

    def oracle_report(self, report: SignedReport, at_ms: int) -> None:
        """Keep a source's newest report per market for the next round.

        Raises:
            UnknownOracleSource: the source is not configured.
            BadOracleSignature: the signature is not the source's.
            OracleError: an unknown market, or a
                timestamp in the future or older than the kept one (nothing
                changes).
        """
        r = report.report
        if self.oracle.family_of(r.source) is None:
            raise UnknownOracleSource(
                f"source: expected a configured oracle source, got {r.source}"
            )
        report.verify()
        if r.market not in self.config.market_ids:
            raise OracleError(f"market: expected one of {self.config.market_ids}, got {r.market!r}")
        if r.timestamp_ms > at_ms:
            raise OracleError(f"timestamp_ms: expected at most {at_ms} (now), got {r.timestamp_ms}")
        old = self.reports.get((r.market, r.source))
        if old is not None and old.report.timestamp_ms >= r.timestamp_ms:
            raise OracleError(
                f"timestamp_ms: expected after {old.report.timestamp_ms}, got {r.timestamp_ms}"
            )
        self.reports[(r.market, r.source)] = report

    def release(self, batch_id: int) -> None:
        """Forget ``batch_id`` without settling it (the venue cancelled it): its
        bonds are released, not forfeited, and its orders and blocks no longer
        count against anyone's collateral."""
        self._checks.pop(batch_id, None)
        self._taken.pop(batch_id, None)
        self._takers.pop(batch_id, None)
        self._drop_bonds(batch_id)

    def has_pending(self) -> bool:
        """Deposits, withdrawals or liquidation orders wait for the next batch."""
        return bool(
            self.pending_deposits or self.pending_withdrawals or self.state.pending_liquidations
        )

    def carried_in(self) -> list[RestingOrder]:
        """Liquidation orders that enter the next batch."""
        return [lo.resting for lo in self.state.pending_liquidations]

    def resting(self) -> tuple[RestingOrder, ...]:
        """The GTC rests that enter the next batch: the ledger's own (the transition
        caps and re-checks them, and the state root binds them)."""
        return self.state.resting_orders

    # ------------------------------------------------------------ settle

    def settle(
        self, result: BatchResult, blocks: Sequence[BlockTrade], at_ms: int
    ) -> SettleOutcome:
        """Run the batch transition with the batch's blocks, deposits and withdrawals.

        On a settlement error nothing changes and the summary says why (the
        batch stays ``cleared``, its blocks fail with ``settlement_failed``); so
        for a batch an ``anchored`` ledger refuses (:class:`Unanchorable`).
        """
        self._checks.pop(result.batch_id, None)
        self._taken.pop(result.batch_id, None)
        self._takers.pop(result.batch_id, None)
        self._drop_bonds(result.batch_id)  # forfeited now, or revealed: no longer at stake
        for b in [b for b in self._checks if b < result.batch_id]:
            del self._checks[b]
        for b in [b for b in self._taken if b < result.batch_id]:
            del self._taken[b]
        for b in [b for b in self._takers if b < result.batch_id]:
            del self._takers[b]
        reports = tuple(
            r
            for _, r in sorted(self.reports.items())
            if at_ms - r.report.timestamp_ms <= self.oracle.stale_ms
        )
        # The round of batch n is round n, at the batch's own time (apply_batch checks both).
        oracle_round = OracleRound(result.batch_id, at_ms, reports)
        try:
            post, witness = apply_batch(
                self.state,
                result,
                oracle_round,
                self.config,
                self.oracle,
                deposits=self.pending_deposits,
                blocks=blocks,
                withdrawals=self.pending_withdrawals,
            )
            if self.anchored:
                _check_anchorable(result.batch_id, witness)
        except SettlementError as exc:
            return SettleOutcome(
                {"settled": False, "error": str(exc), "code": getattr(exc, "code", "")},
                {b.block_id: "settlement_failed" for b in blocks},
            )
        publication = BatchPublication(
            result,
            oracle_round,
            self.state,
            post,
            tuple(self.pending_deposits),
            tuple(blocks),
            tuple(self.pending_withdrawals),
            tuple(self._forced()),
        )
        self.state = post
        self.pending_deposits = []
        self.pending_withdrawals = []
        self.forced_requests = []
        summary = settlement_summary(witness, oracle_round, post)
        self.last_summary = summary
        return SettleOutcome(summary, witness.failed_blocks, publication)

    # ------------------------------------------------------------ views

    def account(self, trader: Address) -> AccountView:
        """Collateral, positions, equity, margin requirements and liquidation prices
        (see :func:`sealbatch.settlement.account_view.account_view`)."""
        key = AccountKey(trader, 0)
        return account_view(
            self.state,
            self.config,
            key,
            sum(a for k, a in self.pending_deposits if k == key),
            sum(a for k, a in self.pending_withdrawals if k == key),
        )

    def reference_prices(self) -> dict[str, int | None]:
        """Each market's clearing reference for the next batch (its mark price)."""
        return reference_prices(self.state)

    def halted_markets(self, at_ms: int) -> frozenset[str]:
        """The markets a batch settling at ``at_ms`` may not trade in (stale index)."""
        return halted_markets(self.state, self.oracle, at_ms)

    def band_bps(self, market: str) -> int:
        """The price band the venue should use now (wider in protective mode)."""
        return price_band_bps(self.state.market_state(market), self.config.risk(market))

    def market_state(self, market: str) -> MarketView:
        """A market's oracle, mark, funding and breaker state."""
        return market_view(self.state, self.config, market, self.name)
