"""RFQ for blocks: sealed quotes in a window, no last look (pure logic).

A requester asks for a block of at least the market's ``block_min_lots``,
optionally hiding the side, with a window of length W opened at ``t0``; the
venue holds a request bond from its free collateral while the RFQ is open
(released when it is accepted or its window ends), so filling the venue's cap
on open RFQs ties up that bond per RFQ:

- quote phase ``[t0, t0 + W/2)``: makers post sealed quote commitments
  ``keccak(abi.encode(QUOTE_TAG, rfqId, maker, bid, ask, salt))`` (two-way:
  bid and ask in ticks, 0 for no price on that side), at most one per maker
  per RFQ, each with a quote bond reserved from the maker's free collateral;
  a quote hash is taken once, ever;
- reveal phase ``[t0 + W/2, t0 + 3W/4)``: makers reveal; a revealed quote is
  firm until the window closes — there is no way to withdraw it; a quote not
  revealed forfeits its bond to the insurance fund (so several sealed quotes
  and a free choice of which to reveal — a last look — are impossible), and a
  reveal whose maker cannot carry the block it quotes is refused, so a quote
  cannot be abandoned for free by making it uncarried while sealed;
- accept phase ``[t0 + 3W/4, t0 + W)``: the requester accepts the best
  revealed quote for its side (lowest ask to buy, highest bid to sell; ties
  go to the earlier commitment).

The accepted block settles in the batch collecting commitments at accept
time, at the quote price, which must lie within a band around that batch's
clearing price (checked by the venue when the batch clears). Every message
is EIP-712 signed with a nonce and an expiry. Window boundaries round down
to whole milliseconds.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from sealbatch.auction.bounds import MAX_LOTS, MAX_PRICE, bound_message, within
from sealbatch.auction.commit_reveal import NonceRegistry
from sealbatch.auction.errors import (
    InvalidOrder,
    OutsideWindow,
    RevealMismatch,
    SizeOutOfRange,
    WrongMarket,
)
from sealbatch.auction.markets import Market
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import (
    Address,
    Eip712Domain,
    StructType,
    signed_typed_data,
    signing_digest,
)
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.oracle import abi_encode
from sealbatch.venue.auth import check_fresh, verify_signed
from sealbatch.venue.errors import BadRequest, Conflict, NotFound

__all__ = [
    "ACCEPT_TYPE",
    "OPEN_PAGE_MAX",
    "QUOTE_COMMIT_TYPE",
    "QUOTE_REVEAL_TYPE",
    "QUOTE_TAG",
    "RFQ_TYPE",
    "Acceptance",
    "BlockSide",
    "Quote",
    "Rfq",
    "RfqBook",
    "compute_quote_commitment",
]


#: The most open RFQs one answer lists (a page of ``GET /v1/rfqs``, the ``rfqs``
#: stream's snapshot): opening an RFQ only holds a refundable request bond, so a
#: flood of them must not make one answer unbounded (docs/api.md).
OPEN_PAGE_MAX = 500

#: keccak("sealbatch.Quote.v1"): type tag of a sealed quote's preimage.
QUOTE_TAG = keccak256(b"sealbatch.Quote.v1")

RFQ_TYPE = StructType(
    "Rfq",
    (
        ("requester", "address"),
        ("market", "string"),
        ("size", "uint64"),
        ("side", "string"),
        ("windowMs", "uint64"),
        ("nonce", "uint64"),
        ("expiry", "uint64"),
    ),
)
QUOTE_COMMIT_TYPE = StructType(
    "QuoteCommit",
    (
        ("maker", "address"),
        ("rfqId", "bytes32"),
        ("commitment", "bytes32"),
        ("nonce", "uint64"),
        ("expiry", "uint64"),
    ),
)
QUOTE_REVEAL_TYPE = StructType(
    "QuoteReveal",
    (
        ("maker", "address"),
        ("rfqId", "bytes32"),
        ("commitment", "bytes32"),
        ("bid", "uint64"),
        ("ask", "uint64"),
        ("salt", "bytes32"),
        ("nonce", "uint64"),
        ("expiry", "uint64"),
    ),
)
ACCEPT_TYPE = StructType(
    "Accept",
    (
        ("requester", "address"),
        ("rfqId", "bytes32"),
        ("commitment", "bytes32"),
        ("side", "string"),
        ("nonce", "uint64"),
        ("expiry", "uint64"),
    ),
)


class BlockSide(IntEnum):
    """The requester's side: HIDDEN until accept, or disclosed up front."""

    HIDDEN = 0
    BUY = 1
    SELL = 2

    @classmethod
    def named(cls, name: object, allowed: tuple[str, ...]) -> BlockSide:
        """The side signed as ``name`` (``"hidden"``, ``"buy"`` or ``"sell"``).

        Raises:
            BadRequest: ``name`` is not one of ``allowed``.
        """
        if not isinstance(name, str) or name not in allowed:
            raise BadRequest(f"side: expected one of {', '.join(allowed)}, got {name!r}")
        return cls[name.upper()]


def compute_quote_commitment(rfq_id: bytes, maker: str, bid: int, ask: int, salt: bytes) -> bytes:
    """``keccak(abi.encode(QUOTE_TAG, rfqId, maker, bid, ask, salt))``."""
    return keccak256(
        abi_encode(
            ["bytes32", "bytes32", "address", "uint64", "uint64", "bytes32"],
            [QUOTE_TAG, rfq_id, maker, bid, ask, salt],
        )
    )


@dataclass
class Quote:
    """A maker's sealed quote; ``bid``/``ask`` are None until revealed."""

    commitment: bytes
    maker: Address
    sequence: int
    committed_ms: int
    bid: int | None = None
    ask: int | None = None
    revealed_ms: int | None = None
    bond: int = 0
    #: The batch whose settlement forfeits the bond if the quote is not revealed
    #: (the first one clearing at or after the RFQ's reveal close).
    bond_batch: int | None = None
    #: The maker's signed ``QuoteCommit`` (EIP-712 typed data plus ``signature``),
    #: published with the forfeit if the quote is never revealed.
    signed: dict[str, Any] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "commitment": "0x" + self.commitment.hex(),
            "maker": self.maker,
            "sequence": self.sequence,
            "revealed": self.revealed_ms is not None,
            "bond": self.bond,
            "bid": self.bid or None,
            "ask": self.ask or None,
        }


@dataclass(frozen=True)
class Acceptance:
    """An accepted block: ``buyer`` buys ``quantity`` lots from ``seller`` at ``price``."""

    rfq_id: bytes
    quote: bytes
    market: str
    buyer: Address
    seller: Address
    price: int
    quantity: int
    accepted_ms: int
    batch_id: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "rfq_id": "0x" + self.rfq_id.hex(),
            "quote": "0x" + self.quote.hex(),
            "market": self.market,
            "buyer": self.buyer,
            "seller": self.seller,
            "price": self.price,
            "quantity": self.quantity,
            "accepted_ms": self.accepted_ms,
            "batch_id": self.batch_id,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Acceptance:
        """The acceptance :meth:`to_dict` wrote (stored records and final views)."""
        return cls(
            bytes.fromhex(d["rfq_id"].removeprefix("0x")),
            bytes.fromhex(d["quote"].removeprefix("0x")),
            d["market"],
            Address(d["buyer"]),
            Address(d["seller"]),
            d["price"],
            d["quantity"],
            d["accepted_ms"],
            d["batch_id"],
        )


@dataclass
class Rfq:
    """One request for quotes and what happened to it."""

    rfq_id: bytes
    requester: Address
    market: str
    size: int
    side: BlockSide
    opened_ms: int
    window_ms: int
    quotes: dict[bytes, Quote] = field(default_factory=dict)
    accepted: Acceptance | None = None

    @property
    def quote_close_ms(self) -> int:
        return self.opened_ms + self.window_ms // 2

    @property
    def reveal_close_ms(self) -> int:
        return self.opened_ms + (3 * self.window_ms) // 4

    @property
    def close_ms(self) -> int:
        return self.opened_ms + self.window_ms

    def phase(self, now_ms: int) -> str:
        if self.accepted is not None:
            return "accepted"
        if now_ms < self.quote_close_ms:
            return "quoting"
        if now_ms < self.reveal_close_ms:
            return "revealing"
        if now_ms < self.close_ms:
            return "accepting"
        return "expired"

    def best_quote(
        self, side: BlockSide, eligible: Callable[[Quote], bool] | None = None
    ) -> Quote | None:
        """Lowest ask when the requester buys, highest bid when it sells; ties: earlier.

        Args:
            side: the requester's side.
            eligible: when given, quotes it refuses are passed over (a maker who
                cannot carry the block must not block the RFQ).
        """
        priced = []
        for q in self.quotes.values():
            price = q.ask if side is BlockSide.BUY else q.bid
            if q.revealed_ms is not None and price:
                priced.append((price if side is BlockSide.BUY else -price, q.sequence, q))
        for _, _, q in sorted(priced, key=lambda t: (t[0], t[1])):
            if eligible is None or eligible(q):
                return q
        return None

    @classmethod
    def from_final_view(cls, view: Mapping[str, Any]) -> Rfq:
        """The RFQ of a final view (:meth:`final_view`) as far as refusing a write to it
        needs: its requester, window and acceptance, without its quotes (every
        write to a closed RFQ is refused before its quotes are read)."""
        accepted = view["accepted"]
        return cls(
            bytes.fromhex(view["rfq_id"][2:]),
            Address(view["requester"]),
            view["market"],
            view["size"],
            BlockSide[view["side"].upper()],
            view["opened_ms"],
            view["close_ms"] - view["opened_ms"],
            accepted=None if accepted is None else Acceptance.from_dict(accepted),
        )

    def final_view(self) -> dict[str, Any]:
        """The public view once the window has closed: the same at any later time (the
        phase is ``accepted`` or ``expired``, quotes and prices are shown), so it is
        what the database keeps of an RFQ that left memory."""
        return self.to_dict(self.close_ms)

    def to_dict(self, now_ms: int, *, reveal_side: bool = False) -> dict[str, Any]:
        """Public view; the side stays hidden until accept unless ``reveal_side``."""
        side = self.side
        if side is BlockSide.HIDDEN and self.accepted is not None:
            side = BlockSide.BUY if self.accepted.buyer == self.requester else BlockSide.SELL
        show_quotes = now_ms >= self.quote_close_ms
        # A revealed price stays sealed until the reveal phase ends: a maker who
        # saw the others' prices could reveal only a quote that wins.
        show_prices = now_ms >= self.reveal_close_ms or self.accepted is not None
        return {
            "rfq_id": "0x" + self.rfq_id.hex(),
            "requester": self.requester,
            "market": self.market,
            "size": self.size,
            "side": side.name.lower() if (reveal_side or self.accepted or self.side) else "hidden",
            "opened_ms": self.opened_ms,
            "quote_close_ms": self.quote_close_ms,
            "reveal_close_ms": self.reveal_close_ms,
            "close_ms": self.close_ms,
            "phase": self.phase(now_ms),
            "quotes": [
                q.to_dict() if show_prices else {**q.to_dict(), "bid": None, "ask": None}
                for q in self.quotes.values()
            ]
            if show_quotes
            else [],
            "quote_count": len(self.quotes),
            "accepted": self.accepted.to_dict() if self.accepted else None,
        }


class RfqBook:
    """Every RFQ of the venue: requests, sealed quotes, reveals and accepts.

    Args:
        domain: EIP-712 domain of every RFQ message.
        markets: tradable markets (block minimum per market).
        nonces: the venue-wide nonce registry (shared with commitments).
        min_window_ms, max_window_ms: allowed RFQ window lengths.
        max_open_per_requester: most RFQs one requester may have open at once (0:
            no cap); opening one only holds a refundable bond, so a flood must not
            grow memory.
        max_open: most RFQs open at once across the venue (0: no cap).

    Closed RFQs leave memory by :meth:`forget` (oldest first); the operator keeps
    their final view in the database.
    """

    #: RFQs dropped from memory by :meth:`forget` so far (a class default: books
    #: pickled before it existed have dropped none).
    forgotten = 0
    #: Closed RFQs no longer in memory that the write at hand names, read back from
    #: the database by the operator for that write only (so it is refused as it
    #: was while they were in memory).
    recalled: Mapping[bytes, Rfq] = MappingProxyType({})
    #: Quote hashes taken in RFQs no longer in memory that the write at hand names,
    #: found in the database by the operator for that write only.
    taken_elsewhere: frozenset[bytes] = frozenset()

    def __init__(
        self,
        domain: Eip712Domain,
        markets: dict[str, Market],
        nonces: NonceRegistry,
        min_window_ms: int,
        max_window_ms: int,
        max_open_per_requester: int = 0,
        max_open: int = 0,
    ) -> None:
        self.domain = domain
        self.markets = markets
        self.nonces = nonces
        self.min_window_ms = min_window_ms
        self.max_window_ms = max_window_ms
        self.max_open_per_requester = max_open_per_requester
        self.max_open = max_open
        #: The RFQs in memory, in the order they opened (closed ones leave it oldest
        #: first: :meth:`forget`).
        self.rfqs: dict[bytes, Rfq] = {}
        #: Every quote hash taken in an RFQ in memory (those of RFQs that left it are
        #: in the database: :attr:`taken_elsewhere`).
        self.quote_hashes: set[bytes] = set()
        self._sequence = 0
        self._track_open()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Load a pickled book; one pickled before open RFQs were counted counts its
        RFQs not accepted (those whose window has closed leave the count at the next
        request)."""
        self.__dict__.update(state)
        if "_closing" not in state:
            self.max_open_per_requester = 0
            self.max_open = 0
            self._track_open()

    def _track_open(self) -> None:
        """Count the RFQs not accepted as open, by requester (:meth:`_expire` then
        drops those whose window has closed)."""
        #: (close_ms, order opened, rfq) of every RFQ counted open: a heap.
        self._closing: list[tuple[int, int, Rfq]] = []
        #: requester -> how many of its RFQs are counted open
        self.open_by_requester: dict[Address, int] = {}
        #: ids of the RFQs counted open (each leaves the count once)
        self._counted: set[bytes] = set()
        self.open_count = 0
        self._opened = 0
        for rfq in self.rfqs.values():
            if rfq.accepted is None:
                self._count_open(rfq)

    def _count_open(self, rfq: Rfq) -> None:
        self._opened += 1
        heapq.heappush(self._closing, (rfq.close_ms, self._opened, rfq))
        self._counted.add(rfq.rfq_id)
        self.open_by_requester[rfq.requester] = self.open_by_requester.get(rfq.requester, 0) + 1
        self.open_count += 1

    def _uncount(self, rfq: Rfq) -> None:
        if rfq.rfq_id not in self._counted:
            return
        self._counted.remove(rfq.rfq_id)
        left = self.open_by_requester[rfq.requester] - 1
        if left:
            self.open_by_requester[rfq.requester] = left
        else:
            del self.open_by_requester[rfq.requester]
        self.open_count -= 1

    def _expire(self, now_ms: int) -> None:
        """Stop counting the RFQs whose window closed by ``now_ms`` (accepted ones
        stopped counting when accepted)."""
        closing = self._closing
        while closing and closing[0][0] <= now_ms:
            self._uncount(heapq.heappop(closing)[2])

    def _check_open_caps(self, requester: Address, now_ms: int) -> None:
        """Refuse one more open RFQ beyond the requester's cap or the venue's.

        Raises:
            Conflict (``too_many_open_rfqs``): a cap is reached.
        """
        mine = self.open_by_requester.get(requester, 0)
        cap = self.max_open_per_requester
        if cap and mine >= cap:
            raise Conflict(
                f"rfq: expected at most {cap} open RFQs per requester, got a request for "
                f"another one from {requester}, which has {mine} open; one must close "
                "(accepted, or its window ended) first",
                "too_many_open_rfqs",
            )
        if self.max_open and self.open_count >= self.max_open:
            raise Conflict(
                f"rfq: expected at most {self.max_open} open RFQs on the venue, got a request "
                f"for another one with {self.open_count} open; retry once one closes",
                "too_many_open_rfqs",
            )

    def forget(self, done: Callable[[Rfq], bool]) -> list[Rfq]:
        """Drop the oldest RFQs from memory while ``done`` holds for each; returns them.

        Only the oldest go, in the order they opened, so every RFQ still in memory
        opened after every one that left (what :meth:`open_rfqs` relies on for an
        ``after`` no longer in memory). ``done`` must hold only for closed RFQs
        nothing will touch again (their batches cleared).
        """
        gone: list[Rfq] = []
        for rfq in self.rfqs.values():
            if not done(rfq):
                break
            gone.append(rfq)
        for rfq in gone:
            del self.rfqs[rfq.rfq_id]
            self.quote_hashes.difference_update(rfq.quotes)
        if gone:
            self.forgotten += len(gone)
            self._expire(max(r.close_ms for r in gone))
        return gone

    def get(self, rfq_id: bytes) -> Rfq:
        """The RFQ ``rfq_id`` in memory (or recalled for the write at hand).

        Raises:
            NotFound (``unknown_rfq``): no such RFQ.
        """
        rfq = self.rfqs.get(rfq_id) or self.recalled.get(rfq_id)
        if rfq is None:
            raise NotFound(f"rfq 0x{rfq_id.hex()} does not exist", "unknown_rfq")
        return rfq

    def open_rfqs(
        self, now_ms: int, after: bytes | None = None, limit: int | None = None
    ) -> list[Rfq]:
        """The RFQs open at ``now_ms`` in the order they opened: those opened after
        the RFQ ``after`` (open or not) when given, at most ``limit`` when given.

        Raises:
            NotFound (``unknown_rfq``): ``after`` names no RFQ in memory (the
            operator looks for one that left it in the database: every RFQ in
            memory opened after it).
        """
        rfqs = iter(self.rfqs.values())
        if after is not None:
            if after not in self.rfqs:
                raise NotFound(
                    f"after: expected the rfq_id of an RFQ, got 0x{after.hex()}", "unknown_rfq"
                )
            for r in rfqs:  # the dict keeps the order the RFQs opened in
                if r.rfq_id == after:
                    break
        out: list[Rfq] = []
        for r in rfqs:
            if limit is not None and len(out) == limit:
                break
            if r.accepted is None and now_ms < r.close_ms:
                out.append(r)
        return out

    def request(
        self,
        values: dict[str, Any],
        signature: bytes,
        now_ms: int,
        *,
        capped: bool = True,
        reserve: Callable[[Address, bytes, int], None] | None = None,
    ) -> Rfq:
        """Open an RFQ from a signed ``Rfq`` message; its id is the message digest.

        ``capped=False`` only for the replay of the venue's own log: an RFQ taken
        once stays taken under caps lowered since. ``reserve`` holds the request
        bond from the requester's collateral, called with the requester, the RFQ id
        and its close time once every other check passed (raises to refuse it).

        Raises:
            BadSignature, CommitmentExpired, NonceReused, WrongMarket,
            SizeOutOfRange (undersized block), Conflict (``bad_window``;
            ``too_many_open_rfqs``: the requester's or the venue's cap of open
            RFQs is reached), or whatever ``reserve`` raises (InsufficientBond).
        """
        requester = verify_signed(self.domain, RFQ_TYPE, values, "requester", signature)
        check_fresh(self.nonces, requester, values["nonce"], values["expiry"], now_ms)
        market = self.markets.get(values["market"])
        if market is None:
            raise WrongMarket(
                f"market: expected one of {sorted(self.markets)}, got {values['market']!r}"
            )
        largest = min(market.max_order_lots * 100, MAX_LOTS)  # a block is one order per side
        if not market.block_min_lots <= values["size"] <= largest:
            raise SizeOutOfRange(
                f"size: expected a block of {market.block_min_lots} to {largest} lots in "
                f"{market.market_id} (below 2^22), got {values['size']}"
            )
        side = BlockSide.named(values["side"], ("hidden", "buy", "sell"))
        if not self.min_window_ms <= values["windowMs"] <= self.max_window_ms:
            raise Conflict(
                f"window_ms: expected {self.min_window_ms} to {self.max_window_ms}, got "
                f"{values['windowMs']}",
                "bad_window",
            )
        self._expire(now_ms)  # (replayed or not: the same count after)
        if capped:
            self._check_open_caps(requester, now_ms)
        rfq_id = signing_digest(self.domain, RFQ_TYPE, values)
        if reserve is not None:
            reserve(requester, rfq_id, now_ms + values["windowMs"])
        self.nonces.use(requester, values["nonce"], values["expiry"])
        rfq = Rfq(
            rfq_id,
            requester,
            market.market_id,
            values["size"],
            side,
            now_ms,
            values["windowMs"],
        )
        self.rfqs[rfq_id] = rfq
        self._count_open(rfq)
        return rfq

    def quote_commit(
        self,
        values: dict[str, Any],
        signature: bytes,
        now_ms: int,
        reserve: Callable[[Address, Rfq], tuple[int, int]] | None = None,
    ) -> Quote:
        """Take a sealed quote during the quote phase.

        Args:
            values, signature: the signed ``QuoteCommit``.
            now_ms: time of acceptance.
            reserve: reserves the quote's bond from the maker's free collateral
                (raises to refuse it) and returns ``(bond, batch)``: the amount
                and the batch whose settlement forfeits it if unrevealed.

        Raises:
            BadSignature, CommitmentExpired, NonceReused, NotFound,
            OutsideWindow, Conflict (``self_quote``, ``commitment_taken``: the
            hash was taken before, in any RFQ; ``one_quote_per_maker``), or
            whatever ``reserve`` raises (InsufficientBond).
        """
        maker = verify_signed(self.domain, QUOTE_COMMIT_TYPE, values, "maker", signature)
        check_fresh(self.nonces, maker, values["nonce"], values["expiry"], now_ms)
        rfq = self.get(values["rfqId"])
        if not rfq.opened_ms <= now_ms < rfq.quote_close_ms:
            raise OutsideWindow(
                f"quote: expected a time in [{rfq.opened_ms}, {rfq.quote_close_ms}), got {now_ms}"
            )
        if maker == rfq.requester:
            raise Conflict("maker: expected someone other than the requester", "self_quote")
        taken = self.quote_hashes, self.taken_elsewhere
        if any(values["commitment"] in hashes for hashes in taken):
            raise Conflict(
                f"commitment 0x{values['commitment'].hex()}: expected a quote hash never taken "
                "before, got one already taken",
                "commitment_taken",
            )
        mine = [q for q in rfq.quotes.values() if q.maker == maker]
        if mine:
            raise Conflict(
                f"quote: expected one sealed quote per maker per RFQ, got a second one from "
                f"{maker} (its first is 0x{mine[0].commitment.hex()})",
                "one_quote_per_maker",
            )
        bond, batch = reserve(maker, rfq) if reserve is not None else (0, None)
        self.nonces.use(maker, values["nonce"], values["expiry"])
        self._sequence += 1
        quote = Quote(
            values["commitment"],
            maker,
            self._sequence,
            now_ms,
            bond=bond,
            bond_batch=batch,
            signed=signed_typed_data(self.domain, QUOTE_COMMIT_TYPE, values, signature),
        )
        rfq.quotes[quote.commitment] = quote
        self.quote_hashes.add(quote.commitment)
        return quote

    def quote_reveal(
        self,
        values: dict[str, Any],
        signature: bytes,
        now_ms: int,
        carry: Callable[[Rfq, Address, int, int], None] | None = None,
    ) -> Quote:
        """Reveal a sealed quote during the reveal phase; it is firm from then on.

        Args:
            carry: when given, called with the RFQ, the maker, the bid and the ask
                of a reveal otherwise taken; raises to refuse it (the maker cannot
                carry the block it quotes: the quote stays sealed, so its bond
                forfeits unless a carried reveal comes before the phase ends).

        Raises:
            BadSignature, CommitmentExpired, NonceReused, NotFound,
            OutsideWindow, Conflict (not the maker's, already revealed,
            mismatch, no price), or whatever ``carry`` raises.
        """
        maker = verify_signed(self.domain, QUOTE_REVEAL_TYPE, values, "maker", signature)
        check_fresh(self.nonces, maker, values["nonce"], values["expiry"], now_ms)
        rfq = self.get(values["rfqId"])
        if not rfq.quote_close_ms <= now_ms < rfq.reveal_close_ms:
            raise OutsideWindow(
                f"quote reveal: expected a time in [{rfq.quote_close_ms}, {rfq.reveal_close_ms}), "
                f"got {now_ms}"
            )
        quote = rfq.quotes.get(values["commitment"])
        if quote is None or quote.maker != maker:
            raise NotFound(
                f"quote 0x{values['commitment'].hex()} by {maker} is not in this RFQ",
                "unknown_commitment",
            )
        if quote.revealed_ms is not None:
            raise Conflict("quote was already revealed", "duplicate_reveal")
        bid, ask = values["bid"], values["ask"]
        expected = compute_quote_commitment(rfq.rfq_id, maker, bid, ask, values["salt"])
        if expected != quote.commitment:
            raise RevealMismatch(
                f"reveal: expected bid, ask and salt to hash to 0x{quote.commitment.hex()}, got "
                f"0x{expected.hex()}"
            )
        if not bid and not ask:
            raise Conflict("quote: expected a bid or an ask, got neither", "empty_quote")
        for name, price in (("bid", bid), ("ask", ask)):
            if not within(price, 0, MAX_PRICE):
                raise InvalidOrder(bound_message(name, price, 0, MAX_PRICE, "ticks"))
        if bid and ask and bid >= ask:
            raise Conflict(f"quote: expected bid < ask, got {bid} >= {ask}", "crossed_quote")
        if (rfq.side is BlockSide.BUY and not ask) or (rfq.side is BlockSide.SELL and not bid):
            raise Conflict(
                f"quote: expected a price for the {rfq.side.name.lower()} side", "empty_quote"
            )
        if carry is not None:
            carry(rfq, maker, bid, ask)
        self.nonces.use(maker, values["nonce"], values["expiry"])
        quote.bid, quote.ask, quote.revealed_ms = bid or None, ask or None, now_ms
        return quote

    def accept(
        self,
        values: dict[str, Any],
        signature: bytes,
        now_ms: int,
        batch_id: int,
        check: Callable[[Acceptance], None] | None = None,
        maker_fits: Callable[[Address, Order], bool] | None = None,
    ) -> Acceptance:
        """Accept the best revealed quote during the accept phase.

        Raises:
            BadSignature, CommitmentExpired, NonceReused, NotFound,
            OutsideWindow, Conflict (not the requester, side mismatch, not
            the best quote, already accepted), or whatever ``check`` raises
            (the margin check of both sides). With ``maker_fits`` (whether a
            maker can carry its side of the block), the best quote is the best
            among the named one and those whose makers fit.
        """
        requester = verify_signed(self.domain, ACCEPT_TYPE, values, "requester", signature)
        check_fresh(self.nonces, requester, values["nonce"], values["expiry"], now_ms)
        rfq = self.get(values["rfqId"])
        if requester != rfq.requester:
            raise Conflict(f"requester: expected {rfq.requester}, got {requester}", "not_requester")
        if rfq.accepted is not None:
            raise Conflict("rfq was already accepted", "already_accepted")
        if not rfq.reveal_close_ms <= now_ms < rfq.close_ms:
            raise OutsideWindow(
                f"accept: expected a time in [{rfq.reveal_close_ms}, {rfq.close_ms}), got {now_ms}"
            )
        side = BlockSide.named(values["side"], ("buy", "sell"))
        if rfq.side is not BlockSide.HIDDEN and side is not rfq.side:
            raise Conflict(
                f"side: expected {rfq.side.name.lower()}, got {side.name.lower()}", "side_mismatch"
            )
        eligible = None
        if maker_fits is not None:
            maker_side = Side.SELL if side is BlockSide.BUY else Side.BUY

            def eligible(q: Quote) -> bool:
                if q.commitment == values["commitment"]:
                    return True  # the named quote: ``check`` judges it below
                price = q.ask if side is BlockSide.BUY else q.bid
                assert price is not None  # best_quote offers priced quotes only
                return maker_fits(q.maker, Order(rfq.market, maker_side, price, rfq.size))

        best = rfq.best_quote(side, eligible)
        if best is None:
            raise Conflict("no revealed quote for this side", "no_quote")
        if values["commitment"] != best.commitment:
            raise Conflict(
                f"quote: expected the best revealed quote 0x{best.commitment.hex()}, got "
                f"0x{values['commitment'].hex()}",
                "not_best_quote",
            )
        price = best.ask if side is BlockSide.BUY else best.bid
        assert price is not None  # best_quote only returns quotes priced on this side
        buyer, seller = (
            (rfq.requester, best.maker) if side is BlockSide.BUY else (best.maker, rfq.requester)
        )
        acceptance = Acceptance(
            rfq.rfq_id,
            best.commitment,
            rfq.market,
            buyer,
            seller,
            price,
            rfq.size,
            now_ms,
            batch_id,
        )
        if check is not None:
            check(acceptance)
        self.nonces.use(requester, values["nonce"], values["expiry"])
        rfq.accepted = acceptance
        self._uncount(rfq)
        return acceptance
