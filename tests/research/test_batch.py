"""The frequent batch auction mechanism: the venue's clearing, cancels, carry-over."""

from __future__ import annotations

from sealbatch.research.simulation import BUY, SELL, Cancel
from tests.research.helpers import deliver_at, make_venue, order, run_until

MS = 1_000_000


def test_uniform_price_known_answer() -> None:
    # bids 5@102; asks 3@99 and 4@101. D = 5 up to 102; S = 3 on [99, 101), 7 from 101.
    # Volume 5 on [101, 102] with imbalance 2; reference 100 -> price 101 (closest).
    sim, mech, (a, b, c) = make_venue("fba", interval_ms=100)
    mech.start()
    deliver_at(sim, 1 * MS, order(sim, a, BUY, 102, 5))
    deliver_at(sim, 2 * MS, order(sim, b, SELL, 99, 3))
    deliver_at(sim, 3 * MS, order(sim, c, SELL, 101, 4))
    run_until(sim, 101 * MS)
    assert [(f[2], f[5], f[6]) for f in sim.tape] == [(a, 101, 5), (b, 101, 3), (c, 101, 2)]
    assert sim.last_price == 101
    assert sim.cash[a] == -505 and sim.cash[b] == 303 and sim.cash[c] == 202
    assert mech.depth(SELL, 200) == [(101, 2)]  # the GTC rest carries over


def test_cancel_before_close_saves_the_quote_after_close_does_not() -> None:
    sim, mech, (mm, sniper, _) = make_venue("fba", interval_ms=100)
    mech.start()
    quote = order(sim, mm, SELL, 100, 5)
    deliver_at(sim, 1 * MS, quote)
    deliver_at(sim, 50 * MS, order(sim, sniper, BUY, 110, 5, ioc=True))
    deliver_at(sim, 99 * MS, Cancel(quote.oid, mm))  # same batch: the take finds nothing
    run_until(sim, 101 * MS)
    assert sim.tape == []
    quote2 = order(sim, mm, SELL, 100, 5)
    deliver_at(sim, 150 * MS, quote2)
    deliver_at(sim, 199 * MS, order(sim, sniper, BUY, 110, 5, ioc=True))
    deliver_at(sim, 200 * MS, Cancel(quote2.oid, mm))  # next batch: too late
    run_until(sim, 201 * MS)
    assert sim.pos[sniper] == 5 and sim.pos[mm] == -5


def test_no_time_priority_inside_a_batch() -> None:
    # Two asks of 3 lots at 100, one early and one late; a buy of 2 is rationed pro rata.
    sim, mech, (early, late, buyer) = make_venue("fba", interval_ms=100)
    mech.start()
    deliver_at(sim, 1 * MS, order(sim, early, SELL, 100, 3))
    deliver_at(sim, 98 * MS, order(sim, late, SELL, 100, 3))
    deliver_at(sim, 99 * MS, order(sim, buyer, BUY, 100, 2, ioc=True))
    run_until(sim, 101 * MS)
    assert sim.pos[early] == -1 and sim.pos[late] == -1 and sim.pos[buyer] == 2


def test_ioc_orders_last_one_batch() -> None:
    sim, mech, (a, b, _) = make_venue("fba", interval_ms=100)
    mech.start()
    deliver_at(sim, 1 * MS, order(sim, a, BUY, 100, 2, ioc=True))
    deliver_at(sim, 150 * MS, order(sim, b, SELL, 100, 2, ioc=True))
    run_until(sim, 201 * MS)
    assert sim.tape == []
    assert mech.after(150 * MS) == 200 * MS
