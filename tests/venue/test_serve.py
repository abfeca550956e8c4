"""``sealbatch serve``: parser, defaults and bad input (exit 2)."""

from __future__ import annotations

import argparse
from pathlib import Path

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


@pytest.mark.parametrize(
    ("option", "field"), [("--commit-ms", "commit"), ("--reveal-ms", "reveal")]
)
def test_a_zero_window_is_refused_not_taken_for_the_default(
    option: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 is a value: it is checked like any other, not read as "not given"."""
    assert main(["serve", "--port", "18123", option, "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sealbatch serve: error: {field}_window_ms: expected at least ")
    assert err.endswith(", got 0\n")


def test_a_bound_is_said_with_the_value_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "18123", "--prove-workers", "0"]) == 2
    err = capsys.readouterr().err
    assert err == "sealbatch serve: error: prove_workers: expected at least 1, got 0\n"


def test_serve_refuses_a_file_as_the_publish_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "published"
    path.write_text("")
    assert main(["serve", "--port", "18123", "--no-prove", "--publish", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"sealbatch serve: error: --publish: expected a directory, got the file {path}\n"


def test_serve_refuses_a_publish_folder_it_cannot_make_before_binding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped parent is refused, not created; a file in the parent's place too."""
    (tmp_path / "a-file").write_text("")
    cases = {
        tmp_path / "missing" / "published": "expected an existing parent folder for "
        f"{tmp_path / 'missing' / 'published'}, {tmp_path / 'missing'} does not exist",
        tmp_path / "a-file" / "published": "expected a directory, got the file "
        f"{tmp_path / 'a-file'}",
    }
    for path, problem in cases.items():
        assert main(["serve", "--port", "18123", "--no-prove", "--publish", str(path)]) == 2
        assert capsys.readouterr().err == f"sealbatch serve: error: --publish: {problem}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_serve_refuses_a_publish_folder_it_cannot_write_into(
    unwritable_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(unwritable_dir.iterdir())
    for path in (unwritable_dir, unwritable_dir / "published"):
        assert main(["serve", "--port", "18123", "--no-prove", "--publish", str(path)]) == 2
        err = capsys.readouterr().err
        expected = f"sealbatch serve: error: --publish: cannot write into {unwritable_dir}: "
        assert err.startswith(expected)
    assert sorted(unwritable_dir.iterdir()) == before


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
    safe = Settings(
        operator_key="0x" + "42" * 32, unbacked_deposits=False, oracle_sources="oracle.json"
    )
    assert _public_dev_defaults("0.0.0.0", safe) is None
    only_key = Settings(operator_key="0x" + "42" * 32, oracle_sources="oracle.json")
    problem = _public_dev_defaults("0.0.0.0", only_key)
    assert problem is not None and "without an L1" in problem and "operator key" not in problem
    # the public oracle keys alone are enough to refuse: anyone could move the marks
    dev_oracle = Settings(operator_key="0x" + "42" * 32, unbacked_deposits=False)
    problem = _public_dev_defaults("0.0.0.0", dev_oracle)
    assert (
        problem is not None and "oracle keys" in problem and "SEALBATCH_ORACLE_SOURCES" in problem
    )
    assert "without an L1" not in problem and "operator key" not in problem


def _oracle_file(tmp_path: object, **rules: object) -> str:
    import json
    from pathlib import Path

    from sealbatch.crypto.eip712 import address_of
    from sealbatch.crypto.keccak import keccak256

    sources = [
        {"address": address_of(keccak256(b"serve test oracle", bytes([i]))), "family": f}
        for i, f in enumerate(("a", "a", "b", "b"))
    ]
    path = Path(str(tmp_path)) / "oracle.json"
    path.write_text(json.dumps({"sources": sources, **rules}))
    return str(path)


def test_serve_refuses_public_address_with_dev_oracle_even_with_a_real_operator_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEALBATCH_OPERATOR_KEY", "0x" + "42" * 32)
    monkeypatch.setenv("SEALBATCH_UNBACKED_DEPOSITS", "false")
    assert main(["serve", "--host", "0.0.0.0", "--port", "18123"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve" in err and "oracle keys" in err


def test_serve_refuses_a_bad_oracle_sources_file(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _oracle_file(tmp_path, family_quorum=3)  # families of two cannot reach 3
    assert main(["serve", "--oracle-sources", path, "--port", "18123"]) == 2
    assert "family_quorum" in capsys.readouterr().err
    assert main(["serve", "--oracle-sources", path + ".missing", "--port", "18123"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_serve_says_which_development_defaults_are_on(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    from sealbatch.venue.commands import serve

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw["host"]))
    monkeypatch.setattr(serve, "_port_problem", lambda host, port: None)  # binds nothing
    monkeypatch.chdir(str(tmp_path))
    assert main(["serve", "--port", "18123"]) == 0
    err = capsys.readouterr().err
    assert started == ["127.0.0.1"]
    on = [line for line in err.splitlines() if "development default on:" in line]
    assert len(on) == 3
    assert "operator key" in on[0] and "oracle keys" in on[1] and "without an L1" in on[2]
    monkeypatch.setenv("SEALBATCH_OPERATOR_KEY", "0x" + "42" * 32)
    monkeypatch.setenv("SEALBATCH_UNBACKED_DEPOSITS", "false")
    path = _oracle_file(tmp_path)
    assert main(["serve", "--host", "0.0.0.0", "--oracle-sources", path, "--port", "18123"]) == 0
    assert "development default" not in capsys.readouterr().err
    assert started == ["127.0.0.1", "0.0.0.0"]


def test_the_oracle_sources_setting_is_read_from_the_environment(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealbatch.venue.settings import Settings

    path = _oracle_file(tmp_path)
    monkeypatch.setenv("SEALBATCH_ORACLE_SOURCES", path)
    settings = Settings()
    assert settings.oracle_sources == path
    assert not any("oracle" in d for d in settings.development_defaults())


def test_serve_refuses_a_taken_port_before_opening_anything(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A port in use is bad input: exit 2 naming it, and no database file created
    (uvicorn alone would open the venue first, then fail to bind with its own status 3)."""
    import socket
    from pathlib import Path

    import uvicorn

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw["host"]))
    db = Path(str(tmp_path)) / "venue.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--db", f"sqlite:///{db}"]) == 2
    err = capsys.readouterr().err
    assert f"--port {port}: expected a free port on 127.0.0.1, got" in err
    assert not started and not db.exists()


@pytest.mark.parametrize("url", ["nonsense://x", "not a url"])
def test_serve_refuses_a_bad_database_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A --db URL no driver opens: one line naming --db, exit 2 (not a traceback and 3)."""
    assert main(["serve", "--port", "18123", "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sealbatch serve: error: --db: expected a database URL" in err


def test_serve_maps_a_failed_start_to_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    """Whatever else stops the venue from starting (uvicorn exits 3): exit 2, said once."""
    import sys

    import uvicorn

    from sealbatch.venue.commands import serve

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: sys.exit(3))
    monkeypatch.setattr(serve, "_port_problem", lambda host, port: None)
    monkeypatch.chdir(str(tmp_path))
    assert main(["serve", "--port", "18123"]) == 2
    assert "the venue did not start" in capsys.readouterr().err


def test_a_bad_setting_is_one_line_naming_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    """The error is the validator's own sentence, without pydantic's "Value error, "."""
    assert main(["serve", "--port", "18123", "--verifying-contract", "0x1234"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sealbatch serve: error: verifying_contract: expected 0x and 40 hex")


def test_serve_runs_uvicorn_with_the_request_deadlines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """``--head-timeout-ms`` / ``--body-timeout-ms`` / ``--write-timeout-ms`` (else the
    settings' 10 s, 30 s and 30 s) reach the protocol uvicorn runs, which knows the app
    (for its 408's headers)."""
    import uvicorn

    from sealbatch.venue.commands import serve
    from sealbatch.venue.http_protocol import HeadWithBodyProtocol

    runs: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: runs.append((app, kw)))
    monkeypatch.setattr(serve, "_port_problem", lambda host, port: None)
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("SEALBATCH_PROVE", "false")
    assert main(["serve", "--port", "18123"]) == 0
    assert main(["serve", "--port", "18123", "--head-timeout-ms", "1500"]) == 0
    monkeypatch.setenv("SEALBATCH_BODY_TIMEOUT_MS", "2500")
    assert main(["serve", "--port", "18123"]) == 0
    assert main(["serve", "--port", "18123", "--write-timeout-ms", "750"]) == 0
    got = []
    for app, kw in runs:
        http = kw["http"]
        assert isinstance(http, type) and issubclass(http, HeadWithBodyProtocol)
        assert http.venue_app is app
        got.append((http.head_timeout_s, http.body_timeout_s, http.write_timeout_s))
    assert got == [(10, 30, 30), (1.5, 30, 30), (10, 2.5, 30), (10, 2.5, 0.75)]


@pytest.mark.parametrize("option", ["--head-timeout-ms", "--body-timeout-ms", "--write-timeout-ms"])
def test_serve_refuses_a_deadline_below_10_ms(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "18123", option, "5"]) == 2
    field = option.removeprefix("--").replace("-", "_")
    err = capsys.readouterr().err
    assert err == f"sealbatch serve: error: {field}: expected at least 10, got 5\n"


def test_serve_says_an_environment_bound_as_typed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # an environment variable's value reaches the settings as a string: the error
    # says it as the operator typed it, not as a quoted Python string
    monkeypatch.setenv("SEALBATCH_COMMIT_WINDOW_MS", "0")
    assert main(["serve", "--port", "18123"]) == 2
    err = capsys.readouterr().err
    assert err == "sealbatch serve: error: commit_window_ms: expected at least 10, got 0\n"


def test_the_oracle_sources_help_names_the_page_of_the_file_format() -> None:
    """README and docs/api.md send operators to docs/oracle.md for the sources file
    (its "Oracle sources: operator configuration" section); ``serve --help`` does too."""
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    serve = commands.choices["serve"]
    (option,) = [a for a in serve._actions if "--oracle-sources" in a.option_strings]
    assert option.help is not None and "docs/oracle.md" in option.help
    page = (Path(__file__).resolve().parents[2] / "docs" / "oracle.md").read_text()
    assert "## Oracle sources: operator configuration" in page


def test_an_l1_node_that_does_not_answer_is_one_line_before_binding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--l1 URL`` with no node there: the reason in one line, exit 2, and no uvicorn
    traceback of the app's failed start (the node is asked before the port is bound)."""
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    db = f"sqlite:///{tmp_path / 'venue.db'}"
    argv = ["serve", "--port", "18123", "--db", db, "--no-prove", "--l1", url]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"sealbatch serve: error: l1: expected a JSON-RPC node at {url}, got no answer\n"
    assert not (tmp_path / "venue.db").exists()


def test_a_dask_scheduler_that_does_not_answer_is_one_line_before_binding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--dask ADDRESS`` with no scheduler there: the reason in one line, exit 2, before
    the port is bound and the database is made (it was Dask's connection traceback from
    the app's failed start, then a wait on the client's shutdown)."""
    import socket

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = f"sqlite:///{tmp_path / 'venue.db'}"
    for address in (f"tcp://127.0.0.1:{port}", f"127.0.0.1:{port}"):
        assert main(["serve", "--port", "18124", "--db", db, "--dask", address]) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            f"sealbatch serve: error: --dask: no Dask scheduler answers at {address}: "
        ), err
        assert err.count("\n") == 1, err
    for address, expected in (
        ("tcp://127.0.0.1:70000", "expected a Dask scheduler port from 1 to 65535, got 70000"),
        ("tcp://127.0.0.1:x", "expected a Dask scheduler address such as tcp://host:8786"),
        ("tcp://", "expected a Dask scheduler address such as tcp://host:8786"),
    ):
        assert main(["serve", "--port", "18124", "--db", db, "--dask", address]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sealbatch serve: error: --dask: " + expected), err
    assert not (tmp_path / "venue.db").exists()


def test_a_listening_dask_scheduler_address_passes_the_check() -> None:
    """The check asks for a TCP connection only: a listening loopback port passes, with
    or without the scheme, and a scheme Dask runs without TCP is left to Dask."""
    import socket

    from sealbatch.venue.proving import dask_scheduler_problem

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        port = s.getsockname()[1]
        assert dask_scheduler_problem(f"tcp://127.0.0.1:{port}") is None
        assert dask_scheduler_problem(f"127.0.0.1:{port}/") is None
    assert dask_scheduler_problem("inproc://10.0.0.1/1/2") is None
