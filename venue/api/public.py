"""What each route answers: the response models of the public API.

One pydantic model per answer (``BatchPublic``, ``OrderStatusPublic``,
``AccountPublic``, ``MarketPublic``, ...), declared on every route so the
OpenAPI schema says exactly what a client gets. The models mirror the JSON
the venue sends field for field (docs/api.md is the contract) and forbid
fields they do not name, so a test that validates live answers against them
keeps the schema honest. Amounts are integers: base units, ticks, lots.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AcceptancePublic",
    "AccountPublic",
    "AnchorFailurePublic",
    "AnchorPublic",
    "AnswerPublic",
    "AnswerTakenPublic",
    "BatchKeyPublic",
    "BatchListPublic",
    "BatchOpenPublic",
    "BatchProofPublic",
    "BatchPublic",
    "BatchSummaryPublic",
    "CollateralMovePublic",
    "CommitteePublic",
    "ComplaintPublic",
    "ComplaintTakenPublic",
    "DealingTakenPublic",
    "DisqualifiedPublic",
    "HealthPublic",
    "InfoPublic",
    "L1Public",
    "MarketListPublic",
    "MarketPublic",
    "OperatorViewPublic",
    "OracleRulesPublic",
    "OracleSourcePublic",
    "OracleTakenPublic",
    "OrderStatusPublic",
    "ProofFailurePublic",
    "ProvingPublic",
    "QuotePublic",
    "RevealPublic",
    "RfqListPublic",
    "RfqPublic",
    "RoundPublic",
    "ShareTakenPublic",
    "StreamReplayPublic",
    "StreamRulesPublic",
]


class _Public(BaseModel):
    """A response model: every field named, none extra."""

    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ orders


class OrderPublic(_Public):
    """An order as revealed (limit in ticks, quantity in lots)."""

    market: str
    side: Literal["buy", "sell"]
    limit_price: int | None
    quantity: int
    time_in_force: str
    reduce_only: bool
    client_id: int


class OrderStatusPublic(_Public):
    """An order's fate. ``order`` and ``detail`` stay hidden until its batch clears."""

    commitment: str
    trader: str
    market: str
    batch_id: int
    sequence: int
    bond: int
    status: Literal[
        "committed",
        "revealed",
        "filled",
        "partially_filled",
        "resting",
        "not_filled",
        "forfeited",
    ]
    reason: str | None
    detail: str | None
    order: OrderPublic | None
    filled: int
    price: int | None
    share: str | None
    last_batch_id: int | None = None


class RevealPublic(_Public):
    """A reveal taken."""

    commitment: str
    trader: str
    sequence: int
    order: OrderPublic
    status: Literal["revealed"]


# ------------------------------------------------------------------ batches


class WindowsPublic(_Public):
    commit_open_ms: int
    commit_close_ms: int
    reveal_close_ms: int


class FillPublic(_Public):
    order_id: str
    trader: str
    market: str
    side: Literal["buy", "sell"]
    price: int
    quantity: int


class CurvesPublic(_Public):
    """The published demand and supply curves (lots at each candidate price)."""

    prices: list[int]
    demand: list[int]
    supply: list[int]
    market_buy: int
    market_sell: int


class MarketResultPublic(_Public):
    market: str
    reference_price: int | None
    price: int | None
    volume: int
    buy_volume: int
    sell_volume: int
    imbalance: int
    orders: int
    fills: list[FillPublic]
    curves: CurvesPublic


class ForfeitPublic(_Public):
    commitment: str
    trader: str
    market: str
    sequence: int
    bond: int


class RejectionPublic(_Public):
    commitment: str
    code: str
    reason: str
    at_ms: int


class AcceptancePublic(_Public):
    """An accepted block: ``buyer`` buys ``quantity`` lots from ``seller`` at ``price``."""

    rfq_id: str
    quote: str
    market: str
    buyer: str
    seller: str
    price: int
    quantity: int
    accepted_ms: int
    batch_id: int


class BlockPublic(AcceptancePublic):
    """A block accepted for the batch and what became of it."""

    status: Literal["filled", "failed"]
    reason: str | None
    band: list[int] | None = None


class OracleRoundPublic(_Public):
    round_id: int
    timestamp_ms: int
    digest: str
    reports: int


class DroppedReportPublic(_Public):
    """A report (or a source) left out of a reading, and why: ``stale``, ``future``,
    ``conflicting`` or ``disagrees`` (docs/oracle.md)."""

    source: str
    reason: str


class ReadingPublic(_Public):
    index: int | None
    families: dict[str, int]
    flagged: bool
    reason: str | None
    stale_dropped: int
    dropped: list[DroppedReportPublic]


class FundingPublic(_Public):
    """A market's funding in a batch: ``premium_ticks`` is the batch's premium sample,
    the market's mark premium before the batch, in force over the time since the
    previous one and weighted by it (None when its oracle reading was flagged: no
    sample), ``rate_ppm`` and ``delta_index`` the funding step (0 but at an interval's
    end)."""

    premium_ticks: int | None
    rate_ppm: int
    delta_index: int
    funding_index: int


class DeleveragedPublic(_Public):
    address: str
    subaccount: int
    market: str
    lots: int
    share: int


class DeficitPublic(_Public):
    address: str
    subaccount: int
    deficit: int
    insurance: int
    deleveraged: list[DeleveragedPublic]


class BlockAdjustmentPublic(_Public):
    rfq_id: str
    buyer_pays_seller: int
    clearing_price: int
    block_price: int


class SettlementPublic(_Public):
    """A batch's settlement: roots, oracle round, funding, flows. When the batch
    could not settle, only ``settled: false``, ``error`` and ``code``."""

    settled: bool
    error: str | None = None
    code: str | None = None
    pre_root: str | None = None
    post_root: str | None = None
    oracle_round: OracleRoundPublic | None = None
    readings: dict[str, ReadingPublic] | None = None
    funding: dict[str, FundingPublic] | None = None
    fees: int | None = None
    forfeits: list[tuple[str, int]] | None = None
    deposits: list[tuple[str, int]] | None = None
    withdrawals: list[tuple[str, int]] | None = None
    liquidations: int | None = None
    deficits: list[DeficitPublic] | None = None
    tripped: list[str] | None = None
    block_adjustments: list[BlockAdjustmentPublic] | None = None
    insurance_fund: int | None = None
    fee_pool: int | None = None


class BatchProofPublic(_Public):
    """A batch's proof as its record shows it: once proven, what the venue verified
    (the bytes are at ``GET /v1/batches/{id}/proof``); when proving halted at this
    batch, only ``error`` and ``failed_ms``."""

    air: str | None = None
    size_bytes: int | None = None
    verified: bool | None = None
    verify_ms: float | None = None
    conjectured_bits: int | None = None
    proven_bits: int | None = None
    prove_s: float | None = None
    proved_ms: int | None = None
    error: str | None = None
    failed_ms: int | None = None


class CommitmentProofPublic(_Public):
    """A commitment's inclusion proof under its batch's commitment root: leaf
    ``compress(compress(commitment, [market code, 0×7]), [trader×7, bond])`` at position
    ``sequence`` (the receipt number), ``path`` its 20 siblings bottom up
    (docs/formats.md, "Commitments")."""

    batch_id: int
    sequence: int
    commitment: str
    market: str
    trader: str
    bond: int
    leaf: str
    path: list[str]
    root: str
    commitments: int


class SealPublic(_Public):
    """The operator's signed, sealed commitment root of a batch (EIP-712 ``BatchSeal``)."""

    batch_id: int
    commitment_root: str
    commitments: int
    operator: str
    signature: str
    sealed_ms: int


class ReleasedSharePublic(_Public):
    """A keyper's released share of a batch secret, with its ``KeyShare`` signature."""

    index: int
    keyper: str
    share: str
    signature: str
    at_ms: int


class KeyperFaultPublic(_Public):
    """A fault recorded against a keyper: a share that does not verify, one released
    before the batch's seal, or no valid share by the end of the key wait of a batch
    that cleared without its secret (``withheld``: no share or signature)."""

    kind: Literal["bad_share", "early_release", "withheld"]
    index: int
    keyper: str
    share: str | None
    signature: str | None
    at_ms: int
    detail: str


class EncryptedOutcomePublic(_Public):
    """What an encrypted order of the batch became (docs/threshold.md)."""

    commitment: str
    outcome: Literal["decrypted", "revealed_by_hand", "rejected", "forfeited", "key_unavailable"]
    reason: str | None
    detail: str | None


class DisqualifiedPublic(_Public):
    """A dealer left out of the qualified set, and why."""

    dealer: int
    reason: Literal["unanswered_complaint", "bad_answer"]


class ThresholdPublic(_Public):
    """A batch's threshold key, the dealers left out of it, seal, shares, secret, faults
    and encrypted orders' outcomes."""

    public_key: str | None
    # records kept before the section listed them have none
    disqualified: list[DisqualifiedPublic] = Field(default_factory=list)
    seal: SealPublic | None
    shares: list[ReleasedSharePublic]
    secret: str | None
    faults: list[KeyperFaultPublic]
    outcomes: list[EncryptedOutcomePublic]


class KeyperMemberPublic(_Public):
    index: int
    address: str
    public_key: str


class CommitteePublic(_Public):
    """``GET /v1/keypers``: the keyper committee."""

    format: str
    threshold: int
    keypers: list[KeyperMemberPublic]
    collecting: int
    key_wait_ms: int


class DealingTakenPublic(_Public):
    batch_id: int
    dealer: int
    at_ms: int


class ShareTakenPublic(_Public):
    batch_id: int
    index: int
    early: bool
    combined: bool


class DealingPublic(_Public):
    """A keyper's dealing: Feldman commitments and the shares encrypted to each keyper."""

    batch_id: int
    dealer: int
    keyper: str
    commitments: list[str]
    shares: list[str]
    signature: str
    at_ms: int


class ComplaintPublic(_Public):
    """Keyper ``index``'s signed complaint (``KeyperComplaint``) about dealer ``dealer``'s
    share to it."""

    batch_id: int
    index: int
    dealer: int
    keyper: str
    signature: str
    at_ms: int


class AnswerPublic(_Public):
    """Dealer ``dealer``'s signed answer (``ComplaintAnswer``) to keyper ``index``'s
    complaint: the share in the clear; ``valid`` when it verifies against the dealer's
    commitments."""

    batch_id: int
    dealer: int
    index: int
    keyper: str
    share: str
    signature: str
    at_ms: int
    valid: bool


class RoundPublic(_Public):
    """``GET /v1/keypers/rounds/{id}``: a batch's dealing round, its phase and deadlines."""

    batch_id: int
    collecting: int
    phase: Literal["dealing", "complaints", "answers", "closed"]
    dealings_until_ms: int
    complaints_until_ms: int
    answers_until_ms: int
    dealings: list[DealingPublic]
    complaints: list[ComplaintPublic]
    answers: list[AnswerPublic]
    disqualified: list[DisqualifiedPublic]


class ComplaintTakenPublic(_Public):
    batch_id: int
    index: int
    dealer: int
    at_ms: int


class AnswerTakenPublic(_Public):
    batch_id: int
    dealer: int
    index: int
    valid: bool
    at_ms: int


class BatchKeyPublic(_Public):
    """``GET /v1/batches/{id}/key``: the batch's threshold key (over the qualified
    ``dealers``), its dealing round (every dealing, complaint, answer and
    disqualification) and its seal."""

    batch_id: int
    threshold: int
    size: int
    dealers: list[int]
    commitments: list[str]
    public_key: str
    dealings: list[DealingPublic]
    complaints: list[ComplaintPublic]
    answers: list[AnswerPublic]
    disqualified: list[DisqualifiedPublic]
    seal: SealPublic | None


class AnchorPublic(_Public):
    """A batch's L1 anchoring: the transaction that moved the exchange's root to it."""

    tx: str
    block: int
    gas_used: int
    post_root: str
    queue_to: int
    anchored_ms: int


class BatchPublic(_Public):
    """A cleared batch: prices, fills, curves, forfeits, rejections, blocks, settlement."""

    batch_id: int
    status: Literal["failed", "settled", "proven", "anchored"]
    windows: WindowsPublic
    seed: str
    commitments: int
    revealed: int
    carried_in: int
    carried_out: int
    markets: dict[str, MarketResultPublic]
    forfeits: list[ForfeitPublic]
    rejections: list[RejectionPublic]
    blocks: list[BlockPublic]
    settlement: SettlementPublic | None
    proof: BatchProofPublic | None
    anchor: AnchorPublic | None
    result_hash: str
    threshold: ThresholdPublic | None = None


class BatchOpenPublic(_Public):
    """A batch still collecting commitments or reveals."""

    batch_id: int
    status: Literal["committed"]
    phase: Literal["commit", "reveal"]
    windows: WindowsPublic
    commitments: int


class PriceVolumePublic(_Public):
    price: int | None
    volume: int


class BatchSummaryPublic(_Public):
    batch_id: int
    status: str
    result_hash: str
    commitments: int
    markets: dict[str, PriceVolumePublic]


class BatchListPublic(_Public):
    """Recent batches, newest first, and the batch collecting now."""

    collecting: int
    last_cleared: int
    batches: list[BatchSummaryPublic]


# ------------------------------------------------------------------ accounts


class AccountPublic(_Public):
    """An account: collateral, positions, equity, margin, liquidation prices, orders.

    Without an account (``exists: false``) the ledger fields are zero or empty and
    ``mark_prices``, ``portfolio_margin`` and ``state_root`` are absent.
    """

    address: str
    exists: bool
    collateral: int
    pending_deposits: int
    pending_withdrawals: int
    positions: dict[str, int]
    mark_prices: dict[str, int] | None = None
    equity: int
    initial_margin: int
    maintenance_margin: int
    liquidation_prices: dict[str, int | None]
    portfolio_margin: bool | None = None
    state_root: str | None = None
    orders: list[OrderStatusPublic]


class CollateralMovePublic(_Public):
    """A deposit credited or a withdrawal pending."""

    trader: str
    amount: int
    status: Literal["credited", "pending"]


# ------------------------------------------------------------------ markets


class OraclePublic(_Public):
    index_price: int
    flagged: bool
    index_time_ms: int


class MarketFundingPublic(_Public):
    funding_index: int
    premium_sum: int
    premium_time: int
    interval_batches: int
    interval_length_batches: int


class BreakerPublic(_Public):
    protective: bool
    calm: int
    band_bps: int
    liquidation_lots: int


class MarketPublic(_Public):
    """A market's rules, last price, oracle, mark, funding and breaker."""

    market_id: str
    tick_size: str
    lot_size: str
    contract_multiplier: int
    min_order_lots: int
    max_order_lots: int
    block_min_lots: int
    band_bps: int
    last_price: int | None
    oracle: OraclePublic
    mark_price: int
    mark_premium: int
    funding: MarketFundingPublic
    breaker: BreakerPublic
    settlement: str


class MarketListPublic(_Public):
    markets: list[MarketPublic]


class OracleTakenPublic(_Public):
    status: Literal["taken"]


# ------------------------------------------------------------------ RFQ


class QuotePublic(_Public):
    """A sealed quote; ``bid``/``ask`` stay null until the reveal phase ends."""

    commitment: str
    maker: str
    sequence: int
    revealed: bool
    bond: int
    bid: int | None
    ask: int | None


class RfqPublic(_Public):
    rfq_id: str
    requester: str
    market: str
    size: int
    side: Literal["hidden", "buy", "sell"]
    opened_ms: int
    quote_close_ms: int
    reveal_close_ms: int
    close_ms: int
    phase: Literal["quoting", "revealing", "accepting", "accepted", "closed"]
    quotes: list[QuotePublic]
    quote_count: int
    accepted: AcceptancePublic | None


class RfqListPublic(_Public):
    rfqs: list[RfqPublic]


# ------------------------------------------------------------------ operator


class SchedulePublic(_Public):
    genesis_ms: int
    commit_window_ms: int
    reveal_window_ms: int
    collecting: int


class RateLimitsPublic(_Public):
    signed_writes_per_s: int
    burst: int
    bulk_max: int


class RfqRulesPublic(_Public):
    min_window_ms: int
    max_window_ms: int
    band_bps: int
    quote_bond: int
    #: collateral each open RFQ holds from its requester until accepted or closed
    #: (422 insufficient_bond without it)
    request_bond: int
    #: most RFQs one requester may have open at once (409 too_many_open_rfqs beyond)
    max_open_per_account: int
    #: most RFQs open at once across the venue (409 too_many_open_rfqs beyond)
    max_open: int


class OracleSourcePublic(_Public):
    address: str
    family: str


class OracleRulesPublic(_Public):
    """The oracle's trusted sources and the rules that turn their reports into an index."""

    sources: list[OracleSourcePublic]
    stale_ms: int
    divergence_bps: int
    agreement_bps: int
    family_quorum: int
    min_families: int
    max_price_age_ms: int


class StreamRulesPublic(_Public):
    max_topics: int
    buffer: int
    buffer_bytes: int


class InfoPublic(_Public):
    """What a client needs to sign and to keep time: domain, operator, clock, limits."""

    domain: dict[str, Any]
    exchange_contract: str | None
    operator: str
    now_ms: int
    schedule: SchedulePublic
    markets: list[str]
    rate_limits: RateLimitsPublic
    rfq: RfqRulesPublic
    settlement: str
    min_bond: int
    read_max_ttl_ms: int
    oracle: OracleRulesPublic
    stream: StreamRulesPublic
    stream_epoch: str


class QueuesPublic(_Public):
    db_writes: int
    open_books: dict[str, int]
    carried_orders: int
    pending_blocks: int
    open_rfqs: int
    stream_subscribers: int


class DbPublic(_Public):
    transactions: int
    events_written: int
    replayed_at_start: int
    snapshot_batch: int | None


class FailedBatchPublic(_Public):
    """A batch settlement refused, and why."""

    batch_id: int
    reason: str


class HaltPublic(_Public):
    """Why the venue halted: the batch that failed, the reason, when it cleared."""

    batch_id: int
    reason: str
    at_ms: int


class ProofFailurePublic(_Public):
    """The first batch the venue could not prove: proving halts at it."""

    batch_id: int
    reason: str
    at_ms: int


class ResumedPublic(_Public):
    """The answer to the operator's resume: the halt it ended, and the batch collecting now."""

    batch_id: int
    reason: str
    resumed_at_ms: int
    collecting: int


class ProvingPublic(_Public):
    """The proving pipeline: where it proves, how far behind it is, where it halted."""

    enabled: bool
    where: str | None
    last_proven_batch: int | None
    lag: int
    lag_seconds: float
    in_flight: int
    pending: list[int]
    failure: ProofFailurePublic | None


class AnchorFailurePublic(_Public):
    """The last refused anchoring: the batch, the contract's error, when it is retried."""

    batch_id: int
    error: str
    detail: str
    attempts: int
    at_ms: int
    retry_at_ms: int


class L1Public(_Public):
    """The L1 link: the exchange contract, the requests credited, the anchoring lag."""

    enabled: bool
    exchange: str | None
    chain_id: int | None
    next_request: int
    last_anchored_batch: int | None
    lag: int
    lag_seconds: float
    unanchored: list[int]
    failure: AnchorFailurePublic | None
    unserved: str | None


class OperatorViewPublic(_Public):
    """Batch lag, breakers, queue depths and the durable log's counters."""

    now_ms: int
    collecting_batch: int
    last_cleared_batch: int
    batch_lag: int
    commit_window_ms: int
    reveal_window_ms: int
    breaker: dict[str, BreakerPublic | None]
    settlement: str
    halted: HaltPublic | None
    failed_batches: list[FailedBatchPublic]
    proving: ProvingPublic
    l1: L1Public
    queues: QueuesPublic
    db: DbPublic


class HealthPublic(_Public):
    ok: bool


# ------------------------------------------------------------------ stream


class StreamMessagePublic(_Public):
    """One stream message; ``data`` depends on ``type`` (docs/api.md)."""

    type: str
    epoch: str
    topic: str
    seq: int
    data: dict[str, Any]


class StreamReplayPublic(_Public):
    epoch: str
    topic: str
    messages: list[StreamMessagePublic]
