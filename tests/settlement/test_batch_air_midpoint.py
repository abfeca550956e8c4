"""S7's price rule without a reference (batch_air/midpoint.py): the midpoint of the
optimal prices within the limit prices, and a book of market orders only.

Honest batches are cleared by auction/, settled and published; each forgery restates one
of them at another optimal price (the same fills) or with another reference, the public
inputs with it. The prover refuses naming the rule, and the AIR, written anyway
(``refuse=False``), rejects the trace on the constraint named after it.

"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.batch_air.statement import PUBLIC_HEADER, BatchStatement
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    PRICES,
    committed_batch,
    proved,
    refused_and_rejected,
    statement_of,
    with_marks,
)
from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round

t = TRADERS
#: ETH-PERP in every batch here: 2 lots bid and offered at 350 000 (its only optimal price).
_ETH = [(t[6], Order(ETH, Side.BUY, 350_000, 2)), (t[7], Order(ETH, Side.SELL, 350_000, 2))]
_NONE: dict[str, int | None] = {BTC: None, ETH: None}

#: BTC books without a reference, and the price the rule gives each.
BOOKS = {
    # every price from 649 990 to 650 010 executes 5 lots, balanced: the midpoint
    "even": ([(t[0], Order(BTC, Side.SELL, 649_990, 5)), (t[1], Order(BTC, Side.BUY, 650_010, 5))],
             650_000),
    # 649 990 … 650 011, 22 prices: the midpoint 650 000.5 rounds down
    "odd": ([(t[0], Order(BTC, Side.SELL, 649_990, 5)), (t[1], Order(BTC, Side.BUY, 650_011, 5))],
            650_000),
    # below 650 000 buys 3 of 5 market-sold lots (imbalance 2); at it 2 more are offered
    # (imbalance 4): the optimum lies wholly below the limits, its top end
    "below": ([(t[0], Order(BTC, Side.SELL, None, 5)), (t[1], Order(BTC, Side.BUY, 650_000, 3)),
               (t[2], Order(BTC, Side.SELL, 650_000, 2))], 649_999),
    # the mirror image: wholly above the limits, its bottom end
    "above": ([(t[0], Order(BTC, Side.BUY, None, 5)), (t[1], Order(BTC, Side.SELL, 650_000, 3)),
               (t[2], Order(BTC, Side.BUY, 650_000, 2))], 650_001),
}  # fmt: skip

#: A book of market orders only: 3 lots to buy, 3 to sell.
_MARKET_ONLY = [(t[0], Order(BTC, Side.BUY, None, 3)), (t[1], Order(BTC, Side.SELL, None, 3))]


def _published(
    orders: Sequence[tuple[Address, Order]], refs: dict[str, int | None]
) -> BatchStatement:
    """The statement of ``orders`` (and ETH's) cleared under ``refs``, settled on a state
    whose marks they are (none: no mark yet), published."""
    batch = committed_batch(1, [*orders, *_ETH], refs)
    state = with_marks(funded([10**12] * len(TRADERS)), refs)
    rnd = oracle_round(1, 1_000, PRICES)
    post, _ = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
    return statement_of(BatchPublication(batch, rnd, state, post).files(DEFAULT_CONFIG, ORACLE))


def _restated(
    statement: BatchStatement, price: int | None = None, reference: int | None = None
) -> BatchStatement:
    """``statement`` with BTC (market 0) at ``price`` (its fills unchanged) or with the
    reference ``reference`` (0: none), in the public inputs too. A restated reference is
    no longer the pre-state's mark either (the state headers' link, tested in
    test_batch_air_headers.py); the prover and the AIR name the price rule first."""
    assert statement.markets[0] == BTC
    public = list(statement.public_inputs)
    prices, refs, orders = list(statement.prices), list(statement.references), statement.orders
    if price is not None:
        prices[0] = public[PUBLIC_HEADER] = price
        orders = tuple(replace(o, fill_price=price) if o.market == 0 and o.fill else o
                       for o in orders)  # fmt: skip
    if reference is not None:
        refs[0] = public[PUBLIC_HEADER + 7] = reference
    return replace(
        statement,
        prices=tuple(prices),
        references=tuple(refs),
        orders=orders,
        public_inputs=tuple(public),
    )


def _btc_price(statement: BatchStatement) -> int:
    return statement.prices[statement.markets.index(BTC)]


# ---- S7 midpoint


@pytest.mark.parametrize("book", BOOKS)
def test_a_book_without_a_reference_clears_at_the_midpoint_and_proves(book: str) -> None:
    orders, price = BOOKS[book]
    statement = _published(orders, _NONE)
    assert _btc_price(statement) == price
    assert statement.references == (0, 0)
    proved(statement)


@pytest.mark.parametrize(
    ("book", "price"),
    [
        ("even", 650_001),  # one tick above the midpoint
        ("even", 649_999),  # one tick below
        ("even", 649_990),  # the interval's lower end
        ("even", 650_010),  # its upper end
        ("odd", 650_001),  # the midpoint 650 000.5 rounded up
    ],
)
def test_another_optimal_price_is_refused_by_s7_midpoint(book: str, price: int) -> None:
    forged = _restated(_published(BOOKS[book][0], _NONE), price=price)
    assert _btc_price(forged) == price
    refused_and_rejected(forged, "S7 midpoint", "S7 midpoint: as many optimal prices")


@pytest.mark.parametrize(
    ("book", "price", "rule"),
    [
        ("below", 649_998, "below every limit"),  # optimal, but not the end nearest 650 000
        ("above", 650_002, "above every limit"),
    ],
)
def test_an_optimum_outside_the_limits_clears_at_its_end_nearest_them(
    book: str, price: int, rule: str
) -> None:
    forged = _restated(_published(BOOKS[book][0], _NONE), price=price)
    refused_and_rejected(forged, "S7 midpoint", f"S7 midpoint: {rule}")


@pytest.mark.parametrize("seed", range(3))
def test_random_books_without_a_reference_prove(seed: int) -> None:
    """Books cleared by auction/ without a reference (levels, gaps, market orders) prove."""
    rng = random.Random(seed)
    orders = []
    for _ in range(rng.randrange(4, 16)):
        side = rng.choice((Side.BUY, Side.SELL))
        limit = None if rng.random() < 0.15 else 650_000 + rng.randrange(-9, 10)
        orders.append((rng.choice(TRADERS[:6]), Order(BTC, side, limit, rng.randrange(1, 9))))
    proved(_published(orders, _NONE))


# ---- S7 market orders


def test_market_orders_only_trade_at_the_reference_and_prove() -> None:
    statement = _published(_MARKET_ONLY, {BTC: 650_000, ETH: None})
    assert _btc_price(statement) == 650_000
    proved(statement)


def test_market_orders_only_without_a_reference_do_not_trade_and_prove() -> None:
    statement = _published(_MARKET_ONLY, _NONE)
    assert _btc_price(statement) == 0
    proved(statement)


def test_market_orders_only_stated_to_trade_without_a_reference_are_refused() -> None:
    forged = _restated(_published(_MARKET_ONLY, {BTC: 650_000, ETH: None}), reference=0)
    assert (_btc_price(forged), forged.references[0]) == (650_000, 0)
    refused_and_rejected(forged, "S7 market orders", "S7 market orders: no trade")


def test_market_orders_only_stated_not_to_trade_at_their_reference_are_refused() -> None:
    forged = _restated(_published(_MARKET_ONLY, _NONE), reference=650_000)
    assert (_btc_price(forged), forged.references[0]) == (0, 650_000)
    refused_and_rejected(forged, "S7 market orders", "S7 market orders: a trade")
