"""The exchange contract on a real EVM (py-evm here; anvil in the marked test).

Each batch is anchored with a real STARK proof checked by StarkVerifier.sol
(see :mod:`tests.contracts.exchange_harness`). Every refusal is checked to
revert with its custom error *and* to move nothing: the root, the next batch
id, the consumed queue, the credited withdrawals and every token balance.
"""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import keccak

from sealbatch.auction.commitment import EMPTY_SUBTREES
from sealbatch.crypto.bus import PublicTable
from sealbatch.crypto.eip712 import Address, address_of
from sealbatch.crypto.solidity import encode_tables
from sealbatch.settlement.anchor import Chain, ContractReverted
from sealbatch.settlement.anchor_exchange import DERIVED_TABLES, derived_tables
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.settle_witness import SettleStatement
from sealbatch.settlement.batch_air.statement import _inputs_digest
from sealbatch.settlement.l1_statement import (
    KIND_DEPOSIT,
    L1Withdrawal,
    MarketValues,
    inputs_digest,
    public_inputs,
)
from sealbatch.settlement.ledger import AccountKey
from sealbatch.settlement.oracle import SignedReport
from sealbatch.settlement.params import DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.roots import account_proof, state_root

from . import statement_air
from .exchange_harness import FORCED_DELAY_S, ORACLE_KEYS, Harness, equity_of, with_trade


@pytest.fixture
def h(chain: Chain) -> Harness:
    return Harness.deploy(chain)


def snapshot(h: Harness) -> tuple[object, ...]:
    """Everything a refused call must leave as it was."""
    return (
        h.ex.state_root(),
        h.ex.next_batch_id(),
        h.ex.queue_consumed(),
        h.ex.queue_length(),
        h.ex.frozen(),
        tuple(h.ex.withdrawable(t) for t in h.traders),
        tuple(h.ex.balance(t) for t in h.traders),
        h.ex.balance(h.ex.address),
    )


def refused(
    h: Harness, error: str, call: object, *args: object, **kwargs: object
) -> ContractReverted:
    before = snapshot(h)
    with pytest.raises(ContractReverted) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.error == error, info.value
    assert snapshot(h) == before
    return info.value


def key(address: str, sub: int = 0) -> AccountKey:
    return AccountKey(Address(address), sub)


def funded(h: Harness, amounts: tuple[int, ...] = (5_000_000_000, 3_000_000_000)) -> None:
    """Deposit for the first traders and anchor a batch that credits them."""
    for t, a in zip(h.traders, amounts, strict=False):
        h.ex.deposit(t, a)
    h.anchor(h.apply_queue(h.state, h.ex.queue_length()))


def test_statement_evaluator_is_current() -> None:
    assert statement_air.evaluator_path().read_text() == statement_air.render()


def test_public_inputs_match_the_python_statement(h: Harness) -> None:
    t0, t1, t2 = h.traders[:3]
    h.ex.deposit(t0, 7_000_000)
    h.ex.deposit(t1, 2_000)  # only a depositor may ask for a forced withdrawal
    h.ex.request_forced_withdrawal(t1, 1_000)
    h.ex.deposit(t2, 9_000_000, subaccount=2)
    post = h.next_state(h.apply_queue(h.state, 4))
    w = (L1Withdrawal(t1, 0, 0), L1Withdrawal(t2, 3, 99))  # the forced one served with nothing
    blocks = tuple(range(1, 26))
    markets = (MarketValues(50_000, -12_345, 50_100, 7, 49_000), MarketValues(0, 1 << 40, 3_000, 0))
    s = dataclasses.replace(
        h.statement(post, withdrawals=w), block_elements=blocks, markets=markets, commitments=5
    )
    deposits = [r for r in h.ex.requests(0, 4) if r.kind == KIND_DEPOSIT]
    digest = inputs_digest(
        batch_id=0, oracle=s.oracle, deposits=deposits, block_elements=blocks, withdrawals=w
    )
    expected = public_inputs(
        batch_id=0,
        pre_root=h.ex.state_root(),
        post_root=s.post_root,
        commitment_root=s.commitment_root,
        inputs=digest,
        outputs_digest=s.outputs_digest,
        markets=markets,
        settlement=s.settlement,
        commitments=5,
        # both families' sources sign 50 000 and 50 001: the index is their midpoint, rounded
        # down, at the round's time
        indexes=[(50_000, t % (1 << 24), t >> 24, 0) for t in [s.oracle.timestamp_ms] * 2],
    )
    assert h.ex.public_inputs_for(s) == expected == h.ex.derive_public_inputs(s)
    # the tables: the market table and the commitment tree's root and empty subtrees
    assert h.ex.tables_for(s) == encode_tables(derived_tables(expected, statement_air.CODES))
    # the inputs digest is the batch verifier's own (docs/formats.md, "Batch digests")
    no_blocks = dataclasses.replace(s, block_elements=())
    verifier_side = _inputs_digest(
        0,
        s.oracle,
        [(key(d.account, d.subaccount), d.amount) for d in deposits],
        [],
        [(key(x.account, x.subaccount), x.amount) for x in w],
    )
    assert h.ex.public_inputs_for(no_blocks)[27:35] == tuple(verifier_side)
    # every part of the statement reaches the public inputs
    for changed in (
        dataclasses.replace(s, queue_to=0, withdrawals=w[1:]),
        dataclasses.replace(s, withdrawals=(w[0], L1Withdrawal(t2, 3, 98))),
        dataclasses.replace(s, block_elements=tuple(range(2, 27))),
        dataclasses.replace(s, settlement=(5,)),
        dataclasses.replace(s, oracle=h.oracle_round()),
        dataclasses.replace(s, markets=(markets[0], dataclasses.replace(markets[1], orders=1))),
        dataclasses.replace(s, markets=(markets[0], dataclasses.replace(markets[1], reference=1))),
        dataclasses.replace(s, commitments=4),
    ):
        assert h.ex.public_inputs_for(changed) != expected
    # the market values and the commitment count reach the tables
    tables = h.ex.tables_for(s)
    for changed in (
        dataclasses.replace(s, markets=(markets[0], dataclasses.replace(markets[1], orders=1))),
        dataclasses.replace(s, markets=(dataclasses.replace(markets[0], price=1), markets[1])),
        dataclasses.replace(s, markets=(markets[0], dataclasses.replace(markets[1], reference=1))),
        dataclasses.replace(s, commitments=4),
        dataclasses.replace(s, commitment_root=s.post_root),
    ):
        assert h.ex.tables_for(changed) != tables


def test_a_forced_withdrawal_must_be_served_in_the_batch_that_consumes_it(h: Harness) -> None:
    t0, t1 = h.traders[:2]
    funded(h)
    h.ex.request_forced_withdrawal(t0, 1_000)
    post = h.next_state(h.state)
    for withdrawals in (
        (),  # ignored
        (L1Withdrawal(t1, 0, 1_000),),  # paid to someone else
        (L1Withdrawal(t0, 1, 1_000),),  # to another subaccount
        (L1Withdrawal(t0, 0, 1_001),),  # more than asked
    ):
        s = h.statement(post, withdrawals=withdrawals)
        refused(h, "ForcedWithdrawalNotServed", h.ex.anchor, s, b"")
    # a withdrawal of nothing only serves a forced one
    s = h.statement(post, queue_to=h.ex.queue_consumed(), withdrawals=(L1Withdrawal(t0, 0, 0),))
    refused(h, "BadAmount", h.ex.anchor, s, b"")


def test_deposit_anchor_withdraw(h: Harness) -> None:
    t0, t1 = h.traders[:2]
    start = h.ex.balance(t0)
    funded(h)
    assert h.ex.next_batch_id() == 1
    assert h.ex.state_root() == state_root(h.state)
    assert h.ex.queue_consumed() == 2
    # batch 1 pays t0 a withdrawal of 2 000 units out of the ledger
    collateral = h.state.collateral.copy()
    collateral[h.state.row(key(t0))] -= 2_000_000
    h.anchor(
        h.state.with_arrays(collateral=collateral),
        withdrawals=(L1Withdrawal(t0, 0, 2_000_000),),
    )
    assert h.ex.withdrawable(t0) == 2_000_000
    h.ex.withdraw(t0, 1_500_000)
    h.ex.withdraw(t0, 500_000)
    assert h.ex.balance(t0) == start - 5_000_000_000 + 2_000_000
    assert h.ex.balance(h.ex.address) == 8_000_000_000 - 2_000_000
    # a double withdrawal (nothing left) and one beyond the credit are refused
    refused(h, "WithdrawalExceedsBalance", h.ex.withdraw, t0, 1)
    refused(h, "WithdrawalExceedsBalance", h.ex.withdraw, t1, 1)


@pytest.mark.slow
def test_withdrawal_beyond_the_credit_is_refused(h: Harness) -> None:
    t0 = h.traders[0]
    funded(h)
    collateral = h.state.collateral.copy()
    collateral[h.state.row(key(t0))] -= 1_000
    h.anchor(h.state.with_arrays(collateral=collateral), withdrawals=(L1Withdrawal(t0, 0, 1_000),))
    err = refused(h, "WithdrawalExceedsBalance", h.ex.withdraw, t0, 1_001)
    assert err.error_args == (1_000, 1_001)


def test_wrong_pre_root_is_refused(h: Harness) -> None:
    h.ex.deposit(h.traders[0], 1_000_000)
    post = h.next_state(h.apply_queue(h.state, 1))
    s = h.statement(post, pre_root=state_root(post))
    proof = h.prove(dataclasses.replace(s, pre_root=h.ex.state_root()))
    refused(h, "PreRootMismatch", h.ex.anchor, s, proof)


def test_replayed_proof_is_refused(h: Harness) -> None:
    h.ex.deposit(h.traders[0], 1_000_000)
    post = h.next_state(h.apply_queue(h.state, 1))
    s = h.statement(post)
    proof = h.prove(s)
    h.ex.anchor(s, proof)
    refused(h, "BatchIdMismatch", h.ex.anchor, s, proof)
    # the same proof under the next batch id: the public inputs differ, the verifier refuses
    settlement = statement_air.settlement_elements(h.config, post, post, s.post_root, 0, 0)
    again = dataclasses.replace(
        s, batch_id=1, pre_root=s.post_root, queue_to=1, settlement=settlement
    )
    err = refused(h, "ProofRejected", h.ex.anchor, again, proof)
    assert err.error_args[0]  # the verifier's own error rides along


def test_proof_for_other_public_inputs_is_refused(h: Harness) -> None:
    t0 = h.traders[0]
    h.ex.deposit(t0, 1_000_000)
    post = h.next_state(h.apply_queue(h.state, 1))
    honest = h.statement(post)
    # the operator proves a statement that credits it a withdrawal, submits the honest one
    greedy = dataclasses.replace(honest, withdrawals=(L1Withdrawal(h.chain.account, 0, 10**9),))
    refused(h, "ProofRejected", h.ex.anchor, honest, h.prove(greedy))
    # or proves the honest one and submits the greedy one
    refused(h, "ProofRejected", h.ex.anchor, greedy, h.prove(honest))
    # or skips the deposit
    skipped = dataclasses.replace(honest, queue_to=0)
    refused(h, "ProofRejected", h.ex.anchor, skipped, h.prove(honest))
    # a range of batches waits for a range proof
    refused(h, "RangeNotSupported", h.ex.anchor, dataclasses.replace(honest, last_batch_id=1), b"")
    # ids may skip (a venue leaves no batch for an empty interval), but the proof binds the id
    later = dataclasses.replace(honest, batch_id=3)
    refused(h, "ProofRejected", h.ex.anchor, later, h.prove(honest))


@pytest.mark.slow
def test_oracle_round_is_checked(h: Harness) -> None:
    post = h.next_state(h.state)
    s = h.statement(post)
    first = s.oracle.reports[0]
    forged = dataclasses.replace(
        s.oracle,
        reports=(SignedReport(dataclasses.replace(first.report, price=1), first.signature),),
    )
    refused(h, "BadOracleSignature", h.ex.anchor, dataclasses.replace(s, oracle=forged), b"")
    stranger = b"\x33" * 32
    outsider = SignedReport.sign(
        dataclasses.replace(first.report, source=address_of(stranger)), stranger
    )
    unknown = dataclasses.replace(s.oracle, reports=(outsider,))
    refused(h, "UnknownOracleSource", h.ex.anchor, dataclasses.replace(s, oracle=unknown), b"")
    h.ex.anchor(s, h.prove(s))
    old = dataclasses.replace(s.oracle, timestamp_ms=s.oracle.timestamp_ms - 1, reports=())
    nxt = h.statement(h.next_state(h.state), oracle=old)
    refused(h, "StaleOracleRound", h.ex.anchor, nxt, b"")


@pytest.mark.slow
def test_only_the_operator_anchors(h: Harness) -> None:
    s = h.statement(h.next_state(h.state))
    proof = h.prove(s)
    before = snapshot(h)
    with pytest.raises(ContractReverted) as info:
        h.chain.transact(h.ex.exchange, "anchor", s.to_abi(), proof, sender=h.traders[0])
    assert info.value.error == "NotOperator"
    assert snapshot(h) == before


def test_bad_amounts_are_refused(h: Harness) -> None:
    refused(h, "BadAmount", h.ex.deposit, h.traders[0], 0)
    refused(h, "BadAmount", h.ex.request_forced_withdrawal, h.traders[0], 1 << 62)


def test_only_a_depositor_may_ask_for_a_forced_withdrawal(h: Harness) -> None:
    """A request for an account the ledger does not hold could never be served, and its
    deadline would let anyone freeze the exchange: the contract queues forced withdrawals
    only for accounts (address, subaccount) that deposited through it."""
    t0, t1 = h.traders[:2]
    err = refused(h, "NoDeposit", h.ex.request_forced_withdrawal, t1, 1_000)
    assert str(err.error_args[0]).lower() == t1.lower() and err.error_args[1] == 0
    h.ex.deposit(t0, 5_000)
    refused(h, "NoDeposit", h.ex.request_forced_withdrawal, t0, 1_000, subaccount=1)
    refused(h, "NoDeposit", h.ex.request_forced_withdrawal, t1, 1_000)
    before = h.ex.queue_length()
    h.ex.request_forced_withdrawal(t0, 1_000)
    assert h.ex.queue_length() == before + 1


def test_freeze_before_the_deadline_is_refused(h: Harness) -> None:
    funded(h)
    h.ex.request_forced_withdrawal(h.traders[0], 1_000)
    refused(h, "NotForcedWithdrawal", h.ex.freeze, 0)  # request 0 is a deposit
    refused(h, "DeadlineNotPassed", h.ex.freeze, 2)
    h.chain.advance_time(FORCED_DELAY_S // 2)
    refused(h, "DeadlineNotPassed", h.ex.freeze, 2)
    refused(h, "UnknownRequest", h.ex.freeze, 3)
    refused(h, "ExchangeNotFrozen", h.ex.reclaim_deposit, 0)


@pytest.mark.slow
def test_a_served_forced_withdrawal_cannot_freeze(h: Harness) -> None:
    t0 = h.traders[0]
    funded(h)
    h.ex.request_forced_withdrawal(t0, 1_000)
    collateral = h.state.collateral.copy()
    collateral[h.state.row(key(t0))] -= 1_000
    h.anchor(h.state.with_arrays(collateral=collateral), withdrawals=(L1Withdrawal(t0, 0, 1_000),))
    h.chain.advance_time(FORCED_DELAY_S + 1)
    refused(h, "RequestServed", h.ex.freeze, 2)
    h.ex.withdraw(t0, 1_000)


def run_escape_hatch(h: Harness) -> None:
    """The operator stops, a forced withdrawal goes unserved, every account leaves with its
    equity."""
    t0, t1, t2, t3 = h.traders
    funded(h, (5_000_000_000, 3_000_000_000, 1_000_000_000))
    # batch 1: t0 goes long 10 lots at 50 000 from t1; the mark moves to 51 000
    h.anchor(with_trade(h.state, key(t0), key(t1), 10, 50_000, 51_000))
    last = h.state
    # after the last proved batch: a deposit that no batch consumes, and a forced withdrawal
    late = h.ex.deposit(t3, 4_000_000).block
    assert late
    h.ex.request_forced_withdrawal(t2, 500_000_000)
    forced = h.ex.queue_length() - 1
    # the operator stops. Before the deadline, nobody can freeze; after it, anyone can.
    refused(h, "DeadlineNotPassed", h.ex.freeze, forced)
    refused(h, "ExchangeNotFrozen", h.ex.escape, account_proof(last, key(t0)))
    h.chain.advance_time(FORCED_DELAY_S + 1)
    h.ex.freeze(forced, sender=t3)
    assert h.ex.frozen()
    # no batch, deposit or request after the freeze
    s = h.statement(h.next_state(last))
    refused(h, "ExchangeFrozen", h.ex.anchor, s, b"")
    refused(h, "ExchangeFrozen", h.ex.deposit, t3, 1)
    # every account withdraws exactly its equity at the last proved root, once
    held = h.ex.balance(h.ex.address)
    paid = 0
    for t in (t0, t1, t2):
        proof = account_proof(last, key(t))
        want = equity_of(last, key(t))
        before = h.ex.balance(t)
        h.ex.escape(proof, sender=t3)  # anyone may send it; the tokens go to the account
        assert h.ex.balance(t) - before == want
        assert h.ex.has_escaped(t)
        paid += want
        refused(h, "AlreadyEscaped", h.ex.escape, proof)
    assert equity_of(last, key(t0)) == 5_000_000_000 + 10 * 1_000 * 100  # the long's gain
    # the unconsumed deposit goes back to its depositor, once
    before = h.ex.balance(t3)
    h.ex.reclaim_deposit(forced - 1)
    assert h.ex.balance(t3) - before == 4_000_000
    refused(h, "NotReclaimable", h.ex.reclaim_deposit, forced - 1)
    refused(h, "NotReclaimable", h.ex.reclaim_deposit, 0)  # consumed by batch 0
    assert h.ex.balance(h.ex.address) == held - paid - 4_000_000 == 0


def test_escape_hatch(h: Harness) -> None:
    run_escape_hatch(h)


@pytest.mark.slow
def test_escape_with_a_forged_account_proof_is_refused(h: Harness) -> None:
    t0, t1 = h.traders[:2]
    funded(h)
    h.anchor(with_trade(h.state, key(t0), key(t1), 10, 50_000, 49_000))
    h.ex.request_forced_withdrawal(t0, 1)
    h.chain.advance_time(FORCED_DELAY_S + 1)
    h.ex.freeze(h.ex.queue_length() - 1)
    proof = account_proof(h.state, key(t0))
    richer = list(proof.leaf)
    richer[11] += 1  # one more base unit of collateral
    refused(h, "AccountProofMismatch", h.ex.escape, dataclasses.replace(proof, leaf=tuple(richer)))
    over = list(proof.leaf)
    over[11] += 2**24  # a limb out of range (the same field element as another limb carry)
    refused(h, "MalformedLeaf", h.ex.escape, dataclasses.replace(proof, leaf=tuple(over)))
    other = account_proof(h.state, key(t1))
    refused(h, "AccountProofMismatch", h.ex.escape, dataclasses.replace(proof, path=other.path))
    # t0's long lost at the mark: it still leaves with exactly what is left
    before = h.ex.balance(t0)
    h.ex.escape(proof)
    assert h.ex.balance(t0) - before == equity_of(h.state, key(t0)) == 5_000_000_000 - 1_000_000


@pytest.mark.anvil
def test_escape_hatch_on_anvil(anvil_chain: Chain) -> None:
    run_escape_hatch(Harness.deploy(anvil_chain))


def test_the_contract_derives_the_batch_verifiers_statement_for_a_published_batch(
    chain: Chain,
) -> None:
    """For a real settled batch with L1 deposits and withdrawals, the public inputs the contract
    derives (from its own root and queue) are exactly those the batch verifier derives from
    the published files — the statement the batch proof proves."""
    from sealbatch.auction.orders import Order, Side
    from sealbatch.settlement.anchor_exchange import (
        deploy_exchange,
        market_terms,
        statement_from_batch,
    )
    from sealbatch.settlement.batch_air.statement import statement_from_files
    from sealbatch.settlement.publication import BatchPublication
    from sealbatch.settlement.transition import apply_batch
    from tests.settlement.batch_air_helpers import committed_batch
    from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round

    from .exchange_harness import deploy_statement_verifier

    t = TRADERS
    depositors = [str(a) for a in chain.w3.eth.accounts[5:7]]
    deposits = ((key(depositors[0]), 5_000_000), (key(depositors[1], 4), 7_000))
    withdrawals = ((key(t[1]), 1_234_567),)
    # real commitments with their salts: the verifier re-hashes every revealed order
    batch = committed_batch(
        1,
        [
            (t[0], Order("BTC-PERP", Side.BUY, 650_010, 5)),
            (t[1], Order("BTC-PERP", Side.SELL, None, 3)),
        ],
        {"BTC-PERP": None, "ETH-PERP": None},  # a first batch: no marks, no reference
    )
    pre = funded([10**12] * 4)
    rnd = oracle_round(1, 1_000, {"BTC-PERP": 650_000, "ETH-PERP": 350_000})
    post, _ = apply_batch(
        pre, batch, rnd, DEFAULT_CONFIG, ORACLE, deposits=deposits, withdrawals=withdrawals
    )
    pub = BatchPublication(batch, rnd, pre, post, deposits=deposits, withdrawals=withdrawals)
    files = pub.files(DEFAULT_CONFIG, ORACLE)

    ex = deploy_exchange(
        chain,
        deploy_statement_verifier(chain).verifier.address,
        genesis_root=state_root(pre),
        multipliers=[m.multiplier for m in DEFAULT_CONFIG.markets],
        markets=DEFAULT_CONFIG.market_ids,
        fee_bps=market_terms(DEFAULT_CONFIG)[0],
        margin_tiers=market_terms(DEFAULT_CONFIG)[1],
        penalty_bps=market_terms(DEFAULT_CONFIG)[2],
        initial_bps=market_terms(DEFAULT_CONFIG)[3],
        genesis_indexes=[(ms.index_price, ms.index_time_ms) for ms in pre.market_states],
        first_batch_id=1,
        oracle=ORACLE,
        account_capacity=1 << 10,
    )
    for (k, amount), who in zip(deposits, depositors, strict=True):
        ex.mint(who, amount)
        ex.deposit(who, amount, subaccount=k.subaccount)
    ex.request_forced_withdrawal(depositors[0], 1)  # queued after: not this batch's
    statement, expected_deposits = statement_from_batch(files, queue_to=2)
    assert tuple(ex.requests(0, 2)) == expected_deposits
    bs = statement_from_files(files)
    verifier_side = bs.public_inputs
    assert ex.public_inputs_for(statement) == verifier_side
    assert ex.derive_public_inputs(statement) == verifier_side
    # and the tables it builds are the batch AIR's market and commitment-tree tables
    _, layout = build_with_layout(rows_for(bs), bs)
    air_side = {_table_key(t) for t in layout.public_tables if t.tag in DERIVED_TABLES and t.rows}
    contract_side = derived_tables(verifier_side, ex.market_codes())
    assert {_table_key(t) for t in contract_side if t.rows} == air_side
    assert ex.tables_for(statement) == encode_tables(contract_side)
    assert ex.statement_for(files) == statement  # the queue prefix it consumes, found


def _table_key(t: PublicTable) -> tuple[object, ...]:
    return (t.tag, t.receive, tuple(sorted(zip(t.rows, t.multiplicities, strict=True))))


def test_malformed_statements_and_calls_are_refused(h: Harness) -> None:
    h.ex.deposit(h.traders[0], 1_000)
    s = h.statement(h.next_state(h.apply_queue(h.state, 1)))
    for bad, error in (
        (dataclasses.replace(s, post_root=b"\xff" * 32), "NotFieldElement"),
        (dataclasses.replace(s, markets=s.markets[:1]), "MarketValuesMismatch"),
        (dataclasses.replace(s, block_elements=(1, 2, 3)), "MalformedBlocks"),
        (dataclasses.replace(s, queue_to=2), "QueueRangeInvalid"),
        (dataclasses.replace(s, settlement=(2**31,)), "NotFieldElement"),
    ):
        refused(h, error, h.ex.anchor, bad, b"")
    # a deposit the token does not pay for moves nothing
    before = snapshot(h)
    with pytest.raises(ContractReverted) as info:
        h.chain.transact(h.ex.exchange, "deposit", 0, 10**15, sender=h.traders[1])
    assert info.value.error == "TransferFailed"
    assert snapshot(h) == before


def test_escape_with_a_malformed_proof_is_refused(h: Harness) -> None:
    t0 = h.traders[0]
    funded(h)
    h.ex.request_forced_withdrawal(t0, 1)
    h.chain.advance_time(FORCED_DELAY_S + 1)
    h.ex.freeze(h.ex.queue_length() - 1)
    proof = account_proof(h.state, key(t0))
    outside = dataclasses.replace(proof, index=proof.index + (1 << len(proof.path)))
    refused(h, "MalformedLeaf", h.ex.escape, outside)
    leaf = list(proof.leaf)
    leaf[7] |= 1 << 16  # the address's top limb holds 16 bits
    refused(h, "MalformedLeaf", h.ex.escape, dataclasses.replace(proof, leaf=tuple(leaf)))
    leaf = list(proof.leaf)
    leaf[10] = 2  # a sign is 0 or 1
    refused(h, "MalformedLeaf", h.ex.escape, dataclasses.replace(proof, leaf=tuple(leaf)))
    refused(h, "MalformedLeaf", h.ex.escape, dataclasses.replace(proof, leaf=proof.leaf[:-1]))
    h.ex.escape(proof)
    assert h.ex.has_escaped(t0)


def test_the_reference_price_is_the_last_anchored_mark(h: Harness) -> None:
    """An operator may not clear around a reference price of its choosing: once a batch is
    anchored, each market's reference is that batch's mark."""
    t0, t1 = h.traders[:2]
    funded(h)
    h.anchor(with_trade(h.state, key(t0), key(t1), 1, 50_000, 51_000))
    s = h.statement(h.next_state(h.state))
    assert s.markets[0].reference == 51_000
    moved = dataclasses.replace(
        s, markets=(dataclasses.replace(s.markets[0], reference=52_000), *s.markets[1:])
    )
    err = refused(h, "ReferenceMismatch", h.ex.anchor, moved, h.prove(moved))
    assert err.error_args == (0, 51_000, 52_000)
    h.ex.anchor(s, h.prove(s))


def test_the_first_reference_price_is_the_genesis_mark(chain: Chain) -> None:
    """Before any anchor the contract knows the genesis root's marks (fixed at deployment),
    so the operator cannot pick the first batch's reference prices either; a market without
    a mark takes none (0)."""
    from sealbatch.settlement.ledger import empty_state

    genesis = empty_state(DEFAULT_CONFIG)
    marked = (dataclasses.replace(genesis.market_states[0], mark_price=50_000),)
    genesis = dataclasses.replace(genesis, market_states=marked + genesis.market_states[1:])
    h = Harness.deploy(chain, genesis=genesis)
    h.ex.deposit(h.traders[0], 1_000)
    s = h.statement(h.next_state(h.apply_queue(h.state, 1)))
    assert s.markets[0].reference == 50_000 and s.markets[1].reference == 0
    assert [h.ex.exchange.functions.lastMarks(j).call() for j in range(2)] == [50_000, 0]
    for j, ref in ((0, 49_000), (0, 0), (1, 35_000)):
        moved = dataclasses.replace(
            s,
            markets=tuple(
                dataclasses.replace(v, reference=ref) if i == j else v
                for i, v in enumerate(s.markets)
            ),
        )
        err = refused(h, "ReferenceMismatch", h.ex.anchor, moved, h.prove(moved))
        assert err.error_args == (j, (50_000, 0)[j], ref)
    h.ex.anchor(s, h.prove(s))
    assert h.ex.next_batch_id() == 1


def test_a_first_batch_with_a_reference_is_refused(h: Harness) -> None:
    """A market without a mark (here a genesis without marks, in its first batch) clears
    without a reference: one stated (to steer the price within the optimal interval)
    reverts ReferenceMismatch and nothing moves; the batch without one anchors."""
    h.ex.deposit(h.traders[0], 1_000)
    s = h.statement(h.next_state(h.apply_queue(h.state, 1)))
    assert [v.reference for v in s.markets] == [0, 0]
    assert [h.ex.exchange.functions.lastMarks(j).call() for j in range(2)] == [0, 0]
    moved = dataclasses.replace(
        s, markets=(dataclasses.replace(s.markets[0], reference=50_000), *s.markets[1:])
    )
    err = refused(h, "ReferenceMismatch", h.ex.anchor, moved, h.prove(moved))
    assert err.error_args == (0, 0, 50_000)
    h.ex.anchor(s, h.prove(s))


def test_a_batch_needing_operator_tables_is_refused_by_name(chain: Chain) -> None:
    """Tables only the published files give are never taken from the operator: a batch that
    needs rows in one is refused, naming the table."""
    from sealbatch.settlement.batch_air.framework import TAG_CARRIED

    TAG_ORDER = 4  # the order table's tag, no longer a table of the batch AIR

    from .exchange_harness import deploy_statement_verifier

    verifier = deploy_statement_verifier(chain)
    h = Harness.deploy(chain, verifier, operator_tables=(TAG_ORDER, TAG_CARRIED))
    assert h.ex.operator_tables() == (TAG_ORDER, TAG_CARRIED)
    s = h.statement(h.next_state(h.state))
    with_orders = dataclasses.replace(
        s, markets=(dataclasses.replace(s.markets[0], orders=2), *s.markets[1:]), commitments=2
    )
    err = refused(h, "TableNotDerivable", h.ex.anchor, with_orders, b"")
    assert err.error_args == (TAG_ORDER,)
    # more commitments than orders: some were forfeited, which needs no table (the charges
    # are proved from the outputs digest's forfeit rows): not refused up front
    forfeited = dataclasses.replace(s, commitments=1)
    err = refused(h, "ProofRejected", h.ex.anchor, forfeited, b"")
    # more orders than commitments: some were carried in
    carried = dataclasses.replace(with_orders, commitments=1)
    err = refused(
        h,
        "TableNotDerivable",
        dataclasses.replace(h.ex, exchange=h.ex.exchange).anchor,
        carried,
        b"",
    )
    assert err.error_args[0] in (TAG_ORDER, TAG_CARRIED)
    # deposits and withdrawals reach the accounts in the AIR: no table, the batch anchors
    h.ex.deposit(h.traders[0], 1_000)
    s = h.statement(h.next_state(h.apply_queue(h.state, 1)))
    h.ex.anchor(s, h.prove(s))
    assert h.ex.next_batch_id() == 1


def test_a_proof_for_other_tables_is_refused(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract builds the tables itself: a proof whose bus closes only with other rows
    (here: other empty subtrees of the commitment tree) fails the verifier's LogUp sum."""
    from sealbatch.settlement import anchor_exchange

    s = h.statement(h.next_state(h.state))
    other = tuple(tuple((int(v) + 1) % 2013265921 for v in e) for e in EMPTY_SUBTREES)
    monkeypatch.setattr(anchor_exchange, "EMPTY_SUBTREES", other)
    forged = h.prove(s)
    monkeypatch.undo()
    err = refused(h, "ProofRejected", h.ex.anchor, s, forged)
    assert bytes(err.error_args[0])[:4] == keccak(b"OodMismatch()")[:4]
    h.ex.anchor(s, h.prove(s))


def test_the_empty_subtrees_are_the_commitment_trees(h: Harness) -> None:
    """The contract's constant empty subtrees are auction/commitment.py's, and each level is
    the Poseidon2 compression of the one below (recomputed on chain)."""
    for level, elements in enumerate(EMPTY_SUBTREES):
        word = bytes(h.chain.call(h.ex.exchange, "emptySubtree", level))
        assert word == b"".join(int(v).to_bytes(4, "big") for v in elements)
    for level in (0, 19):
        below = [int(v) for v in EMPTY_SUBTREES[level]]
        above = h.chain.call(h.ex.hasher, "compress", below, below)
        assert tuple(int(v) for v in above) == tuple(int(v) for v in EMPTY_SUBTREES[level + 1])
    refused(
        h,
        "CommitmentCountInvalid",
        h.ex.tables_for,
        dataclasses.replace(h.statement(h.next_state(h.state)), commitments=(1 << 20) + 1),
    )


def test_the_settlement_statement_is_checked_against_the_contract(h: Harness) -> None:
    """The settlement statement's roots, multipliers and marks are the contract's, and the
    derived digits the AIR reads instead of constants follow from it: an operator cannot
    state a conservation target, a price product, a liquidation per_lot or a root of its
    own."""
    h.ex.deposit(h.traders[0], 1_000)
    s = h.statement(h.next_state(h.apply_queue(h.state, 1)))
    e = s.settlement
    terms = 4 + 16 + 6 * 4  # counts, roots, amounts: then the market terms
    margins = terms + 8 * 2  # price, multiplier, fee, ΔF ×4, liquidation penalty per market
    per_lot = SettleStatement.from_elements(e)[0].derived_index(0).per_lot(1)
    for at, value in (
        (per_lot, e[per_lot] ^ 1),  # market 1's liquidation per_lot: not its index's
        (len(e) - 1, e[-1] ^ 1),  # the conservation target's top digit
        (len(e) - 8, e[-8] ^ 1),  # the last market's last derived digit
        (4, (e[4] + 1) % 2013265921),  # the pre-root: not the stored one
        (12, (e[12] + 1) % 2013265921),  # the post-root: not the stated one
        (terms + 1, 101),  # market 0's multiplier: not the contract's
        (margins, e[margins] + 1),  # market 0's mark: not the stated one
    ):
        bad = list(e)
        bad[at] = value
        err = refused(
            h, "SettlementMismatch", h.ex.anchor, dataclasses.replace(s, settlement=tuple(bad)), b""
        )
        assert err.error_args == (at,)
    refused(h, "SettlementMismatch", h.ex.anchor, dataclasses.replace(s, settlement=e[:-1]), b"")
    # a liquidation penalty rate above 10 000 bps: refused at the market's terms
    bad = list(e)
    bad[terms + 7] = 10_001
    err = refused(
        h, "SettlementMismatch", h.ex.anchor, dataclasses.replace(s, settlement=tuple(bad)), b""
    )
    assert err.error_args == (terms,)
    h.ex.anchor(s, h.prove(s))
    assert h.ex.next_batch_id() == 1


def _with_terms(
    fee_bps: int | None = None,
    penalty_bps: int | None = None,
    tier: tuple[int, int, int] | None = None,
    extra_tier: bool = False,
    initial_bps: int | None = None,
) -> SettlementConfig:
    """DEFAULT_CONFIG with market 0's fee, its liquidation penalty, its tier ``k``'s
    (max_lots, maintenance bps) or its tier 0's initial bps replaced, or one more tier
    halfway to the second: the terms an operator would rather settle with than the ones it
    publishes."""
    risk = DEFAULT_CONFIG.markets[0]
    if initial_bps is not None:
        t0 = dataclasses.replace(risk.tiers[0], initial_bps=initial_bps)
        risk = dataclasses.replace(risk, tiers=(t0, *risk.tiers[1:]))
    if fee_bps is not None:
        risk = dataclasses.replace(risk, fee_bps=fee_bps)
    if penalty_bps is not None:
        risk = dataclasses.replace(risk, liquidation_penalty_bps=penalty_bps)
    if extra_tier:
        t0, t1 = risk.tiers[:2]
        mid = dataclasses.replace(t0, max_lots=(t0.max_lots + t1.max_lots) // 2)
        risk = dataclasses.replace(risk, tiers=(t0, mid, *risk.tiers[1:]))
    if tier is not None:
        k, lots, bps = tier
        tiers = list(risk.tiers)
        tiers[k] = dataclasses.replace(
            tiers[k], max_lots=lots, maintenance_bps=bps, initial_bps=max(bps, tiers[k].initial_bps)
        )
        risk = dataclasses.replace(risk, tiers=tuple(tiers))
    return dataclasses.replace(DEFAULT_CONFIG, markets=(risk, *DEFAULT_CONFIG.markets[1:]))


def test_fee_and_margin_terms_are_the_contracts(h: Harness) -> None:
    """A market's fee and margin tiers are fixed at deployment like its multiplier: a
    statement settled with another fee, another tier threshold or another tier's bps — its
    derived digits consistent, its proof real — is refused naming the market and the field,
    and nothing moves; the honest statement anchors."""
    risk = DEFAULT_CONFIG.markets[0]
    assert h.ex.market_terms() == tuple(
        (
            r.fee_bps,
            tuple((t.max_lots, t.maintenance_bps) for t in r.tiers),
            r.liquidation_penalty_bps,
            r.tiers[0].initial_bps,
        )
        for r in DEFAULT_CONFIG.markets
    )
    first, second = risk.tiers[:2]
    h.ex.deposit(h.traders[0], 1_000)
    post = h.next_state(h.apply_queue(h.state, 1))
    honest = h.statement(post)
    cases = (
        (_with_terms(fee_bps=risk.fee_bps + 5), (0, risk.fee_bps, risk.fee_bps + 5)),
        (
            # a lower penalty: the liquidated account keeps what the insurance fund is owed
            _with_terms(penalty_bps=risk.liquidation_penalty_bps - 1),
            (1, risk.liquidation_penalty_bps, risk.liquidation_penalty_bps - 1),
        ),
        (
            _with_terms(tier=(0, first.max_lots + 1, first.maintenance_bps)),
            (3, first.max_lots, first.max_lots + 1),
        ),
        (
            _with_terms(tier=(0, first.max_lots, first.maintenance_bps - 1)),
            (4, first.maintenance_bps, first.maintenance_bps - 1),
        ),
        (
            _with_terms(tier=(1, second.max_lots - 1, second.maintenance_bps)),
            (5, second.max_lots, second.max_lots - 1),
        ),
        (_with_terms(extra_tier=True), (2, len(risk.tiers), len(risk.tiers) + 1)),
        (
            # a higher tier 0 initial bps: a larger liquidation per_lot, smaller slices
            _with_terms(initial_bps=first.initial_bps + 1),
            (3 + 2 * len(risk.tiers), first.initial_bps, first.initial_bps + 1),
        ),
    )
    for config, (field, expected, got) in cases:
        deposits = sum(r.amount for r in h.ex.requests(0, 1))
        other = statement_air.settlement_elements(
            config, h.state, post, h.ex.state_root(), deposits, 0
        )
        assert other != honest.settlement
        bad = dataclasses.replace(honest, settlement=other)
        # a real proof of the test AIR for these public inputs (another tier count is
        # another layout: refused before the verifier, whatever the proof)
        proof = b"" if field == 2 else h.prove(bad)
        err = refused(h, "MarketTermMismatch", h.ex.anchor, bad, proof)
        assert err.error_args == (0, field, expected, got)
    h.ex.anchor(honest, h.prove(honest))
    assert h.ex.state_root() == honest.post_root


def test_fee_and_margin_terms_are_checked_at_deployment(chain: Chain) -> None:
    """The constructor takes a fee, a penalty, tiers and tier 0's initial bps per market, in
    the batch AIR's ranges, an account capacity below 2^64 and a minimum deposit below
    2^62."""
    h = Harness.deploy(chain)
    root = state_root(h.anchored[0])
    verifiers = [h.verifier.verifier.address]
    sources = [address_of(k) for k in ORACLE_KEYS]
    one_market = chain.deploy("OracleIndex", [5_000, 200, 50, 1, 1], sources, [0, 1], [b"x" * 32])

    def deploy(
        fees: list[int],
        penalties: list[int],
        tiers: list[list[int]],
        initial: tuple[int, ...] = (100,),
        capacity: int = 16,
        minimum: int = 1,
    ) -> str:
        config = (
            0, root, FORCED_DELAY_S, one_market.address, [1], [1], fees, penalties, tiers,
            list(initial), [], [], [], capacity, minimum,
        )  # fmt: skip
        args = (verifiers, h.ex.hasher.address, h.ex.token.address, chain.account, config)
        return str(chain.deploy("Exchange", *args).address)

    assert deploy([5], [100], [[10, 50]])  # the same arguments, in range, deploy
    assert deploy([5], [100], [[10, 50]], capacity=(1 << 64) - 1, minimum=(1 << 62) - 1)
    for capacity, minimum in ((1 << 64, 1), (16, 1 << 62)):
        with pytest.raises(ContractReverted) as info:
            deploy([5], [100], [[10, 50]], capacity=capacity, minimum=minimum)
        assert info.value.error in ("BadConfig", "Revert")
    for fees, penalties, tiers, initial in (
        ([5], [100], [[10, 50]], (49,)),  # tier 0's initial bps below its maintenance bps
        ([5], [100], [[10, 50]], (10_001,)),  # tier 0's initial bps past 10 000
        ([5], [100], [[10, 50]], ()),  # no initial bps
    ):
        with pytest.raises(ContractReverted) as info:
            deploy(fees, penalties, tiers, initial)
        assert info.value.error in ("BadConfig", "Revert")
    for fees, penalties, tiers in (
        ([5, 5], [100, 100], [[10, 50]]),  # tiers for one market of two
        ([5], [100, 100], [[10, 50]]),  # a penalty for a market that is not there
        ([10_001], [100], [[10, 50]]),  # a fee past 10 000 bps
        ([5], [10_001], [[10, 50]]),  # a penalty past 10 000 bps
        ([5], [100], [[]]),  # no tier
        ([5], [100], [[10, 50, 10, 60]]),  # thresholds not increasing
        ([5], [100], [[10, 0]]),  # a tier of 0 bps
        ([5], [100], [[1 << 22, 50]]),  # a threshold past 2^22
        ([5], [100], [[10, 50, 20]]),  # half a tier
    ):
        with pytest.raises(ContractReverted) as info:
            deploy(fees, penalties, tiers)
        assert info.value.error in (
            "BadConfig",
            "Revert",
        )  # a constructor's revert data may be lost


def test_batch_ids_may_skip_but_never_go_back(h: Harness) -> None:
    """A venue leaves no batch for an interval in which nothing happened, so an anchored id
    may jump ahead; the pre-root keeps the roots chained. An operator can neither replay an
    old id nor use a skip to drop a queued forced withdrawal (it is consumed in queue order,
    and unconsumed it still lets anyone freeze the exchange after its deadline)."""
    t0 = h.traders[0]
    funded(h)
    assert h.ex.next_batch_id() == 1
    # batch 5 after batch 0: ids 1-4 had nothing to settle
    post = replace_batch(h.state, 5)
    h.ex.anchor(s5 := h.statement(post, batch_id=5), h.prove(s5))
    h.state = post
    assert h.ex.next_batch_id() == 6 and h.ex.state_root() == s5.post_root
    # an old id (a skipped one, or the last one) never comes back
    for old in (3, 5):
        again = h.statement(replace_batch(h.state, old), batch_id=old)
        refused(h, "BatchIdMismatch", h.ex.anchor, again, h.prove(again))
    # a forced withdrawal queued: a later id that consumes it must serve it ...
    h.ex.request_forced_withdrawal(t0, 1_000)
    skip = h.statement(replace_batch(h.state, 9), batch_id=9)
    refused(h, "ForcedWithdrawalNotServed", h.ex.anchor, skip, h.prove(skip))
    # ... and a batch that leaves it queued does not stop its deadline
    left = h.statement(replace_batch(h.state, 9), batch_id=9, queue_to=h.ex.queue_consumed())
    h.ex.anchor(left, h.prove(left))
    h.chain.advance_time(FORCED_DELAY_S + 1)
    h.ex.freeze(h.ex.queue_length() - 1, sender=h.traders[3])
    assert h.ex.frozen()


def replace_batch(state: object, batch_id: int) -> object:
    return dataclasses.replace(state, batch_id=batch_id)  # type: ignore[type-var]


def test_the_verifiers_are_fixed_at_deployment(chain: Chain) -> None:
    """The exchange holds one verifier per batch shape, set by its constructor: an unknown
    shape is refused, a proof checked by another shape's verifier is refused (its header
    names its own rows), and no function of the exchange can add or replace a verifier."""
    from sealbatch.settlement.anchor import deploy_verifier
    from tests.crypto.helpers import FAST

    from .exchange_harness import deploy_statement_verifier

    first = deploy_statement_verifier(chain)
    wider = deploy_verifier(
        chain,
        statement_air.build(2 * statement_air.ROWS, statement_air.blank_inputs()),
        FAST,
        min_security_bits=0,
    )
    h = Harness.deploy(chain, first, more_verifiers=(wider.verifier.address,))
    assert h.ex.chain.call(h.ex.exchange, "verifierCount") == 2
    h.ex.deposit(h.traders[0], 1_000_000)
    post = h.next_state(h.apply_queue(h.state, 1))
    s = h.statement(post)
    proof = h.prove(s)
    refused(h, "UnknownShape", h.ex.anchor, s, proof, shape=2)
    err = refused(h, "ProofRejected", h.ex.anchor, s, proof, shape=1)
    assert err.error_args[0]  # the wider verifier's HeaderMismatch rides along
    h.ex.anchor(s, proof, shape=0)
    assert h.ex.state_root() == s.post_root
    # nothing writes the verifiers after the constructor: the exchange's only state-changing
    # functions are the traders', the operator's anchoring and the escape hatch's
    writers = {
        f["name"]
        for f in h.ex.exchange.abi
        if f.get("type") == "function" and f.get("stateMutability") not in ("view", "pure")
    }
    assert writers == {
        "deposit",
        "requestForcedWithdrawal",
        "anchor",
        "anchorWith",
        "withdraw",
        "freeze",
        "escape",
        "reclaimDeposit",
    }
    # an exchange without a verifier is refused at deployment
    sources = [address_of(k) for k in ORACLE_KEYS]
    one_market = chain.deploy("OracleIndex", [5_000, 200, 50, 1, 1], sources, [0, 1], [b"x" * 32])
    config = (
        0,
        state_root(h.anchored[0]),
        FORCED_DELAY_S,
        one_market.address,
        [1],
        [1],
        [5],
        [100],
        [[10, 50]],
        [100],
        [],
        [],
        [],
        16,
        1,
    )
    with pytest.raises(ContractReverted) as info:
        chain.deploy("Exchange", [], h.ex.hasher.address, h.ex.token.address, chain.account, config)
    assert info.value.error in ("BadConfig", "Revert")  # a constructor's revert data may be lost


@pytest.mark.anvil
@pytest.mark.parametrize(
    "case",
    [
        test_wrong_pre_root_is_refused,
        test_replayed_proof_is_refused,
        test_proof_for_other_public_inputs_is_refused,
        test_withdrawal_beyond_the_credit_is_refused,
        test_deposit_anchor_withdraw,  # a double withdrawal refused
        test_freeze_before_the_deadline_is_refused,
        test_batch_ids_may_skip_but_never_go_back,
    ],
    ids=lambda case: case.__name__.removeprefix("test_"),
)
def test_refusals_on_anvil(anvil_chain: Chain, case: object) -> None:
    """Issue 15's refusals on a JSON-RPC node: each reverts with its custom error and moves
    nothing (the same checks as on py-evm, a fresh exchange each)."""
    case(Harness.deploy(anvil_chain))  # type: ignore[operator]
