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
    assert message in capsys.readouterr().out


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
    out = capsys.readouterr().out
    assert f"port {port}: expected a free port on 127.0.0.1, got" in out
