"""A ledger whose batches must anchor on L1 refuses a batch that needs deleveraging or
socialised loss (which the batch proof does not prove yet), and changes nothing; one
without an L1 settles it, and a deficit the insurance fund covers settles either way."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.settlement.clearinghouse import Clearinghouse
from sealbatch.settlement.errors import Unanchorable
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.params import DEFAULT_CONFIG, DeleverageMode
from sealbatch.settlement.transition import apply_batch
from tests.settlement.batch_air_helpers import crash_inputs, marked_state
from tests.settlement.conftest import ORACLE


def _pre(fund: int) -> LedgerState:
    """Traders 0 and 2 long 100 BTC lots on 10^8 of equity each (bankrupt after the crash,
    4.2·10^8 short each), trader 1 short against them, trader 3 rich; ``fund`` insured."""
    pos = np.zeros((4, 2), dtype=np.int64)
    pos[:, 0] = [100, -200, 100, 0]
    return marked_state([10**8, 10**12, 10**8, 10**12], pos, insurance_fund=fund)


def _house(pre: LedgerState, anchored: bool, mode: DeleverageMode) -> tuple[Clearinghouse, int]:
    """A clearinghouse on ``pre`` holding the crash batch's oracle reports."""
    config = dataclasses.replace(DEFAULT_CONFIG, deleverage=mode)
    house = Clearinghouse(DEFAULT_MARKETS, ORACLE, config, anchored=anchored)
    house.state = pre
    _, rnd = crash_inputs()
    for r in rnd.reports:
        house.oracle_report(r, rnd.timestamp_ms)
    return house, rnd.timestamp_ms


@pytest.mark.parametrize("mode", list(DeleverageMode))
def test_an_anchored_ledger_refuses_a_batch_needing_deleveraging_and_changes_nothing(
    mode: DeleverageMode,
) -> None:
    pre = _pre(fund=5 * 10**8)  # covers trader 0 in full, trader 2 only in part
    batch, _ = crash_inputs()
    house, at = _house(pre, anchored=True, mode=mode)
    out = house.settle(batch, [], at)
    assert out.summary is not None and out.summary["settled"] is False
    assert out.summary["code"] == Unanchorable.code
    error = out.summary["error"]
    assert "batch 1" in error and "deleveraging or socialised loss" in error
    assert f"paid {80_000_000}" in error  # trader 2's share of the fund, the first flow
    assert out.publication is None
    assert house.state is pre  # nothing applied
    # the same batch without an L1 settles with the adjustments
    free, at = _house(pre, anchored=False, mode=mode)
    settled = free.settle(batch, [], at)
    assert settled.summary is not None and settled.summary["settled"]
    assert any(d["deleveraged"] for d in settled.summary["deficits"])
    assert free.state is not pre


def test_an_anchored_ledger_settles_a_deficit_the_fund_covers() -> None:
    pre = _pre(fund=10**10)  # covers both bankrupt accounts
    batch, rnd = crash_inputs()
    _, witness = apply_batch(pre, batch, rnd, DEFAULT_CONFIG, ORACLE)
    assert len(witness.deficits) == 2 and not any(f.deleveraged for f in witness.deficits)
    house, at = _house(pre, anchored=True, mode=DeleverageMode.ADL)
    out = house.settle(batch, [], at)
    assert out.summary is not None and out.summary["settled"], out.summary
    assert house.state.insurance_fund < pre.insurance_fund
