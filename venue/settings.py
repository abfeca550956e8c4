"""The venue's configuration: one pydantic-settings ``Settings`` (env prefix ``SEALBATCH_``)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sealbatch.auction.bounds import MAX_BALANCE, MAX_BOND
from sealbatch.crypto.eip712 import DEV_CHAIN_ID, checksum_address

__all__ = ["DEFAULT_OPERATOR_KEY", "Settings"]

#: Operator key of the embedded default (a development key, public by design:
#: set ``SEALBATCH_OPERATOR_KEY`` for anything that holds real value).
DEFAULT_OPERATOR_KEY = "0x" + "5e" * 32


class Settings(BaseSettings):
    """Everything ``sealbatch serve`` and ``create_app`` can be told.

    Windows are milliseconds. The reveal window of batch n runs while batch
    n+1 collects commitments, so ``reveal_window_ms`` must not exceed
    ``commit_window_ms``.
    """

    model_config = SettingsConfigDict(env_prefix="SEALBATCH_", extra="ignore")

    db_url: str = Field(default="sqlite:///sealbatch.db", description="SQLAlchemy URL")
    l1_url: str | None = Field(
        default=None,
        description="the L1 the venue anchors on: a JSON-RPC URL, or 'embedded' for an "
        "in-process py-evm chain (development; it lives as long as the process); without it "
        "the venue runs without a chain (deposits are trader-signed messages)",
    )
    l1_poll_ms: int = Field(
        default=500, ge=10, le=600_000, description="pause between two passes of the L1 stage"
    )
    l1_retry_ms: int = Field(
        default=1_000,
        ge=1,
        le=3_600_000,
        description="first wait before a refused anchoring is retried (doubling each time)",
    )
    l1_retry_max_ms: int = Field(
        default=60_000, ge=1, le=86_400_000, description="longest wait between two retries"
    )
    l1_forced_delay_s: int = Field(
        default=3_600,
        ge=1,
        le=365 * 86_400,
        description="seconds an unserved forced withdrawal waits before anyone may freeze an "
        "exchange the venue deploys (development default; production picks days)",
    )
    l1_max_depth: int = Field(
        default=4,
        ge=1,
        le=16,
        description="the deepest account tree an exchange the venue deploys verifies batches "
        "for (2^depth accounts): one batch verifier per depth and per step to the next; the "
        "exchange takes deposits from at most 2^depth accounts (address, subaccount)",
    )
    l1_min_deposit: int = Field(
        default=1_000_000,
        ge=1,
        le=MAX_BALANCE,
        description="the least amount (base units) a deposit to an exchange the venue deploys "
        "may carry (default 1 USDC at 6 decimals): opening the 2^l1_max_depth accounts "
        "costs this each",
    )
    operator_key: str = DEFAULT_OPERATOR_KEY
    chain_id: int = Field(
        default=DEV_CHAIN_ID,
        ge=1,
        le=(1 << 53) - 1,
        description="EIP-712 domain chainId: the chain of the exchange contract the venue "
        "anchors to (default 31337, the local development chain of anvil and Hardhat; at "
        "most 2^53 - 1 so that every JSON client reads it exactly)",
    )
    verifying_contract: str | None = Field(
        default=None,
        description="EIP-712 domain verifyingContract: the address of the exchange contract "
        "the venue anchors to (docs/contracts.md); without one the domain names the "
        "placeholder 0x0000000000000000000000000000000000000001, which is no contract",
    )
    markets: tuple[str, ...] = ("BTC-PERP", "ETH-PERP")
    commit_window_ms: int = Field(default=1_000, ge=10, le=3_600_000)
    reveal_window_ms: int = Field(default=300, ge=5, le=3_600_000)
    tick_ms: int = Field(default=10, ge=1, le=1_000, description="operator loop period")
    group_commit_max: int = Field(default=2_048, ge=1, description="events per DB transaction")
    rate_limit_per_s: int = Field(default=100, ge=1, description="signed writes per address")
    rate_limit_burst: int = Field(default=200, ge=1)
    bulk_max: int = Field(default=5_000, ge=1, description="commitments per bulk request")
    max_body_bytes: int = Field(default=8_000_000, ge=1_000)
    head_timeout_ms: int = Field(
        default=10_000,
        ge=10,
        le=3_600_000,
        description="a request's whole head must arrive within this, from the connection's "
        "opening (its first request) or the request's first byte; else 408 request_timeout "
        "and the connection closes (sealbatch serve; docs/api.md, Slow clients)",
    )
    body_timeout_ms: int = Field(
        default=30_000,
        ge=10,
        le=3_600_000,
        description="a request's whole body must arrive within this of its head; else 408 "
        "request_timeout and the connection closes (sealbatch serve)",
    )
    write_timeout_ms: int = Field(
        default=30_000,
        ge=10,
        le=3_600_000,
        description="a connection whose client reads nothing of its answers (writing paused, "
        "the send buffer full) for this long is aborted (docs/api.md, Slow clients)",
    )
    rfq_min_window_ms: int = Field(default=400, ge=4)
    rfq_max_window_ms: int = Field(default=120_000, ge=4)
    rfq_band_bps: int = Field(default=200, ge=0, le=10_000)
    rfq_max_open_per_account: int = Field(
        default=32,
        ge=1,
        le=1_000_000,
        description="most RFQs one requester may have open at once (each holds "
        "rfq_request_bond); the next is refused with 409 too_many_open_rfqs until one closes",
    )
    rfq_max_open: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="most RFQs open at once across the venue; the next is refused with 409 "
        "too_many_open_rfqs until one closes",
    )
    rfq_request_bond: int = Field(
        default=100_000_000,
        ge=0,
        le=1 << 62,
        description="collateral (base units) each open RFQ holds from its requester's free "
        "collateral, released when it is accepted or its window ends (never forfeited): "
        "filling the venue's cap on open RFQs ties up rfq_max_open times this; a request "
        "beyond the requester's free collateral is refused with 422 insufficient_bond",
    )
    min_bond: int = Field(
        default=1_000_000,
        ge=0,
        le=MAX_BOND,  # a commitment's bond is one element of its leaf (below 2^30)
        description="least collateral (base units) an unrevealed commitment forfeits; "
        "free collateral must cover the bonds of a trader's open commitments",
    )
    quote_bond: int = Field(
        default=1_000_000,
        ge=0,
        le=1 << 62,
        description="collateral (base units) each sealed RFQ quote puts at stake; an "
        "unrevealed quote forfeits it to the insurance fund",
    )
    read_max_ttl_ms: int = Field(
        default=300_000,
        ge=1_000,
        le=3_600_000,
        description="longest a signed read of account data may stay valid (its expiry "
        "at most this far ahead)",
    )
    stream_buffer: int = Field(
        default=10_000,
        ge=16,
        description="stream messages kept for replay, across all topics (the oldest go first)",
    )
    stream_buffer_bytes: int = Field(
        default=8_000_000,
        ge=1_000,
        le=10_000_000_000,
        description="bytes of JSON the stream keeps for replay, across all topics (the "
        "oldest go first): with stream_buffer, whichever is reached first",
    )
    unbacked_deposits: bool = Field(
        default=True,
        description="accept trader-signed deposits without an L1 (embedded mode only)",
    )
    oracle_sources: str | None = Field(
        default=None,
        description="path of the oracle configuration file (JSON: sources with their "
        "families, quorum and staleness rules; docs/formats.md); without it the venue "
        "trusts the public development oracle keys",
    )

    committee: str | None = Field(
        default=None,
        description="path of the keyper committee file (docs/threshold.md); with it the venue "
        "takes orders encrypted to each batch's threshold key and decrypts them with the "
        "keypers' released shares (first start only: the log keeps it)",
    )
    key_wait_ms: int = Field(
        default=2_000,
        ge=0,
        le=600_000,
        description="how long after its reveal window a batch with encrypted orders waits for "
        "t keyper shares before it clears without them (their orders then forfeit unless "
        "revealed by hand)",
    )

    publish_dir: str | None = Field(
        default=None,
        description="folder to publish every settled batch into as batch-<n>/ "
        "(docs/formats.md), once its record is durable",
    )
    publications_kept: int = Field(
        default=64,
        ge=0,
        le=100_000,
        description="settled batches whose folder stays in memory for "
        "GET /v1/batches/{id}/archive (with publish_dir, older ones are read from it)",
    )

    memory_batches: int = Field(
        default=256,
        ge=1,
        le=1_000_000,
        description="cleared batches whose records and order fates stay in memory; older "
        "ones are read from the database on request (memory stays flat under load)",
    )

    signer_workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="worker processes that recover the signers of bulk commitments off "
        "the event loop, on the other cores (0: in the venue's own thread)",
    )
    snapshot_every: int = Field(
        default=20,
        ge=0,
        le=1_000_000,
        description="write a snapshot of the venue's state every this many batches (0: "
        "never); a restart loads the newest and replays only the log after it",
    )
    snapshot_events: int = Field(
        default=2_000,
        ge=0,
        le=100_000_000,
        description="also write a snapshot after the first batch that clears once this many "
        "events were logged since the last one (0: by batches only), so that the log a "
        "restart replays stays short however busy the batches are",
    )

    prove: bool = Field(
        default=True,
        description="prove every settled batch (settled -> proven); off, batches stay settled",
    )
    prove_workers: int = Field(
        default=1,
        ge=1,
        le=256,
        description="prover processes the venue starts for itself (without dask_scheduler); "
        "consecutive batches are proved in parallel on them",
    )
    prove_in_flight: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="settled batches loaded and handed to the provers at a time (0: one "
        "more than prove_workers); the others wait in line as batch ids and their files "
        "are read (from memory or the database) only when their turn comes, so a prover "
        "that lags costs no memory per batch",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="address of a Dask scheduler (tcp://host:8786) to prove batches on "
        "instead of the venue's own prover processes",
    )

    @field_validator("verifying_contract")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"0[xX][0-9a-fA-F]{40}", value):
            raise ValueError(f"verifying_contract: expected 0x and 40 hex digits, got {value!r}")
        return None if value is None else checksum_address(value)

    @model_validator(mode="after")
    def _l1_deposits_only(self) -> Settings:
        # On an L1 collateral enters only through the contract's deposits.
        if self.l1_url is not None:
            if "unbacked_deposits" in self.model_fields_set and self.unbacked_deposits:
                raise ValueError(
                    "unbacked_deposits: expected false with an L1 (deposits come from the "
                    "exchange contract), got true"
                )
            self.unbacked_deposits = False
        return self

    @model_validator(mode="after")
    def _no_mainnet_for_development(self) -> Settings:
        # Messages signed for a venue run with the public development operator key
        # must never be valid on Ethereum mainnet (chain id 1).
        if self.chain_id == 1 and self.operator_key == DEFAULT_OPERATOR_KEY:
            raise ValueError(
                "chain_id: expected a development chain id with the public development "
                "operator key (default 31337), got 1 (Ethereum mainnet): set "
                "SEALBATCH_OPERATOR_KEY for a real deployment"
            )
        return self

    def development_defaults(self) -> list[str]:
        """The development defaults in force, each as a phrase naming how to turn it off."""
        on = []
        if self.operator_key == DEFAULT_OPERATOR_KEY:
            on.append("the public development operator key (set SEALBATCH_OPERATOR_KEY)")
        if self.oracle_sources is None:
            on.append(
                "the public development oracle keys (set SEALBATCH_ORACLE_SOURCES or pass "
                "--oracle-sources FILE)"
            )
        if self.unbacked_deposits:
            on.append("deposits credited without an L1 (set SEALBATCH_UNBACKED_DEPOSITS=false)")
        return on
