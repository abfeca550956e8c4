"""A batch whose liquidation order fills, with its penalty, anchors through Exchange.sol.

Liquidation penalties are proved in the batch AIR (per liquidation fill, capped by the
account's equity), so a batch that liquidates an account whose equity covers its penalty
needs no table only its files give: the exchange derives every table and anchors it.
Batch 1: an 8 % crash leaves a leveraged long below maintenance (staged); batch 2 carries
its liquidation order in, a buyer takes it, the penalty goes to the insurance fund.
Deficit cover is proved too (a running insurance fund down the account rows): a batch
whose crash leaves an account with negative equity that the fund covers anchors as well.
Slow: proving and verifying on py-evm take minutes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.anchor import Chain
from sealbatch.settlement.anchor_exchange import deploy_exchange
from sealbatch.settlement.batch_air.statement import statement_from_files
from sealbatch.settlement.batch_proof import prove_files
from sealbatch.settlement.batch_verify import verify_files
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch, reference_prices
from tests.settlement.batch_air_helpers import committed_batch, crash_inputs
from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round
from tests.settlement.test_batch_air_deficit_cover import pre_state

from .test_exchange_batch import operator_rows

PRICES = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}
CRASHED = {m: p * (BPS - 800) // BPS for m, p in PRICES.items()}


def _pre() -> LedgerState:
    """Trader 0 a leveraged BTC long (7·10^8 of equity), trader 1 the short against it."""
    s = funded([1, 1, 10**12, 10**12], DEFAULT_CONFIG)
    marks = np.array([PRICES[m] for m in DEFAULT_CONFIG.market_ids], dtype=np.int64)
    mult = np.array([r.multiplier for r in DEFAULT_CONFIG.markets], dtype=np.int64)
    pos = np.array([[100, 0], [-100, 0], [0, 0], [0, 0]], dtype=np.int64)
    equity = np.array([700_000_000, 10**12, 10**12, 10**12], dtype=np.int64)
    ms = tuple(
        replace(m, mark_price=PRICES[m.market], index_price=PRICES[m.market], last_price=0)
        for m in s.market_states
    )
    return s.with_arrays(
        collateral=equity - (pos * marks * mult).sum(axis=1),
        positions=pos,
        market_states=ms,
        batch_id=0,
        timestamp_ms=10_000,
    )


def liquidation_batch() -> dict[str, str]:
    """Batch 2's published folder: the staged liquidation order of trader 0 fills."""
    t = TRADERS
    pre = _pre()
    crash = [
        o
        for m, p in CRASHED.items()
        for o in ((t[2], Order(m, Side.BUY, p, 1)), (t[3], Order(m, Side.SELL, p, 1)))
    ]
    first = committed_batch(1, crash, PRICES)
    rnd1 = oracle_round(1, 20_000, CRASHED)
    mid, _ = apply_batch(pre, first, rnd1, DEFAULT_CONFIG, ORACLE)
    assert mid.pending_liquidations
    marks = {ms.market: ms.mark_price for ms in mid.market_states}
    buyer = [(t[2], Order("BTC-PERP", Side.BUY, marks["BTC-PERP"], 200))]
    carried = [lo.resting for lo in mid.pending_liquidations] + list(mid.resting_orders)
    second = committed_batch(2, buyer, reference_prices(mid), carried_in=carried)
    rnd2 = oracle_round(2, 21_000, CRASHED)
    post, w = apply_batch(mid, second, rnd2, DEFAULT_CONFIG, ORACLE)
    assert w.penalties and not w.deficits and not w.forfeits
    assert any(f.liquidation for f in w.fills)
    return BatchPublication(second, rnd2, mid, post).files(DEFAULT_CONFIG, ORACLE)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_a_batch_with_a_liquidation_and_its_penalty_anchors(chain: Chain) -> None:
    files = liquidation_batch()
    st = statement_from_files(files)
    assert not st.settle.has_adjustments and any(f.liquidation for f in st.settle_witness.fills)
    assert any(st.settle_witness.penalties)
    assert not operator_rows(st)  # every table the AIR declares is derived
    proof = prove_files(files)
    verify_files(proof, files)
    ex = deploy_exchange(chain, files, oracle=ORACLE)
    want = ex.statement_for(files).post_root
    receipt = ex.anchor(files, proof)
    print(f"anchoring a batch with a liquidation fill and its penalty: {receipt.gas_used} gas")
    assert 1_000_000 < receipt.gas_used < 1 << 24  # EIP-7825: one transaction at most 2^24 gas
    assert ex.state_root() == want
    assert ex.next_batch_id() == 3


def deficit_batch() -> dict[str, str]:
    """A crash leaves trader 0 with negative equity, which the insurance fund covers in
    full (no ADL, no socialised loss): the published folder of that batch."""
    pre = pre_state([10**8, 10**12, 10**12, 10**12], [100, 0, 0, 0], 10**9)
    batch, rnd = crash_inputs()
    post, w = apply_batch(pre, batch, rnd, DEFAULT_CONFIG, ORACLE)
    assert w.deficits and all(f.insurance == f.deficit and not f.deleveraged for f in w.deficits)
    return BatchPublication(batch, rnd, pre, post).files(DEFAULT_CONFIG, ORACLE)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_a_batch_whose_deficit_the_insurance_fund_covers_anchors(chain: Chain) -> None:
    files = deficit_batch()
    st = statement_from_files(files)
    assert not st.settle.has_adjustments and any(st.settle_witness.cover)
    assert not operator_rows(st)  # every table the AIR declares is derived
    proof = prove_files(files)
    verify_files(proof, files)
    ex = deploy_exchange(chain, files, oracle=ORACLE)
    want = ex.statement_for(files).post_root
    receipt = ex.anchor(files, proof)
    print(f"anchoring a batch with a deficit covered by the insurance fund: {receipt.gas_used} gas")
    assert 1_000_000 < receipt.gas_used < 1 << 24  # under the EIP-7825 transaction cap
    assert ex.state_root() == want
    assert ex.next_batch_id() == 2
