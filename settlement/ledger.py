"""The perpetuals ledger: accounts, collateral, signed positions, fee pool, insurance fund.

Accounts are keyed by an L1 address and a subaccount number; each subaccount
is margined on its own. The ledger follows the StarkEx/dYdX perpetual model:
buying ``q`` lots at ``p`` ticks takes ``q × p × multiplier`` base units out of
collateral (selling puts them in), so collateral may be negative for a long,
and

    equity = collateral + Σ_m position_m × mark_m × multiplier_m

in base units of the 6-decimal collateral token, exactly.

A :class:`LedgerState` is an immutable value: its numpy arrays are read-only
and every operation returns a new state. Columns of ``positions`` follow the
sorted market ids of the :class:`~settlement.params.SettlementConfig`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.bounds import MAX_BALANCE, bound_message, within
from sealbatch.crypto.eip712 import Address
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import DIGEST_SIZE
from sealbatch.settlement.config_digest import config_digest
from sealbatch.settlement.errors import MarketFlagged, SettlementError, UnknownAccount
from sealbatch.settlement.params import BPS, SettlementConfig

__all__ = [
    "INT64_SAFE",
    "AccountKey",
    "LedgerState",
    "LiquidationOrder",
    "MarketState",
    "check_amount",
    "check_key",
    "check_not_frozen",
    "deposit",
    "empty_state",
    "equity",
    "fill_fee",
    "notional_matrix",
    "open_account",
    "total_value",
]

I64 = npt.NDArray[np.int64]

#: Every amount the ledger stores or computes stays below this in absolute
#: value, so that sums of a few of them never wrap int64 and the batch proof
#: range-checks each in three 24-bit limbs: ``MAX_BALANCE + 1 = 2^62``
#: (:mod:`sealbatch.auction.bounds`).
INT64_SAFE = MAX_BALANCE + 1


class AccountKey(NamedTuple):
    """An account: an L1 address (checksummed hex) and a subaccount number."""

    address: Address
    subaccount: int = 0


@dataclass(frozen=True)
class MarketState:
    """One market's settlement state, carried from batch to batch.

    Attributes:
        market: the market id.
        mark_price: ticks; 0 before the first price.
        index_price: the last trusted oracle index, ticks; 0 before the first.
        index_time_ms: the round time of ``index_price``; 0 before the first.
        premium: the mark premium, ticks: ``mark = index + premium`` (see
            :func:`~settlement.oracle.update_mark`).
        last_price: the last clearing price, ticks; 0 before the first.
        funding_index: cumulative funding per lot, base units (longs pay its rises).
        premium_sum: Σ premium × Δt over the current funding interval (tick·ms): for
            each batch with a trusted index, the mark premium in force over its Δt
            (the one the batch before left).
        premium_time: Σ Δt of the samples in ``premium_sum`` (ms).
        interval_batches: batches settled in the current funding interval.
        flagged: the last round gave this market no trusted index.
        protective: the circuit breaker holds the market in protective mode.
        calm: consecutive calm batches while protective.
    """

    market: str
    mark_price: int = 0
    index_price: int = 0
    last_price: int = 0
    funding_index: int = 0
    index_time_ms: int = 0
    premium: int = 0
    premium_sum: int = 0
    premium_time: int = 0
    interval_batches: int = 0
    flagged: bool = False
    protective: bool = False
    calm: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "mark_price": self.mark_price,
            "index_price": self.index_price,
            "last_price": self.last_price,
            "funding_index": self.funding_index,
            "index_time_ms": self.index_time_ms,
            "premium": self.premium,
            "premium_sum": self.premium_sum,
            "premium_time": self.premium_time,
            "interval_batches": self.interval_batches,
            "flagged": self.flagged,
            "protective": self.protective,
            "calm": self.calm,
        }

    @classmethod
    def from_dict(cls, market: str, data: Mapping[str, object]) -> MarketState:
        ints: tuple[str, ...] = (
            "mark_price",
            "index_price",
            "last_price",
            "funding_index",
            "index_time_ms",
            "premium",
            "premium_sum",
            "premium_time",
            "interval_batches",
            "calm",
        )
        values: dict[str, object] = {}
        for name in ints:
            v = data.get(name, 0)
            # the state root encodes each as a sign and 72 bits, ``calm`` as one field element
            low, high = (0, (1 << 30) - 1) if name == "calm" else (1 - (1 << 63), (1 << 63) - 1)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise SettlementError(
                    f"{market}.{name}: expected an integer from {low} to {high}, got {v!r}"
                )
            values[name] = v
        for name in ("flagged", "protective"):
            v = data.get(name, False)
            if not isinstance(v, bool):
                raise SettlementError(f"{market}.{name}: expected a bool, got {v!r}")
            values[name] = v
        return cls(market, **values)  # type: ignore[arg-type]

    @property
    def frozen(self) -> bool:
        """Flagged after having had a trusted index: its mark is not to be priced off
        (no withdrawal, transfer or risk-raising order leans on it, no liquidation)."""
        return self.flagged and self.index_price > 0

    def halted(self, now_ms: int, max_age_ms: int) -> bool:
        """Its last trusted index is older than ``max_age_ms`` at ``now_ms``: no batch
        trades in it until a trusted index arrives (never halted before a first index)."""
        return self.index_time_ms > 0 and now_ms - self.index_time_ms > max_age_ms


@dataclass(frozen=True)
class LiquidationOrder:
    """A staged liquidation order waiting for the next batch's auction."""

    account: AccountKey
    resting: RestingOrder


def _frozen(a: npt.ArrayLike, dtype: type) -> np.ndarray:
    arr: np.ndarray = np.array(a, dtype=dtype)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class LedgerState:
    """Every account's collateral and positions, the pools, and each market's state.

    Attributes:
        markets: market ids, the column order of ``positions``.
        accounts: account keys, the row order (also the state-tree leaf order).
        collateral: ``(n,)`` int64 base units.
        positions: ``(n, m)`` int64 signed lots.
        portfolio: ``(n,)`` bool, the account uses portfolio margin.
        fee_pool: fees collected, base units.
        insurance_fund: base units.
        socialised_loss: cumulative deficit spread over accounts (a statistic:
            the amounts are already out of their collateral).
        market_states: per market, in ``markets`` order.
        pending_liquidations: liquidation orders for the next batch.
        resting_orders: the GTC rests carried into the next batch (unfilled
            remainders, reduce-only ones capped, every one re-checked against
            this state's margin), in the order the next batch's checks take them.
        batch_id: the last settled batch, -1 before the first.
        timestamp_ms: the oracle round time of the last settled batch.
        config_digest: the 8-element digest of the settlement rules this ledger runs
            under (:func:`~settlement.config_digest.config_digest`), set at genesis by
            :func:`empty_state` (or read with a published state's own ``config``) and
            carried unchanged by every batch; the state root commits to it.
    """

    markets: tuple[str, ...]
    accounts: tuple[AccountKey, ...]
    collateral: I64
    positions: I64
    portfolio: npt.NDArray[np.bool_]
    fee_pool: int = 0
    insurance_fund: int = 0
    socialised_loss: int = 0
    market_states: tuple[MarketState, ...] = ()
    pending_liquidations: tuple[LiquidationOrder, ...] = ()
    resting_orders: tuple[RestingOrder, ...] = ()
    batch_id: int = -1
    timestamp_ms: int = 0
    config_digest: tuple[int, ...] = ()
    _memo: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)
    _rows: Mapping[AccountKey, int] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        n, m = len(self.accounts), len(self.markets)
        object.__setattr__(self, "collateral", _frozen(self.collateral, np.int64).reshape(n))
        object.__setattr__(self, "positions", _frozen(self.positions, np.int64).reshape(n, m))
        object.__setattr__(self, "portfolio", _frozen(self.portfolio, np.bool_).reshape(n))
        if len(self.market_states) != m or any(
            s.market != mid for s, mid in zip(self.market_states, self.markets, strict=True)
        ):
            raise SettlementError(f"market_states: expected one per market {self.markets}")
        digest = self.config_digest
        if len(digest) != DIGEST_SIZE or not all(
            isinstance(x, int) and not isinstance(x, bool) and 0 <= x < P for x in digest
        ):
            raise SettlementError(
                f"config_digest: expected {DIGEST_SIZE} field elements (ledger.empty_state or a "
                f"published state's config sets it), got {digest!r}"
            )
        rows = {k: i for i, k in enumerate(self.accounts)}
        if len(rows) != n:
            raise SettlementError("accounts: expected distinct account keys")
        object.__setattr__(self, "_rows", rows)

    @property
    def size(self) -> int:
        return len(self.accounts)

    def row(self, key: AccountKey) -> int:
        """The row of ``key``; raises UnknownAccount."""
        try:
            return self._rows[key]
        except KeyError:
            raise UnknownAccount(
                f"expected a known account, got {key.address}/{key.subaccount}"
            ) from None

    def has(self, key: AccountKey) -> bool:
        return key in self._rows

    def mark_prices(self) -> I64:
        return np.array([s.mark_price for s in self.market_states], dtype=np.int64)

    def market_state(self, market: str) -> MarketState:
        return self.market_states[self.markets.index(market)]

    def memo(self) -> dict[str, object]:
        """A per-instance cache for values derived from this (immutable) state, e.g. its root."""
        return self._memo

    def with_arrays(self, **changes: object) -> LedgerState:
        """A copy with some fields replaced (arrays are copied and frozen)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def empty_state(config: SettlementConfig) -> LedgerState:
    """A ledger with no accounts, empty pools and no prices yet, under ``config``'s digest."""
    m = len(config.markets)
    return LedgerState(
        markets=config.market_ids,
        accounts=(),
        collateral=np.zeros(0, dtype=np.int64),
        positions=np.zeros((0, m), dtype=np.int64),
        portfolio=np.zeros(0, dtype=np.bool_),
        market_states=tuple(MarketState(mid) for mid in config.market_ids),
        config_digest=config_digest(config),
    )


def check_amount(name: str, amount: object) -> int:
    """``amount`` if it is a positive integer within the balance bound; raises
    SettlementError naming ``name``."""
    if not within(amount, 1, MAX_BALANCE):
        raise SettlementError(bound_message(name, amount, 1, MAX_BALANCE, "base units"))
    return amount


def check_key(key: object) -> AccountKey:
    """``key`` as an AccountKey if well formed; raises SettlementError."""
    if not isinstance(key, tuple) or len(key) != 2:
        raise SettlementError(f"account: expected (address, subaccount), got {key!r}")
    address, sub = key
    if not isinstance(address, str) or not address.startswith("0x") or len(address) != 42:
        raise SettlementError(f"address: expected 0x and 40 hex digits, got {address!r}")
    if isinstance(sub, bool) or not isinstance(sub, int) or not 0 <= sub < 1 << 16:
        raise SettlementError(f"subaccount: expected 0 to 65535, got {sub!r}")
    return AccountKey(Address(address), sub)


def open_account(state: LedgerState, key: AccountKey, portfolio: bool = False) -> LedgerState:
    """Add an empty account (no collateral, no positions); ``portfolio`` picks portfolio margin.

    Raises:
        SettlementError: a malformed key, or the account exists already.
    """
    key = check_key(key)
    if state.has(key):
        raise SettlementError(
            f"expected a new account, got existing {key.address}/{key.subaccount}"
        )
    m = len(state.markets)
    return state.with_arrays(
        accounts=(*state.accounts, key),
        collateral=np.append(state.collateral, 0),
        positions=np.vstack([state.positions, np.zeros((1, m), dtype=np.int64)]),
        portfolio=np.append(state.portfolio, bool(portfolio)),
    )


def open_accounts(
    state: LedgerState, keys: Sequence[AccountKey], collateral: Sequence[int]
) -> LedgerState:
    """Add many funded cross-margin accounts at once (bulk open and deposit)."""
    checked = [check_key(k) for k in keys]
    amounts = [check_amount("amount", a) for a in collateral]
    if len(amounts) != len(checked):
        raise SettlementError(
            f"expected one amount per account, got {len(amounts)} for {len(checked)}"
        )
    m = len(state.markets)
    return state.with_arrays(
        accounts=(*state.accounts, *checked),
        collateral=np.concatenate([state.collateral, np.array(amounts, dtype=np.int64)]),
        positions=np.vstack([state.positions, np.zeros((len(checked), m), dtype=np.int64)]),
        portfolio=np.concatenate([state.portfolio, np.zeros(len(checked), dtype=np.bool_)]),
    )


def deposit(state: LedgerState, key: AccountKey, amount: int) -> LedgerState:
    """Credit ``amount`` base units to ``key``'s collateral, opening the account if new."""
    amount = check_amount("amount", amount)
    key = check_key(key)
    if not state.has(key):
        state = open_account(state, key)
    collateral = state.collateral.copy()
    collateral[state.row(key)] += amount
    if collateral[state.row(key)] >= INT64_SAFE:
        raise SettlementError(
            f"collateral: expected at most {MAX_BALANCE} base units (below 2^62) after the "
            f"deposit, got {int(collateral[state.row(key)])}"
        )
    return state.with_arrays(collateral=collateral)


def check_not_frozen(state: LedgerState, row: int, what: str) -> None:
    """Raise MarketFlagged when the account in ``row`` holds a position in a flagged market."""
    for j, ms in enumerate(state.market_states):
        if ms.frozen and state.positions[row, j] != 0:
            raise MarketFlagged(
                f"{what}: expected no position in a flagged market, got "
                f"{int(state.positions[row, j]):+d} lots of {ms.market} (oracle flagged; its mark "
                f"{ms.mark_price} is not trusted until a trusted index arrives)"
            )


def notional_matrix(positions: I64, marks: I64, multipliers: I64) -> I64:
    """Signed notional per account and market: ``position × mark × multiplier`` (exact).

    Raises:
        SettlementError: a notional would reach 2^62 (int64 would not be exact).
    """
    if positions.size:
        peak = (
            int(
                np.abs(positions)
                .max(axis=0)
                .astype(object)
                .dot(marks.astype(object) * multipliers.astype(object))
            )
            if positions.shape[1]
            else 0
        )
        if peak >= INT64_SAFE:
            raise SettlementError(f"expected notionals below 2^62, got {peak}")
    return positions * (marks * multipliers)[None, :]


def multipliers(config: SettlementConfig) -> I64:
    return np.array([m.multiplier for m in config.markets], dtype=np.int64)


def equity(state: LedgerState, config: SettlementConfig, marks: I64 | None = None) -> I64:
    """Equity per account at ``marks`` (default: the state's mark prices), base units."""
    marks = state.mark_prices() if marks is None else marks
    return state.collateral + notional_matrix(state.positions, marks, multipliers(config)).sum(
        axis=1
    )


def total_value(state: LedgerState) -> int:
    """Σ collateral + fee pool + insurance fund: what a batch conserves."""
    return int(state.collateral.astype(object).sum()) + state.fee_pool + state.insurance_fund


def fill_fee(quantity: int, price: int, multiplier: int, fee_bps: int) -> int:
    """The fee on one fill: ``ceil(quantity × price × multiplier × fee_bps / 10 000)``."""
    return -((-quantity * price * multiplier * fee_bps) // BPS)


def rows_of(state: LedgerState, keys: Iterable[AccountKey]) -> list[int]:
    return [state.row(k) for k in keys]
