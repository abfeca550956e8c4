"""The commit-reveal batch auction: sealed orders, signed commitments, bonds."""

from __future__ import annotations

from sealbatch.auction.commitment import commitment_root, compute_commitment
from sealbatch.crypto.eip712 import address_of
from sealbatch.research.agents import Agent
from sealbatch.research.mechanisms.base import Mechanism
from sealbatch.research.mechanisms.batch import auction_order
from sealbatch.research.mechanisms.commit_reveal import CommitRevealMechanism, lab_key
from sealbatch.research.runner import run_simulation
from sealbatch.research.scenario import Latency, load_scenario
from sealbatch.research.scenarios import shipped_scenario
from sealbatch.research.simulation import BUY, SELL, Cancel, LabOrder
from sealbatch.research.streams import Streams
from tests.research.helpers import deliver_at, make_venue, order, run_until

MS = 1_000_000


def _cr(mech: Mechanism) -> CommitRevealMechanism:
    assert isinstance(mech, CommitRevealMechanism)
    return mech


def test_commit_reveal_clears_like_the_auction_and_keeps_orders_sealed() -> None:
    sim, venue, (a, b, c) = make_venue("cr_fba", interval_ms=100, reveal_ms=20)
    mech = _cr(venue)

    seen: list[object] = []

    class Watcher(Agent):
        def on_in_flight(self, msg: LabOrder | Cancel | None, arrive: int) -> None:
            seen.append(msg)

    watcher = Watcher(sim, Streams(0), "watcher", Latency(0, 0, 0))
    sim.inflight_watchers.append(watcher)
    sender = Agent(sim, Streams(0), "sender", Latency(0, 1000, 0))
    mech.start()
    sim.schedule(1 * MS, lambda _: sim.send(sender, order(sim, a, BUY, 102, 5)), None)
    deliver_at(sim, 2 * MS, order(sim, b, SELL, 99, 3))
    deliver_at(sim, 3 * MS, order(sim, c, SELL, 101, 4))
    run_until(sim, 121 * MS)
    assert seen == [None]  # the watcher saw that something was sent, not what
    assert mech.commits == 3 and mech.reveals == 3 and mech.forfeits == 0
    assert sorted((f[2], f[5], f[6]) for f in sim.tape) == sorted(
        [(a, 101, 5), (b, 101, 3), (c, 101, 2)]
    )
    assert sum(sim.cash) == 0 and sum(sim.pos) == 0


def test_unrevealed_commitment_forfeits_its_bond_to_the_insurance_fund() -> None:
    sim, venue, (a, b, _) = make_venue("cr_fba", interval_ms=100, reveal_ms=20, bond=7)
    mech = _cr(venue)
    mech.start()
    withheld = order(sim, a, SELL, 100, 5)
    deliver_at(sim, 1 * MS, withheld)
    deliver_at(sim, 2 * MS, order(sim, b, BUY, 101, 5))
    deliver_at(sim, 50 * MS, Cancel(withheld.oid, a))  # under commit-reveal: do not reveal
    run_until(sim, 121 * MS)
    assert sim.tape == []
    assert mech.forfeits == 1 and mech.bonds_paid == 7
    assert sim.cash[a] == -7 and sim.cash[sim.insurance] == 7
    assert sum(sim.cash) == 0


def test_reveal_after_the_window_is_refused() -> None:
    sim, venue, (a, b, _) = make_venue("cr_fba", interval_ms=100, reveal_ms=20, bond=1)
    mech = _cr(venue)
    slow = Agent(sim, Streams(0), "slow", Latency(0, 30 * 1000, 0))  # reveals 30 ms late
    mech.start()
    deliver_at(sim, 1 * MS, order(sim, slow.idx, SELL, 100, 5))
    deliver_at(sim, 2 * MS, order(sim, b, BUY, 101, 5))
    run_until(sim, 200 * MS)
    assert sim.tape == []
    assert mech.forfeits == 1 and sim.cash[slow.idx] == -1
    del a


def test_orders_outside_the_price_band_are_rejected_at_reveal() -> None:
    sim, venue, (a, b, _) = make_venue("cr_fba", interval_ms=100, reveal_ms=20)
    mech = _cr(venue)
    mech.start()
    deliver_at(sim, 1 * MS, order(sim, a, SELL, 150, 5))  # band: 100 ± 10%
    deliver_at(sim, 2 * MS, order(sim, b, BUY, 160, 5))
    run_until(sim, 121 * MS)
    assert mech.rejections == 2 and sim.tape == []


def test_the_labs_commitments_are_the_protocols_bytes() -> None:
    """Hashed together at the window's close, each commitment is still
    ``auction.commitment.compute_commitment`` of its order, salt, trader and
    batch, and the book took them in arrival order (its seed is their root)."""
    sim, venue, (a, b, c) = make_venue("cr_fba", interval_ms=100, reveal_ms=20)
    mech = _cr(venue)
    mech.start()
    sent = [
        order(sim, a, BUY, 102, 5),
        order(sim, b, SELL, 99, 3),
        order(sim, c, SELL, 101, 4),
        order(sim, a, SELL, 104, 1),
        order(sim, b, BUY, 98, 2),
    ]  # five: more than the three hashed one at a time, so one vectorised hash
    for i, o in enumerate(sent):
        deliver_at(sim, (i + 1) * MS, o)
    run_until(sim, 100 * MS + 1)  # the commit window has closed, the reveal window is open
    pending = list(mech.pending[0].values())
    assert [p.order for p in pending] == sent
    expected = [
        compute_commitment(
            auction_order(mech.market_id, p.order, p.order.qty, True),
            p.salt,
            address_of(lab_key(p.order.agent)),
            0,
        )
        for p in pending
    ]
    assert [p.commitment for p in pending] == expected
    assert len(set(expected)) == len(sent)
    traders = [address_of(lab_key(p.order.agent)) for p in pending]
    markets = [mech.market_id] * len(expected)
    assert mech.books[0].seed == commitment_root(
        expected, markets, traders, [mech.bond] * len(expected)
    )
    assert mech.commits == len(sent)


def test_batched_cryptography_keeps_every_outcome() -> None:
    """A run where reveals are dropped, withheld, late and refused by the band
    check: each commitment and reveal is taken by the book at its own arrival
    time, so forfeits, rejections and fills follow the protocol's rules; the
    commitments still in the last open window count as taken."""
    scenario = load_scenario(shipped_scenario("sequencer")).with_override("horizon_s", 1.05)
    spec = next(m for m in scenario.mechanisms if m.kind == "cr_fba")
    result = run_simulation(scenario, spec, 0)
    mech = _cr(result.mechanism)
    m = result.metrics
    assert m["commits"] == mech.commits > 0
    assert m["reveals"] + m["forfeits"] == m["commits"] - sum(
        len(p) for p in mech.pending.values()
    )  # every closed batch's commitment was revealed or forfeited
    assert m["censored_sequencer"] > 0 and m["forfeits"] >= m["censored_sequencer"]
    assert mech.pending and all(p.commitment for b in mech.pending.values() for p in b.values())
