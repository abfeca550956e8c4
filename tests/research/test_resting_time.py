"""Comparable order flow: a zero-intelligence order rests the same wall time under
every mechanism (cancelled after its lifetime in a book or batch auction,
committed again to each batch until its lifetime ends under commit-reveal)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from sealbatch.research.runner import run_simulation
from sealbatch.research.scenario import MechanismSpec, scenario_from_dict
from sealbatch.research.simulation import Cancel, LabOrder, Simulation

LIFETIME_MS = 450
INTERVAL_MS = 100


def _zi_messages(monkeypatch: pytest.MonkeyPatch, spec: MechanismSpec) -> dict[int, list[Any]]:
    """Every order and cancel a ZI trader sent, by account: (time sent, message)."""
    sent: dict[int, list[Any]] = defaultdict(list)
    real_send = Simulation.send

    def watching_send(self: Simulation, agent: Any, msg: Any, delay: int | None = None) -> int:
        if getattr(agent, "kind", "") == "zi" and isinstance(msg, LabOrder | Cancel):
            sent[msg.agent].append((self.now, msg))
        return real_send(self, agent, msg, delay)

    monkeypatch.setattr(Simulation, "send", watching_send)
    scenario = scenario_from_dict(
        {
            "horizon_s": 3.0,
            "agents": {"zi": {"rate_hz": 20, "lifetime_ms": LIFETIME_MS}},
        }
    )
    run_simulation(scenario, spec, seed=5)
    return sent


def _spans_ms(sent: dict[int, list[Any]]) -> list[float]:
    """Per ZI trader: from its first order to its last message (cancel or recommitment)."""
    return [(msgs[-1][0] - msgs[0][0]) / 1e6 for msgs in sent.values() if len(msgs) > 1]


def test_zi_orders_rest_their_lifetime_in_the_book(monkeypatch: pytest.MonkeyPatch) -> None:
    spans = _spans_ms(_zi_messages(monkeypatch, MechanismSpec("clob")))
    assert spans, "no ZI order outlived its arrival"
    assert all(s == pytest.approx(LIFETIME_MS) for s in spans)  # cancelled at the lifetime


@pytest.mark.parametrize("kind", ["fba", "cr_fba"])
def test_zi_orders_rest_their_lifetime_in_batches(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Under commit-reveal an order lasts one batch; a ZI order left unfilled is
    committed again until its lifetime ends, so it rests (nearly) as long as in
    the book — not one batch, and never longer than its lifetime."""
    spec = MechanismSpec(kind, INTERVAL_MS, reveal_ms=20, bond=10)
    sent = _zi_messages(monkeypatch, spec)
    spans = _spans_ms(sent)
    assert spans, "no ZI order outlived its first batch"
    assert max(spans) <= LIFETIME_MS
    assert max(spans) >= LIFETIME_MS - INTERVAL_MS  # resting the lifetime, not one batch
    if kind == "cr_fba":  # recommitted: several orders per trader, each a fresh commitment
        assert max(len(m) for m in sent.values()) >= LIFETIME_MS // INTERVAL_MS
        assert not any(isinstance(msg, Cancel) for m in sent.values() for _, msg in m)
