"""``sealbatch lab run`` and ``sealbatch lab lobster-replay`` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealbatch.venue.cli import main

SCENARIOS = Path(__file__).resolve().parents[2] / "research" / "scenarios"


def test_lab_run_writes_a_report_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [
        "lab", "run", str(SCENARIOS / "sandwich.yaml"), "--seeds", "2", "--horizon", "1",
        "--scheduler", "sync", "--out", str(out), "--no-progress", "--lobster",
        "--set", "sweep=null",
    ]  # fmt: skip
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert "6 runs of sandwich" in stdout and "clob" in stdout
    for name in ("results.csv", "manifest.json", "report.md", "adversary_pnl_by_mechanism.png"):
        assert (out / name).exists()
    for mech in ("clob", "fba-100ms", "cr-100ms"):
        for seed in (0, 1):
            assert (out / "lobster" / f"{mech}-seed{seed}_message_10.csv").exists()
            assert (out / "lobster" / f"{mech}-seed{seed}_orderbook_10.csv").exists()
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_default_out_dir_is_new_each_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = [
        "lab", "run", str(SCENARIOS / "sniping.yaml"), "--seeds", "1", "--horizon", "0.5",
        "--scheduler", "sync", "--no-progress", "--set", "sweep=null",
    ]  # fmt: skip
    assert main(args) == 0
    assert main(args) == 0
    assert (tmp_path / "lab-out" / "sniping" / "report.md").exists()
    assert (tmp_path / "lab-out" / "sniping-2" / "report.md").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "adversaries.snipr.enabled=true"], "field path"),
        (["--seeds", "0"], "--seeds"),
        (["--set", "nonsense"], "PATH=VALUE"),
        (["--crypto-workers", "-1"], "--crypto-workers: expected at least 0, got -1"),
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = ["lab", "run", str(SCENARIOS / "sniping.yaml"), "--out", str(tmp_path / "o"), *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_crypto_workers_change_no_outcome(tmp_path: Path) -> None:
    """``--crypto-workers 1`` on a local Dask cluster (its workers then start
    processes of their own) gives the rows the in-place run gives, timings aside."""
    import pandas as pd

    only_cr = "mechanisms=[{kind: cr_fba, interval_ms: 100, reveal_ms: 20, bond: 10}]"
    common = ["lab", "run", "sequencer", "--seeds", "2", "--horizon", "0.6", "--no-progress",
              "--set", "sweep=null", "--set", only_cr]  # fmt: skip
    assert main([*common, "--scheduler", "sync", "--out", str(tmp_path / "in_place")]) == 0
    pooled = ["--workers", "1", "--crypto-workers", "1", "--out", str(tmp_path / "pooled")]
    assert main([*common, *pooled]) == 0
    a, b = (pd.read_csv(tmp_path / d / "results.csv") for d in ("in_place", "pooled"))
    assert (a["crypto_worker_cpu_s"] == 0).all() and (b["crypto_worker_cpu_s"] > 0).all()
    timings = ["wall_s", "loop_s", "loop_cpu_s", "events_per_s", "venue_code_s"]
    a, b = (df.drop(columns=[*timings, "crypto_worker_cpu_s"]) for df in (a, b))
    assert len(a) == 2 and set(a["mechanism"]) == {"cr-100ms"}
    assert a["commits"].min() > 0 and a["forfeits"].sum() > 0
    pd.testing.assert_frame_equal(a, b)


def test_shipped_scenario_by_name(tmp_path: Path) -> None:
    args = ["lab", "run", "sniping", "--seeds", "1", "--horizon", "0.5", "--scheduler", "sync",
            "--out", str(tmp_path / "o"), "--no-progress", "--set", "sweep=null"]  # fmt: skip
    assert main(args) == 0
    assert (tmp_path / "o" / "results.csv").exists()


def test_the_help_names_every_shipped_scenario_and_study(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``lab run --help`` lists every name ``lab run`` takes (each YAML file shipped)."""
    with pytest.raises(SystemExit) as stop:
        main(["lab", "run", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    studies = SCENARIOS.parent / "studies"
    for folder in (SCENARIOS, studies):
        names = sorted(p.stem for p in folder.glob("*.yaml"))
        assert len(names) >= 2
        for name in names:
            assert name in text, name
    assert "commit_encrypt" in text


def test_missing_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "run", str(tmp_path / "nope.yaml")]) == 2
    assert "readable YAML" in capsys.readouterr().err


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:1", "nonsense://x:y:z"])
def test_a_scheduler_that_does_not_answer_exits_2_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    address: str,
) -> None:
    from sealbatch.research import sweep

    monkeypatch.setattr(sweep, "SCHEDULER_TIMEOUT", "1s")
    args = ["lab", "run", "sniping", "--seeds", "1", "--horizon", "0.5", "--scheduler", address,
            "--out", str(tmp_path / "o"), "--no-progress", "--set", "sweep=null"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"sealbatch lab: error: --scheduler: cannot reach a Dask scheduler at {address!r}"
    )
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("under", ["file", "file/deeper"])
def test_an_out_folder_under_a_file_is_refused_before_the_runs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    under: str,
) -> None:
    from sealbatch.research import sweep

    def no_runs(*args: object, **kwargs: object) -> None:
        raise AssertionError("the runs started")

    monkeypatch.setattr(sweep, "run_sweep", no_runs)
    (tmp_path / "file").write_text("x")
    out = tmp_path / under / "report"
    args = ["lab", "run", "sniping", "--seeds", "1", "--scheduler", "sync",
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"sealbatch lab: error: --out: expected a directory, got the file {tmp_path / 'file'}\n"
    )
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize(
    ("content", "what"),
    [
        pytest.param(b"\xff\xfe mechanisms: [clob]\n", "scenario", id="scenario"),
        pytest.param(b"experiments:\n  a: {}\n\xff\n", "study", id="study"),
    ],
)
def test_a_scenario_that_is_not_utf8_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, what: str
) -> None:
    """Non-UTF-8 bytes are an unreadable file (exit 2, one line), never a traceback."""
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    assert main(["lab", "run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sealbatch lab: error: {path}: expected a readable YAML ")
    assert "utf-8" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            "horizon_s: -1\n", "horizon_s: expected > 0, got -1.0", id="scenario-out-of-range"
        ),
        pytest.param(
            "mechanisms:\n  - kind: batch\n    bogus: 3\n",
            "mechanisms.0.bogus: expected a known field, got 'bogus'",
            id="scenario-unknown-field",
        ),
        pytest.param(
            "seeds: 0\nexperiments:\n  - name: a\n",
            "study.seeds: expected an integer >= 1, got 0",
            id="study-seeds",
        ),
        pytest.param(
            "scenario:\n  horizon_s: -1\nexperiments:\n  - name: a\n",
            "horizon_s: expected > 0, got -1.0",
            id="study-scenario-field",
        ),
    ],
)
def test_a_bad_field_exits_2_naming_the_file_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    out = tmp_path / "out"
    assert main(["lab", "run", str(path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"sealbatch lab: error: {path}: {message}\n"
    assert not out.exists()


def test_lobster_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.csv"
    path.write_text("34200.000000000,1,1,2,1000000,-1\n34200.010000000,4,1,2,1000000,-1\n")
    assert main(["lab", "lobster-replay", str(path), "--interval-ms", "50"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "batch,time_ns,price,volume,orders"
    assert "traded 2 lots" in captured.err
    bad = tmp_path / "bad.csv"
    bad.write_text("x\n")
    assert main(["lab", "lobster-replay", str(bad)]) == 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["run", "lobster-replay"])
def test_a_device_or_a_folder_is_refused_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """``lab run /dev/zero`` and ``lab lobster-replay /dev/zero`` read until memory ran
    out: exit 2 at once, one line naming the file (docs/formats.md, "Size caps")."""
    targets = [(tmp_path, "a directory")]
    if Path("/dev/zero").exists():
        targets.append((Path("/dev/zero"), "a character device"))
    for path, found in targets:
        assert main(["lab", command, str(path)]) == 2
        err = capsys.readouterr().err
        assert err == f"sealbatch lab: error: {path}: expected a regular file, got {found}\n"


@pytest.mark.parametrize(
    ("content", "what", "key", "line"),
    [
        pytest.param(
            "horizon_s: 1\nseeds: 2\nhorizon_s: 5\n", "scenario", "horizon_s", 3, id="top"
        ),
        pytest.param(
            "mechanisms:\n  - kind: batch\n    interval_ms: 100\n    interval_ms: 200\n",
            "scenario",
            "interval_ms",
            4,
            id="in-a-list",
        ),
        pytest.param(
            "experiments:\n  - name: a\n    name: b\n", "study", "name", 3, id="study-experiment"
        ),
        pytest.param(
            "seeds: 2\nexperiments:\n  - name: a\nseeds: 3\n", "study", "seeds", 4, id="study-top"
        ),
    ],
)
def test_a_key_twice_in_a_scenario_or_study_exits_2_naming_the_file_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, what: str, key: str, line: int
) -> None:
    """yaml.safe_load kept the last value: the run would differ from what a reader of
    the file sees first. Refused before any run, in one line."""
    path = tmp_path / "twice.yaml"
    path.write_text(content)
    out = tmp_path / "out"
    assert main(["lab", "run", str(path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"sealbatch lab: error: {path}: expected a readable YAML {what}, "
        f'got the key "{key}" twice in one mapping (line {line})\n'
    )
    assert not out.exists()


@pytest.mark.parametrize("target", ["sniping", "bcs2015"], ids=["scenario", "study"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "fundamental={sigma: 1, sigma: 2}",
            '--set fundamental: expected a YAML value, got the key "sigma" twice in one mapping '
            "(line 1)",
        ),
        ("sweep=[1, ", "--set sweep: expected a YAML value, got expected the node content"),
    ],
    ids=["key-twice", "not-yaml"],
)
def test_a_set_value_with_a_key_twice_or_not_yaml_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, value: str, message: str
) -> None:
    out = tmp_path / "out"
    assert main(["lab", "run", target, "--out", str(out), "--set", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sealbatch lab: error: {message}") and len(err.splitlines()) == 1
    assert not out.exists()
