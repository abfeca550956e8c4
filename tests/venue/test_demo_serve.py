"""``sealbatch demo --serve``: a live venue whose batches keep clearing, stopped by Ctrl-C."""

from __future__ import annotations

import pytest

from sealbatch.venue.cli import main
from sealbatch.venue.live_demo import LiveDemoConfig
from tests.venue.live_demo_process import LiveDemoProcess


def test_demo_serve_trades_live_and_stops_cleanly_on_ctrl_c() -> None:
    demo = LiveDemoProcess()
    demo.start()
    try:
        traded = demo.traded_batches()
        record = demo.get(f"/v1/batches/{traded[0]}")
        assert record["status"] in ("settled", "proven")
        assert record["settlement"]["post_root"].startswith("0x")
        # Some trader withholds a reveal each batch: its bond is forfeited.
        assert any(demo.get(f"/v1/batches/{b}")["forfeits"] for b in traded)
        assert "<!doctype html>" in __import__("httpx").get(demo.url + "/").text.lower()
    finally:
        code = demo.stop()
    assert code == 0, demo.output
    assert "Traceback" not in demo.output, demo.output
    assert f"explorer: {demo.url}/" in demo.output
    assert "stopped: traded in" in demo.output


def test_demo_serve_settles_a_sealed_rfq_block() -> None:
    """The live traders request a block every 6th batch, two makers quote it and the best
    quote is taken (README): a block settles in a batch. Each phase is sent by the venue's
    clock and retried when early, so a clock offset off by a few ms does not lose it."""
    import re
    import time

    demo = LiveDemoProcess()
    demo.start()
    seen: set[int] = set()
    blocks: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + 90
        while not blocks and time.monotonic() < deadline:
            for b in demo.get("/v1/batches?limit=50")["batches"]:
                if b["batch_id"] not in seen and b["status"] in ("settled", "proven"):
                    seen.add(b["batch_id"])
                    blocks += demo.get(f"/v1/batches/{b['batch_id']}")["blocks"]
            time.sleep(0.5)
    finally:
        code = demo.stop()
    assert code == 0, demo.output
    assert blocks, f"no block settled in {len(seen)} batches: {demo.output[-2000:]}"
    stopped = re.search(r"stopped: traded in \d+ batches, (\d+) blocks", demo.output)
    assert stopped and int(stopped.group(1)) >= 1, demo.output[-2000:]


class _EarlyClockClient:
    """A client whose measured clock runs ahead of the venue's: every phase it sends by
    that clock alone arrives early (409 ``outside_window``); only the SDK's ``*_when_open``
    sends, which re-measure and retry, get through."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def server_now_ms(self) -> int:
        return 10**6  # past every window by this clock

    def request_rfq(self, market: str, lots: int, side: str, window_ms: int) -> dict[str, object]:
        return {"rfq_id": "0x01", "quote_close_ms": 1, "reveal_close_ms": 2, "close_ms": 3}

    def quote(self, rfq_id: str, bid: int, ask: int) -> str:
        return f"quote {bid}/{ask}"

    def _early(self, what: str) -> None:
        from sealbatch.venue.errors import ApiError

        raise ApiError(409, "outside_window", f"{what}: expected a later time")

    def reveal_quote(self, q: str) -> None:
        self._early("quote reveal")

    def accept_best(self, rfq_id: str, side: str) -> None:
        self._early("accept")

    def reveal_quote_when_open(self, q: str, rfq: dict[str, object]) -> dict[str, object]:
        self.sent.append("reveal_quote_when_open")
        return {}

    def accept_best_when_open(self, rfq: dict[str, object], side: str) -> dict[str, object]:
        self.sent.append("accept_best_when_open")
        return {}


def test_live_rfq_phases_go_by_the_venues_clock_with_retries() -> None:
    """The live traders' RFQ reveals and accept use the SDK's clock-checked sends: with a
    measured clock a few ms off, direct sends were refused and no block ever settled."""
    from sealbatch.venue.live_demo import LiveTraders

    traders = LiveTraders("http://127.0.0.1:1")
    clients = [_EarlyClockClient() for _ in range(3)]
    traders._block(clients, "BTC-PERP", 650_000, 6)  # type: ignore[arg-type]
    assert traders.blocks == 1 and traders.refused == 0, traders.refusals
    assert clients[1].sent == clients[2].sent == ["reveal_quote_when_open"]
    assert clients[0].sent == ["accept_best_when_open"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--serve", "--port", "0"], "--port: expected 1 to 65535, got 0"),
        (["demo", "--serve", "--commit-ms", "100", "--reveal-ms", "200"], "expected 10 <= reveal"),
        (["demo", "--serve", "--reveal-ms", "3"], "expected 10 <= reveal"),
    ],
)
def test_demo_serve_refuses_bad_options(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_live_config_needs_a_requester_and_two_makers() -> None:
    with pytest.raises(ValueError, match="traders: expected at least 3, got 2"):
        LiveDemoConfig(traders=2)


def test_demo_serve_says_when_its_port_is_taken(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err  # errors on stderr, like every command's
    assert f"port {port}: expected a free port on 127.0.0.1, got" in err
