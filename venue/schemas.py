"""Pydantic models of the HTTP API (the edge only; the domain uses dataclasses).

Integers are JSON numbers and strict (a string "5" is refused), bytes are
``0x``-prefixed hex, addresses are 20-byte hex. Each request model converts to
the domain value or EIP-712 message it carries; the venue stores accepted
requests in exactly this wire form, so replaying the log parses them again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from sealbatch.auction.bounds import MAX_BALANCE, MAX_BOND, MAX_LOTS, MAX_PRICE
from sealbatch.auction.commit_reveal import Commit, SignedCommit
from sealbatch.auction.frozen import frozen_instance
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.oracle import SignedReport
from sealbatch.venue.auth import reveal_message

__all__ = [
    "AcceptIn",
    "AnswerIn",
    "BulkItem",
    "CommitIn",
    "ComplaintIn",
    "DealingIn",
    "DepositIn",
    "KeyShareIn",
    "L1RequestIn",
    "OracleReportIn",
    "OrderIn",
    "Problem",
    "QuoteCommitIn",
    "QuoteRevealIn",
    "ReceiptOut",
    "ResumeIn",
    "RevealIn",
    "RfqIn",
    "WithdrawIn",
    "hexb",
]

U64 = Annotated[StrictInt, Field(ge=0, le=(1 << 64) - 1)]
U256 = Annotated[StrictInt, Field(ge=0, le=(1 << 256) - 1)]
# Value bounds (sealbatch.auction.bounds): the schema refuses what the batch
# proof could not range-check, before any business code runs.
Ticks = Annotated[StrictInt, Field(ge=1, le=MAX_PRICE)]
QuoteTicks = Annotated[StrictInt, Field(ge=0, le=MAX_PRICE)]
Lots = Annotated[StrictInt, Field(ge=1, le=MAX_LOTS)]
Amount = Annotated[StrictInt, Field(ge=1, le=MAX_BALANCE)]
Locked = Annotated[StrictInt, Field(ge=0, le=MAX_BALANCE)]
#: a commitment's bond is one element of its leaf under the commitment root
Bond = Annotated[StrictInt, Field(ge=0, le=MAX_BOND)]
Hex32 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
Sig = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]
AddressStr = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
MarketId = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Point = Annotated[str, StringConstraints(pattern=r"^0x0[23][0-9a-fA-F]{64}$")]
# An encrypted order: version, ephemeral point, at most 59 + 32 plaintext bytes
# (a market id of at most 32 bytes), GCM tag.
OrderCiphertext = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{100,282}$")]
ShareCiphertext = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{164}$")]

_TRADER = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"
_H32 = "0x" + "ab" * 32
_SIG = "0x" + "cd" * 64 + "1b"


def hexb(value: str) -> bytes:
    """``0x``-hex to bytes (the schema has already checked the pattern)."""
    return bytes.fromhex(value[2:])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _example(example: dict[str, Any]) -> ConfigDict:
    """A request model's config with one OpenAPI example (``extra="forbid"`` and
    ``frozen`` come from :class:`_In`; pydantic merges a subclass's config)."""
    return ConfigDict(json_schema_extra={"examples": [example]})


class CommitIn(_In):
    """A signed sealed-order commitment (EIP-712 ``Commit``)."""

    model_config = _example(
        {
            "trader": _TRADER,
            "batch_id": 42,
            "market": "BTC-PERP",
            "commitment": _H32,
            "nonce": 7,
            "margin_lock": 0,
            "bond": 1000,
            "expiry_ms": 1_900_000_000_000,
            "signature": _SIG,
        }
    )

    trader: AddressStr
    batch_id: U64
    market: MarketId
    commitment: Hex32
    nonce: U64
    margin_lock: Locked = 0
    bond: Bond = 0
    expiry_ms: U64 = (1 << 64) - 1
    signature: Sig
    #: The order and salt encrypted to the batch's threshold key (docs/threshold.md),
    #: with the trader's EIP-712 ``EncryptedOrder`` signature over its hash.
    ciphertext: OrderCiphertext | None = None
    ciphertext_signature: Sig | None = None

    def to_domain(self) -> SignedCommit:
        """The commitment and its signature as the commit book takes them. The book
        keeps the ``Commit`` (built as usual) and drops the ``SignedCommit`` around
        it, built without the frozen dataclass's ``__init__`` (every commitment
        makes one)."""
        commit = Commit(
            Address(self.trader),
            self.batch_id,
            self.market,
            hexb(self.commitment),
            self.nonce,
            self.margin_lock,
            self.bond,
            self.expiry_ms,
        )
        return frozen_instance(SignedCommit, {"commit": commit, "signature": hexb(self.signature)})

    def log_json(self) -> str:
        """``self.model_dump_json()``, the form the venue logs, written directly: every
        field is an integer, ``0x``-hex the schema checked, or null, and a market name
        of printable ASCII without a quote or backslash needs no escaping; any other
        market name goes through ``model_dump_json`` (``tests/venue/test_bulk_cpu.py``
        checks both give the same bytes). Every accepted commitment is logged."""
        market = self.market
        if not (market.isascii() and market.isprintable()) or '"' in market or "\\" in market:
            return self.model_dump_json()
        ciphertext = "null" if self.ciphertext is None else f'"{self.ciphertext}"'
        ciphertext_signature = (
            "null" if self.ciphertext_signature is None else f'"{self.ciphertext_signature}"'
        )
        return (
            f'{{"trader":"{self.trader}","batch_id":{self.batch_id},"market":"{market}",'
            f'"commitment":"{self.commitment}","nonce":{self.nonce},'
            f'"margin_lock":{self.margin_lock},"bond":{self.bond},"expiry_ms":{self.expiry_ms},'
            f'"signature":"{self.signature}","ciphertext":{ciphertext},'
            f'"ciphertext_signature":{ciphertext_signature}}}'
        )


class OrderIn(_In):
    """An order as revealed (its canonical encoding is what the commitment hashes)."""

    market: MarketId
    side: Literal["buy", "sell"]
    limit_price: Ticks | None
    quantity: Lots
    time_in_force: Literal["ioc", "gtc"] = "ioc"
    reduce_only: StrictBool = False
    client_id: U64 = 0

    def to_domain(self) -> Order:
        """Raises InvalidOrder (e.g. a GTC market order)."""
        return Order(
            self.market,
            Side(self.side),
            self.limit_price,
            self.quantity,
            TimeInForce(self.time_in_force),
            self.reduce_only,
            self.client_id,
        )


class RevealIn(_In):
    """A signed reveal (EIP-712 ``Reveal``) of a committed order and its salt."""

    model_config = _example(
        {
            "trader": _TRADER,
            "commitment": _H32,
            "order": {
                "market": "BTC-PERP",
                "side": "buy",
                "limit_price": 650_000,
                "quantity": 10,
                "time_in_force": "ioc",
            },
            "salt": _H32,
            "nonce": 8,
            "expiry_ms": 1_900_000_000_000,
            "signature": _SIG,
        }
    )

    trader: AddressStr
    commitment: Hex32
    order: OrderIn
    salt: Hex32
    nonce: U64
    expiry_ms: U64 = (1 << 64) - 1
    signature: Sig

    def message(self, order: Order) -> dict[str, Any]:
        """The EIP-712 ``Reveal`` this body's signature is over (``order``: its order)."""
        return reveal_message(
            self.trader, hexb(self.commitment), order, hexb(self.salt), self.nonce, self.expiry_ms
        )


class RfqIn(_In):
    """A signed request for quotes on a block (EIP-712 ``Rfq``)."""

    model_config = _example(
        {
            "requester": _TRADER,
            "market": "BTC-PERP",
            "size": 20_000,
            "side": "hidden",
            "window_ms": 2_000,
            "nonce": 9,
            "expiry_ms": 1_900_000_000_000,
            "signature": _SIG,
        }
    )

    requester: AddressStr
    market: MarketId
    size: Lots
    side: Literal["hidden", "buy", "sell"] = "hidden"
    window_ms: U64
    nonce: U64
    expiry_ms: U64 = (1 << 64) - 1
    signature: Sig

    def message(self) -> dict[str, Any]:
        return {
            "requester": self.requester,
            "market": self.market,
            "size": self.size,
            "side": self.side,
            "windowMs": self.window_ms,
            "nonce": self.nonce,
            "expiry": self.expiry_ms,
        }


class QuoteCommitIn(_In):
    """A maker's sealed quote commitment (EIP-712 ``QuoteCommit``)."""

    model_config = _example(
        {
            "maker": _TRADER,
            "rfq_id": _H32,
            "commitment": _H32,
            "nonce": 10,
            "expiry_ms": 1_900_000_000_000,
            "signature": _SIG,
        }
    )

    maker: AddressStr
    rfq_id: Hex32
    commitment: Hex32
    nonce: U64
    expiry_ms: U64 = (1 << 64) - 1
    signature: Sig

    def message(self) -> dict[str, Any]:
        return {
            "maker": self.maker,
            "rfqId": hexb(self.rfq_id),
            "commitment": hexb(self.commitment),
            "nonce": self.nonce,
            "expiry": self.expiry_ms,
        }


class QuoteRevealIn(_In):
    """A maker's quote reveal (EIP-712 ``QuoteReveal``); bid/ask 0 = no price."""

    model_config = _example(
        {
            "maker": _TRADER,
            "rfq_id": _H32,
            "commitment": _H32,
            "bid": 649_900,
            "ask": 650_200,
            "salt": _H32,
            "nonce": 11,
            "expiry_ms": 1_900_000_000_000,
            "signature": _SIG,
        }
    )

    maker: AddressStr
    rfq_id: Hex32
    commitment: Hex32
    bid: QuoteTicks
    ask: QuoteTicks
    salt: Hex32
    nonce: U64
    expiry_ms: U64 = (1 << 64) - 1
    signature: Sig

    def message(self) -> dict[str, Any]:
        return {
            "maker": self.maker,
            "rfqId": hexb(self.rfq_id),
            "commitment": hexb(self.commitment),
            "bid": self.bid,
            "ask": self.ask,
            "salt": hexb(self.salt),
            "nonce": self.nonce,
            "expiry": self.expiry_ms,
        }


class AcceptIn(_In):
    """The requester's acceptance of the best revealed quote (EIP-712 ``Accept``)."""

    model_config = _example(
        {
            "requester": _TRADER,
            "rfq_id": _H32,
            "commitment": _H32,
            "side": "buy",
            "nonce": 12,
            "expiry_ms": 1_900_000_000_000,
            "signature": _SIG,
        }
    )

    requester: AddressStr
    rfq_id: Hex32
    commitment: Hex32
    side: Literal["buy", "sell"]
    nonce: U64
    expiry_ms: U64 = (1 << 64) - 1
    signature: Sig

    def message(self) -> dict[str, Any]:
        return {
            "requester": self.requester,
            "rfqId": hexb(self.rfq_id),
            "commitment": hexb(self.commitment),
            "side": self.side,
            "nonce": self.nonce,
            "expiry": self.expiry_ms,
        }


class DepositIn(_In):
    """A signed deposit of collateral (EIP-712 ``Deposit``; embedded mode, no L1)."""

    model_config = _example(
        {
            "trader": _TRADER,
            "amount": 50_000_000_000,
            "nonce": 1,
            "expiry_ms": 1_900_000_000_000,
            "signature": _SIG,
        }
    )

    trader: AddressStr
    amount: Amount
    nonce: U64
    expiry_ms: U64 = (1 << 64) - 1
    signature: Sig

    def message(self) -> dict[str, Any]:
        return {
            "trader": self.trader,
            "amount": self.amount,
            "nonce": self.nonce,
            "expiry": self.expiry_ms,
        }


class WithdrawIn(DepositIn):
    """A signed withdrawal of free collateral (EIP-712 ``Withdraw``)."""


class ResumeIn(_In):
    """The operator's signed order to resume the venue halted after ``batch_id``
    failed (EIP-712 ``Resume``; docs/operator.md)."""

    model_config = _example(
        {
            "operator": _TRADER,
            "batch_id": 42,
            "nonce": 1_800_000_000_000,
            "expiry_ms": 1_800_000_060_000,
            "signature": _SIG,
        }
    )

    operator: AddressStr
    batch_id: U64
    nonce: U64
    expiry_ms: U64
    signature: Sig

    def message(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "batchId": self.batch_id,
            "nonce": self.nonce,
            "expiry": self.expiry_ms,
        }


class ProofHaltIn(_In):
    """The venue's own logged event: batch ``batch_id`` could not be proved and the
    venue halted (never a request: no route takes it; replay applies it)."""

    batch_id: U64
    reason: str = Field(max_length=2_000)


class L1RequestIn(_In):
    """The venue's own logged event: L1 request ``index`` of the exchange contract's queue
    (a ``Deposited`` or ``ForcedWithdrawalRequested`` event), credited with the next batch
    (never a request: no route takes it; replay applies it, in queue order, once)."""

    index: U64
    kind: Literal["deposit", "forced_withdrawal"]
    account: AddressStr
    subaccount: Annotated[StrictInt, Field(ge=0, le=(1 << 16) - 1)]
    amount: Amount


class OracleReportIn(_In):
    """A price report signed by a configured oracle source (``sealbatch.settlement.oracle``)."""

    model_config = _example(
        {
            "market": "BTC-PERP",
            "price": 650_000,
            "timestamp_ms": 1_800_000_000_000,
            "source": _TRADER,
            "signature": _SIG,
        }
    )

    market: MarketId
    price: Ticks
    timestamp_ms: Annotated[StrictInt, Field(ge=1, le=(1 << 63) - 1)]
    source: AddressStr
    signature: Sig

    def to_domain(self) -> SignedReport:
        """Raises OracleError for a malformed report."""
        return SignedReport.from_dict(self.model_dump())


class ReceiptOut(BaseModel):
    """The operator's signed receipt: proof the commitment was taken in time."""

    batch_id: int
    sequence: int
    commitment: str
    received_at_ms: int
    operator: str
    operator_signature: str


class Problem(BaseModel):
    """An RFC 9457 problem document; ``code`` is stable, ``detail`` is for people."""

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str


class BulkItem(BaseModel):
    """One commitment's outcome in a bulk request: a receipt or a problem."""

    ok: bool
    receipt: ReceiptOut | None = None
    problem: Problem | None = None


class DealingIn(_In):
    """A keyper's dealing for a future batch (EIP-712 ``KeyperDealing``; docs/threshold.md)."""

    keyper: AddressStr
    batch_id: U64
    dealer: Annotated[StrictInt, Field(ge=1, le=255)]
    commitments: Annotated[list[Point], Field(min_length=1, max_length=255)]
    shares: Annotated[list[ShareCiphertext], Field(min_length=1, max_length=255)]
    signature: Sig

    def message(self) -> dict[str, Any]:
        from sealbatch.venue.committee import dealing_hash

        return {
            "keyper": self.keyper,
            "batchId": self.batch_id,
            "dealer": self.dealer,
            "dealingHash": dealing_hash(
                self.batch_id,
                self.dealer,
                [hexb(c) for c in self.commitments],
                [hexb(s) for s in self.shares],
            ),
        }


class ComplaintIn(_In):
    """Keyper ``index``'s complaint against dealer ``dealer``'s share to it for a batch
    (EIP-712 ``KeyperComplaint``; docs/threshold.md, "Complaints")."""

    keyper: AddressStr
    batch_id: U64
    index: Annotated[StrictInt, Field(ge=1, le=255)]
    dealer: Annotated[StrictInt, Field(ge=1, le=255)]
    signature: Sig

    def message(self) -> dict[str, Any]:
        return {
            "keyper": self.keyper,
            "batchId": self.batch_id,
            "index": self.index,
            "dealer": self.dealer,
        }


class AnswerIn(_In):
    """Dealer ``dealer``'s answer to keyper ``index``'s complaint: the share ``f(index)``
    in the clear (EIP-712 ``ComplaintAnswer``)."""

    keyper: AddressStr
    batch_id: U64
    dealer: Annotated[StrictInt, Field(ge=1, le=255)]
    index: Annotated[StrictInt, Field(ge=1, le=255)]
    share: Hex32
    signature: Sig

    def message(self) -> dict[str, Any]:
        return {
            "keyper": self.keyper,
            "batchId": self.batch_id,
            "dealer": self.dealer,
            "index": self.index,
            "share": hexb(self.share),
        }


class KeyShareIn(_In):
    """A keyper's share of a sealed batch's secret (EIP-712 ``KeyShare``)."""

    keyper: AddressStr
    batch_id: U64
    index: Annotated[StrictInt, Field(ge=1, le=255)]
    share: Hex32
    signature: Sig

    def message(self) -> dict[str, Any]:
        return {
            "keyper": self.keyper,
            "batchId": self.batch_id,
            "index": self.index,
            "share": hexb(self.share),
        }
