"""``sealbatch keyper run``: a venue URL no request could reach is refused before it starts.

The keyper's loops log a venue that does not answer and try again, so a URL
that can never work left a keyper running that dealt nothing: ``127.0.0.1:8000``
(no scheme) logged the same warning for ever, and a port past 65535 ended its
loops at the first request without a word while the process ran on and exited 0.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sealbatch.venue.cli import main


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("committee") / "keys"
    assert main(["keyper", "init", "--threshold", "2", "--size", "3", "--out", str(out)]) == 0
    return out


def _run(keys: Path, venue: str, port: int = 18199, lifetime: int = 2) -> int:
    return main(
        [
            "keyper",
            "run",
            "--key",
            str(keys / "keyper-1.json"),
            "--committee",
            str(keys / "committee.json"),
            "--venue",
            venue,
            "--port",
            str(port),
            "--lifetime",
            str(lifetime),
        ]
    )


@pytest.mark.parametrize(
    "venue",
    [
        "http://127.0.0.1:187511",  # a port past 65535
        "http://127.0.0.1:0",
        "127.0.0.1:8000",  # no scheme
        "localhost:8000",
        "ftp://127.0.0.1:8000",
        "http://",
        "http://127.0.0.1:80x",
    ],
)
def test_a_venue_url_no_request_could_reach_exits_2_at_once(
    keys: Path, venue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.monotonic()
    assert _run(keys, venue) == 2
    assert time.monotonic() - start < 1.5  # refused, not run for its --lifetime
    err = capsys.readouterr().err
    assert err == (
        "sealbatch keyper: error: venue: expected an http:// or https:// URL with a host "
        f"and a port from 1 to 65535, got {venue!r}\n"
    )


def test_a_loop_that_fails_stops_the_keyper_with_exit_1(
    keys: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dealing and release loops log a venue that does not answer and retry; any
    other error ended a loop without a word while the keyper ran on, serving its status
    and dealing nothing. Now the keyper stops, names the loop and the error, and exits 1
    (a supervisor restarts it) well before its --lifetime."""
    from sealbatch.venue.keyper import Keyper

    async def broken(self: Keyper) -> None:
        raise RuntimeError("an error the loop does not retry")

    monkeypatch.setattr(Keyper, "deal_loop", broken)
    start = time.monotonic()
    # nothing answers at port 9: the release loop retries
    code = _run(keys, "http://127.0.0.1:9", port=18198, lifetime=120)
    assert code == 1
    assert time.monotonic() - start < 60  # stopped, not run for its --lifetime
    err = capsys.readouterr().err
    assert err.endswith(
        "sealbatch keyper: error: the dealing loop stopped: "
        "RuntimeError: an error the loop does not retry\n"
    ), err
