"""``sealbatch demo --serve``: a live venue on 127.0.0.1 with seeded traders, and its explorer.

The venue (the real app: batch clock, SQLite log, ledger) runs in this process
under uvicorn; a thread of seeded traders signs and sends everything over
HTTP, as any client would: deposits, oracle reports from the development
sources, sealed orders committed in every batch and revealed in its reveal
window, one commitment per batch never revealed (its bond is forfeited), and
now and then a sealed RFQ for a block. The explorer at ``/`` shows the
batches clear as they happen. Ctrl-C stops the traders, then the venue.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.exceptions import SealbatchError
from sealbatch.settlement.dev_oracle import dev_oracle_keys
from sealbatch.settlement.oracle import PriceReport, SignedReport
from sealbatch.venue.client import PendingOrder, VenueClient
from sealbatch.venue.demo import START_PRICES, demo_traders
from sealbatch.venue.errors import VenueError

__all__ = ["LiveDemoConfig", "LiveTraders"]

#: Collateral each live trader deposits: 1 000 000 USDC (6 decimals), enough for blocks.
LIVE_DEPOSIT = 1_000_000_000_000
#: The bond each commitment puts at stake (the venue's minimum, 1 USDC).
LIVE_BOND = 1_000_000
#: Lots of each requested block (the default markets' block minimum).
BLOCK_LOTS = 10_000


@dataclass(frozen=True)
class LiveDemoConfig:
    """What the live traders do.

    Attributes:
        seed: trader keys, order flow and prices follow from it.
        traders: random-flow traders (at least 3: a requester and two makers for RFQs).
        rfq_every: request a block every this many batches (0: never).
        rfq_window_ms: the RFQ window (quotes, reveals, accept in its quarters).
    """

    seed: int = 2026
    traders: int = 8
    rfq_every: int = 6
    rfq_window_ms: int = 1_200

    def __post_init__(self) -> None:
        if self.traders < 3:
            raise ValueError(f"traders: expected at least 3, got {self.traders}")
        if self.rfq_every < 0:
            raise ValueError(f"rfq_every: expected 0 or more, got {self.rfq_every}")


@dataclass
class LiveTraders:
    """Seeded traders that trade in every batch of the venue at ``url`` until stopped.

    Each batch: the development oracle sources report a fair price that walks
    a little; every trader commits one or two limit orders around it (sides
    leaning against the trader's position, so positions stay bounded), one
    trader commits an order it never reveals, and the others reveal once the
    reveal window opens. Errors the venue answers (a margin refusal, say) are
    counted, not fatal: the traders go on with the next batch.
    """

    url: str
    config: LiveDemoConfig = field(default_factory=LiveDemoConfig)
    batches_traded: int = 0
    refused: int = 0
    blocks: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    #: The latest refusals ("code: detail"), newest last.
    refusals: list[str] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.stop_event.set()

    def _wait_until(self, client: VenueClient, server_ms: int) -> bool:
        """Sleep until the venue's clock reads ``server_ms``; False when stopped first."""
        delay = (server_ms - client.server_now_ms()) / 1000
        return not self.stop_event.wait(delay) if delay > 0 else not self.stop_event.is_set()

    def run(self) -> None:
        """Trade until :meth:`stop`; returns quietly when the venue goes away."""
        try:
            self._run()
        except httpx.HTTPError:
            if not self.stop_event.is_set():
                raise

    def _run(self) -> None:
        # Commits and reveals go out in parallel: a window is a few hundred ms.
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="sealbatch-live") as pool:
            self._trade(pool)

    def _trade(self, pool: ThreadPoolExecutor) -> None:
        rng = random.Random(self.config.seed)
        people = demo_traders(self.config.seed, self.config.traders)
        clients = [VenueClient(self.url, t.key) for t in people]
        sources = [VenueClient(self.url, k) for k in dev_oracle_keys()]
        fair = dict(START_PRICES)
        markets = sorted(clients[0].info()["markets"])
        fair = {m: fair.get(m, 100_000) for m in markets}
        for f in [pool.submit(c.deposit, LIVE_DEPOSIT) for c in clients]:
            f.result()
        schedule = clients[0].info()["schedule"]
        genesis, commit_ms = schedule["genesis_ms"], schedule["commit_window_ms"]
        reveal_ms = schedule["reveal_window_ms"]
        last_seen = -1
        rfq_thread: threading.Thread | None = None
        while not self.stop_event.is_set():
            now = clients[0].server_now_ms()
            batch = (now - genesis) // commit_ms
            # Start early in a commit window, so every commitment lands before it closes.
            if now - (genesis + batch * commit_ms) > commit_ms // 4:
                batch += 1
                if not self._wait_until(clients[0], genesis + batch * commit_ms + 5):
                    return
            for m in markets:
                step = rng.randint(-5, 5) * fair[m] // 10_000  # ±0.05 % a batch
                pull = (START_PRICES.get(m, fair[m]) - fair[m]) // 20  # back towards the start
                fair[m] = max(1, fair[m] + step + pull)
            reports = pool.submit(self._report, sources, fair)
            pending = self._commit(pool, rng, people, clients, markets, fair, batch)
            reports.result()
            if (
                self.config.rfq_every
                and batch % self.config.rfq_every == 0
                and (rfq_thread is None or not rfq_thread.is_alive())
            ):
                rfq_thread = threading.Thread(
                    target=self._block,
                    args=(clients, markets[0], fair[markets[0]], batch),
                    name="sealbatch-live-rfq",
                    daemon=True,
                )
                rfq_thread.start()
            opens = genesis + (batch + 1) * commit_ms
            if not self._wait_until(clients[0], opens + min(20, reveal_ms // 4)):
                return
            # By the venue's clock, retried if sent early: the offset measured from
            # /v1/info can be tens of ms off on a loaded machine.
            reveals = [
                pool.submit(self._try, lambda c=c, p=p: c.reveal_when_open(p)) for c, p in pending
            ]
            for f in reveals:
                f.result()
            self.batches_traded += 1
            if last_seen >= 0:
                self._learn(clients[0], last_seen)
            last_seen = batch
            if not self._wait_until(clients[0], opens + 5):
                return
        if rfq_thread is not None:
            rfq_thread.join(timeout=5)

    def _try(self, call: Any) -> Any:
        try:
            return call()
        except SealbatchError as exc:
            self.refused += 1  # a refusal the venue explained; the flow goes on
            self.refusals = [*self.refusals[-19:], str(exc)]
            return None

    def _report(self, sources: list[VenueClient], fair: dict[str, int]) -> None:
        for src in sources:
            if src.key is None or src.address is None:
                continue
            # A little in the past: the venue refuses reports from its future.
            at = src.server_now_ms() - 100
            for market, price in fair.items():
                report = SignedReport.sign(PriceReport(market, price, at, src.address), src.key)
                self._try(lambda r=report, s=src: s._req("POST", "/v1/oracle/reports", r.to_dict()))

    def _commit(
        self,
        pool: ThreadPoolExecutor,
        rng: random.Random,
        people: list[Any],
        clients: list[VenueClient],
        markets: list[str],
        fair: dict[str, int],
        batch: int,
    ) -> list[tuple[VenueClient, PendingOrder]]:
        """Commit each trader's orders (one request per trader, in parallel); returns
        those to reveal (all but the withholder's)."""
        withholder = batch % len(clients)
        jobs = []
        for i, (person, client) in enumerate(zip(people, clients, strict=True)):
            held = self.positions.get(person.address, 0)
            orders = [
                self._order(rng, market, fair[market], held)
                for market in (rng.choice(markets) for _ in range(rng.randint(1, 2)))
            ]
            job = pool.submit(
                self._try,
                lambda c=client, o=orders: [c.commit(x, bond=LIVE_BOND, batch_id=batch) for x in o],
            )
            jobs.append((i, client, job))
        pending: list[tuple[VenueClient, PendingOrder]] = []
        for i, client, job in jobs:
            committed = job.result()
            if committed is not None and i != withholder:
                pending.extend((client, p) for p in committed)
        return pending

    @staticmethod
    def _order(rng: random.Random, market: str, fair: int, position: int) -> Order:
        # Lean against the position: a trader long 200 lots buys with odds 1 to 9.
        lean = max(-0.4, min(0.4, position / 500))
        side = Side.BUY if rng.random() < 0.5 - lean else Side.SELL
        if rng.random() < 0.08:
            return Order(market, side, None, rng.randint(1, 10))
        offset = rng.randint(-40, 60) * fair // 100_000  # about -0.04 % .. +0.06 %
        limit = fair + offset if side is Side.BUY else fair - offset
        tif = TimeInForce.GTC if rng.random() < 0.2 else TimeInForce.IOC
        return Order(market, side, max(limit, 1), rng.randint(1, 40), tif)

    def _learn(self, client: VenueClient, batch: int) -> None:
        """Track positions from the public fills of a cleared batch."""
        try:
            record = client.batch(batch)
        except SealbatchError:
            return  # an empty batch leaves no record
        for mr in record.get("markets", {}).values():
            for f in mr["fills"]:
                signed = f["quantity"] if f["side"] == "buy" else -f["quantity"]
                self.positions[f["trader"]] = self.positions.get(f["trader"], 0) + signed

    def _block(self, clients: list[VenueClient], market: str, fair: int, batch: int) -> None:
        """One sealed RFQ: trader 0 asks for a block, traders 1 and 2 quote, the best is taken."""
        requester, makers = clients[0], clients[1:3]
        side = "buy" if (batch // max(1, self.config.rfq_every)) % 2 == 0 else "sell"
        try:
            rfq = requester.request_rfq(market, BLOCK_LOTS, side, self.config.rfq_window_ms)
            quotes = []
            for k, maker in enumerate(makers):
                spread = fair * (5 + 3 * k) // 10_000  # 5 and 8 bps either side
                quotes.append(maker.quote(rfq["rfq_id"], fair - spread, fair + spread))
            # Each phase by the venue's clock, an early send retried (the SDK's *_when_open).
            for maker, q in zip(makers, quotes, strict=True):
                if self.stop_event.is_set():
                    return
                self._try(lambda m=maker, q=q: m.reveal_quote_when_open(q, rfq))
            if self.stop_event.is_set():
                return
            if self._try(lambda: requester.accept_best_when_open(rfq, side)) is not None:
                self.blocks += 1
        except SealbatchError:
            self.refused += 1
        except httpx.HTTPError:
            if not self.stop_event.is_set():
                raise


def _describe(record: dict[str, Any]) -> str:
    parts = []
    for market, mr in sorted(record.get("markets", {}).items()):
        if mr["price"] is None:
            parts.append(f"{market} no trade")
        else:
            parts.append(f"{market} {mr['price']} × {mr['volume']}")
    return (
        f"batch {record['batch_id']} {record['status']}: {record['commitments']} commitments, "
        + ", ".join(parts)
        + f", {len(record.get('forfeits', []))} forfeited, {len(record.get('blocks', []))} blocks"
    )


def serve_live_demo(
    port: int,
    config: LiveDemoConfig,
    commit_ms: int = 1_000,
    reveal_ms: int = 300,
    quiet: bool = False,
) -> int:
    """Run a venue on 127.0.0.1:``port`` with live traders until Ctrl-C (or SIGTERM).

    The venue keeps its log in a fresh SQLite file in a temporary directory,
    removed at the end. Returns 0 after a clean stop.

    Raises:
        SealbatchError: the venue refused to start (e.g. bad settings).
        VenueError: the port is taken.
    """
    import shutil
    import socket
    import tempfile

    import uvicorn

    from sealbatch.venue.app import create_app
    from sealbatch.venue.http_protocol import venue_protocol
    from sealbatch.venue.settings import Settings

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise VenueError(
                f"port {port}: expected a free port on 127.0.0.1, got {exc.strerror or exc}"
            ) from exc
    tmp = tempfile.mkdtemp(prefix="sealbatch-live-")
    settings = Settings(
        db_url=f"sqlite:///{tmp}/venue.db",
        commit_window_ms=commit_ms,
        reveal_window_ms=reveal_ms,
        rfq_min_window_ms=min(400, config.rfq_window_ms),
    )
    url = f"http://127.0.0.1:{port}"
    traders = LiveTraders(url, config)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            traders.stop()  # the traders first, so none of them talks to a closing venue
            super().handle_exit(sig, frame)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # However the stop was asked for (a signal, or should_exit set by an embedding
            # program), the traders stop before the listening socket closes: a request
            # refused after this point is the shutdown's, not an error of theirs.
            traders.stop()
            await super().shutdown(sockets)

    app = create_app(settings)
    server = _Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            http=venue_protocol(app, settings),  # the request and write deadlines
        )
    )

    def trade() -> None:
        while not server.started:
            if traders.stop_event.wait(0.05) or server.should_exit:
                return
        if not quiet:
            print(f"explorer: {url}/  (seeded traders trading; Ctrl-C stops)", flush=True)
        printer = threading.Thread(target=_print_batches, args=(url, traders), daemon=True)
        if not quiet:
            printer.start()
        traders.run()

    worker = threading.Thread(target=trade, name="sealbatch-live-traders", daemon=True)
    worker.start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn hands the Ctrl-C back once it has shut down
    finally:
        traders.stop()
        worker.join(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(
            f"stopped: traded in {traders.batches_traded} batches, {traders.blocks} blocks, "
            f"{traders.refused} refusals",
            flush=True,
        )
    return 0


def _print_batches(url: str, traders: LiveTraders) -> None:
    """Print each batch as it clears, from the venue's own batch list."""
    seen = -1
    with httpx.Client(base_url=url, timeout=5) as http:
        while not traders.stop_event.wait(0.5):
            try:
                listing = http.get("/v1/batches", params={"limit": 5}).json()
                for b in sorted(listing["batches"], key=lambda x: x["batch_id"]):
                    if b["batch_id"] > seen:
                        seen = b["batch_id"]
                        rec = http.get(f"/v1/batches/{seen}").json()
                        print(_describe(rec), flush=True)
            except (httpx.HTTPError, ValueError, KeyError):
                continue
