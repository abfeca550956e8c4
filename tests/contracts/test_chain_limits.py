"""What a chain refuses at the limits: a transaction sent under a gas cap (EIP-7825's 2^24)
that needs more is refused as :class:`TransactionTooLarge` and moves nothing, on the embedded
chain (sent with exactly the cap: it runs out) and on a node (refused from the estimate,
unsent); a verifier whose evaluator's frame lists an element twice is not deployed."""

from __future__ import annotations

import dataclasses

import pytest

from sealbatch.crypto.airs import get_air
from sealbatch.crypto.solidity import compile_constraints
from sealbatch.settlement.anchor import (
    TX_GAS_CAP,
    Chain,
    ContractReverted,
    TransactionTooLarge,
    deploy_program,
    verifier_config,
)
from tests.crypto.helpers import FAST


def _mint_under_cap(chain: Chain) -> None:
    token = chain.deploy("TestToken")
    holder = chain.w3.eth.accounts[1]
    # a first mint writes a fresh balance slot: well over 30 000 gas
    with pytest.raises(TransactionTooLarge) as caught:
        chain.transact(token, "mint", holder, 7, gas_cap=30_000)
    assert caught.value.cap == 30_000
    assert caught.value.code == "transaction_too_large"
    assert "30000 gas (EIP-7825)" in str(caught.value)
    assert chain.call(token, "balanceOf", holder) == 0  # nothing moved
    assert chain.call(token, "totalSupply") == 0
    # the same call under EIP-7825's real cap goes through, and used less than it
    receipt = chain.transact(token, "mint", holder, 7, gas_cap=TX_GAS_CAP)
    assert 30_000 < receipt.gas_used < TX_GAS_CAP
    assert chain.call(token, "balanceOf", holder) == 7


def test_a_transaction_over_its_gas_cap_moves_nothing(chain: Chain) -> None:
    _mint_under_cap(chain)


@pytest.mark.anvil
def test_a_transaction_over_its_gas_cap_is_not_sent_to_a_node(anvil_chain: Chain) -> None:
    nonce = anvil_chain.w3.eth.get_transaction_count(anvil_chain.account)
    token = anvil_chain.deploy("TestToken")
    before = anvil_chain.w3.eth.get_transaction_count(anvil_chain.account)
    assert before == nonce + 1
    holder = anvil_chain.w3.eth.accounts[1]
    with pytest.raises(TransactionTooLarge) as caught:
        anvil_chain.transact(token, "mint", holder, 7, gas_cap=30_000)
    assert caught.value.needed is not None and caught.value.needed > 30_000
    # refused from the estimate: no transaction was sent at all
    assert anvil_chain.w3.eth.get_transaction_count(anvil_chain.account) == before
    assert anvil_chain.call(token, "balanceOf", holder) == 0


def test_a_frame_listing_an_element_twice_is_refused_at_deployment(chain: Chain) -> None:
    """The verifier's DEEP table stores each frame element's coefficient once: an evaluator
    whose frame names one element twice (its opening would be counted twice) is refused by
    the verifier's constructor, ``LayoutDeployFailed``."""
    entry = get_air("fibonacci")
    _, pubs = entry.generate(64)
    air = entry.build(64, pubs)
    program = compile_constraints(air)
    config = verifier_config(air, FAST, min_security_bits=0)
    # the honest program deploys
    honest = deploy_program(chain, program)
    chain.deploy("StarkVerifier", honest.address, config)
    # the frame: header (14 bytes), numOffsets u8, its offsets, then 4 bytes per entry
    code = bytearray(program.code)
    num_frame = int.from_bytes(code[2:4], "big")
    assert num_frame >= 2
    entries = 15 + code[14]
    assert code[entries : entries + 4] != code[entries + 4 : entries + 8]
    code[entries + 4 : entries + 8] = code[entries : entries + 4]
    twice = deploy_program(chain, dataclasses.replace(program, code=bytes(code)))
    with pytest.raises(ContractReverted) as caught:
        chain.deploy("StarkVerifier", twice.address, config)
    assert caught.value.error == "LayoutDeployFailed"
