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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from web3 import Web3
from web3.contract import Contract

from sealbatch.auction.bounds import MAX_BALANCE
from sealbatch.auction.commitment import COMMITMENT_TREE_DEPTH, EMPTY_SUBTREES, market_code
from sealbatch.crypto import poseidon2
from sealbatch.crypto.bus import PublicTable
from sealbatch.crypto.eip712 import Address
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement import published_values as pv
from sealbatch.settlement.anchor import (
    TX_GAS_CAP,
    AnchorError,
    Chain,
    DeployedVerifier,
    Receipt,
)
from sealbatch.settlement.anchor_batch import batch_program_hash, deploy_batch_verifier
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.commitments import TAG_CNODE
from sealbatch.settlement.batch_air.framework import (
    TAG_ADJUST,
    TAG_CARRIED,
    TAG_MARKET,
    TAG_STAGED,
)
from sealbatch.settlement.batch_air.statement import BatchStatement, statement_from_files
from sealbatch.settlement.errors import BatchStatementError, SettlementError
from sealbatch.settlement.json_text import loads_json
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
from sealbatch.settlement.oracle import OracleConfig, OracleRound, OracleSource, read_index
from sealbatch.settlement.params import SettlementConfig
from sealbatch.settlement.publication import forced_requests_from_dict, transfers_from_dict
from sealbatch.settlement.roots import AccountProof, decode_signed
from sealbatch.settlement.snapshot import config_from_dict, oracle_config_from_dict

__all__ = [
    "DEFAULT_FORCED_DELAY_S",
    "DERIVED_TABLES",
    "TABLE_NAMES",
    "ExchangeContract",
    "Statement",
    "attach_exchange",
    "deploy_exchange",
    "derived_tables",
    "market_terms",
    "operator_tables_of",
    "oracle_tuple",
    "statement_from_batch",
]

_C = TypeVar("_C")  # a parsed published config

#: Seconds an unserved forced withdrawal waits before anyone may freeze the exchange
#: (development default; a production deployment picks days).
DEFAULT_FORCED_DELAY_S = 3600

#: The public tables the contract builds from the statement alone.
DERIVED_TABLES = frozenset({TAG_MARKET, TAG_CNODE})
#: Names of the batch AIR's public tables (in errors).
TABLE_NAMES = {
    TAG_MARKET: "TAG_MARKET",
    TAG_CNODE: "TAG_CNODE",
    TAG_ADJUST: "TAG_ADJUST",
    TAG_STAGED: "TAG_STAGED",
    TAG_CARRIED: "TAG_CARRIED",
}


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
    commitments: int = 0  # commitments under the commitment root (revealed or forfeited)
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
            self.commitments,
            self.queue_to,
            [(m.price, m.funding_index, m.mark, m.orders, m.reference) for m in self.markets],
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

    m, commitments = pi[PUBLIC_HEADER - 2], pi[PUBLIC_HEADER - 1]
    markets = tuple(
        MarketValues(
            price=pi[at],
            funding_index=decode_signed(pi[at + 1 : at + 5]),
            mark=pi[at + 5],
            orders=pi[at + 6],
            reference=pi[at + 7],
        )
        for at in (PUBLIC_HEADER + PUBLIC_PER_MARKET * j for j in range(m))
    )
    try:
        deposits, blocks, withdrawals = transfers_from_dict(_document(files, "transfers.json"))
        oracle = OracleRound.from_dict(_document(files, "oracle.json"), "oracle.json")
    except SettlementError as exc:
        raise BatchStatementError(f"published batch: {exc}") from exc
    statement = Statement(
        batch_id=bs.batch_id,
        pre_root=digest(3),
        post_root=digest(11),
        commitment_root=digest(19),
        outputs_digest=digest(35),
        queue_to=queue_to,
        markets=markets,
        commitments=commitments,
        block_elements=tuple(block_elements(blocks)),
        settlement=tuple(pi[PUBLIC_HEADER + PUBLIC_PER_MARKET * m :]),
        withdrawals=tuple(L1Withdrawal(k.address, k.subaccount, a) for k, a in withdrawals),
        oracle=oracle,
    )
    expected = tuple(L1Request(KIND_DEPOSIT, k.address, k.subaccount, a) for k, a in deposits)
    return statement, expected


def derived_tables(
    public_inputs: Sequence[int], market_codes: Sequence[int]
) -> tuple[PublicTable, ...]:
    """The public tables the contract builds from a batch's public inputs (``Exchange._tables``).

    ``TAG_MARKET``: per market ``(market, code, price, traded, reference, has_reference)``
    received as often as the market has orders; ``TAG_CNODE``: the commitment root
    ``(20, 0, root)`` received, and the empty subtrees ``(h, count_h, EMPTY_SUBTREES[h])``
    sent at each level whose node count is odd (the empty root without commitments) —
    exactly the rows of these tags the batch AIR declares (``Layout.public_tables``).
    """
    m, commitments = public_inputs[PUBLIC_HEADER - 2], public_inputs[PUBLIC_HEADER - 1]
    if len(market_codes) != m:
        raise AnchorError(f"expected {m} market codes, got {len(market_codes)}")
    rows, orders = [], []
    for j, code in enumerate(market_codes):
        at = PUBLIC_HEADER + PUBLIC_PER_MARKET * j
        price, ref = public_inputs[at], public_inputs[at + 7]
        rows.append((j, int(code), price, int(price > 0), ref, int(ref > 0)))
        orders.append(public_inputs[at + 6])
    depth = COMMITMENT_TREE_DEPTH
    root = (depth, 0, *public_inputs[19:27])
    counts = [commitments]
    for _ in range(depth):
        counts.append(-(-counts[-1] // 2))
    sent = [(h, counts[h], *EMPTY_SUBTREES[h]) for h in range(depth) if counts[h] % 2]
    if counts[depth] == 0:
        sent.append((depth, 0, *EMPTY_SUBTREES[depth]))
    return (
        PublicTable(TAG_MARKET, tuple(rows), tuple(orders), receive=True),
        PublicTable(TAG_CNODE, (tuple(int(v) for v in root),), (1,), receive=True),
        PublicTable(
            TAG_CNODE,
            tuple(tuple(int(x) for x in r) for r in sent),
            (1,) * len(sent),
            receive=False,
        ),
    )


def operator_tables_of(statement: BatchStatement) -> tuple[int, ...]:
    """Tags of the batch AIR's public tables that only the published files give (every
    table but the ones the contract derives), in the AIR's order, each once."""
    _, layout = build_with_layout(rows_for(statement), statement)
    out: list[int] = []
    for t in layout.public_tables:
        if t.tag not in DERIVED_TABLES and t.tag not in out:
            out.append(t.tag)
    return tuple(out)


def _undeducible_rows(statement: BatchStatement) -> list[int]:
    """Tags of the tables only the published files give that hold rows for this batch."""
    _, layout = build_with_layout(rows_for(statement), statement)
    return sorted({t.tag for t in layout.public_tables if t.tag not in DERIVED_TABLES and t.rows})


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
    """A deployed exchange, its hasher and token, on one chain (and its batch verifiers, one
    per batch shape, when :func:`deploy_exchange` deployed them)."""

    chain: Chain
    exchange: Contract
    hasher: Contract
    token: Contract
    verifiers: tuple[DeployedVerifier, ...] = ()

    @property
    def verifier(self) -> DeployedVerifier | None:
        """The first batch verifier :func:`deploy_exchange` deployed (None when attached)."""
        return self.verifiers[0] if self.verifiers else None

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

    def account_capacity(self) -> int:
        """The most accounts (address, subaccount) deposits may open."""
        return int(self.chain.call(self.exchange, "accountCapacity"))

    def deposited_accounts(self) -> int:
        """How many accounts (address, subaccount) have deposited."""
        return int(self.chain.call(self.exchange, "depositedAccounts"))

    def min_deposit(self) -> int:
        """The least amount (base units) a deposit may carry."""
        return int(self.chain.call(self.exchange, "minDeposit"))

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

    def market_codes(self) -> tuple[int, ...]:
        """The market codes the contract builds its market table with, in id order."""
        m = int(self.chain.call(self.exchange, "marketCount"))
        return tuple(int(self.chain.call(self.exchange, "marketCodes", j)) for j in range(m))

    def market_terms(self) -> tuple[tuple[int, tuple[tuple[int, int], ...], int, int], ...]:
        """Each market's fee (bps), margin tiers ``(max_lots, maintenance_bps)``,
        liquidation penalty (bps) and tier 0's initial bps as fixed at deployment, in id
        order: a settlement statement must carry exactly these."""
        m = int(self.chain.call(self.exchange, "marketCount"))
        out = []
        for j in range(m):
            terms = (int(v) for v in self.chain.call(self.exchange, "marketTerms", j))
            fee, penalty, count, *tiers = terms
            pairs = tuple((tiers[2 * k], tiers[2 * k + 1]) for k in range(count))
            out.append((fee, pairs, penalty, tiers[2 * count]))
        return tuple(out)

    def operator_tables(self) -> tuple[int, ...]:
        """Tags of the verifier's public tables the contract sends empty (only the published
        files give their rows)."""
        n = int(self.chain.call(self.exchange, "operatorTableCount"))
        return tuple(int(self.chain.call(self.exchange, "operatorTables", i)) for i in range(n))

    def tables_for(self, statement: Statement) -> bytes:
        """The packed public tables ``anchor`` hands the verifier for ``statement``."""
        return bytes(self.chain.call(self.exchange, "tablesFor", statement.to_abi()))

    def program_hashes(self) -> tuple[bytes, ...]:
        """The constraint program of each verifier the exchange was deployed with, by index
        (``anchorWith``'s ``shape``), read from the chain."""
        n = int(self.chain.call(self.exchange, "verifierCount"))
        out = []
        for i in range(n):
            verifier = self.chain.at(
                "StarkVerifier", self.chain.call(self.exchange, "verifiers", i)
            )
            evaluator = self.chain.at("ProgramConstraints", self.chain.call(verifier, "evaluator"))
            out.append(bytes(self.chain.call(evaluator, "programHash")))
        return tuple(out)

    def shape_of(self, statement: BatchStatement) -> int:
        """The index of the exchange's verifier for ``statement``'s AIR program.

        Raises:
            AnchorError: none of its verifiers has that program (a batch of another shape).
        """
        got = batch_program_hash(statement)
        hashes = self.program_hashes()
        if got not in hashes:
            have = ", ".join("0x" + h.hex() for h in hashes)
            raise AnchorError(
                f"expected a batch of one of the exchange's verifier programs ({have}), got one "
                f"of 0x{got.hex()} (another batch shape: trace length, markets, tiers, tree "
                "depths, adjustments)"
            )
        return hashes.index(got)

    def balance(self, account: str) -> int:
        """Test-token balance of ``account``."""
        return int(self.chain.call(self.token, "balanceOf", _addr(account)))

    def oracle_config(self) -> tuple[OracleConfig, tuple[bytes, ...]]:
        """The oracle sources and rules fixed at deployment (``OracleIndex``), their families
        named ``family0``, ``family1``, … by position, and keccak256 of each market id."""
        reader = self.chain.at("OracleIndex", self.chain.call(self.exchange, "oracleIndex"))
        n = int(self.chain.call(reader, "sourceCount"))
        sources = tuple(
            OracleSource(
                Address(_addr(self.chain.call(reader, "sources", i))),
                f"family{int(self.chain.call(reader, 'families', i)):04d}",
            )
            for i in range(n)
        )
        rules = {
            name: int(self.chain.call(reader, getter))
            for name, getter in (
                ("stale_ms", "staleMs"),
                ("divergence_bps", "divergenceBps"),
                ("agreement_bps", "agreementBps"),
                ("family_quorum", "familyQuorum"),
                ("min_families", "minFamilies"),
            )
        }
        m = int(self.chain.call(reader, "marketCount"))
        keys = tuple(bytes(self.chain.call(reader, "markets", j)) for j in range(m))
        return OracleConfig(sources, **rules), keys

    def index_inputs(self, oracle: OracleRound) -> tuple[tuple[int, int, int, int], ...]:
        """Per market the post-state's ``(index price, time low limb, high limb, flagged)``
        the contract derives from ``oracle`` now, computed off chain: ``read_index`` under
        the contract's rules, an unflagged index at the round's time, else the contract's
        last trusted index carried over (``Exchange._readOracle``)."""
        config, keys = self.oracle_config()
        names = {keccak256(r.report.market.encode()): r.report.market for r in oracle.reports}
        markets = [names.get(k, f"0x{k.hex()}") for k in keys]
        readings = read_index(oracle, config, markets)
        out = []
        for j, name in enumerate(markets):
            r = readings[name]
            if r.flagged:
                last = int(self.chain.call(self.exchange, "lastIndexes", j))
                index, at = last >> 64, last & ((1 << 64) - 1)
            else:
                index, at = r.index or 0, oracle.timestamp_ms
            out.append((index, at % (1 << 24), (at >> 24) % (1 << 24), int(r.flagged)))
        return tuple(out)

    def derive_public_inputs(self, statement: Statement) -> tuple[int, ...]:
        """The public inputs ``anchor`` will derive for ``statement``, computed off chain from
        the contract's stored root, queue, oracle rules and last indexes (what the operator's
        batch proof must prove)."""
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
            commitments=statement.commitments,
            indexes=self.index_inputs(statement.oracle),
        )

    def public_inputs_for(self, statement: Statement) -> tuple[int, ...]:
        """The public inputs ``anchor`` would hand the verifier for ``statement`` now, as the
        contract computes them (an ``eth_call``)."""
        return tuple(
            int(v) for v in self.chain.call(self.exchange, "publicInputsFor", statement.to_abi())
        )

    # ------------------------------------------------------------ the operator

    def statement_for(self, files: Mapping[str, str]) -> Statement:
        """The statement of a published batch folder (file name → text) against the contract's
        queue now: the L1 requests it consumes are exactly the next ones queued from
        ``queueConsumed`` on, each one of its deposits (in order) or a forced withdrawal its
        withdrawals serve by queue position (``transfers.json``'s ``request``, the first
        withdrawals), none other — a withdrawal without a ``request`` never consumes a
        forced request, however alike the two are.

        Raises:
            BatchStatementError: the folder is malformed or inconsistent.
            AnchorError: the requests from ``queueConsumed`` on are not the batch's deposits
                and forced withdrawals (in order, each where it names), or not queued yet.
        """
        statement, deposits = statement_from_batch(files, queue_to=0)
        try:
            forced = forced_requests_from_dict(_document(files, "transfers.json"))
        except SettlementError as exc:
            raise BatchStatementError(f"published batch: transfers.json: {exc}") from exc
        at = self.queue_consumed()
        end = at + len(deposits) + len(forced)
        if end > self.queue_length():
            raise AnchorError(
                f"expected the batch's {len(deposits)} deposits and {len(forced)} forced "
                f"withdrawals queued on L1 from {at}, got {self.queue_length() - at} requests"
            )
        d = k = 0
        for i, r in enumerate(self.requests(at, end), start=at):
            if k < len(forced) and forced[k] == i:
                w = statement.withdrawals[k]
                if r.kind == KIND_DEPOSIT or (
                    (_addr(w.account), w.subaccount) != (_addr(r.account), r.subaccount)
                    or w.amount > r.amount
                ):
                    raise AnchorError(
                        f"expected L1 request {i} to be a forced withdrawal for "
                        f"({w.account}, {w.subaccount}) of at least {w.amount} (the batch's "
                        f"withdrawal {k} serves it), got {r}"
                    )
                k += 1
            elif d < len(deposits) and r == deposits[d]:
                d += 1
            else:
                raise AnchorError(
                    f"expected L1 request {i} to be the batch's deposit {d} "
                    f"({deposits[d] if d < len(deposits) else 'none left'}) or the forced "
                    f"withdrawal it serves there, got {r}"
                )
        return replace(statement, queue_to=end)

    def anchor(
        self, batch: Statement | Mapping[str, str], proof: bytes, *, shape: int | None = None
    ) -> Receipt:
        """Anchor one proved batch (the operator's account sends it).

        Args:
            batch: a published batch folder (file name → text: its statement is taken with
                :meth:`statement_for`, and checked against the exchange's verifiers first), or
                the statement itself.
            proof: the batch proof (``sealbatch prove``).
            shape: the index of the verifier to check it (default: for a folder, the one of
                its program; for a statement, the first).

        Raises:
            AnchorError: the batch needs a public table only its files give
                (``TAG_ORDER``, …), or its AIR program is not the verifier's (another shape).
            ContractReverted: the contract refused (its custom error; nothing moved).
            TransactionTooLarge: the anchor needs more than EIP-7825's 2^24 gas in one
                transaction (nothing moved).
        """
        if isinstance(batch, Statement):
            statement = batch
        else:
            found = self.check_batch(statement_from_files(batch))
            shape = found if shape is None else shape
            statement = self.statement_for(batch)
        if shape is None:
            return self.chain.transact(
                self.exchange, "anchor", statement.to_abi(), proof, gas_cap=TX_GAS_CAP
            )
        return self.chain.transact(
            self.exchange, "anchorWith", shape, statement.to_abi(), proof, gas_cap=TX_GAS_CAP
        )

    def check_batch(self, statement: BatchStatement) -> int:
        """Refuse, before any transaction, a batch the exchange cannot anchor: one whose
        program is none of its verifiers', or that needs rows in a public table only its
        published files give (the contract sends those empty). Returns the index of the
        verifier of its program.

        Raises:
            AnchorError: naming the table or the programs.
        """
        needs = [t for t in _undeducible_rows(statement) if t in self.operator_tables()]
        if needs:
            names = ", ".join(TABLE_NAMES.get(t, f"tag {t}") for t in needs)
            raise AnchorError(
                f"expected a batch whose public tables the contract derives, got one with rows "
                f"in {names} (only the published files give those; not anchorable on L1 yet)"
            )
        return self.shape_of(statement)

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


def market_terms(
    config: SettlementConfig,
) -> tuple[
    tuple[int, ...], tuple[tuple[tuple[int, int], ...], ...], tuple[int, ...], tuple[int, ...]
]:
    """Each market's fee (bps), margin tiers ``(max_lots, maintenance_bps)``, liquidation
    penalty (bps) and tier 0's initial bps under ``config``, in id order:
    :func:`deploy_exchange`'s ``fee_bps``, ``margin_tiers``, ``penalty_bps`` and
    ``initial_bps``."""
    return (
        tuple(r.fee_bps for r in config.markets),
        tuple(tuple((t.max_lots, t.maintenance_bps) for t in r.tiers) for r in config.markets),
        tuple(r.liquidation_penalty_bps for r in config.markets),
        tuple(r.tiers[0].initial_bps for r in config.markets),
    )


def _pre_config(files: Mapping[str, str]) -> SettlementConfig:
    """The settlement rules of a published batch (``pre_state.json``'s ``config``).

    Raises:
        BatchStatementError: the file or its config is missing or malformed.
    """
    return _published_config(files, "pre_state.json", lambda c: config_from_dict(c, "config"))


def _oracle_config(files: Mapping[str, str]) -> OracleConfig:
    """The oracle rules of a published batch (``oracle.json``'s ``config``).

    Raises:
        BatchStatementError: the file or its config is missing or malformed.
    """
    return _published_config(files, "oracle.json", oracle_config_from_dict)


def _published_config(files: Mapping[str, str], name: str, parse: Callable[[Any], _C]) -> _C:
    """``parse`` of the ``config`` of the published file ``name``; only the settlement
    layer's errors (a value its reader refuses, named) are caught."""
    where = f"published batch: {name}"
    config = pv.member(pv.obj(_document(files, name), where), "config", where)
    try:
        return parse(config)
    except SettlementError as exc:
        raise BatchStatementError(f"{where}: {exc}") from exc


def _document(files: Mapping[str, str], name: str) -> Any:
    """The JSON document of the published file ``name``.

    Raises:
        BatchStatementError: the folder has no such file, or it is not JSON (named).
    """
    if name not in files:
        raise BatchStatementError(f"published batch: {name}: expected the file, got none")
    try:
        return loads_json(files[name])
    except (ValueError, RecursionError) as exc:  # also too deep, a key twice, 4300+ digits
        raise BatchStatementError(f"published batch: {name}: not JSON ({exc})") from exc


def _addr(address: str) -> str:
    return str(Web3.to_checksum_address(address))


def deploy_exchange(
    chain: Chain,
    verifier: str | Mapping[str, str],
    *,
    genesis_root: bytes | None = None,
    multipliers: Sequence[int] = (),
    markets: Sequence[str] = (),
    fee_bps: Sequence[int] = (),
    margin_tiers: Sequence[Sequence[tuple[int, int]]] = (),
    penalty_bps: Sequence[int] = (),
    initial_bps: Sequence[int] = (),
    genesis_marks: Sequence[int] | None = None,
    genesis_indexes: Sequence[tuple[int, int]] | None = None,
    first_batch_id: int | None = None,
    oracle: OracleConfig | None = None,
    forced_delay_s: int = DEFAULT_FORCED_DELAY_S,
    operator: str | None = None,
    token: str | None = None,
    operator_tables: Sequence[int] | None = None,
    shapes: Sequence[Mapping[str, str]] = (),
    verifiers: Sequence[str] = (),
    account_capacity: int | None = None,
    min_deposit: int = 1,
) -> ExchangeContract:
    """Deploy the Poseidon2 hasher, the test token (unless ``token`` is given) and the exchange,
    and with a batch's files the batch verifier of its shape (and of each of ``shapes``).

    The exchange's verifiers are fixed here, for good: a batch whose program is none of
    theirs can never be anchored on it (docs/contracts.md, "One verifier per batch shape").

    Args:
        verifier: a published batch folder (file name → text): the batch AIR's StarkVerifier
            is deployed for its program (every batch of that shape verifies on it), and the
            defaults below come from it; or the address of a verifier already deployed.
        shapes: more published batch folders: one more verifier for each program not
            deployed yet (another trace length, tree depth, …), in order.
        verifiers: with a verifier address, the addresses of the other shapes' verifiers.
        genesis_root: the state root before the first batch (default: the batch's pre-root).
        multipliers: contract multiplier per market, in id order (default: the batch's).
        markets: the market ids, in id order (default: the batch's).
        fee_bps: each market's fee per fill in bps, in id order; the contract refuses a
            settlement statement with any other (default: the batch's ``pre_state.json``
            config; required with a verifier address).
        margin_tiers: each market's margin tiers as ``(max_lots, maintenance_bps)``, in
            order, per market in id order; pinned like the fees (same default).
        penalty_bps: each market's liquidation penalty in bps of a liquidation fill's
            notional, in id order; pinned like the fees (same default).
        initial_bps: each market's tier 0 ``initial_bps``, in id order: the contract derives
            each market's liquidation ``per_lot`` from it and the index; pinned like the fees
            (same default).
        genesis_marks: each market's mark price at the genesis root, in id order: the first
            batch's reference prices must be them, and an escape before any anchor values
            positions at them (default: the batch's pre-state marks when the genesis root is
            the batch's pre-root; else none known, as on a new venue: no mark yet).
        genesis_indexes: each market's last trusted index and its time (ms) at the genesis
            root, in id order: a batch whose oracle round flags the market carries them over
            (default as ``genesis_marks``; else none: 0 and 0).
        first_batch_id: the id of the first batch to anchor (default: the batch's, else 0).
        oracle: the oracle sources, their families and the index rules (default: the batch's
            ``oracle.json`` config; required with a verifier address): deployed as the
            exchange's ``OracleIndex``, which checks each round's signatures and reads each
            market's index from it as ``read_index`` does.
        operator: the address that anchors (default: the chain's account).
        operator_tables: tags of the verifier's public tables only the published files give
            (default: the batch AIR's, from the batch; none for a verifier address).
        account_capacity: the most accounts (address, subaccount) deposits may open; a
            deposit from one more new account is refused (``AccountCapacityReached``), so no
            deposit the verifiers can never take is queued (docs/contracts.md, "Limits").
            Default, with a batch folder whose pre-root is the genesis root: the accounts of
            the deepest account tree among the deployed shapes less the genesis accounts;
            required otherwise (a verifier address, or another genesis root).
        min_deposit: the least amount (base units) a deposit may carry (default 1: any).

    Raises:
        AnchorError: a malformed or missing argument; ContractReverted from a constructor.
        BatchStatementError: the batch folder is malformed.
    """
    deployed: list[DeployedVerifier] = []
    deepest = 0
    if isinstance(verifier, str):
        addresses = [verifier, *verifiers]
        tables = tuple(operator_tables or ())
    else:
        bs = statement_from_files(verifier)
        programs: list[bytes] = []
        for files in (verifier, *shapes):
            one = bs if files is verifier else statement_from_files(files)
            program = batch_program_hash(one)
            if program in programs:
                continue
            declared = operator_tables_of(one)
            if programs and operator_tables is None and declared != operator_tables_of(bs):
                raise AnchorError(
                    f"expected every shape to declare the tables {operator_tables_of(bs)} only "
                    f"the published files give, got {declared} for batch {one.batch_id}"
                )
            programs.append(program)
            deepest = max(deepest, one.settle.depth_post)
            deployed.append(deploy_batch_verifier(chain, one))
        addresses = [str(d.verifier.address) for d in deployed]
        tables = operator_tables_of(bs) if operator_tables is None else tuple(operator_tables)
        if genesis_root is None and genesis_marks is None:
            genesis_marks = [ms.mark_price for ms in bs.pre.market_states]
        if genesis_root is None and genesis_indexes is None:
            genesis_indexes = [(ms.index_price, ms.index_time_ms) for ms in bs.pre.market_states]
        if oracle is None:
            oracle = _oracle_config(verifier)
        if account_capacity is None and genesis_root is None:
            account_capacity = max(0, (1 << deepest) - bs.settle.n_pre)
        genesis_root = genesis_root or poseidon2.digest_to_bytes(
            np.array(bs.public_inputs[3:11], dtype=np.uint64)
        )
        multipliers = multipliers or [mt.multiplier for mt in bs.settle.markets]
        markets = markets or bs.markets
        fees, tiers, penalties, initials = market_terms(_pre_config(verifier))
        fee_bps = fee_bps or fees
        margin_tiers = margin_tiers or tiers
        penalty_bps = penalty_bps or penalties
        initial_bps = initial_bps or initials
        first_batch_id = bs.batch_id if first_batch_id is None else first_batch_id
    if oracle is None:
        raise AnchorError("expected the oracle configuration (sources, families, rules)")
    if account_capacity is None:
        raise AnchorError(
            "expected account_capacity (the most accounts deposits may open) with a verifier "
            "address or a genesis root of its own: the verifiers' deepest account tree is "
            "known only from the batches they were deployed for"
        )
    if not 0 <= account_capacity < 1 << 64:
        raise AnchorError(f"account_capacity: expected 0 to 2^64 - 1, got {account_capacity}")
    if not 1 <= min_deposit <= MAX_BALANCE:
        raise AnchorError(f"min_deposit: expected 1 to {MAX_BALANCE}, got {min_deposit}")
    if genesis_indexes is not None and len(genesis_indexes) not in (0, len(multipliers)):
        raise AnchorError(
            f"expected a genesis index per market ({len(multipliers)}), got {len(genesis_indexes)}"
        )
    if genesis_root is None or len(genesis_root) != 32:
        got = "none" if genesis_root is None else f"{len(genesis_root)} bytes"
        raise AnchorError(f"expected a 32-byte genesis root, got {got}")
    if len(markets) != len(multipliers):
        raise AnchorError(
            f"expected one market id per multiplier ({len(multipliers)}), got {len(markets)}"
        )
    if genesis_marks is not None and len(genesis_marks) not in (0, len(multipliers)):
        raise AnchorError(
            f"expected a genesis mark per market ({len(multipliers)}), got {len(genesis_marks)}"
        )
    if len({len(fee_bps), len(margin_tiers), len(penalty_bps), len(initial_bps),
            len(multipliers)}) != 1:  # fmt: skip
        raise AnchorError(
            f"expected a fee, margin tiers, a penalty and tier 0's initial bps per market "
            f"({len(multipliers)}), got {len(fee_bps)} fees, {len(margin_tiers)} tier lists, "
            f"{len(penalty_bps)} penalties and {len(initial_bps)} initial bps"
        )
    hasher = chain.deploy("Poseidon2Hasher")
    token_contract = chain.at("TestToken", token) if token else chain.deploy("TestToken")
    families = oracle.families
    oracle_index = chain.deploy(
        "OracleIndex",
        [oracle.stale_ms, oracle.divergence_bps, oracle.agreement_bps, oracle.family_quorum,
         oracle.min_families],
        [_addr(s.address) for s in oracle.sources],
        [families.index(s.family) for s in oracle.sources],
        [keccak256(m.encode()) for m in markets],
    )  # fmt: skip
    config = (
        first_batch_id or 0,
        genesis_root,
        forced_delay_s,
        oracle_index.address,
        list(multipliers),
        [market_code(m) for m in markets],
        [int(f) for f in fee_bps],
        [int(p) for p in penalty_bps],
        [[int(v) for tier in tiers for v in tier] for tiers in margin_tiers],
        [int(v) for v in initial_bps],
        [int(v) for v in genesis_marks or ()],
        list(tables),
        [int(index) << 64 | int(at) for index, at in genesis_indexes or ()],
        account_capacity,
        min_deposit,
    )
    exchange = chain.deploy(
        "Exchange",
        [_addr(a) for a in addresses],
        hasher.address,
        token_contract.address,
        _addr(operator or chain.account),
        config,
    )
    return ExchangeContract(chain, exchange, hasher, token_contract, tuple(deployed))


def attach_exchange(chain: Chain, address: str) -> ExchangeContract:
    """The exchange already deployed at ``address`` (its hasher and token from its storage)."""
    exchange = chain.at("Exchange", address)
    hasher = chain.at("Poseidon2Hasher", chain.call(exchange, "hasher"))
    token = chain.at("TestToken", chain.call(exchange, "token"))
    return ExchangeContract(chain, exchange, hasher, token)
