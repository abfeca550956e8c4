"""``sealbatch serve``: parser, defaults and bad input (exit 2)."""

from __future__ import annotations

import pytest

from sealbatch.venue.cli import build_parser, main


def test_serve_defaults_bind_to_loopback() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.db, args.l1) == ("127.0.0.1", 8000, None, None)


@pytest.mark.parametrize(
    "argv", [["serve", "--port", "0"], ["serve", "--commit-ms", "5"], ["serve", "--reveal-ms", "2"]]
)
def test_serve_refuses_bad_settings(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "sealbatch serve: error:" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "venue.example"])
def test_serve_refuses_public_addresses_with_the_dev_defaults(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from sealbatch.venue.cli import main

    assert main(["serve", "--host", host, "--port", "18123"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve" in err and "SEALBATCH_OPERATOR_KEY" in err
    assert "--public-dev" in err


def test_public_dev_check_allows_loopback_and_safe_settings() -> None:
    from sealbatch.venue.commands.serve import _public_dev_defaults
    from sealbatch.venue.settings import Settings

    dev = Settings()
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert _public_dev_defaults(host, dev) is None
    safe = Settings(operator_key="0x" + "42" * 32, unbacked_deposits=False)
    assert _public_dev_defaults("0.0.0.0", safe) is None
    only_key = Settings(operator_key="0x" + "42" * 32)
    problem = _public_dev_defaults("0.0.0.0", only_key)
    assert problem is not None and "without an L1" in problem and "operator key" not in problem
