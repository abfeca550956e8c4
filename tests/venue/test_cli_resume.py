"""``sealbatch resume``: bad input exits 2 with one line saying which command and what."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from sealbatch.venue.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--batch", "-1"], "--batch: expected a batch id >= 0, got -1"),
        (
            ["--batch", str(1 << 64)],
            f"--batch: expected a batch id below 2^64 (a uint64), got {1 << 64}",
        ),
        (["--batch", "3", "--ttl-ms", "5"], "--ttl-ms: expected 1000 to 3600000, got 5"),
        (["--batch", "3", "--url", "http://127.0.0.1:9"], "expected a venue answering"),
        (["--batch", "3", "--url", "no-scheme"], "no-scheme: expected a venue answering"),
    ],
)
def test_resume_bad_input_names_the_command(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["resume", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sealbatch resume: error: ") and needle in err[0]


def test_resume_refuses_a_malformed_operator_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEALBATCH_OPERATOR_KEY", "0x1234")
    assert main(["resume", "--batch", "3", "--url", "http://127.0.0.1:9"]) == 2
    assert capsys.readouterr().err.startswith("sealbatch resume: error: SEALBATCH_OPERATOR_KEY")


class _NotAVenue(http.server.BaseHTTPRequestHandler):
    """Answers every GET with 200 and the body its server was given (an HTML page,
    another service's JSON): a URL that answers but is not a venue."""

    def do_GET(self) -> None:
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_a_venue() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _NotAVenue)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    "body",
    [
        b"<html>a web page</html>",
        b'{"domain": {}}',
        b'["not", "an", "object"]',
        b'{"domain": {"name": "sealbatch", "version": "1", "chainId": "x", '
        b'"verifyingContract": "0x0000000000000000000000000000000000000001"}, '
        b'"operator": "0x0", "now_ms": 1}',
    ],
    ids=["html", "empty-domain", "list", "chain-id-not-a-number"],
)
def test_resume_names_a_url_that_is_not_a_venue(
    not_a_venue: http.server.HTTPServer, body: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_venue.body = body  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{not_a_venue.server_address[1]}"
    assert main(["resume", "--batch", "3", "--url", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"sealbatch resume: error: {url}: expected a venue's /v1/info"
    )


@pytest.mark.parametrize("key", ["0x" + "00" * 32, "0x" + "ff" * 32], ids=["zero", "above-n"])
def test_resume_refuses_a_key_outside_the_curve_order(
    key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEALBATCH_OPERATOR_KEY", key)
    assert main(["resume", "--batch", "3", "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sealbatch resume: error: SEALBATCH_OPERATOR_KEY")
