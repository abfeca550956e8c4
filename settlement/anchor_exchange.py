"""The exchange contract from Python: deploy or attach, anchor batches, the traders' calls.

``contracts/src/Exchange.sol`` holds the collateral and the proved state
root (docs/contracts.md). :func:`deploy_exchange` deploys it with its
Poseidon2 hasher (and, on a development chain, the test token);
:class:`ExchangeContract` wraps every call: the operator's :meth:`anchor`, the
traders' :meth:`deposit`, :meth:`withdraw`, :meth:`request_forced_withdrawal`,
and after a freeze :meth:`escape` and :meth:`reclaim_deposit`. Reverts raise
:class:`~sealbatch.settlement.anchor.ContractReverted` naming the contract's
custom error. The public inputs the contract derives are computed off chain by
:mod:`sealbatch.settlement.l1_statement`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from web3 import Web3
from web3.contract import Contract

from sealbatch.crypto import poseidon2
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.anchor import AnchorError, Chain, Receipt
from sealbatch.settlement.batch_air.statement import statement_from_files
from sealbatch.settlement.errors import BatchStatementError, SettlementError
from sealbatch.settlement.l1_statement import (
    KIND_DEPOSIT,
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    L1Request,
    L1Withdrawal,
    MarketValues,
    block_elements,
    inputs_digest,
    public_inputs,
)
from sealbatch.settlement.oracle import OracleRound
from sealbatch.settlement.publication import transfers_from_dict
from sealbatch.settlement.roots import AccountProof, decode_signed

__all__ = [
    "DEFAULT_FORCED_DELAY_S",
    "ExchangeContract",
    "Statement",
    "attach_exchange",
    "deploy_exchange",
    "oracle_tuple",
    "statement_from_batch",
]

#: Seconds an unserved forced withdrawal waits before anyone may freeze the exchange
#: (development default; a production deployment picks days).
DEFAULT_FORCED_DELAY_S = 3600


@dataclass(frozen=True)
class Statement:
    """What the operator states for one batch (``Exchange.Statement``); the contract derives
    the batch id's successor check, the pre-root, and the L1 and oracle digests itself."""

    batch_id: int
    pre_root: bytes
    post_root: bytes
    commitment_root: bytes
    outputs_digest: bytes
    queue_to: int
    markets: tuple[MarketValues, ...]
    block_elements: tuple[int, ...] = ()
    settlement: tuple[int, ...] = ()
    withdrawals: tuple[L1Withdrawal, ...] = ()
    oracle: OracleRound = field(default_factory=lambda: OracleRound(0, 0, ()))
    last_batch_id: int | None = None

    def to_abi(self) -> tuple[Any, ...]:
        """The ``Statement`` struct as web3 encodes it."""
        last = self.batch_id if self.last_batch_id is None else self.last_batch_id
        return (
            self.batch_id,
            last,
            self.pre_root,
            self.post_root,
            self.commitment_root,
            self.outputs_digest,
            self.queue_to,
            [(m.price, m.funding_index, m.mark, m.orders) for m in self.markets],
            list(self.block_elements),
            list(self.settlement),
            [
                (Web3.to_checksum_address(w.account), w.subaccount, w.amount)
                for w in self.withdrawals
            ],
            oracle_tuple(self.oracle),
        )


def statement_from_batch(
    files: Mapping[str, str], *, queue_to: int
) -> tuple[Statement, tuple[L1Request, ...]]:
    """The operator's statement for a published batch folder (file name → text), and the
    deposits the batch must consume from the contract's queue, in order.

    Every value comes from the batch verifier's own statement
    (:func:`~sealbatch.settlement.batch_air.statement.statement_from_files`), so the
    public inputs the contract derives are the ones the batch proof proves when the
    contract's queue holds exactly those deposits up to ``queue_to``.

    Raises:
        BatchStatementError: the folder is malformed or inconsistent.
    """
    bs = statement_from_files(files)
    pi = bs.public_inputs

    def digest(at: int) -> bytes:
        return poseidon2.digest_to_bytes(np.array(pi[at : at + 8], dtype=np.uint64))

    m = pi[PUBLIC_HEADER - 1]
    markets = tuple(
        MarketValues(
            price=pi[at],
            funding_index=decode_signed(pi[at + 1 : at + 5]),
            mark=pi[at + 5],
            orders=pi[at + 6],
        )
        for at in (PUBLIC_HEADER + PUBLIC_PER_MARKET * j for j in range(m))
    )
    try:
        deposits, blocks, withdrawals = transfers_from_dict(json.loads(files["transfers.json"]))
        oracle = OracleRound.from_dict(json.loads(files["oracle.json"]))
    except (KeyError, ValueError, SettlementError) as exc:
        raise BatchStatementError(f"published batch: {exc}") from exc
    statement = Statement(
        batch_id=bs.batch_id,
        pre_root=digest(3),
        post_root=digest(11),
        commitment_root=digest(19),
        outputs_digest=digest(35),
        queue_to=queue_to,
        markets=markets,
        block_elements=tuple(block_elements(blocks)),
        settlement=tuple(pi[PUBLIC_HEADER + PUBLIC_PER_MARKET * m :]),
        withdrawals=tuple(L1Withdrawal(k.address, k.subaccount, a) for k, a in withdrawals),
        oracle=oracle,
    )
    expected = tuple(L1Request(KIND_DEPOSIT, k.address, k.subaccount, a) for k, a in deposits)
    return statement, expected


def oracle_tuple(round_: OracleRound) -> tuple[Any, ...]:
    """An oracle round as the contract's ``OracleRound`` struct."""
    reports = [
        (
            keccak256(r.report.market.encode()),
            r.report.price,
            r.report.timestamp_ms,
            Web3.to_checksum_address(r.report.source),
            r.signature,
        )
        for r in round_.reports
    ]
    return (round_.round_id, round_.timestamp_ms, reports)


@dataclass(frozen=True)
class ExchangeContract:
    """A deployed exchange, its hasher and token, on one chain."""

    chain: Chain
    exchange: Contract
    hasher: Contract
    token: Contract

    @property
    def address(self) -> str:
        return str(self.exchange.address)

    # ------------------------------------------------------------ reads

    def state_root(self) -> bytes:
        return bytes(self.chain.call(self.exchange, "stateRoot"))

    def next_batch_id(self) -> int:
        """The id of the next batch to anchor."""
        return int(self.chain.call(self.exchange, "nextBatchId"))

    def frozen(self) -> bool:
        return bool(self.chain.call(self.exchange, "frozen"))

    def queue_consumed(self) -> int:
        return int(self.chain.call(self.exchange, "queueConsumed"))

    def queue_length(self) -> int:
        return int(self.chain.call(self.exchange, "queueLength"))

    def requests(self, start: int = 0, stop: int | None = None) -> list[L1Request]:
        """The queued L1 requests ``[start, stop)`` (default: to the end)."""
        end = self.queue_length() if stop is None else stop
        out = []
        for i in range(start, end):
            kind, account, sub, _reclaimed, amount, _time = self.chain.call(
                self.exchange, "queue", i
            )
            out.append(L1Request(int(kind), str(account), int(sub), int(amount)))
        return out

    def withdrawable(self, account: str) -> int:
        return int(self.chain.call(self.exchange, "withdrawable", _addr(account)))

    def has_escaped(self, account: str, subaccount: int = 0) -> bool:
        return bool(self.chain.call(self.exchange, "hasEscaped", _addr(account), subaccount))

    def balance(self, account: str) -> int:
        """Test-token balance of ``account``."""
        return int(self.chain.call(self.token, "balanceOf", _addr(account)))

    def derive_public_inputs(self, statement: Statement) -> tuple[int, ...]:
        """The public inputs ``anchor`` will derive for ``statement``, computed off chain from
        the contract's stored root and queue (what the operator's batch proof must prove)."""
        consumed = self.queue_consumed()
        requests = self.requests(consumed, statement.queue_to)
        last = statement.batch_id if statement.last_batch_id is None else statement.last_batch_id
        digest = inputs_digest(
            batch_id=last,
            oracle=statement.oracle,
            deposits=[r for r in requests if r.kind == KIND_DEPOSIT],
            block_elements=statement.block_elements,
            withdrawals=statement.withdrawals,
        )
        return public_inputs(
            batch_id=last,
            pre_root=self.state_root(),
            post_root=statement.post_root,
            commitment_root=statement.commitment_root,
            inputs=digest,
            outputs_digest=statement.outputs_digest,
            markets=statement.markets,
            settlement=statement.settlement,
        )

    def public_inputs_for(self, statement: Statement) -> tuple[int, ...]:
        """The public inputs ``anchor`` would hand the verifier for ``statement`` now, as the
        contract computes them (an ``eth_call``)."""
        return tuple(
            int(v) for v in self.chain.call(self.exchange, "publicInputsFor", statement.to_abi())
        )

    # ------------------------------------------------------------ the operator

    def anchor(self, statement: Statement, proof: bytes) -> Receipt:
        """Anchor one proved batch (the operator's account sends it)."""
        return self.chain.transact(self.exchange, "anchor", statement.to_abi(), proof)

    def mint(self, to: str, amount: int) -> Receipt:
        """Mint test tokens (development chains: the deployer is the minter)."""
        return self.chain.transact(self.token, "mint", _addr(to), amount)

    # ------------------------------------------------------------ traders

    def deposit(self, trader: str, amount: int, subaccount: int = 0) -> Receipt:
        """Approve and deposit ``amount`` base units for (trader, subaccount)."""
        self.chain.transact(self.token, "approve", self.address, amount, sender=_addr(trader))
        return self.chain.transact(
            self.exchange, "deposit", subaccount, amount, sender=_addr(trader)
        )

    def request_forced_withdrawal(self, trader: str, amount: int, subaccount: int = 0) -> Receipt:
        return self.chain.transact(
            self.exchange, "requestForcedWithdrawal", subaccount, amount, sender=_addr(trader)
        )

    def withdraw(self, trader: str, amount: int) -> Receipt:
        return self.chain.transact(self.exchange, "withdraw", amount, sender=_addr(trader))

    def freeze(self, request_index: int, sender: str | None = None) -> Receipt:
        return self.chain.transact(
            self.exchange, "freeze", request_index, sender=_addr(sender) if sender else None
        )

    def escape(self, proof: AccountProof, sender: str | None = None) -> Receipt:
        """Withdraw the proved account's equity after the freeze (anyone may send it)."""
        return self.chain.transact(
            self.exchange,
            "escape",
            [int(v) for v in proof.leaf],
            proof.index,
            [[int(v) for v in row] for row in proof.path],
            [int(v) for v in proof.header],
            sender=_addr(sender) if sender else None,
        )

    def reclaim_deposit(self, request_index: int, sender: str | None = None) -> Receipt:
        return self.chain.transact(
            self.exchange,
            "reclaimDeposit",
            request_index,
            sender=_addr(sender) if sender else None,
        )


def _addr(address: str) -> str:
    return str(Web3.to_checksum_address(address))


def deploy_exchange(
    chain: Chain,
    verifier: str,
    *,
    genesis_root: bytes,
    multipliers: Sequence[int],
    first_batch_id: int = 0,
    oracle_sources: Sequence[str] = (),
    forced_delay_s: int = DEFAULT_FORCED_DELAY_S,
    operator: str | None = None,
    token: str | None = None,
) -> ExchangeContract:
    """Deploy the Poseidon2 hasher, the test token (unless ``token`` is given) and the exchange.

    Args:
        verifier: address of the batch AIR's StarkVerifier.
        genesis_root: the state root before the first batch.
        first_batch_id: the id of the first batch to anchor.
        multipliers: contract multiplier per market, in id order.
        operator: the address that anchors (default: the chain's account).

    Raises:
        AnchorError: a malformed argument; ContractReverted from a constructor.
    """
    if len(genesis_root) != 32:
        raise AnchorError(f"expected a 32-byte genesis root, got {len(genesis_root)} bytes")
    hasher = chain.deploy("Poseidon2Hasher")
    token_contract = chain.at("TestToken", token) if token else chain.deploy("TestToken")
    exchange = chain.deploy(
        "Exchange",
        _addr(verifier),
        hasher.address,
        token_contract.address,
        _addr(operator or chain.account),
        first_batch_id,
        genesis_root,
        forced_delay_s,
        [_addr(s) for s in oracle_sources],
        list(multipliers),
    )
    return ExchangeContract(chain, exchange, hasher, token_contract)


def attach_exchange(chain: Chain, address: str) -> ExchangeContract:
    """The exchange already deployed at ``address`` (its hasher and token from its storage)."""
    exchange = chain.at("Exchange", address)
    hasher = chain.at("Poseidon2Hasher", chain.call(exchange, "hasher"))
    token = chain.at("TestToken", chain.call(exchange, "token"))
    return ExchangeContract(chain, exchange, hasher, token)
