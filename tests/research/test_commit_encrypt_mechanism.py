"""Commit-encrypt in the lab: orders open themselves, nothing can be withheld."""

from __future__ import annotations

from sealbatch.auction.encrypted_orders import open_ciphertext
from sealbatch.crypto.threshold import scalar_point
from sealbatch.research.mechanisms.base import Mechanism
from sealbatch.research.mechanisms.commit_encrypt import CommitEncryptMechanism, lab_batch_secret
from sealbatch.research.runner import run_simulation
from sealbatch.research.scenario import load_scenario
from sealbatch.research.scenarios import shipped_scenario
from sealbatch.research.simulation import BUY, SELL, Cancel
from tests.research.helpers import deliver_at, make_venue, order, run_until

MS = 1_000_000


def _ce(mech: Mechanism) -> CommitEncryptMechanism:
    assert isinstance(mech, CommitEncryptMechanism)
    return mech


def test_orders_open_themselves_and_clear_like_commit_reveal() -> None:
    sim, venue, (a, b, c) = make_venue("ce_fba", interval_ms=100, reveal_ms=20)
    mech = _ce(venue)
    mech.start()
    deliver_at(sim, 1 * MS, order(sim, a, BUY, 102, 5))
    deliver_at(sim, 2 * MS, order(sim, b, SELL, 99, 3))
    deliver_at(sim, 3 * MS, order(sim, c, SELL, 101, 4))
    run_until(sim, 121 * MS)
    assert mech.commits == 3 and mech.decrypted == 3 and mech.forfeits == 0
    assert sorted((f[2], f[5], f[6]) for f in sim.tape) == sorted(
        [(a, 101, 5), (b, 101, 3), (c, 101, 2)]
    )
    assert sum(sim.cash) == 0 and sum(sim.pos) == 0


def test_a_cancel_after_the_commitment_cannot_withhold_the_order() -> None:
    """Under commit-reveal this cancel withholds the order (and forfeits the bond);
    under commit-encrypt the order is sealed in its batch and trades."""
    sim, venue, (a, b, _) = make_venue("ce_fba", interval_ms=100, reveal_ms=20, bond=7)
    mech = _ce(venue)
    mech.start()
    stale = order(sim, a, SELL, 100, 5)
    deliver_at(sim, 1 * MS, stale)
    deliver_at(sim, 2 * MS, order(sim, b, BUY, 101, 5))
    deliver_at(sim, 50 * MS, Cancel(stale.oid, a))
    run_until(sim, 121 * MS)
    assert mech.forfeits == 0 and mech.bonds_paid == 0
    assert sorted((f[2], f[6]) for f in sim.tape) == sorted([(a, 5), (b, 5)])


def test_the_labs_ciphertexts_are_the_protocols_bytes() -> None:
    """Every ciphertext opens with the batch secret, through the venue's own code,
    to the order its commitment hashes."""
    sim, venue, (a, b, _) = make_venue("ce_fba", interval_ms=100, reveal_ms=20)
    mech = _ce(venue)
    mech.start()
    deliver_at(sim, 1 * MS, order(sim, a, BUY, 102, 5))
    deliver_at(sim, 2 * MS, order(sim, b, SELL, 99, 3))
    run_until(sim, 101 * MS)  # the commit window closed; the batch has not opened
    secret = lab_batch_secret(0)
    cts = mech.ciphertexts[0]
    assert len(cts) == 2
    for commitment, (ct, trader) in cts.items():
        opened = open_ciphertext(secret, scalar_point(secret), ct, trader, 0, commitment)
        assert not opened.forfeited and opened.order is not None
        assert opened.order.side.value in ("buy", "sell")


def test_the_selective_revealer_has_no_option_under_commit_encrypt() -> None:
    """Same flow and seed: under commit-reveal (no bond) the revealer withholds
    and profits; under commit-encrypt both its orders trade against each other."""
    path = shipped_scenario("commit_encrypt")
    assert path is not None
    scenario = load_scenario(path).with_override("horizon_s", 2.0)
    cr, ce = scenario.mechanisms
    out_cr = run_simulation(scenario, cr, 1).metrics
    out_ce = run_simulation(scenario, ce, 1).metrics
    assert out_cr["withheld_selective_revealer"] > 0
    assert out_cr["forfeits_selective_revealer"] > 0
    assert out_ce["withheld_selective_revealer"] == 0
    assert out_ce["forfeits_selective_revealer"] == 0
    assert out_ce["pnl_selective_revealer"] == 0.0
    assert out_ce["rent_selective_revealer"] == 0.0
