"""The continuous book: price-time priority, against a naive reference matcher."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.research.simulation import BUY, SELL, Cancel
from tests.research.helpers import make_venue, order


def test_best_price_first_then_oldest_first() -> None:
    sim, book, (a, b, c) = make_venue("clob")
    book.arrive(order(sim, a, SELL, 101, 2))
    first = order(sim, b, SELL, 100, 2)
    book.arrive(first)
    book.arrive(order(sim, a, SELL, 100, 2))
    book.arrive(order(sim, c, BUY, 101, 5, ioc=True))
    fills = [(f[2], f[5], f[6]) for f in sim.tape if f[2] != c]
    # best price 100 first, oldest (b) before a at 100, then a's 101
    assert fills == [(b, 100, 2), (a, 100, 2), (a, 101, 1)]
    assert sim.pos[c] == 5 and sim.cash[c] == -(100 * 4 + 101)
    assert book.best_ask() == 101


def test_ioc_rest_is_dropped_and_gtc_rest_rests() -> None:
    sim, book, (a, b, _) = make_venue("clob")
    book.arrive(order(sim, a, SELL, 100, 1))
    book.arrive(order(sim, b, BUY, 100, 3, ioc=True))
    assert book.best_bid() is None
    book.arrive(order(sim, a, SELL, 100, 1))
    book.arrive(order(sim, b, BUY, 100, 3))
    assert book.best_bid() == 100
    assert book.depth(BUY, 100) == [(100, 2)]


def test_cancel_removes_only_that_order() -> None:
    sim, book, (a, b, _) = make_venue("clob")
    o1 = order(sim, a, BUY, 99, 1)
    o2 = order(sim, b, BUY, 99, 1)
    book.arrive(o1)
    book.arrive(o2)
    book.arrive(Cancel(o1.oid, a))
    book.arrive(Cancel(12345, a))  # unknown: nothing happens
    assert not o1.live and o2.live
    assert book.depth(BUY, 0) == [(99, 1)]


def _reference_match(messages: list[tuple[int, int, int, int, bool]]) -> list[tuple[int, int, int]]:
    """Naive price-time matcher: scan the whole list of resting orders each time."""
    resting: list[list[int]] = []  # [seq, account, side, price, rem]
    out = []
    for seq, (acct, side, price, qty, ioc) in enumerate(messages):
        rem = qty
        while rem:
            opp = [
                r
                for r in resting
                if r[2] == -side and (price >= r[3] if side > 0 else price <= r[3])
            ]
            if not opp:
                break
            best = min(opp, key=lambda r: (r[3] * side, r[0]))
            q = min(rem, best[4])
            rem -= q
            best[4] -= q
            out.append((best[1], best[3], q))
            out.append((acct, best[3], q))
            if best[4] == 0:
                resting.remove(best)
        if rem and not ioc:
            resting.append([seq, acct, side, price, rem])
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from([BUY, SELL]),
            st.integers(95, 105),
            st.integers(1, 6),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_matches_reference_and_conserves(msgs: list[tuple[int, int, int, int, bool]]) -> None:
    sim, book, accounts = make_venue("clob")
    for acct, side, price, qty, ioc in msgs:
        book.arrive(order(sim, accounts[acct], side, price, qty, ioc))
    got = [(f[2], f[5], f[6]) for f in sim.tape]
    expected = [(accounts[a], p, q) for a, p, q in _reference_match(msgs)]
    assert got == expected
    assert sum(sim.cash) == 0 and sum(sim.pos) == 0
    bb, ba = book.best_bid(), book.best_ask()
    assert bb is None or ba is None or bb < ba
