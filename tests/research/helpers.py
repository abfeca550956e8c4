"""Small harnesses for driving one mechanism by hand."""

from __future__ import annotations

from sealbatch.research.mechanisms.base import Mechanism
from sealbatch.research.mechanisms.registry import build_mechanism
from sealbatch.research.scenario import MechanismSpec, Scenario
from sealbatch.research.simulation import LabOrder, Simulation


def make_venue(
    kind: str, interval_ms: int = 100, reveal_ms: int = 20, bond: int = 0, accounts: int = 3
) -> tuple[Simulation, Mechanism, list[int]]:
    """A simulation with a bare mechanism and ``accounts`` agent-less accounts."""
    scenario = Scenario(horizon_s=60.0)
    sim = Simulation(scenario.horizon_ns)
    sim.seed_bytes = b"\x00" * 8
    sim.last_price = 100
    mech = build_mechanism(MechanismSpec(kind, interval_ms, reveal_ms, bond), sim, scenario)
    sim.mechanism = mech
    ids = [sim.add_account(f"t{i}", "background", None) for i in range(accounts)]
    return sim, mech, ids


def deliver_at(sim: Simulation, t: int, msg: object) -> None:
    """Schedule ``msg`` to arrive at the mechanism at time ``t``."""
    sim.schedule(t, sim.mechanism.arrive, msg)


def order(
    sim: Simulation, account: int, side: int, price: int, qty: int, ioc: bool = False
) -> LabOrder:
    return sim.new_order(account, side, price, qty, ioc)


def run_until(sim: Simulation, t: int) -> None:
    sim.horizon_ns = t
    sim.run()
