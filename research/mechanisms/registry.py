"""Build the mechanism a scenario names: the one place that knows every mechanism."""

from __future__ import annotations

from sealbatch.research.mechanisms.base import Mechanism
from sealbatch.research.mechanisms.batch import BatchAuctionMechanism
from sealbatch.research.mechanisms.clob import ClobMechanism
from sealbatch.research.mechanisms.commit_encrypt import CommitEncryptMechanism
from sealbatch.research.mechanisms.commit_reveal import CommitRevealMechanism
from sealbatch.research.scenario import MechanismSpec, Scenario
from sealbatch.research.simulation import Simulation

__all__ = ["build_mechanism"]


def build_mechanism(
    spec: MechanismSpec, sim: Simulation, scenario: Scenario, crypto_workers: int = 0
) -> Mechanism:
    """The mechanism ``spec`` names (``clob``, ``fba``, commit-reveal or commit-encrypt),
    attached to ``sim`` (``crypto_workers``: worker processes for the sealed orders'
    cryptography, 0 in place; the outcomes are the same)."""
    if spec.kind == "ce_fba":
        return CommitEncryptMechanism(sim, spec, scenario, crypto_workers)
    if spec.kind == "clob":
        return ClobMechanism(sim, spec, scenario)
    if spec.kind == "fba":
        return BatchAuctionMechanism(sim, spec, scenario)
    return CommitRevealMechanism(sim, spec, scenario, crypto_workers)
