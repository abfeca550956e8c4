"""The settlement half's statement and witness, taken from one batch transition.

:class:`SettleStatement` is what a verifier derives from the published states
and the batch's public data (roots, account counts, pools, totals,
per-market terms); :class:`SettleWitness` is the per-account and
per-fill data the prover lays into the trace. :func:`settle_inputs` takes
both from a :class:`~sealbatch.settlement.transition.BatchWitness`, the same
object ``apply_batch`` returns, so the trace is built from exactly what the
transition did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sealbatch.auction.errors import AuctionError
from sealbatch.crypto import poseidon2
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air.limbs import DIGIT, digits_of
from sealbatch.settlement.errors import BatchStatementError, SettlementError
from sealbatch.settlement.ledger import AccountKey, LedgerState
from sealbatch.settlement.oracle import OracleConfig
from sealbatch.settlement.params import BPS, SettlementConfig
from sealbatch.settlement.publication import BatchPublication, PublishedBatch
from sealbatch.settlement.roots import _address_limbs, header_elements, state_root
from sealbatch.settlement.transition import BatchWitness, apply_batch

__all__ = [
    "FEE_POOL_DIGITS",
    "MAX_MARKETS",
    "MAX_TIERS",
    "TARGET_DIGITS",
    "FillRow",
    "MarginTerms",
    "MarketTerms",
    "SettleStatement",
    "SettleWitness",
    "per_lot",
    "replay_published",
    "settle_from_files",
    "settle_inputs",
    "settle_publication",
    "tree_depth",
]

#: The account identity equation bounds its digit sums for at most this many markets
#: (see :mod:`sealbatch.settlement.batch_air.accounts`).
MAX_MARKETS = 4
#: Most cross-margin tiers per market the health section takes (one selector each).
MAX_TIERS = 8
_SIGNED = 4  # a signed public value: [sign, 24-bit limb × 3], as the state root encodes it
_LIMB = 24
#: 12-bit digits of each derived per-market constant (price × multiplier < 2^40,
#: |ΔF| < 2^60, price × multiplier × bps < 2^54, price × multiplier × fee_bps < 2^60,
#: price × multiplier × liquidation penalty bps < 2^60, per_lot < 2^42).
DERIVED_DIGITS = 5
#: Digits of the conservation target ``2^80 + net collateral change`` (below 2^84).
TARGET_DIGITS = 7
TARGET_OFFSET = 1 << 80
#: Digits of the fee pool's change (the batch's fees, ``0 <= Δ fee pool < 2^72``).
FEE_POOL_DIGITS = 6
#: Statement elements before the market terms: counts ×4, roots ×16, amounts.
_MARKET_TERMS = 4 + 16 + 6 * _SIGNED


def tree_depth(n: int) -> int:
    """The state tree's depth for ``n`` accounts (:mod:`sealbatch.settlement.roots`)."""
    return max(1, (max(n, 1) - 1).bit_length())


def _enc(v: int) -> list[int]:
    if not -(1 << 72) < v < 1 << 72:
        raise ValueError(f"expected |value| below 2^72, got {v}")
    m = abs(v)
    return [int(v < 0)] + [(m >> (_LIMB * k)) & ((1 << _LIMB) - 1) for k in range(3)]


def per_lot(price: int, multiplier: int, initial_bps: int) -> int:
    """A market's liquidation ``per_lot`` (``plan_liquidations``): ``max(1, ⌊price ×
    multiplier × initial_bps / 10 000⌋)``, ``price`` the index (the mark where the market
    has no index yet: :attr:`MarginTerms.index_mark`), ``initial_bps`` tier 0's."""
    return max(1, price * multiplier * initial_bps // BPS)


def _derived_digits(value: int, count: int) -> list[int]:
    if not 0 <= value < 1 << (12 * count):
        raise ValueError(f"expected a derived constant in [0, 2^{12 * count}), got {value}")
    return [(value >> (12 * k)) & 0xFFF for k in range(count)]


@dataclass(frozen=True)
class DerivedIndex:
    """Public-input positions of a statement's elements (``start``) and of its derived
    values (``base``, :meth:`SettleStatement.derived_elements`), for the constraints."""

    base: int
    start: int
    tiers: tuple[int, ...]  # tiers per market
    roots: int  # the pre-state root's first element; the post-state root's follow

    def _market(self, j: int) -> int:
        at = self.base
        for t in self.tiers[:j]:
            at += self._per_market(t)
        return at

    @staticmethod
    def _per_market(tiers: int) -> int:
        return 4 * DERIVED_DIGITS + 3 + 2 * DERIVED_DIGITS * (1 + tiers) + DERIVED_DIGITS

    def price_mult(self, j: int) -> int:
        """First digit of ``price × multiplier``."""
        return self._market(j)

    def funding_sign(self, j: int) -> int:
        return self._market(j) + DERIVED_DIGITS

    def funding(self, j: int) -> int:
        """First digit of ``|ΔF|``."""
        return self._market(j) + DERIVED_DIGITS + 1

    def fee(self, j: int) -> int:
        """First digit of ``price × multiplier × fee_bps``."""
        return self._market(j) + 2 * DERIVED_DIGITS + 1

    def penalty(self, j: int) -> int:
        """First digit of ``price × multiplier × liquidation_penalty_bps``."""
        return self._market(j) + 3 * DERIVED_DIGITS + 1

    def has_mark(self, j: int) -> int:
        return self._market(j) + 4 * DERIVED_DIGITS + 1

    def flagged(self, j: int) -> int:
        return self._market(j) + 4 * DERIVED_DIGITS + 2

    def margin_price(self, s: int, j: int) -> int:
        """First digit of ``price_s × multiplier`` (``s`` 0: the mark, 1: the index)."""
        return self._market(j) + 4 * DERIVED_DIGITS + 3 + s * DERIVED_DIGITS * (1 + self.tiers[j])

    def margin_tier(self, s: int, j: int, t: int) -> int:
        """First digit of ``price_s × multiplier × bps_t``."""
        return self.margin_price(s, j) + DERIVED_DIGITS * (1 + t)

    def per_lot(self, j: int) -> int:
        """First digit of ``per_lot = max(1, ⌊index × multiplier × initial_bps₀ / 10 000⌋)``
        (the index the margin terms' ``index_mark``)."""
        return self.margin_price(2, j)

    def target(self) -> int:
        """First digit of the conservation target."""
        return self._market(len(self.tiers))

    def insurance_post(self) -> int:
        """The post-state insurance fund's sign (its three 24-bit limbs follow)."""
        return self.start + 4 + 16 + 5 * _SIGNED

    def fee_pool(self) -> int:
        """First digit of the fee pool's change (``fee_pool_post − fee_pool_pre``)."""
        return self.target() + TARGET_DIGITS

    def market_price(self, j: int) -> int:
        """The clearing price of market ``j`` among the statement's market terms."""
        return self.start + _MARKET_TERMS + (4 + _SIGNED) * j

    def multiplier(self, j: int) -> int:
        """The contract multiplier of market ``j`` (below 2^12, :meth:`from_elements`)."""
        return self.market_price(j) + 1

    def n(self, t: int) -> int:
        """The live account count before (0) or after (1)."""
        return self.start + t

    def root(self, t: int) -> int:
        """First element of the pre (0) or post (1) state root."""
        return self.roots + 8 * t


def _dec(e: Sequence[int]) -> int:
    sign, *limbs = (int(x) for x in e)
    if sign not in (0, 1) or any(not 0 <= x < 1 << _LIMB for x in limbs):
        raise ValueError(f"expected [sign, three 24-bit limbs], got {list(e)}")
    m = sum(x << (_LIMB * k) for k, x in enumerate(limbs))
    return -m if sign else m


@dataclass(frozen=True)
class MarketTerms:
    """One market's public terms: clearing price (0 if it did not trade), multiplier,
    fee in basis points, this batch's funding index step (base units per lot), and the
    liquidation penalty in basis points (of a liquidation fill's notional)."""

    price: int
    multiplier: int
    fee_bps: int
    delta_funding: int
    penalty_bps: int = 0


@dataclass(frozen=True)
class MarginTerms:
    """One market's margin terms after the batch (statement 4), from the post-state.

    Attributes:
        mark: the post-state's mark price (ticks; 0 before a first price).
        index_mark: the price the index check uses: the post-state's index price,
            or its mark where the market has no index yet (``transition``, step 11).
        flagged: the market's oracle is flagged after the batch (an account holding
            a position in it is never liquidated on the strength of its marks).
        tiers: ``(max_lots, maintenance_bps)`` of each cross-margin tier, in order.
        initial_bps: tier 0's ``initial_bps``: with ``index_mark`` it gives the market's
            liquidation ``per_lot`` (:func:`per_lot`), a derived public input.
    """

    mark: int
    index_mark: int
    flagged: bool
    tiers: tuple[tuple[int, int], ...]
    initial_bps: int


@dataclass(frozen=True)
class SettleStatement:
    """The settlement statement (public inputs; O(1) in the batch size)."""

    n_pre: int
    n_post: int
    pre_root: tuple[int, ...]
    post_root: tuple[int, ...]
    has_adjustments: bool
    deposits: int
    withdrawals: int
    fee_pool_pre: int
    fee_pool_post: int
    insurance_pre: int
    insurance_post: int
    markets: tuple[MarketTerms, ...]
    margins: tuple[MarginTerms, ...] = ()

    @property
    def depth_pre(self) -> int:
        return tree_depth(self.n_pre)

    @property
    def depth_post(self) -> int:
        return tree_depth(self.n_post)

    @property
    def net_collateral_change(self) -> int:
        """What Σ collateral must change by: deposits − withdrawals − Δ fee pool − Δ insurance."""
        return (
            self.deposits
            - self.withdrawals
            - (self.fee_pool_post - self.fee_pool_pre)
            - (self.insurance_post - self.insurance_pre)
        )

    def to_elements(self) -> tuple[int, ...]:
        """The statement as field elements (the order :meth:`from_elements` reads)."""
        out = [self.n_pre, self.n_post, int(self.has_adjustments), len(self.markets)]
        out += [*self.pre_root, *self.post_root]
        for v in (
            self.deposits,
            self.withdrawals,
            self.fee_pool_pre,
            self.fee_pool_post,
            self.insurance_pre,
            self.insurance_post,
        ):
            out += _enc(v)
        for mt in self.markets:
            out += [mt.price, mt.multiplier, mt.fee_bps, *_enc(mt.delta_funding), mt.penalty_bps]
        if len(self.margins) != len(self.markets):
            raise ValueError(
                f"expected margin terms for {len(self.markets)} markets, got {len(self.margins)}"
            )
        for mg in self.margins:
            out += [mg.mark, mg.index_mark, int(mg.flagged), len(mg.tiers)]
            for max_lots, bps in mg.tiers:
                out += [max_lots, bps]
            out.append(mg.initial_bps)
        return (*out, *self.derived_elements())

    def derived_elements(self) -> tuple[int, ...]:
        """The values the AIR's constraints read as public inputs instead of constants, derived
        from the statement (the verifier recomputes them; an L1 contract too): per market
        (id order) the 12-bit digits of ``price × multiplier``, the sign and digits of
        ``|ΔF|``, the digits of ``price × multiplier × fee_bps`` and of ``price × multiplier ×
        penalty_bps``, ``mark > 0``, ``flagged``,
        then for the mark and the index price each the digits of ``price × multiplier`` and
        per tier of ``price × multiplier × bps``, then the digits of the liquidation
        ``per_lot = max(1, ⌊index × multiplier × initial_bps₀ / 10 000⌋)`` (the index
        price ``index_mark``: the mark where the market has no index yet); then the digits
        of the conservation target
        ``2^80 + net collateral change``; last the digits of the fee pool's change
        ``fee_pool_post − fee_pool_pre`` (the batch's fees: never negative). So the program
        does not depend on these values: batches of one shape share one program
        (docs/contracts.md).

        Raises:
            ValueError: a value beyond its digits (a fee pool that shrinks among them).
        """
        out: list[int] = []
        for mt, mg in zip(self.markets, self.margins, strict=True):
            pm = mt.price * mt.multiplier
            out += _derived_digits(pm, DERIVED_DIGITS)
            out += [
                int(mt.delta_funding < 0),
                *_derived_digits(abs(mt.delta_funding), DERIVED_DIGITS),
            ]
            out += _derived_digits(pm * mt.fee_bps, DERIVED_DIGITS)
            out += _derived_digits(pm * mt.penalty_bps, DERIVED_DIGITS)
            out += [int(mg.mark > 0), int(mg.flagged)]
            for price in (mg.mark, mg.index_mark):
                out += _derived_digits(price * mt.multiplier, DERIVED_DIGITS)
                for _, bps in mg.tiers:
                    out += _derived_digits(price * mt.multiplier * bps, DERIVED_DIGITS)
            out += _derived_digits(
                per_lot(mg.index_mark, mt.multiplier, mg.initial_bps), DERIVED_DIGITS
            )
        out += _derived_digits(TARGET_OFFSET + self.net_collateral_change, TARGET_DIGITS)
        out += _derived_digits(self.fee_pool_post - self.fee_pool_pre, FEE_POOL_DIGITS)
        return tuple(out)

    def derived_index(self, start: int, roots: int | None = None) -> DerivedIndex:
        """Where :meth:`derived_elements` sit among public inputs whose statement elements
        (:meth:`to_elements`) begin at ``start``; the state roots are read at ``roots`` (pre,
        then post; default: the statement's own)."""
        base = start + len(self.to_elements()) - len(self.derived_elements())
        at = start + 4 if roots is None else roots
        return DerivedIndex(base, start, tuple(len(mg.tiers) for mg in self.margins), at)

    @classmethod
    def from_elements(cls, e: Sequence[int]) -> tuple[SettleStatement, int]:
        """Parse a statement from the front of ``e``; returns it and the elements used.

        Raises:
            ValueError: too few elements or a malformed value.
        """
        if len(e) < 4 + 16 + 6 * _SIGNED:
            raise ValueError(f"expected at least {4 + 16 + 6 * _SIGNED} elements, got {len(e)}")
        n_pre, n_post, adj, m = (int(x) for x in e[:4])
        if adj not in (0, 1) or not 1 <= m <= MAX_MARKETS or n_pre > n_post:
            raise ValueError(
                f"expected has_adjustments in {{0, 1}}, 1 to {MAX_MARKETS} markets and "
                f"n_pre <= n_post, got {adj}, {m}, {n_pre} > {n_post}"
            )
        i = 4
        digests = [tuple(int(x) for x in e[i + 8 * k : i + 8 * k + 8]) for k in range(2)]
        i += 16
        amounts = [_dec(e[i + _SIGNED * k : i + _SIGNED * (k + 1)]) for k in range(6)]
        i += 6 * _SIGNED
        if len(e) < i + m * (4 + _SIGNED):
            raise ValueError(f"expected {m} market terms, got {len(e) - i} elements")
        markets = []
        for _ in range(m):
            price, mult, fee = (int(x) for x in e[i : i + 3])
            penalty = int(e[i + 3 + _SIGNED])
            if not 0 <= mult < DIGIT:  # the fills section multiplies lots by it, digit-wise
                raise ValueError(f"expected a multiplier below 2^12, got {mult}")
            if not 0 <= penalty <= 10_000:
                raise ValueError(f"expected a penalty of 0 to 10 000 bps, got {penalty}")
            delta = _dec(e[i + 3 : i + 3 + _SIGNED])
            markets.append(MarketTerms(price, mult, fee, delta, penalty))
            i += 4 + _SIGNED
        margins = []
        for _ in range(m):
            if len(e) < i + 4:
                raise ValueError(f"expected {m} margin terms, got {len(e) - i} elements")
            mark, index_mark, flagged, tiers = (int(x) for x in e[i : i + 4])
            i += 4
            if flagged not in (0, 1) or not 1 <= tiers <= MAX_TIERS or len(e) < i + 2 * tiers + 1:
                raise ValueError(
                    f"expected a flag bit and 1 to {MAX_TIERS} margin tiers, got {flagged}, {tiers}"
                )
            pairs = tuple((int(e[i + 2 * t]), int(e[i + 2 * t + 1])) for t in range(tiers))
            initial_bps = int(e[i + 2 * tiers])
            _check_margin(mark, index_mark, pairs, initial_bps)
            margins.append(MarginTerms(mark, index_mark, bool(flagged), pairs, initial_bps))
            i += 2 * tiers + 1
        st = cls(
            n_pre=n_pre,
            n_post=n_post,
            pre_root=digests[0],
            post_root=digests[1],
            has_adjustments=bool(adj),
            deposits=amounts[0],
            withdrawals=amounts[1],
            fee_pool_pre=amounts[2],
            fee_pool_post=amounts[3],
            insurance_pre=amounts[4],
            insurance_post=amounts[5],
            markets=tuple(markets),
            margins=tuple(margins),
        )
        derived = st.derived_elements()
        if tuple(int(x) for x in e[i : i + len(derived)]) != derived:
            raise ValueError("expected the derived values of the statement after its elements")
        return st, i + len(derived)


def _check_margin(
    mark: int, index_mark: int, tiers: Sequence[tuple[int, int]], initial_bps: int
) -> None:
    """Raise ValueError unless prices fit 30 bits, the tiers grow as ``params`` requires and
    tier 0's initial bps is between its maintenance bps and 10 000."""
    if not (0 <= mark < 1 << 30 and 0 <= index_mark < 1 << 30):
        raise ValueError(f"expected mark and index prices below 2^30, got {mark}, {index_mark}")
    if tiers and not tiers[0][1] <= initial_bps <= BPS:
        raise ValueError(
            f"expected tier 0's initial bps between its maintenance bps {tiers[0][1]} and "
            f"{BPS}, got {initial_bps}"
        )
    prev = 0
    for max_lots, bps in tiers:
        if not prev < max_lots < 1 << 22 or not 1 <= bps <= 10_000:
            raise ValueError(
                "expected tiers of increasing max_lots below 2^22 and 1 to 10 000 bps, "
                f"got {list(tiers)}"
            )
        prev = max_lots


@dataclass(frozen=True)
class FillRow:
    """One fill as the settlement side receives it: an auction fill, or one side of an
    RFQ block (at the clearing price ``price``; ``block_price`` the block's, which moves
    ``(block_price − price) × lots × multiplier`` from the buyer to the seller; an
    auction fill's ``block_price`` is its ``price``)."""

    account: int
    market: int
    buy: bool
    lots: int
    price: int
    fee: int
    block_price: int = 0
    liquidation: bool = False  # a fill of a pre-state pending liquidation order
    #: what the fill's notional owes as a liquidation penalty (0 unless ``liquidation``):
    #: ``⌈lots × price × multiplier × penalty_bps / 10 000⌉``
    penalty: int = 0

    @property
    def transfer(self) -> int:
        """What the fill's account receives from its block's price difference (0 for an
        auction fill): ``±(block_price − price) × lots × multiplier`` before the
        multiplier, the seller's side positive when the block price is above."""
        if not self.block_price:
            return 0
        diff = (self.block_price - self.price) * self.lots
        return -diff if self.buy else diff


@dataclass(frozen=True)
class SettleWitness:
    """Per-account values by post-state row (``n_post`` rows), and the auction's fills.

    ``fills`` are the auction's fills and the RFQ blocks' (two each, at the end).
    ``penalties`` is each account's liquidation penalty (proved in the AIR from its
    liquidation fills and its equity, :mod:`.penalties`). ``adjust`` and
    ``adjust_positions`` hold what the transition moved beyond fills (the blocks'
    included, with their price transfers), fees, funding, deposits, withdrawals,
    forfeits and penalties (deficit cover, ADL, socialised loss); they reach
    the AIR as the verifier's public table ``TAG_ADJUST`` (from its replay of
    the batch); an account without a row there has none.
    """

    address_limbs: np.ndarray  # (n, 7) uint64
    subaccount: np.ndarray  # (n,)
    portfolio: np.ndarray  # (n,)
    collateral_pre: tuple[int, ...]
    collateral_post: tuple[int, ...]
    positions_pre: np.ndarray  # (n, m) int64
    positions_post: np.ndarray
    deposits: tuple[int, ...]
    withdrawals: tuple[int, ...]
    forfeits: tuple[int, ...]
    adjust: tuple[int, ...]
    adjust_positions: np.ndarray  # (n, m) int64
    fills: tuple[FillRow, ...]
    #: (n, 6): per account, the sum over its deposits (withdrawals) of each 12-bit digit
    deposit_digits: np.ndarray
    withdrawal_digits: np.ndarray
    #: (n, 6): per account, the sum over its forfeits' charges of each 12-bit digit (a
    #: charge is below 2^30: digits 3–5 are 0); zeros where absent
    forfeit_digits: np.ndarray = field(default_factory=lambda: np.zeros((0, 6), np.int64))
    #: (n, 12): per account, the sum of each 12-bit digit of the RFQ blocks' price
    #: transfers it receives (0–5) and pays (6–11); (0, 12) in a batch without blocks
    block_digits: np.ndarray = field(default_factory=lambda: np.zeros((0, 12), np.int64))
    #: per account, the liquidation penalty charged (moved to the insurance fund)
    penalties: tuple[int, ...] = ()
    #: per account, the deficit cover the insurance fund paid it (proved, :mod:`.pools`)
    cover: tuple[int, ...] = ()
    #: the two header digests (pre, post) the roots compress (the batch AIR hashes them)
    headers: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    #: ``(post row, liquidation orders)`` of each account with pending liquidation orders
    staged: tuple[tuple[int, int], ...] = ()

    def transfer_rows(self) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
        """``TAG_TRANSFERS`` rows ``(account, position)`` and their multiplicities: position
        ``k`` the sum of digit ``k`` of the account's deposits, ``6 + k`` of its withdrawals
        and forfeits' charges (only non-zero sums)."""
        rows, mults = [], []
        forfeits = self.forfeit_digit_sums()
        for r in range(len(self.deposits)):
            sums = [*self.deposit_digits[r], *(self.withdrawal_digits[r] + forfeits[r])]
            for pos, total in enumerate(sums):
                if total:
                    rows.append((r, pos))
                    mults.append(int(total))
        return tuple(rows), tuple(mults)

    def forfeit_digit_sums(self) -> np.ndarray:
        """``(n, 6)``: :attr:`forfeit_digits`, zeros where absent."""
        n = len(self.subaccount)
        if self.forfeit_digits.shape[0] == n:
            return self.forfeit_digits
        return np.zeros((n, 6), np.int64)

    def adjust_rows(self) -> tuple[tuple[int, ...], ...]:
        """``TAG_ADJUST`` rows for every account with an adjustment: ``(account, adjust
        sign, adjust digits×6, position adjustment per market (field elements))``."""
        out = []
        for r in range(len(self.adjust)):
            adjust = int(self.adjust[r])
            moved = [int(v) for v in self.adjust_positions[r]]
            if adjust or any(moved):
                row = [r, int(adjust < 0), *_digits(abs(adjust)), *(v % P for v in moved)]
                out.append(tuple(row))
        return tuple(out)

    def fill_rows(self) -> tuple[tuple[int, ...], ...]:
        """``TAG_FILL`` rows ``(account, market, side, lots, price, block price,
        liquidation)``, one per fill (an auction fill's block price is its price)."""
        return tuple(
            (
                f.account,
                f.market,
                int(f.buy),
                f.lots,
                f.price,
                f.block_price or f.price,
                int(f.liquidation),
            )
            for f in self.fills
        )

    def block_transfer_digits(self) -> np.ndarray:
        """``(n, 12)``: :attr:`block_digits`, zeros in a batch without blocks."""
        n = len(self.subaccount)
        if self.block_digits.shape[0] == n:
            return self.block_digits
        return np.zeros((n, 12), np.int64)


def _digits(amount: int) -> list[int]:
    """``amount``'s six 12-bit digits, least significant first."""
    return [int(d) for d in digits_of([amount], 6)[:, 0]]


def _digit_sums(post: LedgerState, flows: Sequence[tuple[AccountKey, int]]) -> np.ndarray:
    """``(n, 6)``: per account, the sum of each 12-bit digit of its ``flows``' amounts."""
    out = np.zeros((post.size, 6), dtype=np.int64)
    for key, amount in flows:
        out[post.row(key)] += np.array(_digits(int(amount)), dtype=np.int64)
    return out


def _per_account(post: LedgerState, flows: Sequence[tuple[AccountKey, int]]) -> list[int]:
    out = [0] * post.size
    for key, amount in flows:
        out[post.row(key)] += int(amount)
    return out


def _digest(elements: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(x) for x in poseidon2.hash_elements(np.array(elements, dtype=np.uint64)))


def settle_inputs(
    witness: BatchWitness, config: SettlementConfig
) -> tuple[SettleStatement, SettleWitness]:
    """The statement and witness of the settlement AIR for one settled batch.

    Raises:
        ValueError: more markets than :data:`MAX_MARKETS`.
    """
    pre, post = witness.pre, witness.post
    m = len(post.markets)
    if not 1 <= m <= MAX_MARKETS:
        raise ValueError(f"expected 1 to {MAX_MARKETS} markets, got {m}")
    if any(len(r.tiers) > MAX_TIERS for r in config.markets):
        raise ValueError(f"expected at most {MAX_TIERS} margin tiers per market")
    n0, n = pre.size, post.size
    block_fills = 2 * len(witness.blocks)
    auction = witness.fills[: len(witness.fills) - block_fills]
    block_prices = [b.block_price for b in witness.blocks for _ in range(2)]
    deltas = [witness.funding[mid].delta_index for mid in post.markets]
    mult = [config.markets[j].multiplier for j in range(m)]
    prices = [0] * m
    fill_rows = []
    net = np.zeros((n, m), dtype=np.int64)
    fees = [0] * n
    moved = [0] * n  # the blocks' price transfers
    block_digits = np.zeros((n, 12), dtype=np.int64)
    for i, sf in enumerate(witness.fills):
        j = config.column(sf.fill.market)
        r = post.row(sf.account)
        sign = sf.fill.side.sign
        due = 0
        if sf.liquidation:
            notional = sf.fill.quantity * sf.fill.price * mult[j]
            due = -((-notional * config.markets[j].liquidation_penalty_bps) // BPS)
        row = FillRow(
            r,
            j,
            sign > 0,
            sf.fill.quantity,
            sf.fill.price,
            sf.fee,
            liquidation=sf.liquidation,
            penalty=due,
        )
        if i < len(auction):
            prices[j] = sf.fill.price
        else:
            row = replace(row, block_price=block_prices[i - len(auction)])
            amount = row.transfer * mult[j]
            moved[r] += amount
            base = 0 if amount >= 0 else 6
            block_digits[r, base : base + 6] += np.array(_digits(abs(amount)), dtype=np.int64)
        fill_rows.append(row)
        net[r, j] += sign * sf.fill.quantity
        fees[r] += sf.fee
    c0 = [int(v) for v in pre.collateral] + [0] * (n - n0)
    c1 = [int(v) for v in post.collateral]
    p0 = np.zeros((n, m), dtype=np.int64)
    p0[:n0] = pre.positions
    p1 = np.array(post.positions, dtype=np.int64)
    dep = _per_account(post, witness.deposits)
    wd = _per_account(post, witness.withdrawals)
    forf = _per_account(post, witness.forfeits)
    pen = _per_account(post, witness.penalties)
    cover = [0] * n
    for flow in witness.deficits:
        cover[post.row(flow.account)] += flow.insurance
    adjust = []
    for r in range(n):
        funding = sum(int(p0[r, j]) * deltas[j] for j in range(m))
        cash = sum(int(net[r, j]) * prices[j] * mult[j] for j in range(m))
        expected = c0[r] + dep[r] - wd[r] - forf[r] - funding - cash - fees[r] + moved[r]
        adjust.append(c1[r] - expected + pen[r] - cover[r])
    adjust_positions = p1 - p0 - net
    # only ADL and socialised loss need the adjustments table: deficit cover is proved
    has_adj = any(adjust) or bool(np.any(adjust_positions))
    statement = SettleStatement(
        n_pre=n0,
        n_post=n,
        pre_root=tuple(int(x) for x in poseidon2.digest_from_bytes(witness.pre_root)),
        post_root=tuple(int(x) for x in poseidon2.digest_from_bytes(witness.post_root)),
        has_adjustments=has_adj,
        deposits=sum(dep),
        withdrawals=sum(wd),
        fee_pool_pre=pre.fee_pool,
        fee_pool_post=post.fee_pool,
        insurance_pre=pre.insurance_fund,
        insurance_post=post.insurance_fund,
        markets=tuple(
            MarketTerms(
                prices[j],
                mult[j],
                config.markets[j].fee_bps,
                deltas[j],
                config.markets[j].liquidation_penalty_bps,
            )
            for j in range(m)
        ),
        margins=tuple(
            MarginTerms(
                ms.mark_price,
                ms.index_price or ms.mark_price,
                ms.flagged,
                tuple((t.max_lots, t.maintenance_bps) for t in config.markets[j].tiers),
                config.markets[j].tiers[0].initial_bps,
            )
            for j, ms in enumerate(post.market_states)
        ),
    )
    staged = Counter(post.row(lo.account) for lo in post.pending_liquidations)
    sw = SettleWitness(
        address_limbs=_address_limbs(post.accounts) if n else np.zeros((0, 7), np.uint64),
        subaccount=np.array([k.subaccount for k in post.accounts], dtype=np.uint64),
        portfolio=np.array(post.portfolio, dtype=np.uint64),
        collateral_pre=tuple(c0),
        collateral_post=tuple(c1),
        positions_pre=p0,
        positions_post=p1,
        deposits=tuple(dep),
        withdrawals=tuple(wd),
        forfeits=tuple(forf),
        adjust=tuple(adjust),
        adjust_positions=adjust_positions,
        fills=tuple(fill_rows),
        deposit_digits=_digit_sums(post, witness.deposits),
        withdrawal_digits=_digit_sums(post, witness.withdrawals),
        forfeit_digits=_digit_sums(post, witness.forfeits),
        block_digits=block_digits,
        penalties=tuple(pen),
        cover=tuple(cover),
        headers=(_digest(header_elements(pre)), _digest(header_elements(post))),
        staged=tuple(sorted(staged.items())),
    )
    return statement, sw


def settle_publication(
    pub: BatchPublication, config: SettlementConfig, oracle: OracleConfig
) -> tuple[SettleStatement, SettleWitness]:
    """The statement a verifier derives from a published batch, and the prover's witness.

    The batch is replayed from its published inputs (``apply_batch`` on the
    published pre-state); the statement's post-state root, header and pools
    are those of the **published** post-state, so a published post-state that
    the transition does not produce yields a statement no trace satisfies.

    Raises:
        SettlementError: the published batch does not settle.
        ValueError: more markets than :data:`MAX_MARKETS`.
    """
    _, witness = apply_batch(
        pub.pre,
        pub.result,
        pub.oracle_round,
        config,
        oracle,
        deposits=pub.deposits,
        blocks=pub.blocks,
        withdrawals=pub.withdrawals,
    )
    statement, published = settle_inputs(
        replace(witness, post=pub.post, post_root=state_root(pub.post)), config
    )
    _, sw = settle_inputs(witness, config)
    return statement, replace(sw, headers=published.headers, staged=published.staged)


def replay_published(
    files: Mapping[str, str],
    pre: LedgerState,
    config: SettlementConfig,
    batch: PublishedBatch | None = None,
) -> BatchWitness:
    """Replay a published batch folder's transition (as ``sealbatch replay`` does) and
    return its witness: the settlement statement's flows, forfeits charged and funding
    steps come from here, so the verifier derives them from the published inputs.

    Args:
        batch: the folder's inputs already read from ``files``
            (:meth:`PublishedBatch.from_parsed`); by default they are read here.

    Raises:
        BatchStatementError: a malformed file, or a batch that does not settle.
    """
    if batch is None:
        batch = PublishedBatch.from_files(files)  # checks every value it reads
    try:
        return batch.resettle(pre, config).witness
    except (AuctionError, SettlementError) as exc:
        raise BatchStatementError(f"the published batch does not settle: {exc}") from exc


def settle_from_files(
    files: Mapping[str, str],
    pre: LedgerState,
    post: LedgerState,
    config: SettlementConfig,
    batch: PublishedBatch | None = None,
) -> tuple[SettleStatement, SettleWitness]:
    """The settlement statement of a published batch (roots, header and pools of the
    **published** states) and the witness of its replayed transition (``batch``: see
    :func:`replay_published`).

    Raises:
        BatchStatementError: the batch does not replay, or has too many markets.
    """
    witness = replay_published(files, pre, config, batch)
    try:
        statement, published = settle_inputs(
            replace(witness, post=post, post_root=state_root(post)), config
        )
        _, sw = settle_inputs(witness, config)
    except (ValueError, SettlementError) as exc:
        raise BatchStatementError(f"settlement statement: {exc}") from exc
    return statement, replace(sw, headers=published.headers, staged=published.staged)
