"""The venue on an L1: credit the exchange contract's queued requests, anchor every proven batch.

:class:`L1Link` is the venue's pipeline stage after proving. On its own thread it

1. reads the contract's ``Deposited`` and ``ForcedWithdrawalRequested`` events and
   credits each request, in queue order and exactly once, as a logged ``l1_request``
   event (the log's ``l1_next`` is the next index to credit, so a restart neither
   loses nor repeats one): a deposit enters the next batch; a forced withdrawal is
   served with the next batch with ``min(asked, what the account can give)``;
2. anchors the proven batches strictly in batch order: the published files, the
   proof and the queue position the batch consumed go to the contract; the batch
   becomes ``anchored`` once the receipt is recorded. A reverted anchor is
   reported (log, metric, stream message, operator view) and retried with
   exponential backoff; a batch is never skipped.

Withdrawals need no step of their own: a batch's withdrawals are credited by the
contract when the batch is anchored, and the trader calls ``withdraw`` on L1.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sealbatch.settlement.anchor import AnchorError, Chain, ContractReverted, Receipt
from sealbatch.settlement.anchor_exchange import (
    ExchangeContract,
    attach_exchange,
    deploy_exchange,
)
from sealbatch.settlement.batch_air.statement import statement_from_files
from sealbatch.settlement.errors import SettlementError
from sealbatch.venue.errors import VenueError

__all__ = [
    "EMBEDDED",
    "AnchorFailure",
    "BatchAnchor",
    "L1Link",
    "L1Request",
    "L1Unavailable",
    "attach",
    "connect",
    "dev_account",
    "exchange_anchor",
    "read_requests",
]

log = logging.getLogger("sealbatch.venue.l1")

#: ``l1_url`` of the in-process development chain (``sealbatch serve --l1`` with no URL).
EMBEDDED = "embedded"


class L1Unavailable(VenueError):
    """The L1 or the exchange contract cannot be used as configured."""

    code = "l1_unavailable"
    status = 503


@dataclass(frozen=True)
class L1Request:
    """One entry of the contract's request queue, as its event announced it."""

    index: int
    kind: str  # "deposit" or "forced_withdrawal"
    account: str
    subaccount: int
    amount: int
    block: int


@dataclass(frozen=True)
class AnchorFailure:
    """The last refused anchoring of a batch (it is retried at ``retry_at_ms``)."""

    batch_id: int
    error: str
    detail: str
    attempts: int
    at_ms: int
    retry_at_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "error": self.error,
            "detail": self.detail,
            "attempts": self.attempts,
            "at_ms": self.at_ms,
            "retry_at_ms": self.retry_at_ms,
        }


class BatchAnchor(Protocol):
    """What the link needs of the exchange contract to anchor one published batch."""

    def anchor_batch(self, files: Mapping[str, str], proof: bytes, queue_to: int) -> Receipt:
        """Send the anchoring transaction for a published batch and its proof."""
        ...

    def next_batch_id(self) -> int:
        """The least batch id the contract accepts next."""
        ...

    def state_root(self) -> bytes:
        """The contract's current state root."""
        ...


def connect(url: str) -> Chain:
    """The chain ``url`` names: the embedded py-evm for :data:`EMBEDDED`, else a JSON-RPC node.

    Raises:
        L1Unavailable: the node does not answer.
    """
    try:
        return Chain(None if url == EMBEDDED else url)
    except AnchorError as exc:
        raise L1Unavailable(f"l1: {exc}") from exc


def attach(chain: Chain, address: str) -> ExchangeContract:
    """The exchange contract at ``address``.

    Raises:
        L1Unavailable: no contract there (an embedded chain does not outlive its process).
    """
    if not chain.w3.eth.get_code(chain.w3.to_checksum_address(address)):
        where = (
            "the embedded chain (it starts empty with every process)"
            if chain.embedded
            else ("the node")
        )
        raise L1Unavailable(
            f"l1: expected the exchange contract at {address}, got no code there on {where}"
        )
    try:
        return attach_exchange(chain, address)
    except AnchorError as exc:
        raise L1Unavailable(f"l1: the contract at {address}: {exc}") from exc


@dataclass(frozen=True)
class _ExchangeAnchor:
    """:class:`BatchAnchor` on :class:`ExchangeContract`: the statement from the batch's
    published files (through the batch verifier's own statement), then ``anchor``."""

    exchange: ExchangeContract

    def anchor_batch(self, files: Mapping[str, str], proof: bytes, queue_to: int) -> Receipt:
        try:
            statement = self.exchange.statement_for(files)
            shape = self.exchange.check_batch(statement_from_files(files))
        except SettlementError as exc:
            raise AnchorError(f"the batch's statement: {exc}") from exc
        if statement.queue_to != queue_to:
            raise AnchorError(
                f"expected the batch to consume the L1 queue up to {queue_to} (the requests "
                f"the venue credited before it), got {statement.queue_to} from the queue"
            )
        return self.exchange.anchor(statement, proof, shape=shape)

    def next_batch_id(self) -> int:
        return self.exchange.next_batch_id()

    def state_root(self) -> bytes:
        return self.exchange.state_root()


def exchange_anchor(exchange: ExchangeContract) -> BatchAnchor:
    """How the venue anchors a published batch on ``exchange``."""
    return _ExchangeAnchor(exchange)


def template_files(
    markets: Sequence[str],
    accounts_before: int = 0,
    accounts_after: int | None = None,
    min_bond: int | None = None,
) -> dict[str, str]:
    """The published files of an empty batch on a new venue's ledger: ``accounts_before``
    accounts before it, ``accounts_after`` (default the same) after it (its deposits open
    them), under the venue's ``min_bond`` (its ``forfeit_bond``, a constant of the batch
    AIR's program; default the clearinghouse's).

    The exchange's verifiers are fixed when it is deployed, one per batch shape (trace
    length, the account tree's depth before and after, …); a venue deploying its exchange
    has no batch yet, so it deploys them for batches like these. With no account before,
    the batch's pre-state root is the venue's genesis root.

    Raises:
        L1Unavailable: the template does not settle, or ``accounts_after < accounts_before``.
    """
    from sealbatch.auction.batch import clear_batch
    from sealbatch.auction.commit_reveal import BatchWindows, CommitBook
    from sealbatch.auction.markets import DEFAULT_MARKETS
    from sealbatch.crypto.eip712 import Eip712Domain, address_of
    from sealbatch.settlement.clearinghouse import DEFAULT_MIN_BOND, Clearinghouse

    after = accounts_before if accounts_after is None else accounts_after
    if not 0 <= accounts_before <= after:
        raise L1Unavailable(
            f"l1: expected 0 <= accounts before <= accounts after, got {accounts_before}, {after}"
        )
    book_markets = {m: DEFAULT_MARKETS[m] for m in markets}
    house = Clearinghouse(book_markets, min_bond=DEFAULT_MIN_BOND if min_bond is None else min_bond)
    traders = [address_of(bytes([1 + i // 256, i % 256]) * 16) for i in range(after)]

    def settle(batch_id: int, at_ms: int) -> dict[str, str]:
        windows = BatchWindows(at_ms, at_ms + 1, at_ms + 2)
        domain = Eip712Domain(chain_id=1)
        references = house.reference_prices()  # the ledger's marks (none without an oracle)
        book = CommitBook(batch_id, book_markets, domain, b"\x01" * 32, windows, references)
        result = clear_batch(book.close(at_ms + 2), book_markets, references, ())
        outcome = house.settle(result, [], at_ms + 2)
        if outcome.publication is None:
            raise L1Unavailable(f"l1: the template batch did not settle: {outcome.summary}")
        return outcome.publication.files(house.config, house.oracle)

    batch_id = 0
    if accounts_before:
        for t in traders[:accounts_before]:
            house.deposit(t, 1_000_000, 0)
        settle(0, 0)
        batch_id = 1
    for t in traders[accounts_before:]:
        house.deposit(t, 1_000_000, 10)
    return settle(batch_id, 10)


def venue_shapes(
    markets: Sequence[str], max_depth: int, min_bond: int | None = None
) -> list[dict[str, str]]:
    """Template batches of every shape a venue's exchange verifies (:func:`template_files`):
    the account tree's depth staying at ``d`` and growing from ``d`` to ``d + 1``, for every
    ``d`` up to ``max_depth``; the first is the genesis batch (no account before it)."""
    shapes = [template_files(markets, min_bond=min_bond)]
    for d in range(1, max_depth + 1):
        if d > 1:  # depth 1 -> 1 is the genesis batch's shape
            shapes.append(template_files(markets, 1 << d, min_bond=min_bond))
        if d < max_depth:
            shapes.append(template_files(markets, 1 << d, (1 << d) + 1, min_bond=min_bond))
    return shapes


def deploy_for_venue(chain: Chain, settings: Any) -> tuple[ExchangeContract, int]:
    """Deploy the exchange a new venue anchors on (its batch verifiers for the shapes of
    :func:`venue_shapes`, the genesis root, the venue's markets and oracle sources, deposits
    from at most ``2^l1_max_depth`` accounts of at least ``l1_min_deposit`` each); returns
    it and the block its requests may start in.

    The exchange counts the accounts (address, subaccount) that deposited and refuses a
    deposit from one more once the deepest tree its verifiers take is full: on an L1 a
    deposit is the only way an account enters the venue's ledger (signed deposits are
    refused, a batch's transition opens accounts only for its deposits: RFQ blocks, fills
    and forfeits need existing ones, fees and the insurance fund are no accounts; the
    genesis ledger is empty), so every queued deposit fits a deployed
    shape and no batch is ever unanchorable for its size.

    Raises:
        L1Unavailable: a deployment failed.
    """
    from sealbatch.settlement.dev_oracle import dev_oracle_config
    from sealbatch.settlement.oracle import load_oracle_config

    oracle = (
        load_oracle_config(settings.oracle_sources)
        if settings.oracle_sources
        else dev_oracle_config()
    )
    shapes = venue_shapes(settings.markets, settings.l1_max_depth, settings.min_bond)
    try:
        exchange = deploy_exchange(
            chain,
            shapes[0],
            shapes=shapes[1:],
            oracle=oracle,
            forced_delay_s=settings.l1_forced_delay_s,
            first_batch_id=0,
            account_capacity=1 << settings.l1_max_depth,
            min_deposit=settings.l1_min_deposit,
        )
    except (AnchorError, SettlementError) as exc:
        raise L1Unavailable(f"l1: deploying the exchange: {exc}") from exc
    return exchange, int(chain.w3.eth.block_number)


def dev_account(chain: Chain, key: bytes, eth: int = 10**19) -> str:
    """Let the holder of ``key`` send transactions on a development chain (tests, demo,
    examples): eth-tester learns the key, anvil impersonates its address; both give it
    ``eth`` wei for gas. Returns its checksummed address.

    Raises:
        L1Unavailable: the chain is neither (a real node signs only its own accounts).
    """
    from eth_account import Account

    address = str(Account.from_key(key).address)
    tester = getattr(chain.w3.provider, "ethereum_tester", None)
    if tester is not None:
        if address not in tester.get_accounts():
            tester.add_account("0x" + key.hex())
        if chain.w3.eth.get_balance(chain.w3.to_checksum_address(address)) < eth:
            tx = {"from": chain.account, "to": address, "value": eth}
            chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_transaction(tx))  # type: ignore[arg-type]
        return address
    made = chain.w3.provider.make_request("anvil_impersonateAccount", [address])  # type: ignore[arg-type]
    if "error" in made:
        raise L1Unavailable(
            f"l1: expected a development chain (eth-tester or anvil) to fund {address}, "
            f"got {made['error']}"
        )
    chain.w3.provider.make_request("anvil_setBalance", [address, hex(eth)])  # type: ignore[arg-type]
    return address


def read_requests(exchange: ExchangeContract, from_block: int, to_block: int) -> list[L1Request]:
    """The requests the contract announced in blocks ``[from_block, to_block]``, in queue order."""
    events = exchange.exchange.events
    span = {"from_block": from_block, "to_block": to_block}
    out = [
        L1Request(
            int(e["args"]["index"]),
            "deposit",
            str(e["args"]["account"]),
            int(e["args"]["subaccount"]),
            int(e["args"]["amount"]),
            int(e["blockNumber"]),
        )
        for e in events.Deposited.get_logs(**span)
    ]
    out += [
        L1Request(
            int(e["args"]["index"]),
            "forced_withdrawal",
            str(e["args"]["account"]),
            int(e["args"]["subaccount"]),
            int(e["args"]["amount"]),
            int(e["blockNumber"]),
        )
        for e in events.ForcedWithdrawalRequested.get_logs(**span)
    ]
    return sorted(out, key=lambda r: r.index)


class _Host(Protocol):
    """What the link needs of the running venue (``VenueService``)."""

    def l1_next(self) -> int: ...

    def credit_l1_request(self, request: L1Request) -> int: ...

    def next_to_anchor(self) -> tuple[int, str] | None: ...

    def anchor_inputs(self, batch_id: int) -> tuple[Mapping[str, str], bytes, int]: ...

    def record_anchor(
        self, batch_id: int, receipt: Receipt, post_root: bytes, queue_to: int
    ) -> None: ...

    def report_anchor_failure(self, failure: AnchorFailure) -> None: ...


class L1Link:
    """The venue's L1 stage: credits queued requests and anchors proven batches in order.

    Args:
        host: the venue (credits requests, hands out and records batches).
        chain: the chain (only this link's thread and :attr:`chain_lock` holders use it).
        exchange: the deployed exchange.
        anchor: how a batch is anchored on ``exchange``.
        from_block: the first block whose events may hold a request not credited yet.
        anchors_from_block: the first block that may hold a ``BatchAnchored`` event of a
            batch the venue has not recorded as anchored (the block the exchange was deployed
            or attached in, or the last anchored batch's); default ``from_block``. The link
            moves it on with each batch anchored, so looking for a batch anchored before a
            restart reads the blocks since the last one, not the chain's whole history.
        clock_ms: the venue's clock.
        poll_ms: pause between two passes.
        retry_ms, retry_max_ms: the backoff of a refused anchoring (doubling, capped).
    """

    def __init__(
        self,
        host: _Host,
        chain: Chain,
        exchange: ExchangeContract,
        anchor: BatchAnchor,
        *,
        from_block: int,
        anchors_from_block: int | None = None,
        clock_ms: Callable[[], int],
        poll_ms: int = 500,
        retry_ms: int = 1_000,
        retry_max_ms: int = 60_000,
    ) -> None:
        self.host = host
        self.chain = chain
        self.exchange = exchange
        self.anchor = anchor
        self.clock_ms = clock_ms
        self.poll_ms = poll_ms
        self.retry_ms = retry_ms
        self.retry_max_ms = retry_max_ms
        #: Held around every use of the chain (the embedded chain is not thread-safe).
        self.chain_lock = threading.RLock()
        self._from_block = from_block
        self.anchors_from_block = from_block if anchors_from_block is None else anchors_from_block
        self.failure: AnchorFailure | None = None
        #: why the next queued request cannot be credited yet (None: nothing waits)
        self.unserved: str | None = None
        self.last_anchored: int | None = None
        self.anchored = 0
        self.credited = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        #: One pass at a time (the thread's, or a caller's such as a test or the demo).
        self._step_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ the thread

    def start(self) -> None:
        """Run :meth:`step` every ``poll_ms`` on a thread of its own until :meth:`close`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="sealbatch-l1", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run the next pass now (a batch was just proven)."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except (VenueError, AnchorError) as exc:
                log.error("l1 pass failed: %s", exc)
            except OSError as exc:  # the node went away: try again next pass
                log.error("l1 node unreachable: %s", exc)
            except Exception:  # anything else: reported, and the stage lives on to retry
                # (a dead thread would anchor no batch and credit no request again, and an
                # uncredited forced withdrawal lets anyone freeze the exchange)
                log.exception("l1 pass failed unexpectedly")
            self._wake.wait(self.poll_ms / 1000)
            self._wake.clear()

    # ------------------------------------------------------------ one pass

    def step(self) -> None:
        """Credit every new request, then anchor every proven batch that is next in order."""
        with self._step_lock:
            self.credit_requests()
            while not self._stop.is_set() and self.anchor_next():
                pass

    def credit_requests(self) -> int:
        """Credit the requests announced since the last pass, in queue order; returns how
        many. A request the venue cannot take yet (a forced withdrawal with nothing to
        serve it) stops the pass there: the later ones wait behind it, as on L1."""
        with self.chain_lock:
            latest = int(self.chain.w3.eth.block_number)
            if latest < self._from_block:
                return 0
            requests = read_requests(self.exchange, self._from_block, latest)
        done = 0
        self.unserved = None
        for r in requests:
            nxt = self.host.l1_next()
            if r.index < nxt:
                continue
            if r.index > nxt:
                # An event of the queue is missing from the node's answer: read again.
                self.unserved = f"request {nxt}: expected its event, got request {r.index} first"
                log.error("l1: %s", self.unserved)
                return done
            try:
                self.host.credit_l1_request(r)
            except VenueError as exc:
                self.unserved = f"request {r.index} ({r.kind} of {r.account}): {exc}"
                log.warning("l1: cannot credit %s yet", self.unserved)
                self._from_block = r.block
                return done
            done += 1
            self.credited += 1
        self._from_block = latest + 1
        return done

    def anchor_next(self) -> bool:
        """Anchor the next batch in order if it is proven and not waiting for a retry;
        returns whether one was anchored."""
        nxt = self.host.next_to_anchor()
        if nxt is None:
            return False
        batch_id, status = nxt
        if status != "proven":
            return False  # the next in order is not proven yet: the later ones wait
        now = self.clock_ms()
        failure = self.failure
        if failure is not None and failure.batch_id == batch_id and now < failure.retry_at_ms:
            return False
        if self._already_anchored(batch_id):
            return True
        try:
            files, proof, queue_to = self.host.anchor_inputs(batch_id)
        except VenueError as exc:
            self._refused(batch_id, exc.code, str(exc), now)
            return False
        try:
            with self.chain_lock:
                receipt = self.anchor.anchor_batch(files, proof, queue_to)
                post_root = self.anchor.state_root()
        except ContractReverted as exc:
            self._refused(batch_id, exc.error, str(exc), now)
            return False
        except AnchorError as exc:
            self._refused(batch_id, type(exc).__name__, str(exc), now)
            return False
        self.failure = None
        self.host.record_anchor(batch_id, receipt, post_root, queue_to)
        self.last_anchored = batch_id
        self.anchored += 1
        self.anchors_from_block = max(self.anchors_from_block, receipt.block)
        log.info(
            "batch %d anchored in block %d (tx %s, %d gas)",
            batch_id,
            receipt.block,
            receipt.tx_hash,
            receipt.gas_used,
        )
        return True

    def _already_anchored(self, batch_id: int) -> bool:
        """Record ``batch_id`` from the contract's ``BatchAnchored`` event if the contract is
        past it already (the venue stopped after sending the transaction, before recording
        it); returns whether it was. The contract anchors batches in order, so the event
        is in :attr:`anchors_from_block` or later: only those blocks are read."""
        with self.chain_lock:
            if self.anchor.next_batch_id() <= batch_id:
                return False
            events = self.exchange.exchange.events.BatchAnchored.get_logs(
                from_block=self.anchors_from_block, argument_filters={"lastBatchId": batch_id}
            )
            if not events:
                return False
            event = events[-1]
            tx = self.chain.w3.eth.get_transaction_receipt(event["transactionHash"])
        receipt = Receipt(
            gas_used=int(tx["gasUsed"]),
            input_data=b"",
            tx_hash="0x" + bytes(event["transactionHash"]).hex(),
            block=int(event["blockNumber"]),
        )
        post_root = bytes(event["args"]["postRoot"])
        queue_to = int(event["args"]["queueTo"])
        log.warning("batch %d was anchored before the venue stopped: recorded now", batch_id)
        self.failure = None
        self.host.record_anchor(batch_id, receipt, post_root, queue_to)
        self.last_anchored = batch_id
        self.anchored += 1
        self.anchors_from_block = max(self.anchors_from_block, receipt.block)
        return True

    def _refused(self, batch_id: int, error: str, detail: str, now: int) -> None:
        """Report a refused anchoring and schedule its retry (doubling, capped)."""
        old = self.failure
        attempts = old.attempts + 1 if old is not None and old.batch_id == batch_id else 1
        wait = min(self.retry_ms * (1 << min(attempts - 1, 30)), self.retry_max_ms)
        self.failure = AnchorFailure(batch_id, error, detail[:2_000], attempts, now, now + wait)
        log.error(
            "anchoring batch %d refused (%s, attempt %d): %s; retrying in %d ms",
            batch_id,
            error,
            attempts,
            detail,
            wait,
        )
        self.host.report_anchor_failure(self.failure)
