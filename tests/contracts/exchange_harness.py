"""An exchange on a real EVM with a real STARK verifier, and ledger states to anchor.

The verifier is StarkVerifier.sol deployed for :mod:`tests.contracts.statement_air`
(the batch proof's public-input layout; see that module for why), so every
anchor carries a real proof bound to exactly the public inputs the contract
derives. The states anchored are real ledger states (settlement/ledger.py):
their roots are :func:`settlement.roots.state_root`, and the escape hatch proves
accounts against them with :func:`settlement.roots.account_proof`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sealbatch.crypto.eip712 import Address, address_of
from sealbatch.crypto.prover import prove
from sealbatch.settlement.anchor import Chain, DeployedVerifier, Receipt, deploy_verifier
from sealbatch.settlement.anchor_exchange import (
    ExchangeContract,
    Statement,
    deploy_exchange,
    market_terms,
)
from sealbatch.settlement.errors import OracleError
from sealbatch.settlement.l1_statement import KIND_DEPOSIT, L1Withdrawal, MarketValues
from sealbatch.settlement.ledger import AccountKey, LedgerState, deposit, empty_state
from sealbatch.settlement.oracle import (
    OracleConfig,
    OracleRound,
    OracleSource,
    PriceReport,
    SignedReport,
)
from sealbatch.settlement.params import DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.roots import state_root
from tests.crypto.helpers import FAST

from . import statement_air

ORACLE_KEYS = (b"\x11" * 32, b"\x12" * 32)
#: The harness's two sources, one family each (every round below reads an index).
HARNESS_ORACLE = OracleConfig(
    tuple(OracleSource(address_of(k), f"f{i}") for i, k in enumerate(ORACLE_KEYS)),
    family_quorum=1,
)
FORCED_DELAY_S = 600
ZERO_DIGEST = bytes(32)


def deploy_statement_verifier(chain: Chain) -> DeployedVerifier:
    """StarkVerifier.sol for the test statement AIR (fast options, as the agreement tests),
    for the harness's public inputs: the header, two markets and the settlement statement."""
    air = statement_air.build(statement_air.ROWS, statement_air.blank_inputs())
    return deploy_verifier(chain, air, FAST, min_security_bits=0)


@dataclass
class Harness:
    """One exchange deployment, the operator's ledger beside it, and funded traders."""

    chain: Chain
    ex: ExchangeContract
    verifier: DeployedVerifier
    config: SettlementConfig
    state: LedgerState
    traders: tuple[str, ...]
    oracle_time_ms: int = 1_700_000_000_000
    anchored: list[LedgerState] = field(default_factory=list)

    @classmethod
    def deploy(
        cls,
        chain: Chain,
        verifier: DeployedVerifier | None = None,
        operator_tables: tuple[int, ...] = (),
        more_verifiers: tuple[str, ...] = (),
        genesis: LedgerState | None = None,
        account_capacity: int = 1 << 10,
        min_deposit: int = 1,
    ) -> Harness:
        verifier = verifier or deploy_statement_verifier(chain)
        config = DEFAULT_CONFIG
        genesis = empty_state(config) if genesis is None else genesis
        ex = deploy_exchange(
            chain,
            verifier.verifier.address,
            genesis_root=state_root(genesis),
            multipliers=[m.multiplier for m in config.markets],
            markets=config.market_ids,
            fee_bps=market_terms(config)[0],
            margin_tiers=market_terms(config)[1],
            penalty_bps=market_terms(config)[2],
            initial_bps=market_terms(config)[3],
            genesis_marks=[ms.mark_price for ms in genesis.market_states],
            genesis_indexes=[(ms.index_price, ms.index_time_ms) for ms in genesis.market_states],
            first_batch_id=0,
            oracle=HARNESS_ORACLE,
            forced_delay_s=FORCED_DELAY_S,
            operator_tables=operator_tables,
            verifiers=more_verifiers,
            account_capacity=account_capacity,
            min_deposit=min_deposit,
        )
        traders = tuple(str(a) for a in chain.w3.eth.accounts[1:5])
        for t in traders:
            ex.mint(t, 10**12)
        return cls(chain, ex, verifier, config, genesis, traders, anchored=[genesis])

    # ------------------------------------------------------------ the operator's side

    def oracle_round(self, *, advance: bool = True) -> OracleRound:
        """The next round (the clock moves on a second unless not ``advance``), signed by
        both configured sources, one report per market each (50 000 and 50 001: the contract
        reads an index of 50 000 in every market)."""
        at = self.oracle_time_ms + 1_000
        if advance:
            self.oracle_time_ms = at
        reports = tuple(
            SignedReport.sign(PriceReport(market, 50_000 + i, at, address_of(key)), key)
            for i, key in enumerate(ORACLE_KEYS)
            for market in self.config.market_ids
        )
        return OracleRound(at // 1_000, at, reports)

    def apply_queue(self, state: LedgerState, queue_to: int) -> LedgerState:
        """Credit every deposit the batch consumes (``withdrawals`` serve forced withdrawals)."""
        for r in self.ex.requests(self.ex.queue_consumed(), queue_to):
            if r.kind == KIND_DEPOSIT:
                state = deposit(state, AccountKey(Address(r.account), r.subaccount), r.amount)
        return state

    def statement(
        self,
        post: LedgerState,
        *,
        queue_to: int | None = None,
        withdrawals: tuple[L1Withdrawal, ...] = (),
        oracle: OracleRound | None = None,
        pre_root: bytes | None = None,
        batch_id: int | None = None,
    ) -> Statement:
        settlement = self.settlement(post, queue_to, withdrawals)
        # the reference price is the pre-state's mark (the last anchored batch's)
        values = tuple(
            MarketValues(ms.last_price, ms.funding_index, ms.mark_price, 0, pre.mark_price)
            for ms, pre in zip(post.market_states, self.state.market_states, strict=True)
        )
        return Statement(
            batch_id=self.ex.next_batch_id() if batch_id is None else batch_id,
            pre_root=self.ex.state_root() if pre_root is None else pre_root,
            post_root=state_root(post),
            commitment_root=ZERO_DIGEST,
            outputs_digest=ZERO_DIGEST,
            queue_to=self.ex.queue_length() if queue_to is None else queue_to,
            markets=values,
            settlement=settlement,
            withdrawals=withdrawals,
            oracle=self.oracle_round() if oracle is None else oracle,
        )

    def with_index(self, post: LedgerState, oracle: OracleRound) -> LedgerState:
        """``post`` with each market's index, index time and oracle flag as the contract reads
        them from ``oracle`` (unchanged for a round it refuses)."""
        try:
            inputs = self.ex.index_inputs(oracle)
        except OracleError:
            return post
        states = tuple(
            replace(ms, index_price=i, index_time_ms=lo + (hi << 24), flagged=bool(f))
            for ms, (i, lo, hi, f) in zip(post.market_states, inputs, strict=True)
        )
        return replace(post, market_states=states)

    def settlement(
        self, post: LedgerState, queue_to: int | None, withdrawals: tuple[L1Withdrawal, ...]
    ) -> tuple[int, ...]:
        """A settlement statement for ``self.state → post`` that the contract accepts."""
        end = self.ex.queue_length() if queue_to is None else queue_to
        requests = self.ex.requests(self.ex.queue_consumed(), end)
        deposits = sum(r.amount for r in requests if r.kind == KIND_DEPOSIT)
        paid = sum(w.amount for w in withdrawals)
        return statement_air.settlement_elements(
            self.config, self.state, post, self.ex.state_root(), deposits, paid
        )

    def prove(self, statement: Statement) -> bytes:
        """A real STARK proof of the statement AIR for the contract's public inputs."""
        pi = self.ex.derive_public_inputs(statement)
        air = statement_air.build(statement_air.ROWS, pi)
        return prove(air, statement_air.trace(statement_air.ROWS, pi), FAST).to_bytes()

    def next_state(self, post: LedgerState) -> LedgerState:
        """``post`` as the ledger after the next batch: its id in the header, and each
        market's index as the contract reads it from the next round."""
        post = replace(post, batch_id=self.ex.next_batch_id())
        return self.with_index(post, self.oracle_round(advance=False))

    def anchor(self, post: LedgerState, **kwargs: object) -> Receipt:
        """Prove and anchor ``post`` as the next batch; the harness's ledger follows."""
        oracle = kwargs.pop("oracle", None) or self.oracle_round()
        post = self.with_index(self.next_state(post), oracle)  # type: ignore[arg-type]
        s = self.statement(post, oracle=oracle, **kwargs)  # type: ignore[arg-type]
        receipt = self.ex.anchor(s, self.prove(s))
        self.state = post
        self.anchored.append(post)
        return receipt


def with_trade(
    state: LedgerState, long: AccountKey, short: AccountKey, lots: int, price: int, mark: int
) -> LedgerState:
    """``long`` buys ``lots`` of the first market from ``short`` at ``price``; the mark moves."""
    mult = DEFAULT_CONFIG.markets[0].multiplier
    collateral = state.collateral.copy()
    positions = state.positions.copy()
    collateral[state.row(long)] -= lots * price * mult
    collateral[state.row(short)] += lots * price * mult
    positions[state.row(long), 0] += lots
    positions[state.row(short), 0] -= lots
    states = list(state.market_states)
    states[0] = replace(states[0], mark_price=mark, last_price=price, index_price=mark)
    out = state.with_arrays(collateral=collateral, positions=positions)
    return replace(out, market_states=tuple(states))


def equity_of(state: LedgerState, key: AccountKey) -> int:
    row = state.row(key)
    marks = np.array([ms.mark_price for ms in state.market_states], dtype=object)
    mults = np.array([m.multiplier for m in DEFAULT_CONFIG.markets], dtype=object)
    return int(state.collateral[row]) + int(
        (state.positions[row].astype(object) * marks * mults).sum()
    )
