"""``ExchangeContract.statement_for``: the L1 requests a published batch consumes are exactly
its deposits and the forced withdrawals its withdrawals name by queue position — never a
forced request that merely looks like one of its voluntary withdrawals."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.anchor import AnchorError, Chain
from sealbatch.settlement.anchor_exchange import (
    ExchangeContract,
    deploy_exchange,
    market_terms,
    statement_from_batch,
)
from sealbatch.settlement.batch_air.statement import statement_from_files
from sealbatch.settlement.ledger import AccountKey
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.transition import apply_batch
from tests.settlement.batch_air_helpers import committed_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round

from .exchange_harness import deploy_statement_verifier

REFS = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}


def _published(
    withdrawals: Sequence[tuple[AccountKey, int]], forced_requests: Sequence[int], depositor: str
) -> dict[str, str]:
    """A settled batch crediting ``depositor``'s deposit of 5 000 000 and paying
    ``withdrawals`` (the first ``len(forced_requests)`` serving those L1 requests)."""
    batch = committed_batch(
        1,
        [
            (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_010, 5)),
            (TRADERS[1], Order("BTC-PERP", Side.SELL, None, 3)),
        ],
        dict.fromkeys(REFS),  # a first batch: no marks, no reference
    )
    pre = funded([10**12] * 4)
    rnd = oracle_round(1, 1_000, REFS)
    deposits = ((AccountKey(Address(depositor), 0), 5_000_000),)
    post, _ = apply_batch(
        pre, batch, rnd, DEFAULT_CONFIG, ORACLE, deposits=deposits, withdrawals=withdrawals
    )
    pub = BatchPublication(
        batch,
        rnd,
        pre,
        post,
        deposits=deposits,
        withdrawals=tuple(withdrawals),
        forced_requests=tuple(forced_requests),
    )
    return pub.files(DEFAULT_CONFIG, ORACLE)


def _exchange(chain: Chain, files: dict[str, str]) -> ExchangeContract:
    pre = statement_from_files(files).pre
    return deploy_exchange(
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


def _deposit(ex: ExchangeContract, who: str, amount: int = 5_000_000) -> None:
    ex.mint(who, amount)
    ex.deposit(who, amount)


def test_a_voluntary_withdrawal_never_consumes_a_forced_request_it_looks_like(
    chain: Chain,
) -> None:
    """The batch pays the depositor's voluntary withdrawal of 1 000; after the batch was
    cut the depositor asks L1 for a forced withdrawal of 5 000 (same account, more than
    paid). Matching by account and amount would take the voluntary withdrawal for it and
    consume the request, which the venue still owes; by queue position it stays queued."""
    who = str(chain.w3.eth.accounts[5])
    files = _published([(AccountKey(Address(who), 0), 1_000)], [], who)
    ex = _exchange(chain, files)
    _deposit(ex, who)
    ex.request_forced_withdrawal(who, 5_000)  # request 1: queued after the batch
    statement = ex.statement_for(files)
    assert statement.queue_to == 1  # the deposit only
    assert statement == statement_from_batch(files, queue_to=1)[0]
    assert ex.public_inputs_for(statement) == statement_from_files(files).public_inputs


def test_a_forced_withdrawal_is_consumed_at_the_queue_position_it_names(chain: Chain) -> None:
    """Request 1 (a forced withdrawal asking 5 000) is served by the batch's first
    withdrawal (4 000: all it could give); request 2, alike, is not this batch's. A
    folder naming another position (the deposit's, or one past the batch's) is refused."""
    who = str(chain.w3.eth.accounts[6])
    key = AccountKey(Address(who), 0)
    files = _published([(key, 4_000)], [1], who)
    assert json.loads(files["transfers.json"])["withdrawals"][0]["request"] == 1
    ex = _exchange(chain, files)
    _deposit(ex, who)
    ex.request_forced_withdrawal(who, 5_000)  # request 1: this batch serves it
    ex.request_forced_withdrawal(who, 5_000)  # request 2: the next batch's
    statement = ex.statement_for(files)
    assert statement.queue_to == 2
    assert ex.public_inputs_for(statement) == statement_from_files(files).public_inputs
    for position, error in ((0, "L1 request 0 to be a forced"), (3, "L1 request 1 to be")):
        forged = json.loads(files["transfers.json"])
        forged["withdrawals"][0]["request"] = position
        with pytest.raises(AnchorError, match=error):
            ex.statement_for({**files, "transfers.json": json.dumps(forged)})
    assert ex.queue_consumed() == 0  # nothing was sent
