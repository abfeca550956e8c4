"""One batch end to end: commit book -> clear_batch, carried GTC and liquidation orders."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest
from eth_utils import keccak as eth_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.batch import (
    BatchResult,
    RestingOrder,
    clear_batch,
    clear_market,
    tiebreak_key,
)
from sealbatch.auction.commit_reveal import CommitBook, Reveal, SealedBatch
from sealbatch.auction.errors import AuctionError, RevealMismatch
from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.poseidon2 import P, compress
from tests.auction.conftest import AFTER, ALICE, BOB, CAROL, IN_COMMIT, IN_REVEAL, Trader
from tests.auction.reference import Row, brute_price, reference_allocation


def reference_key(seed: bytes, order_id: bytes) -> bytes:
    """The tie-break key by hand: 32 bytes -> 8 little-endian words mod p; the
    vectorised ``compress``; the 8 elements as big-endian words."""

    def words(b: bytes) -> list[int]:
        return [int.from_bytes(b[i : i + 4], "little") % P for i in range(0, 32, 4)]

    return b"".join(int(e).to_bytes(4, "big") for e in compress(words(seed), words(order_id)))


BookFactory = Callable[..., CommitBook]
DAVE = Trader(bytes.fromhex("d0" * 32))
ERIN = Trader(bytes.fromhex("e0" * 32))
GTC = TimeInForce.GTC


def run_batch(
    book: CommitBook,
    entries: list[tuple[Trader, Order, str]],
) -> tuple[SealedBatch, dict[int, bytes]]:
    """Commit every entry, reveal those marked "reveal", tamper those marked "bad".

    Returns the sealed batch and each entry's commitment by position.
    """
    reveals: list[tuple[str, Reveal]] = []
    ids: dict[int, bytes] = {}
    for i, (trader, order, how) in enumerate(entries):
        signed, reveal = trader.sealed(
            order, nonce=1000 * book.batch_id + i, batch_id=book.batch_id
        )
        book.commit(signed, IN_COMMIT)
        ids[i] = reveal.commitment
        reveals.append((how, reveal))
    for how, reveal in reveals:
        if how == "reveal":
            book.reveal(reveal, IN_REVEAL)
        elif how == "bad":
            with pytest.raises(RevealMismatch):
                book.reveal(Reveal(reveal.commitment, reveal.order, bytes(32)), IN_REVEAL)
    return book.close(AFTER), ids


def check_market_against_reference(result: BatchResult, market: str) -> None:
    """Price by brute force, fills by the scalar reference, keys by hand."""
    m = result.markets[market]
    rows = [r for r in result.orders if r.order.market == market]
    ref_rows = [Row(r.order.side is Side.BUY, r.order.limit_price, r.order.quantity) for r in rows]
    brute = brute_price(ref_rows, m.reference_price)
    assert (m.price, m.volume) == (brute.price, brute.volume)
    expected = reference_allocation(
        ref_rows, m.price, lambda i: reference_key(result.seed, rows[i].order_id)
    )
    got = {f.order_id: f for f in m.fills}
    for r, q in zip(rows, expected, strict=True):
        if q:
            f = got.pop(r.order_id)
            assert (f.quantity, f.price, f.trader, f.side, f.market) == (
                q,
                m.price,
                r.trader,
                r.order.side,
                market,
            )
    assert not got  # no fill for an order the reference does not fill
    bought = sum(f.quantity for f in m.fills if f.side is Side.BUY)
    sold = sum(f.quantity for f in m.fills if f.side is Side.SELL)
    assert bought == sold == m.volume
    assert m.orders == len(rows)


def test_batch_end_to_end(make_book: BookFactory) -> None:
    book = make_book(references={"BTC-PERP": 50_000, "ETH-PERP": 3_000})
    entries = [
        (ALICE, Order("BTC-PERP", Side.BUY, 50_100, 10, GTC), "reveal"),
        (BOB, Order("BTC-PERP", Side.SELL, 49_900, 4), "reveal"),
        (DAVE, Order("BTC-PERP", Side.SELL, None, 3), "reveal"),
        (CAROL, Order("BTC-PERP", Side.SELL, 49_800, 50), "forfeit"),
        (ERIN, Order("ETH-PERP", Side.BUY, 3_010, 6), "reveal"),
        (ALICE, Order("ETH-PERP", Side.SELL, 2_990, 2), "reveal"),
        (BOB, Order("ETH-PERP", Side.SELL, 2_995, 1, GTC), "bad"),
    ]
    sealed, ids = run_batch(book, entries)
    result = clear_batch(sealed, DEFAULT_MARKETS, {"BTC-PERP": 50_000, "ETH-PERP": 3_000})

    assert (result.batch_id, result.seed) == (7, sealed.seed)
    assert set(result.markets) == {"BTC-PERP", "ETH-PERP"}
    for market in result.markets:
        check_market_against_reference(result, market)
    btc = result.markets["BTC-PERP"]
    # 7 lots offered at or below 50 000 against ALICE's 10: price pinned at the reference
    assert (btc.price, btc.volume, btc.buy_volume, btc.sell_volume) == (50_000, 7, 10, 7)
    assert btc.imbalance == 3 and btc.reference_price == 50_000
    eth = result.markets["ETH-PERP"]
    assert (eth.price, eth.volume) == (3_000, 2)

    # CAROL never revealed; BOB's tampered reveal left his commitment unrevealed
    assert [f.commitment for f in result.forfeited] == [ids[3], ids[6]]
    assert [r.code for r in result.rejections] == ["reveal_mismatch"]
    # ALICE's GTC buy rests with 3 lots; ERIN's IOC rest (4 lots) is dropped
    assert [(c.order_id, c.order.quantity, c.origin_batch) for c in result.carried] == [
        (ids[0], 3, 7)
    ]
    assert result.carried[0].order == entries[0][1].with_quantity(3)
    assert [f.order_id for f in result.fills()] == [f.order_id for f in btc.fills] + [
        f.order_id for f in eth.fills
    ]
    # the published record is plain JSON
    json.dumps({m: r.to_dict() for m, r in result.markets.items()})
    assert btc.to_dict()["curves"] == btc.curves.to_dict()


def test_gtc_rest_carries_into_the_next_batch(make_book: BookFactory) -> None:
    first = make_book(batch_id=7, references={"BTC-PERP": 50_000})
    sealed, ids = run_batch(
        first,
        [
            (ALICE, Order("BTC-PERP", Side.BUY, 50_100, 10, GTC), "reveal"),
            (BOB, Order("BTC-PERP", Side.SELL, 49_900, 4), "reveal"),
        ],
    )
    r1 = clear_batch(sealed, DEFAULT_MARKETS, {"BTC-PERP": 50_000})
    assert [c.order.quantity for c in r1.carried] == [6]

    second = make_book(batch_id=8, references={"BTC-PERP": r1.markets["BTC-PERP"].price})
    liquidation = RestingOrder(
        eth_keccak(b"liquidation:1"), DAVE.address, Order("BTC-PERP", Side.SELL, None, 2), 7
    )
    sealed2, ids2 = run_batch(
        second, [(CAROL, Order("BTC-PERP", Side.SELL, 50_050, 5, GTC), "reveal")]
    )
    r2 = clear_batch(
        sealed2, DEFAULT_MARKETS, {"BTC-PERP": 50_000}, carried_in=[*r1.carried, liquidation]
    )
    check_market_against_reference(r2, "BTC-PERP")
    btc = r2.markets["BTC-PERP"]
    # demand: ALICE's 6 left at 50 100; supply: DAVE's market 2 + CAROL's 5 at 50 050
    assert (btc.price, btc.volume) == (50_050, 6)
    fills = {f.order_id: f.quantity for f in btc.fills}
    assert fills[ids[0]] == 6  # the carried order keeps its id
    assert fills[liquidation.order_id] == 2  # market orders fill first
    assert fills[ids2[0]] == 4
    assert [(c.order_id, c.order.quantity, c.origin_batch) for c in r2.carried] == [(ids2[0], 1, 8)]
    assert [r.order_id for r in r2.orders] == [ids2[0], ids[0], liquidation.order_id]


def test_no_orders_no_trade(make_book: BookFactory) -> None:
    sealed = make_book().close(AFTER)
    result = clear_batch(sealed, DEFAULT_MARKETS, {})
    for m in result.markets.values():
        assert (m.price, m.volume, m.fills, m.orders) == (None, 0, (), 0)
        assert m.curves.to_dict()["prices"] == []
    assert result.fills() == [] and result.carried == ()


def test_unfilled_gtc_carries_whole(make_book: BookFactory) -> None:
    sealed, ids = run_batch(
        make_book(), [(ALICE, Order("BTC-PERP", Side.BUY, 49_000, 5, GTC), "reveal")]
    )
    result = clear_batch(sealed, DEFAULT_MARKETS, {"BTC-PERP": 50_000})
    assert result.markets["BTC-PERP"].price is None
    assert [(c.order_id, c.order.quantity) for c in result.carried] == [(ids[0], 5)]


def test_duplicate_order_id_is_refused(make_book: BookFactory) -> None:
    sealed, ids = run_batch(
        make_book(), [(ALICE, Order("BTC-PERP", Side.BUY, 50_000, 5, GTC), "reveal")]
    )
    again = RestingOrder(ids[0], ALICE.address, Order("BTC-PERP", Side.BUY, 50_000, 5, GTC), 6)
    with pytest.raises(AuctionError, match="appears twice"):
        clear_batch(sealed, DEFAULT_MARKETS, {}, carried_in=[again])


def test_order_in_unknown_market_is_refused(make_book: BookFactory) -> None:
    sealed = make_book().close(AFTER)
    stray = RestingOrder(bytes(32), ALICE.address, Order("DOGE-PERP", Side.BUY, 5, 5), 6)
    with pytest.raises(AuctionError, match="DOGE-PERP"):
        clear_batch(sealed, DEFAULT_MARKETS, {}, carried_in=[stray])


def test_clear_market_needs_one_id_per_order() -> None:
    with pytest.raises(AuctionError, match="one id per order"):
        clear_market([Order("X", Side.BUY, 5, 5)], [], None, bytes(32))


def test_tiebreak_key() -> None:
    seed, oid = bytes(range(32)), bytes(range(32, 64))
    assert tiebreak_key(seed, oid) == reference_key(seed, oid)
    assert tiebreak_key(seed, oid) != tiebreak_key(oid, seed)
    assert tiebreak_key(seed, oid) != tiebreak_key(seed, bytes(32))


# --- fills depend only on the multiset of orders --------------------------------

order_rows = st.lists(
    st.tuples(
        st.sampled_from(Side),
        st.none() | st.integers(1, 12) | st.integers(1, 12),
        st.integers(1, 9),
        st.binary(min_size=32, max_size=32),
    ),
    max_size=14,
    unique_by=lambda t: t[3],
)


@settings(max_examples=150, deadline=None)
@given(
    order_rows,
    st.none() | st.integers(1, 15),
    st.binary(min_size=32, max_size=32),
    st.randoms(use_true_random=False),
)
def test_fills_follow_the_order_not_its_row(
    rows: list[tuple[Side, int | None, int, bytes]],
    reference: int | None,
    seed: bytes,
    rnd: random.Random,
) -> None:
    orders = [Order("X", side, limit, q) for side, limit, q, _ in rows]
    ids = [oid for *_, oid in rows]
    d1, _, f1 = clear_market(orders, ids, reference, seed)
    perm = list(range(len(rows)))
    rnd.shuffle(perm)
    d2, _, f2 = clear_market([orders[i] for i in perm], [ids[i] for i in perm], reference, seed)
    assert d1 == d2
    by_id_1 = dict(zip(ids, f1.tolist(), strict=True))
    by_id_2 = dict(zip([ids[i] for i in perm], f2.tolist(), strict=True))
    assert by_id_1 == by_id_2
    # and both agree with the scalar reference using Poseidon2 compress(seed, id) keys
    ref_rows = [Row(side is Side.BUY, limit, q) for side, limit, q, _ in rows]
    expected = reference_allocation(ref_rows, d1.price, lambda i: reference_key(seed, ids[i]))
    assert f1.tolist() == expected
