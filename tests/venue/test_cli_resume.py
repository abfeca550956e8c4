"""``sealbatch resume``: bad input exits 2 with one line saying which command and what."""

from __future__ import annotations

import pytest

from sealbatch.venue.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--batch", "-1"], "--batch: expected a batch id >= 0, got -1"),
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
