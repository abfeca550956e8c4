"""The Python SDK: keys, signing, commit with automatic reveal, RFQ, streams.

>>> c = VenueClient("http://127.0.0.1:8000", private_key)       # doctest: +SKIP
>>> p = c.submit(Order("BTC-PERP", Side.BUY, 650_000, 10))      # doctest: +SKIP
>>> p.wait(); c.order(p.commitment)["status"]                   # doctest: +SKIP

Every write is signed locally with the trader's key under the venue's
EIP-712 domain (fetched from ``/v1/info``); nonces are unique per client
(microseconds since the epoch, strictly increasing). :meth:`VenueClient.submit`
commits now and reveals by itself once the reveal window opens (a background
thread). :class:`StreamClient` follows ``WS /v1/stream`` and heals gaps: it
fetches missed messages from ``/v1/stream/replay`` and, when they are gone,
reconnects for a fresh snapshot.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from eth_utils import to_checksum_address

from sealbatch.auction.commit_reveal import COMMIT_TYPE, RECEIPT_TYPE, compute_commitment
from sealbatch.auction.commitment import verify_commitment_path
from sealbatch.auction.encrypted_orders import encrypt_order
from sealbatch.auction.orders import Order
from sealbatch.crypto.eip712 import (
    Address,
    Eip712Domain,
    StructType,
    address_of,
    recover_signer,
    sign_digest,
    signing_digest,
)
from sealbatch.crypto.exceptions import SealbatchError
from sealbatch.crypto.keccak import keccak256
from sealbatch.venue.auth import DEPOSIT_TYPE, REVEAL_TYPE, WITHDRAW_TYPE, reveal_message
from sealbatch.venue.committee import ENCRYPTED_ORDER_TYPE
from sealbatch.venue.errors import ApiError, VenueError
from sealbatch.venue.read_auth import ACCOUNT_HEADER, EXPIRY_HEADER, READ_TYPE, SIGNATURE_HEADER
from sealbatch.venue.rfq import (
    ACCEPT_TYPE,
    QUOTE_COMMIT_TYPE,
    QUOTE_REVEAL_TYPE,
    RFQ_TYPE,
    compute_quote_commitment,
)

__all__ = [
    "ApiError",
    "GapTracker",
    "LocalVenue",
    "PendingOrder",
    "SealedQuote",
    "StreamClient",
    "VenueClient",
]


#: How many times an automatic reveal, quote reveal or accept sent before its
#: window opened by the venue's clock (409 ``outside_window``) is tried again.
EARLY_RETRIES = 5
#: How far before the venue's clock (as measured) :meth:`VenueClient.post_oracle_price`
#: dates a report: well inside any ``stale_ms``, and more than the offset's error.
ORACLE_REPORT_LAG_MS = 100
#: The open RFQs a page of ``GET /v1/rfqs`` holds at most, its default (docs/api.md).
RFQ_PAGE = 500

_T = TypeVar("_T")


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


@dataclass
class PendingOrder:
    """A committed order: what the SDK must keep to reveal it."""

    order: Order
    salt: bytes
    nonce: int
    commitment: bytes
    batch_id: int
    receipt: dict[str, Any]
    #: The bond its signed ``Commit`` put at stake (part of its commitment's leaf).
    bond: int = 0
    revealed: dict[str, Any] | None = None
    error: BaseException | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait(self, timeout: float | None = 30.0) -> dict[str, Any]:
        """Wait for the automatic reveal; returns it or raises its error."""
        if not self._done.wait(timeout):
            raise VenueError(f"reveal: expected it within {timeout} s, got no answer")
        if self.error is not None:
            raise self.error
        assert self.revealed is not None  # set together with _done
        return self.revealed


@dataclass(frozen=True)
class SealedQuote:
    """A maker's sealed quote (kept to reveal it)."""

    rfq_id: bytes
    bid: int
    ask: int
    salt: bytes
    commitment: bytes


class VenueClient:
    """A trader's connection to one venue.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000``.
        private_key: 32-byte secp256k1 key (hex or bytes); None for read-only use.
        http: an httpx.Client to use (tests pass a FastAPI TestClient).
        clock: the local clock in ms (default: the system clock). The venue's
            time is this plus the offset seen in ``/v1/info``, measured again
            whenever the venue answers that a send came outside its window.
        sleep: how to wait ``seconds`` (default :func:`time.sleep`; tests pass
            one that moves a manual clock).
    """

    def __init__(
        self,
        base_url: str,
        private_key: bytes | str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        clock: Callable[[], int] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._sleep = sleep or time.sleep
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout)
        self.key = private_key
        self.address: Address | None = address_of(private_key) if private_key else None
        self._info: dict[str, Any] | None = None
        self._offset_ms = 0
        self._nonce = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------ plumbing

    def _req(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Any:
        r = self.http.request(method, path, json=body, params=params or None, headers=headers)
        if r.status_code >= 400:
            try:
                p = r.json()
                raise ApiError(r.status_code, p.get("code", "error"), p.get("detail", r.text))
            except (ValueError, AttributeError):
                raise ApiError(r.status_code, "error", r.text[:200]) from None
        return r.json()

    def info(self, refresh: bool = False) -> dict[str, Any]:
        """Venue info (domain, operator, schedule); also syncs the clock offset.

        The offset is the venue's ``now_ms`` less the midpoint of the local
        clock around the request (rounded down).
        """
        if self._info is None or refresh:
            t0 = self._clock()
            self._info = self._req("GET", "/v1/info")
            t1 = self._clock()
            self._offset_ms = int(self._info["now_ms"]) - (t0 + t1) // 2
        return self._info

    @property
    def domain(self) -> Eip712Domain:
        d = self.info()["domain"]
        return Eip712Domain(d["name"], d["version"], d["chainId"], d["verifyingContract"])

    def server_now_ms(self) -> int:
        """The venue's time in ms: the local clock plus the offset from ``/v1/info``."""
        self.info()
        return self._clock() + self._offset_ms

    def next_nonce(self) -> int:
        with self._lock:
            self._nonce = max(self._nonce + 1, time.time_ns() // 1000)
            return self._nonce

    def _sign(self, struct: StructType, values: dict[str, Any]) -> str:
        if self.key is None:
            raise VenueError("signing: expected a private key, got a read-only client")
        return _hex(sign_digest(self.key, signing_digest(self.domain, struct, values)))

    def signed_read(self, account: str | None = None, ttl_ms: int = 60_000) -> dict[str, Any]:
        """A signed read of ``account``'s data (default: this client's own), valid for
        ``ttl_ms``: ``{"account", "expiry", "signature"}`` (docs/api.md, Signed reads).

        Only the account itself or the operator can sign one the venue accepts.
        """
        account = to_checksum_address(account or self._me())
        expiry = self.server_now_ms() + ttl_ms
        signature = self._sign(READ_TYPE, {"account": account, "expiry": expiry})
        return {"account": account, "expiry": expiry, "signature": signature}

    def read_headers(self, account: str | None = None) -> dict[str, str]:
        """The HTTP headers of a fresh signed read (see :meth:`signed_read`)."""
        r = self.signed_read(account)
        return {
            ACCOUNT_HEADER: r["account"],
            EXPIRY_HEADER: str(r["expiry"]),
            SIGNATURE_HEADER: r["signature"],
        }

    def stream(self, topics: list[str]) -> StreamClient:
        """A :class:`StreamClient` for ``topics``; account topics are signed by this client."""
        return StreamClient(self.base_url, topics, auth=self.signed_read)

    def _me(self) -> Address:
        if self.address is None:
            raise VenueError("signing: expected a private key, got a read-only client")
        return self.address

    def sleep_until(self, server_ms: int) -> None:
        """Wait until the venue's clock reads ``server_ms``."""
        delay = (server_ms - self.server_now_ms()) / 1000
        if delay > 0:
            self._sleep(delay)

    def _in_window(
        self,
        opens_ms: int,
        closes_ms: int,
        send: Callable[[], _T],
        early_code: str = "outside_window",
    ) -> _T:
        """Call ``send`` once the window ``[opens_ms, closes_ms)`` is open by the venue's clock.

        The call goes a little after the opening (a quarter of the window, at
        most 20 ms). When the venue still answers 409 ``early_code`` while
        the window lies ahead (the local clock ran ahead of the venue's), the
        offset is measured again from ``/v1/info`` and the call retried, up to
        :data:`EARLY_RETRIES` times.

        Raises:
            ApiError: any other refusal, or ``early_code`` once the window
                has closed or the retries are spent.
        """
        margin = max(1, min(20, (closes_ms - opens_ms) // 4))
        retries = 0
        while True:
            self.sleep_until(opens_ms + margin)
            try:
                return send()
            except ApiError as exc:
                if exc.code != early_code or retries == EARLY_RETRIES:
                    raise
                retries += 1
                self.info(refresh=True)
                if self.server_now_ms() >= closes_ms:
                    raise

    # ------------------------------------------------------------ orders

    def batch_key(self, batch_id: int) -> dict[str, Any]:
        """``GET /v1/batches/{id}/key``: the batch's threshold key, dealings and seal."""
        out: dict[str, Any] = self._req("GET", f"/v1/batches/{batch_id}/key")
        return out

    def _commit_body(
        self,
        order: Order,
        batch_id: int,
        bond: int,
        margin_lock: int,
        expiry_ms: int,
        public_key: bytes | None = None,
    ) -> tuple[dict[str, Any], PendingOrder]:
        salt = os.urandom(32)
        nonce = self.next_nonce()
        me = self._me()
        commitment = compute_commitment(order, salt, me, batch_id)
        values = {
            "trader": me,
            "batchId": batch_id,
            "market": order.market,
            "commitment": commitment,
            "nonce": nonce,
            "marginLock": margin_lock,
            "bond": bond,
            "expiry": expiry_ms,
        }
        body = {
            "trader": me,
            "batch_id": batch_id,
            "market": order.market,
            "commitment": _hex(commitment),
            "nonce": nonce,
            "margin_lock": margin_lock,
            "bond": bond,
            "expiry_ms": expiry_ms,
            "signature": self._sign(COMMIT_TYPE, values),
        }
        if public_key is not None:
            # The order reveals itself: (order, salt) encrypted to the batch key,
            # the ciphertext signed so that only the trader answers for it.
            ciphertext = encrypt_order(public_key, order, salt, me, batch_id)
            body["ciphertext"] = _hex(ciphertext)
            body["ciphertext_signature"] = self._sign(
                ENCRYPTED_ORDER_TYPE,
                {
                    "trader": me,
                    "batchId": batch_id,
                    "commitment": commitment,
                    "ciphertextHash": keccak256(ciphertext),
                },
            )
        return body, PendingOrder(order, salt, nonce, commitment, batch_id, {}, bond)

    def _check_receipt(self, receipt: dict[str, Any], pending: PendingOrder) -> None:
        msg = {
            "batchId": receipt["batch_id"],
            "sequence": receipt["sequence"],
            "commitment": bytes.fromhex(receipt["commitment"][2:]),
            "receivedAt": receipt["received_at_ms"],
        }
        signer = recover_signer(
            signing_digest(self.domain, RECEIPT_TYPE, msg),
            bytes.fromhex(receipt["operator_signature"][2:]),
        )
        if signer != self.info()["operator"] or msg["commitment"] != pending.commitment:
            raise VenueError(f"receipt: expected the operator's signature, got {signer}'s")
        pending.receipt = receipt

    def commit(
        self,
        order: Order,
        *,
        bond: int = 0,
        margin_lock: int = 0,
        batch_id: int | None = None,
        expiry_ms: int | None = None,
        encrypted: bool = False,
    ) -> PendingOrder:
        """Commit to ``order`` in the batch collecting now (or in ``batch_id``; the
        next batch's commitment is sent once its commit window is open by the venue's
        clock, an early send answered ``wrong_batch`` retried as in :meth:`_in_window`);
        checks the signed receipt. With ``encrypted`` the order and salt go along,
        encrypted to the batch's threshold key (docs/threshold.md)."""
        explicit = batch_id is not None
        if batch_id is None:
            batch_id = self._collecting()
        expiry = expiry_ms if expiry_ms is not None else self.server_now_ms() + 60_000
        public_key = None
        if encrypted:
            public_key = bytes.fromhex(self.batch_key(batch_id)["public_key"][2:])
        body, pending = self._commit_body(order, batch_id, bond, margin_lock, expiry, public_key)

        def send() -> Any:
            return self._req("POST", "/v1/commitments", body)

        s = self.info()["schedule"]
        window = int(s["commit_window_ms"])
        opens = int(s["genesis_ms"]) + batch_id * window
        if explicit and -window < opens - self.server_now_ms() <= window:
            # collecting now or next: by the venue's clock (any other batch is sent as named)
            receipt = self._in_window(opens, opens + window, send, early_code="wrong_batch")
        else:
            try:
                receipt = send()
            except ApiError as exc:
                if explicit or exc.code != "wrong_batch":
                    raise
                # The batch collecting now by this client's clock, a few ms ahead of the
                # venue's: its window is about to open there; retried as in _in_window.
                receipt = self._in_window(opens, opens + window, send, early_code="wrong_batch")
        self._check_receipt(receipt, pending)
        return pending

    def commit_many(self, orders: list[Order], *, bond: int = 0) -> list[PendingOrder]:
        """Commit many orders in one request (bulk); raises on the first refused one."""
        batch_id = self._collecting()
        expiry = self.server_now_ms() + 60_000
        pairs = [self._commit_body(o, batch_id, bond, 0, expiry) for o in orders]
        items = self._req("POST", "/v1/commitments", [b for b, _ in pairs])
        out = []
        for item, (_, pending) in zip(items, pairs, strict=True):
            if not item["ok"]:
                p = item["problem"]
                raise ApiError(p["status"], p["code"], p["detail"])
            self._check_receipt(item["receipt"], pending)
            out.append(pending)
        return out

    def _collecting(self) -> int:
        s = self.info()["schedule"]
        now = self.server_now_ms()
        window = s["commit_window_ms"]
        batch = (now - s["genesis_ms"]) // window
        # Too close to the end of the window: aim for the next batch.
        if now + 50 >= s["genesis_ms"] + (batch + 1) * window and window > 200:
            self.sleep_until(s["genesis_ms"] + (batch + 1) * window + 1)
            batch += 1
        return int(batch)

    def reveal_opens_ms(self, batch_id: int) -> int:
        s = self.info()["schedule"]
        return int(s["genesis_ms"] + (batch_id + 1) * s["commit_window_ms"])

    def reveal(self, pending: PendingOrder) -> dict[str, Any]:
        """Reveal now (must be inside the reveal window)."""
        nonce = self.next_nonce()
        me = self._me()
        values = reveal_message(
            me,
            pending.commitment,
            pending.order,
            pending.salt,
            nonce,
            self.server_now_ms() + 60_000,
        )
        body = {
            "trader": me,
            "commitment": _hex(pending.commitment),
            "order": pending.order.to_dict(),
            "salt": _hex(pending.salt),
            "nonce": nonce,
            "expiry_ms": values["expiry"],
            "signature": self._sign(REVEAL_TYPE, values),
        }
        result: dict[str, Any] = self._req("POST", "/v1/reveals", body)
        pending.revealed = result
        return result

    def reveal_when_open(self, pending: PendingOrder) -> dict[str, Any]:
        """Reveal once the reveal window of the order's batch is open by the venue's
        clock; an early send is retried (see :meth:`_in_window`)."""
        opens = self.reveal_opens_ms(pending.batch_id)
        closes = opens + int(self.info()["schedule"]["reveal_window_ms"])
        return self._in_window(opens, closes, lambda: self.reveal(pending))

    def submit(
        self, order: Order, *, bond: int = 0, margin_lock: int = 0, encrypted: bool = False
    ) -> PendingOrder:
        """Commit now and reveal automatically when the reveal window opens.

        With ``encrypted=True`` the order is sent encrypted to the batch's threshold
        key and reveals itself once the keypers release the batch secret: nothing is
        revealed by hand (the trader may still call :meth:`reveal` in the window).
        The returned order is done at once; follow it with :meth:`order`.
        """
        pending = self.commit(order, bond=bond, margin_lock=margin_lock, encrypted=encrypted)
        if encrypted:
            pending.revealed = {"commitment": _hex(pending.commitment), "status": "encrypted"}
            pending._done.set()
            return pending

        def run() -> None:
            try:
                self.reveal_when_open(pending)
            except (SealbatchError, httpx.HTTPError) as exc:
                pending.error = exc
            finally:
                pending._done.set()

        threading.Thread(target=run, name="sealbatch-reveal", daemon=True).start()
        return pending

    def order(self, commitment: bytes | str) -> dict[str, Any]:
        """An own order's fate (a signed read: other traders' orders are private)."""
        c = commitment if isinstance(commitment, str) else _hex(commitment)
        result: dict[str, Any] = self._req("GET", f"/v1/orders/{c}", headers=self.read_headers())
        return result

    def batch(self, batch_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._req("GET", f"/v1/batches/{batch_id}")
        return result

    def check_inclusion(self, pending: PendingOrder) -> dict[str, Any]:
        """Check that ``pending``'s commitment is in its batch's commitment root.

        Asks the venue for the inclusion proof of the receipt's number
        (``GET /v1/batches/{id}/commitments/{sequence}``) and checks it here: the leaf
        is this trader's commitment with the market and bond it signed, at the receipt's number,
        and the path hashes to the batch's published seed, the commitment root its
        clearing and its proof used. The batch must be settled.

        Returns:
            The venue's answer (``root``, ``path``, ``leaf`` …), checked.

        Raises:
            VenueError: the receipt is missing, or the proof does not show the
            commitment under the batch's root (the message says what differs).
            ApiError: the venue refused (e.g. 409 ``batch_not_settled``).
        """
        if not pending.receipt:
            raise VenueError("inclusion: expected a receipt for the commitment, got none")
        batch_id, sequence = int(pending.receipt["batch_id"]), int(pending.receipt["sequence"])
        proof: dict[str, Any] = self._req("GET", f"/v1/batches/{batch_id}/commitments/{sequence}")
        seed = str(self.batch(batch_id).get("seed", ""))
        expected = {
            "batch_id": batch_id,
            "sequence": sequence,
            "commitment": _hex(pending.commitment),
            "market": pending.order.market,
            "trader": self._me().lower(),
            "bond": pending.bond,
            "root": seed.lower(),
        }
        got = {
            "batch_id": proof.get("batch_id"),
            "sequence": proof.get("sequence"),
            "commitment": str(proof.get("commitment", "")).lower(),
            "market": proof.get("market"),
            "trader": str(proof.get("trader", "")).lower(),
            "bond": proof.get("bond"),
            "root": str(proof.get("root", "")).lower(),
        }
        for name, want in expected.items():
            if got[name] != want:
                raise VenueError(f"inclusion: expected {name} {want}, got {got[name]}")
        try:
            path = [bytes.fromhex(str(h).removeprefix("0x")) for h in proof.get("path", [])]
            ok = verify_commitment_path(
                bytes.fromhex(seed.removeprefix("0x")),
                pending.commitment,
                pending.order.market,
                self._me(),
                pending.bond,
                sequence,
                path,
            )
        except ValueError as exc:
            raise VenueError(f"inclusion: expected a well-formed proof, got {exc}") from exc
        if not ok:
            raise VenueError(
                f"inclusion: expected the path to hash to the batch's root {seed}, got another "
                f"root from receipt {sequence}'s leaf"
            )
        return proof

    def wait_cleared(self, batch_id: int, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until ``batch_id`` has cleared (or settled); returns its record."""
        s = self.info()["schedule"]
        self.sleep_until(
            s["genesis_ms"] + (batch_id + 1) * s["commit_window_ms"] + s["reveal_window_ms"]
        )
        deadline = time.monotonic() + timeout
        while True:
            rec = self.batch(batch_id)
            if rec["status"] != "committed":
                return rec
            if time.monotonic() > deadline:
                raise VenueError(f"batch {batch_id}: expected it cleared within {timeout} s")
            time.sleep(0.02)

    def deposit(self, amount: int) -> dict[str, Any]:
        nonce, expiry, me = self.next_nonce(), self.server_now_ms() + 60_000, self._me()
        values = {"trader": me, "amount": amount, "nonce": nonce, "expiry": expiry}
        body = {
            **{"trader": me, "amount": amount, "nonce": nonce, "expiry_ms": expiry},
            "signature": self._sign(DEPOSIT_TYPE, values),
        }
        result: dict[str, Any] = self._req("POST", "/v1/deposits", body)
        return result

    def withdraw(self, amount: int) -> dict[str, Any]:
        """Withdraw free collateral (settled with the next batch)."""
        nonce, expiry, me = self.next_nonce(), self.server_now_ms() + 60_000, self._me()
        values = {"trader": me, "amount": amount, "nonce": nonce, "expiry": expiry}
        body = {
            **{"trader": me, "amount": amount, "nonce": nonce, "expiry_ms": expiry},
            "signature": self._sign(WITHDRAW_TYPE, values),
        }
        result: dict[str, Any] = self._req("POST", "/v1/withdrawals", body)
        return result

    def account(self, address: str | None = None) -> dict[str, Any]:
        """This client's account (or ``address``'s, with the operator's key): a signed read."""
        account = address or self._me()
        result: dict[str, Any] = self._req(
            "GET", f"/v1/accounts/{account}", headers=self.read_headers(account)
        )
        return result

    # ------------------------------------------------------------ RFQ

    def request_rfq(
        self, market: str, size: int, side: str = "hidden", window_ms: int = 2_000
    ) -> dict[str, Any]:
        """Ask for quotes on a block; returns the RFQ (its id is ``rfq_id``)."""
        nonce, expiry, me = self.next_nonce(), self.server_now_ms() + 60_000, self._me()
        values = {
            "requester": me,
            "market": market,
            "size": size,
            "side": side,
            "windowMs": window_ms,
            "nonce": nonce,
            "expiry": expiry,
        }
        body = {
            "requester": me,
            "market": market,
            "size": size,
            "side": side,
            "window_ms": window_ms,
            "nonce": nonce,
            "expiry_ms": expiry,
            "signature": self._sign(RFQ_TYPE, values),
        }
        result: dict[str, Any] = self._req("POST", "/v1/rfqs", body)
        return result

    def open_rfqs(self) -> list[dict[str, Any]]:
        """Every open RFQ, oldest first (``GET /v1/rfqs`` page by page)."""
        result: list[dict[str, Any]] = []
        path = "/v1/rfqs"
        while True:
            page: list[dict[str, Any]] = self._req("GET", path)["rfqs"]
            result += page
            if len(page) < RFQ_PAGE:
                return result
            path = f"/v1/rfqs?limit={RFQ_PAGE}&after={page[-1]['rfq_id']}"

    def rfq(self, rfq_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._req("GET", f"/v1/rfqs/{rfq_id}")
        return result

    def quote(self, rfq_id: str, bid: int, ask: int) -> SealedQuote:
        """Post a sealed two-way quote (0 = no price on that side)."""
        rid = bytes.fromhex(rfq_id[2:])
        salt, me = os.urandom(32), self._me()
        commitment = compute_quote_commitment(rid, me, bid, ask, salt)
        nonce, expiry = self.next_nonce(), self.server_now_ms() + 60_000
        values = {
            "maker": me,
            "rfqId": rid,
            "commitment": commitment,
            "nonce": nonce,
            "expiry": expiry,
        }
        body = {
            "maker": me,
            "rfq_id": rfq_id,
            "commitment": _hex(commitment),
            "nonce": nonce,
            "expiry_ms": expiry,
            "signature": self._sign(QUOTE_COMMIT_TYPE, values),
        }
        self._req("POST", f"/v1/rfqs/{rfq_id}/quotes", body)
        return SealedQuote(rid, bid, ask, salt, commitment)

    def reveal_quote(self, q: SealedQuote) -> dict[str, Any]:
        nonce, expiry, me = self.next_nonce(), self.server_now_ms() + 60_000, self._me()
        values = {
            "maker": me,
            "rfqId": q.rfq_id,
            "commitment": q.commitment,
            "bid": q.bid,
            "ask": q.ask,
            "salt": q.salt,
            "nonce": nonce,
            "expiry": expiry,
        }
        body = {
            "maker": me,
            "rfq_id": _hex(q.rfq_id),
            "commitment": _hex(q.commitment),
            "bid": q.bid,
            "ask": q.ask,
            "salt": _hex(q.salt),
            "nonce": nonce,
            "expiry_ms": expiry,
            "signature": self._sign(QUOTE_REVEAL_TYPE, values),
        }
        result: dict[str, Any] = self._req("POST", f"/v1/rfqs/{_hex(q.rfq_id)}/reveals", body)
        return result

    def reveal_quote_when_open(self, q: SealedQuote, rfq: dict[str, Any]) -> dict[str, Any]:
        """Reveal ``q`` once ``rfq``'s reveal phase is open by the venue's clock; an
        early send is retried (see :meth:`_in_window`).

        Args:
            rfq: the RFQ as the venue shows it (``quote_close_ms``, ``reveal_close_ms``).
        """
        return self._in_window(
            int(rfq["quote_close_ms"]), int(rfq["reveal_close_ms"]), lambda: self.reveal_quote(q)
        )

    def accept_best_when_open(self, rfq: dict[str, Any], side: str) -> dict[str, Any]:
        """Accept the best quote once ``rfq``'s accept phase is open by the venue's clock.

        Quote prices show only from the accept phase on, so an early look finds
        none: that, like a 409 ``outside_window``, is retried after measuring
        the clock offset again (see :meth:`_in_window`).
        """
        rfq_id = str(rfq["rfq_id"])

        def attempt() -> dict[str, Any]:
            if self.server_now_ms() < int(rfq["reveal_close_ms"]):
                raise ApiError(409, "outside_window", "accept: the accept phase is ahead")
            quotes = self.rfq(rfq_id)["quotes"]
            if any(q["revealed"] and q["bid"] is None and q["ask"] is None for q in quotes):
                # prices still sealed: the venue has not reached the accept phase
                raise ApiError(409, "outside_window", "accept: quote prices are still sealed")
            return self.accept_best(rfq_id, side)

        return self._in_window(int(rfq["reveal_close_ms"]), int(rfq["close_ms"]), attempt)

    def accept_best(self, rfq_id: str, side: str) -> dict[str, Any]:
        """Accept the best revealed quote for ``side`` ("buy" or "sell")."""
        quotes = [q for q in self.rfq(rfq_id)["quotes"] if q["revealed"]]
        key = "ask" if side == "buy" else "bid"
        priced = [q for q in quotes if q[key]]
        if not priced:
            raise VenueError(f"accept: expected a revealed quote with a {key}, got none")
        best = sorted(priced, key=lambda q: (q[key] if side == "buy" else -q[key], q["sequence"]))[
            0
        ]
        nonce, expiry, me = self.next_nonce(), self.server_now_ms() + 60_000, self._me()
        rid = bytes.fromhex(rfq_id[2:])
        commitment = bytes.fromhex(best["commitment"][2:])
        values = {
            "requester": me,
            "rfqId": rid,
            "commitment": commitment,
            "side": side,
            "nonce": nonce,
            "expiry": expiry,
        }
        body = {
            "requester": me,
            "rfq_id": rfq_id,
            "commitment": best["commitment"],
            "side": side,
            "nonce": nonce,
            "expiry_ms": expiry,
            "signature": self._sign(ACCEPT_TYPE, values),
        }
        result: dict[str, Any] = self._req("POST", f"/v1/rfqs/{rfq_id}/accept", body)
        return result

    def post_oracle_price(self, market: str, price: int) -> dict[str, Any]:
        """Sign and post a price report with this client's key as the oracle source
        (the key must be one of the venue's configured sources), timed
        :data:`ORACLE_REPORT_LAG_MS` before the venue's clock."""
        from sealbatch.settlement.oracle import PriceReport, SignedReport

        # Stamped a little in the venue's past: the venue refuses a report from its future,
        # and the offset measured from /v1/info can be a few ms high on a loaded machine.
        at = self.server_now_ms() - ORACLE_REPORT_LAG_MS
        report = PriceReport(market, price, at, self._me())
        if self.key is None:
            raise VenueError("signing: expected a private key, got a read-only client")
        body = SignedReport.sign(report, self.key).to_dict()
        result: dict[str, Any] = self._req("POST", "/v1/oracle/reports", body)
        return result

    def close(self) -> None:
        self.http.close()


# Re-exported so that the whole SDK reads ``from sealbatch.venue.client import ...``.
from sealbatch.venue.local_venue import LocalVenue  # noqa: E402
from sealbatch.venue.stream_client import GapTracker, StreamClient  # noqa: E402
