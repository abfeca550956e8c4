"""The venue's Prometheus metrics, as the exposition of a fresh venue's registry, against
tests/venue/pinned/metrics.txt: operators' dashboards and ops/ alert rules read these
names, types, help texts and labels, so rebuilding the table must not move one.

A deliberate change (documented in docs/operator.md) re-pins with
``SEALBATCH_REPIN=1 .venv/bin/python -m pytest tests/venue/test_metrics.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, generate_latest

from sealbatch.venue.service import _Metric, _Metrics

PINNED = Path(__file__).parent / "pinned" / "metrics.txt"


def _table() -> list[_Metric[Counter] | _Metric[Gauge] | _Metric[Histogram]]:
    return [m for m in vars(_Metrics).values() if isinstance(m, _Metric)]


def _exposition() -> str:
    """Every metric of a fresh registry, a labelled one with one child (label values
    ``x``); counters' creation times (which differ per run) left out."""
    metrics = _Metrics()
    for m in _table():
        if m.labels:
            getattr(metrics, m.attr).labels(*("x",) * len(m.labels))
    text = generate_latest(metrics.registry).decode()
    return "".join(f"{line}\n" for line in text.splitlines() if "_created" not in line)


def test_the_exported_names_types_help_and_labels_are_pinned() -> None:
    text = _exposition()
    if os.environ.get("SEALBATCH_REPIN"):
        PINNED.write_text(text)
    assert text == PINNED.read_text()


def test_each_metric_is_made_once_per_venue_as_its_row_says() -> None:
    a, b = _Metrics(), _Metrics()
    names = set()
    for m in _table():
        made = getattr(a, m.attr)
        assert isinstance(made, m.kind)
        assert made is not getattr(b, m.attr)  # each venue its own registry
        assert made is getattr(a, m.attr)
        names.add(m.name)
    assert len(names) == len(_table()) >= 37
    a.writes.labels("commit").inc(2)
    assert b'sealbatch_writes_total{kind="commit"} 2.0' in generate_latest(a.registry)
    assert b'sealbatch_writes_total{kind="commit"}' not in generate_latest(b.registry)
