"""The exchange contract under attack: a trader, the operator or a third party trying to
take money the proved ledger does not give them, or to move the exchange where its
promises say it cannot go (docs/contracts.md, "Forced withdrawals, the freeze and the
escape hatch").

Each refusal is checked to revert with its custom error and to move nothing
(:func:`tests.contracts.test_exchange.refused`).
"""

from __future__ import annotations

import dataclasses

import pytest

from sealbatch.settlement.anchor import AnchorError, Chain, ContractReverted
from sealbatch.settlement.l1_statement import L1Withdrawal
from sealbatch.settlement.roots import account_proof

from .exchange_harness import FORCED_DELAY_S, Harness, equity_of, with_trade
from .test_exchange import funded, key, refused


@pytest.fixture
def h(chain: Chain) -> Harness:
    return Harness.deploy(chain)


def freeze_now(h: Harness, trader: str) -> None:
    """``trader`` asks for a forced withdrawal nobody serves; after the deadline a third
    party freezes the exchange."""
    h.ex.request_forced_withdrawal(trader, 1)
    h.chain.advance_time(FORCED_DELAY_S + 1)
    h.ex.freeze(h.ex.queue_length() - 1, sender=h.traders[3])
    assert h.ex.frozen()


@pytest.mark.slow
def test_attack_escape_with_an_older_root_is_refused(h: Harness) -> None:
    """An account that lost since an earlier proved root cannot escape with that root's
    richer leaf: only the last proved root pays."""
    t0, t1 = h.traders[:2]
    funded(h)
    older = h.state
    # t0 goes long at 50 000, the mark falls to 40 000: t0 is poorer at the last root
    h.anchor(with_trade(h.state, key(t0), key(t1), 10, 50_000, 40_000))
    assert equity_of(h.state, key(t0)) < equity_of(older, key(t0))
    freeze_now(h, t1)
    refused(h, "AccountProofMismatch", h.ex.escape, account_proof(older, key(t0)))
    # the genesis root (no account at all) proves nothing either
    assert h.anchored[0].size == 0
    before = h.ex.balance(t0)
    h.ex.escape(account_proof(h.state, key(t0)))
    assert h.ex.balance(t0) - before == equity_of(h.state, key(t0))


def test_attack_subaccounts_escape_separately_and_once(h: Harness) -> None:
    """(address, subaccount) is the account: a subaccount's escape neither pays nor blocks
    another's, and no leaf can be relabelled to another subaccount."""
    t0 = h.traders[0]
    h.ex.deposit(t0, 2_000_000)
    h.ex.deposit(t0, 3_000_000, subaccount=1)
    h.anchor(h.apply_queue(h.state, h.ex.queue_length()))
    freeze_now(h, t0)
    sub1 = account_proof(h.state, key(t0, 1))
    relabelled = list(sub1.leaf)
    relabelled[8] = 2  # the subaccount element: an account the ledger does not hold
    refused(h, "AccountProofMismatch", h.ex.escape, dataclasses.replace(sub1, leaf=relabelled))
    before = h.ex.balance(t0)
    h.ex.escape(sub1)
    assert h.ex.balance(t0) - before == 3_000_000
    assert h.ex.has_escaped(t0, 1) and not h.ex.has_escaped(t0, 0)
    refused(h, "AlreadyEscaped", h.ex.escape, sub1)
    relabelled[8] = 0  # sub 1's richer leaf passed off as sub 0's
    refused(h, "AccountProofMismatch", h.ex.escape, dataclasses.replace(sub1, leaf=relabelled))
    h.ex.escape(account_proof(h.state, key(t0, 0)))
    assert h.ex.balance(t0) - before == 5_000_000
    refused(h, "AlreadyEscaped", h.ex.escape, account_proof(h.state, key(t0, 0)))
    assert h.ex.balance(h.ex.address) == 0


def test_attack_credited_withdrawals_and_escapes_add_up_after_the_freeze(h: Harness) -> None:
    """A withdrawal a proved batch credited is still paid after the freeze, and the escape
    pays the equity left after it: never both the withdrawal and the collateral it came from,
    and the contract ends holding nothing."""
    t0, t1 = h.traders[:2]
    funded(h)
    collateral = h.state.collateral.copy()
    collateral[h.state.row(key(t0))] -= 2_000_000
    h.anchor(
        h.state.with_arrays(collateral=collateral),
        withdrawals=(L1Withdrawal(t0, 0, 2_000_000),),
    )
    freeze_now(h, t1)
    refused(h, "ExchangeFrozen", h.ex.freeze, h.ex.queue_length() - 1)
    refused(h, "ExchangeFrozen", h.ex.request_forced_withdrawal, t0, 1)
    before = h.ex.balance(t0)
    h.ex.withdraw(t0, 2_000_000)
    h.ex.escape(account_proof(h.state, key(t0)))
    assert h.ex.balance(t0) - before == 5_000_000_000
    refused(h, "WithdrawalExceedsBalance", h.ex.withdraw, t0, 1)
    h.ex.escape(account_proof(h.state, key(t1)))
    assert h.ex.balance(h.ex.address) == 0


def test_attack_integer_edges_are_refused(h: Harness) -> None:
    """0, 2^62 and beyond never enter the queue or leave the contract; 2^62 − 1 enters as
    exactly itself (the queue stores 64 bits)."""
    t0 = h.traders[0]
    for amount in (0, 1 << 62, (1 << 62) + 1, 1 << 64, 1 << 255, (1 << 256) - 1):
        refused(h, "BadAmount", h.ex.deposit, t0, amount)
    h.ex.mint(t0, 1 << 62)
    h.ex.deposit(t0, (1 << 62) - 1)
    assert h.ex.requests()[-1].amount == (1 << 62) - 1
    for amount in (0, 1 << 62, 1 << 64, 1 << 255, (1 << 256) - 1):
        refused(h, "BadAmount", h.ex.request_forced_withdrawal, t0, amount)
    for amount in (0, 1, 1 << 255, (1 << 256) - 1):
        refused(h, "WithdrawalExceedsBalance", h.ex.withdraw, t0, amount)
    refused(h, "UnknownRequest", h.ex.freeze, (1 << 256) - 1)
    refused(h, "ExchangeNotFrozen", h.ex.reclaim_deposit, (1 << 256) - 1)


def test_attack_filling_the_account_tree_cannot_block_the_queue(chain: Chain) -> None:
    """The verifiers take an account tree of at most ``accountCapacity`` accounts: a deposit
    from one more new (address, subaccount) could never be consumed, and the forced
    withdrawals queued behind it would let anyone freeze the exchange. One-unit deposits
    from new subaccounts fill the tree; the next new account's deposit is refused and moves
    nothing, an account that deposited before still may, and a proved batch consumes the
    whole queue, the forced withdrawal behind it served."""
    h = Harness.deploy(chain, account_capacity=4)
    t0, t1, t2 = h.traders[:3]
    h.ex.deposit(t1, 3_000_000)
    for sub in range(3):  # the attacker opens the rest, one base unit each
        h.ex.deposit(t0, 1, subaccount=sub)
    assert h.ex.deposited_accounts() == 4 == h.ex.account_capacity()
    for who, sub in ((t0, 3), (t0, 65_535), (t2, 0)):
        err = refused(h, "AccountCapacityReached", h.ex.deposit, who, 1, subaccount=sub)
        assert err.error_args == (4,)
    refused(h, "NoDeposit", h.ex.request_forced_withdrawal, t2, 1)  # never entered
    h.ex.deposit(t0, 2, subaccount=2)  # an account that deposited before
    h.ex.request_forced_withdrawal(t1, 1_000_000)
    assert h.ex.deposited_accounts() == 4 and h.ex.queue_length() == 6
    post = h.apply_queue(h.state, h.ex.queue_length())
    assert post.size == 4
    collateral = post.collateral.copy()
    collateral[post.row(key(t1))] -= 1_000_000
    h.anchor(post.with_arrays(collateral=collateral), withdrawals=(L1Withdrawal(t1, 0, 1_000_000),))
    assert h.ex.queue_consumed() == h.ex.queue_length()
    h.chain.advance_time(FORCED_DELAY_S + 1)
    refused(h, "RequestServed", h.ex.freeze, 5)
    assert h.ex.withdrawable(t1) == 1_000_000
    # after a batch as before it: the count is of accounts that ever deposited
    refused(h, "AccountCapacityReached", h.ex.deposit, t2, 1)
    h.ex.deposit(t0, 1, subaccount=0)


@pytest.mark.anvil
def test_attack_filling_the_account_tree_on_anvil(anvil_chain: Chain) -> None:
    """The same on a JSON-RPC node: the refused deposit reverts with its custom error."""
    test_attack_filling_the_account_tree_cannot_block_the_queue(anvil_chain)


def test_attack_deposits_below_the_minimum_are_refused(chain: Chain) -> None:
    """With a minimum deposit, opening accounts costs it each: a deposit of less is refused
    and moves nothing (nor counts an account); the minimum itself is taken."""
    h = Harness.deploy(chain, min_deposit=1_000_000)
    t0 = h.traders[0]
    assert h.ex.min_deposit() == 1_000_000
    for amount in (1, 999_999):
        err = refused(h, "DepositBelowMinimum", h.ex.deposit, t0, amount)
        assert err.error_args == (1_000_000, amount)
    assert h.ex.deposited_accounts() == 0
    refused(h, "NoDeposit", h.ex.request_forced_withdrawal, t0, 1)
    h.ex.deposit(t0, 1_000_000)
    assert h.ex.deposited_accounts() == 1 and h.ex.requests()[-1].amount == 1_000_000
    refused(h, "DepositBelowMinimum", h.ex.deposit, t0, 1)  # an open account too


def test_attack_reclaims_after_the_freeze(h: Harness) -> None:
    """Only an unconsumed deposit goes back, once, to its depositor whoever asks; a forced
    withdrawal, a consumed deposit or an index past the queue is not reclaimable."""
    t0, t1, t2 = h.traders[:3]
    funded(h)
    h.ex.deposit(t2, 7_000)
    late = h.ex.queue_length() - 1
    freeze_now(h, t0)
    refused(h, "UnknownRequest", h.ex.reclaim_deposit, (1 << 256) - 1)
    refused(h, "NotReclaimable", h.ex.reclaim_deposit, 1)  # t1's, consumed by batch 0
    refused(h, "NotReclaimable", h.ex.reclaim_deposit, late + 1)  # the forced withdrawal
    before = h.ex.balance(t2)
    h.ex.reclaim_deposit(late, sender=t1)
    assert h.ex.balance(t2) - before == 7_000
    refused(h, "NotReclaimable", h.ex.reclaim_deposit, late)


def test_a_node_error_on_sending_is_an_anchor_error(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No receipt in time (or any other refusal by the node that is not a revert) reaches
    the caller as an AnchorError, which the venue's L1 stage reports and retries: a raw
    web3 exception used to escape it and end the stage's thread, anchoring nothing more."""
    from web3.exceptions import TimeExhausted

    def no_receipt(tx_hash: object, *args: object, **kwargs: object) -> None:
        raise TimeExhausted(f"transaction {tx_hash!r} is not in the chain after 120 seconds")

    monkeypatch.setattr(h.chain.w3.eth, "wait_for_transaction_receipt", no_receipt)
    with pytest.raises(AnchorError) as info:
        h.ex.deposit(h.traders[0], 1_000)
    assert not isinstance(info.value, ContractReverted)
    assert "TimeExhausted" in str(info.value)
