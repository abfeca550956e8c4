"""``Air.check_trace`` checks rows in blocks but reports what one pass over the whole
trace would: the lowest-index failing constraint, at its first failing row."""

from __future__ import annotations

import numpy as np
import pytest

from sealbatch.crypto import air as air_module
from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.airs import wide
from sealbatch.crypto.field_scalar import P


def _report(air: air_module.Air, trace: np.ndarray) -> str | None:
    try:
        air.check_trace(trace)
    except ConstraintViolation as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("seed", range(6))
def test_blocks_report_what_one_pass_reports(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rows = 1 << 14  # two blocks of 8 192 rows
    trace, pubs = wide.generate(rows, 4)
    air = wide.build(rows, pubs)
    assert _report(air, trace) is None
    rng = np.random.default_rng(seed)
    bad = trace.copy()
    # a late cell in a low column and an early one in a high column, and random others:
    # the constraint reported first need not fail in the first block
    cells = [(0, rows - 5), (bad.shape[0] - 1, 3)]
    cells += [(int(rng.integers(bad.shape[0])), int(rng.integers(rows))) for _ in range(seed)]
    for c, r in cells[seed % 2 :]:
        bad[c, r] = (int(bad[c, r]) + 1 + int(rng.integers(P - 1))) % P
    blocked = _report(air, bad)
    assert blocked is not None
    if seed == 0:  # x0 broken in the second block, x2 in the first: x0's is reported
        assert blocked.endswith(f"transition 0 (x0') fails at row {rows - 6}")
    monkeypatch.setattr(air_module, "_CHECK_BLOCK", 1 << 20)  # one block: one pass
    assert _report(air, bad) == blocked
