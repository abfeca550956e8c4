"""``sealbatch serve``: parser, defaults and bad input (exit 2)."""

from __future__ import annotations

import pytest

from venue.cli import build_parser, main


def test_serve_defaults_bind_to_loopback() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.db, args.l1) == ("127.0.0.1", 8000, None, None)


@pytest.mark.parametrize(
    "argv", [["serve", "--port", "0"], ["serve", "--commit-ms", "5"], ["serve", "--reveal-ms", "2"]]
)
def test_serve_refuses_bad_settings(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "sealbatch serve: error:" in capsys.readouterr().err
