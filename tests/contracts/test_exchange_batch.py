"""The exchange anchors the real batch proof (the batch AIR's StarkVerifier, its tables derived
by the contract from the statement).

``deploy_exchange(chain, files)`` deploys the batch verifier for the shape of a published batch;
``ExchangeContract.anchor(files, proof)`` anchors it. The proofs and their on-chain checks are
slow on py-evm (a batch proof is tens of millions of gas), so those tests are marked ``slow``;
the refusal of a batch that needs a table only its files give runs in the suite.
"""

from __future__ import annotations

import dataclasses

import pytest

from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement.anchor import Chain, ContractReverted
from sealbatch.settlement.anchor_exchange import (
    DERIVED_TABLES,
    ExchangeContract,
    deploy_exchange,
    operator_tables_of,
)
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.framework import TAG_ADJUST
from sealbatch.settlement.batch_air.statement import BatchStatement, statement_from_files
from sealbatch.settlement.batch_proof import prove_files
from sealbatch.settlement.batch_verify import verify_files
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch, reference_prices
from tests.settlement.batch_air_helpers import BTC, ETH, committed_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round

REFS = {BTC: 650_000, ETH: 350_000}


def quiet_batches(count: int) -> list[dict[str, str]]:
    """``count`` consecutive published batches without orders (funding and
    marks move with the oracle): batches whose tables the contract derives in full."""
    state = funded([10**12] * len(TRADERS))
    out = []
    for i in range(count):
        moved = {BTC: 650_000 + 1_000 * i, ETH: 350_000 - 1_000 * i}
        batch = committed_batch(i + 1, [], reference_prices(state))
        rnd = oracle_round(i + 1, 1_000 * (i + 1), moved)
        post, _ = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
        out.append(BatchPublication(batch, rnd, state, post).files(DEFAULT_CONFIG, ORACLE))
        state = post
    return out


def forfeit_batch() -> dict[str, str]:
    """A published batch with a revealed order and a commitment never revealed (its bond
    charged to its trader)."""
    orders = [(TRADERS[0], Order(BTC, Side.BUY, 650_000, 1))]
    pre = funded([10**12] * len(TRADERS))
    batch = committed_batch(1, orders, reference_prices(pre), forfeit_at=(1,))
    rnd = oracle_round(1, 1_000, REFS)
    post, w = apply_batch(pre, batch, rnd, DEFAULT_CONFIG, ORACLE)
    assert w.forfeits
    return BatchPublication(batch, rnd, pre, post).files(DEFAULT_CONFIG, ORACLE)


def test_a_batch_with_forfeits_needs_no_operator_table() -> None:
    """The forfeits' charges are proved from the outputs digest's forfeit rows: a batch with
    a forfeit needs no table only its files give, so the exchange can anchor it."""
    files = forfeit_batch()
    bs = statement_from_files(files)
    assert bs.forfeit_charges and any(c for _, c in bs.forfeit_charges)
    assert operator_tables_of(bs) == (TAG_ADJUST,)
    assert not bs.settle.has_adjustments


# ---------------------------------------------------------------- the real proof (slow)


@pytest.fixture(scope="module")
def batches() -> list[dict[str, str]]:
    return quiet_batches(2)


@pytest.fixture(scope="module")
def proofs(batches: list[dict[str, str]]) -> list[bytes]:
    return [prove_files(files) for files in batches]


def refused(ex: ExchangeContract, error: str, *args: object) -> None:
    before = (ex.state_root(), ex.next_batch_id(), ex.queue_consumed())
    with pytest.raises(ContractReverted) as info:
        ex.anchor(*args)  # type: ignore[arg-type]
    assert info.value.error == error, info.value
    assert (ex.state_root(), ex.next_batch_id(), ex.queue_consumed()) == before


def run_anchor(chain: Chain, batches: list[dict[str, str]], proofs: list[bytes]) -> None:
    """Deploy for the first batch's shape, refuse the forgeries, anchor the real proof."""
    for files, proof in zip(batches, proofs, strict=True):
        verify_files(proof, files)  # the Python verifier accepts them
    ex = deploy_exchange(chain, batches[0], oracle=ORACLE)
    assert ex.verifier is not None
    first = ex.statement_for(batches[0])
    # a wrong pre-root, a batch before the next: refused before the verifier runs
    refused(ex, "PreRootMismatch", dataclasses.replace(first, pre_root=first.post_root), proofs[0])
    refused(ex, "BatchIdMismatch", dataclasses.replace(first, batch_id=0), proofs[0])
    # a later id is allowed (ids skip empty intervals), but the proof binds the batch's own
    refused(ex, "ProofRejected", dataclasses.replace(first, batch_id=2), proofs[0])
    # a proof for other public inputs: the second batch's proof under the first's statement,
    # and the first batch's proof for another commitment count (another table, another input)
    refused(ex, "ProofRejected", first, proofs[1])
    # (a commitment beyond the orders is a forfeit the outputs digest would list)
    refused(ex, "ProofRejected", dataclasses.replace(first, commitments=1), proofs[0])
    receipt = ex.anchor(batches[0], proofs[0])
    assert 1_000_000 < receipt.gas_used < 1 << 24  # EIP-7825: one transaction at most 2^24 gas
    assert ex.next_batch_id() == 2
    assert ex.state_root() == first.post_root
    # the same proof again: refused, nothing moves
    refused(ex, "BatchIdMismatch", first, proofs[0])
    refused(ex, "PreRootMismatch", dataclasses.replace(first, batch_id=2), proofs[0])


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_exchange_anchors_the_batch_proof(
    chain: Chain, batches: list[dict[str, str]], proofs: list[bytes]
) -> None:
    run_anchor(chain, batches, proofs)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_exchange_anchors_a_batch_with_a_forfeit(chain: Chain) -> None:
    """A batch whose commitment was never revealed anchors: the contract derives every table
    (the forfeit's charge is proved in the AIR); its gas is printed (docs/contracts.md)."""
    files = forfeit_batch()
    proof = prove_files(files)
    verify_files(proof, files)
    ex = deploy_exchange(chain, files, oracle=ORACLE)
    statement = ex.statement_for(files)
    assert statement.commitments > sum(m.orders for m in statement.markets)  # a forfeit
    receipt = ex.anchor(files, proof)
    print(f"anchored a batch with a forfeit: {receipt.gas_used} gas, {len(proof)} proof bytes")
    assert receipt.gas_used < 1 << 24  # EIP-7825: one transaction at most 2^24 gas
    assert ex.next_batch_id() == 2
    assert ex.state_root() == statement.post_root
    # the same proof again: refused, nothing moves
    refused(ex, "BatchIdMismatch", statement, proof)


@pytest.mark.anvil
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_exchange_anchors_the_batch_proof_on_anvil(
    anvil_chain: Chain, batches: list[dict[str, str]], proofs: list[bytes]
) -> None:
    run_anchor(anvil_chain, batches, proofs)


def halted_batches() -> list[dict[str, str]]:
    """Batch 1 trades and leaves a GTC bid resting in BTC-PERP; batch 2 settles after
    every index is older than ``max_price_age_ms``: both markets are halted and the rest
    is held (neither carried into the book nor dropped)."""
    pre = funded([10**12] * len(TRADERS))
    orders = [
        (TRADERS[0], Order(BTC, Side.BUY, 650_000, 10, TimeInForce.GTC)),
        (TRADERS[1], Order(BTC, Side.SELL, 650_000, 4)),
    ]
    first = committed_batch(1, orders, reference_prices(pre))
    rnd = oracle_round(1, 1_000, REFS)
    mid, _ = apply_batch(pre, first, rnd, DEFAULT_CONFIG, ORACLE)
    assert len(mid.resting_orders) == 1
    late = oracle_round(2, 1_000 + ORACLE.max_price_age_ms + 1, REFS)
    second = committed_batch(2, [], reference_prices(mid))
    post, _ = apply_batch(mid, second, late, DEFAULT_CONFIG, ORACLE)
    assert post.resting_orders == mid.resting_orders
    return [
        BatchPublication(first, rnd, pre, mid).files(DEFAULT_CONFIG, ORACLE),
        BatchPublication(second, late, mid, post).files(DEFAULT_CONFIG, ORACLE),
    ]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_a_batch_holding_orders_in_a_halted_market_anchors(chain: Chain) -> None:
    """The halted markets and their held orders are proved in the AIR: the batch needs no
    table only its files give, and the exchange anchors it (deployed from the state the
    batch before left: a batch with orders is another shape)."""
    files = halted_batches()[1]
    st = statement_from_files(files)
    assert st.halted == (BTC, ETH) and st.pre.resting_orders
    assert not operator_rows(st)
    proof = prove_files(files)
    verify_files(proof, files)
    ex = deploy_exchange(chain, files, oracle=ORACLE)
    want = ex.statement_for(files).post_root
    receipt = ex.anchor(files, proof)
    assert 1_000_000 < receipt.gas_used < 1 << 24  # EIP-7825: one transaction at most 2^24 gas
    print(f"anchoring a batch holding orders in a halted market: {receipt.gas_used} gas")
    assert ex.state_root() == want
    assert ex.next_batch_id() == 3


def operator_rows(statement: BatchStatement) -> list[int]:
    """Tags of the tables only the published files give that hold rows for this batch."""
    _, layout = build_with_layout(rows_for(statement), statement)
    return [t.tag for t in layout.public_tables if t.tag not in DERIVED_TABLES and t.rows]
