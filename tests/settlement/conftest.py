"""Shared helpers of the settlement tests: batches without signatures, signed oracle rounds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import pytest

from sealbatch.auction.batch import BatchResult, RestingOrder, clear_batch
from sealbatch.auction.commit_reveal import Forfeit, RevealedOrder, SealedBatch
from sealbatch.auction.orders import Order
from sealbatch.crypto.eip712 import Address, address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.ledger import AccountKey, LedgerState, deposit, empty_state
from sealbatch.settlement.oracle import (
    OracleConfig,
    OracleRound,
    OracleSource,
    PriceReport,
    SignedReport,
)
from sealbatch.settlement.params import DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.transition import reference_prices

if TYPE_CHECKING:
    import numpy as np

    from sealbatch.crypto.air import Air
    from sealbatch.settlement.batch_air.statement import BatchStatement

ORACLE_KEYS = {
    (family, i): keccak256(b"settlement test oracle", family.encode(), bytes([i]))
    for family in ("cex", "dex")
    for i in range(2)
}
ORACLE = OracleConfig(
    tuple(OracleSource(address_of(k), fam) for (fam, _), k in sorted(ORACLE_KEYS.items()))
)
_SIGNED: dict[tuple[object, ...], SignedReport] = {}


def trader(i: int) -> Address:
    return address_of(keccak256(b"settlement test trader", i.to_bytes(4, "big")))


TRADERS = [trader(i) for i in range(64)]


def key(i: int, sub: int = 0) -> AccountKey:
    return AccountKey(TRADERS[i], sub)


def report(family: str, i: int, market: str, price: int, ts: int) -> SignedReport:
    """A signed report (cached: signing is the slow part of these tests)."""
    k = ORACLE_KEYS[(family, i)]
    cache_key = (family, i, market, price, ts)
    if cache_key not in _SIGNED:
        _SIGNED[cache_key] = SignedReport.sign(PriceReport(market, price, ts, address_of(k)), k)
    return _SIGNED[cache_key]


def oracle_round(
    round_id: int,
    ts: int,
    prices: Mapping[str, int],
    overrides: Mapping[tuple[str, str], int | None] | None = None,
    age_ms: int = 0,
) -> OracleRound:
    """Every source reports ``prices``; ``overrides[(market, family)]`` replaces a family's
    price (None drops the family's reports)."""
    reports = []
    for market, price in sorted(prices.items()):
        for family in ("cex", "dex"):
            p = (overrides or {}).get((market, family), price)
            if (market, family) in (overrides or {}) and p is None:
                continue
            for i in range(2):
                reports.append(report(family, i, market, int(p or price), ts - age_ms))
    return OracleRound(round_id, ts, tuple(reports))


def make_batch(
    batch_id: int,
    orders: Sequence[tuple[Address, Order]],
    config: SettlementConfig = DEFAULT_CONFIG,
    carried_in: Iterable[RestingOrder] = (),
    forfeits: Sequence[tuple[Address, str, int]] = (),
    references: Mapping[str, int | None] | None = None,
    pre: LedgerState | None = None,
) -> BatchResult:
    """Clear ``orders`` (taken as revealed, no signatures) in one batch, around the
    ``references`` given, else the marks of the state ``pre`` it settles on (the only
    references the transition takes), else none (a state without marks)."""
    revealed = tuple(
        RevealedOrder(
            keccak256(b"test order", batch_id.to_bytes(8, "big"), n.to_bytes(4, "big")),
            t,
            o,
            n,
            n,
            0,
            0,
        )
        for n, (t, o) in enumerate(orders)
    )
    lost = tuple(
        Forfeit(keccak256(b"test forfeit", bytes([n])), t, m, 1000 + n, bond)
        for n, (t, m, bond) in enumerate(forfeits)
    )
    seed = keccak256(b"test seed", batch_id.to_bytes(8, "big"))
    sealed = SealedBatch(batch_id, seed, (), revealed, lost, ())
    if references is not None:
        refs = dict(references)
    elif pre is not None:
        refs = reference_prices(pre)
    else:
        refs = dict.fromkeys(config.market_ids)
    return clear_batch(sealed, config.auction_markets, refs, carried_in)


def funded(amounts: Sequence[int], config: SettlementConfig = DEFAULT_CONFIG) -> LedgerState:
    state = empty_state(config)
    for i, a in enumerate(amounts):
        state = deposit(state, key(i), a)
    return state


@pytest.fixture
def config() -> SettlementConfig:
    return DEFAULT_CONFIG


# The margin crash of the batch AIR tests (margin, liquidation orders, ids and slices),
# built once per module that uses it. batch_air_helpers imports this module: imported here
# when a fixture runs.


@pytest.fixture(scope="module")
def margin_files() -> dict[str, str]:
    """The published folder of the margin crash: account 0 staged for liquidation."""
    from tests.settlement.batch_air_helpers import margin_crash_files

    return margin_crash_files()


@pytest.fixture(scope="module")
def margin_honest(margin_files: dict[str, str]) -> tuple[BatchStatement, Air, np.ndarray]:
    """The statement of the margin crash, and the AIR and honest trace of its proof."""
    from tests.settlement.batch_air_helpers import generated

    return generated(margin_files)
