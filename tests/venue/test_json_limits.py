"""JSON that Python's parser cannot take other than by a syntax error — nested deeper than
its recursion limit (also behind a string pydantic-core's parser refuses first), or an
integer of more than 4300 digits — and an object that holds a key twice are an
unreadable file (one line naming it, exit 2), never a traceback or a silent pick of
one value: in replay, verify --public, the statement a verifier derives, the
committee, key and oracle sources files."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealbatch.settlement.batch_air.statement import read_batch_dir, statement_from_files
from sealbatch.settlement.errors import BatchStatementError, OracleError
from sealbatch.settlement.oracle import load_oracle_config
from sealbatch.venue.cli import main
from sealbatch.venue.committee import load_committee, load_key
from sealbatch.venue.errors import BadRequest

DEEP = "[" * 100_000 + "]" * 100_000
HUGE = '{"batch_id": ' + "9" * 5000 + "}"
#: json.loads takes the lone surrogate; pydantic-core's parser refuses it before the depth
SNEAKY = '["\\ud800",' + "[" * 100_000 + "]" * 100_001
UNREADABLE = [
    pytest.param(DEEP, id="deep"),
    pytest.param(SNEAKY, id="deep-behind-a-surrogate"),
    pytest.param(HUGE, id="huge"),
]


@pytest.fixture(autouse=True)
def raised_recursion_limit() -> Iterator[None]:
    """As py_ecc sets it on import (the in-process EVM): json.loads alone would then
    recurse 100 000 deep on the C stack and crash the process."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 100_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--batches", "2", "--no-prove", "--out", str(out)]) == 0
    return out / "batch-2"


@pytest.mark.parametrize("text", UNREADABLE)
@pytest.mark.parametrize("name", ["result.json", "pre_state.json", "oracle.json"])
def test_a_published_file_json_cannot_hold_is_unreadable(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    folder = tmp_path / "batch"
    shutil.copytree(published, folder)
    (folder / name).write_text(text)
    assert main(["replay", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sealbatch replay: error: {folder / name}: expected JSON, got ")
    assert len(err.splitlines()) == 1
    proof = tmp_path / "proof.bin"
    proof.write_bytes(b"SBSTARK\x02")
    assert main(["verify", str(proof), "--public", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sealbatch verify: error: {folder / name}: expected JSON, got ")
    with pytest.raises(BatchStatementError, match=f"{name}: expected JSON, got "):
        statement_from_files(read_batch_dir(folder))


@pytest.mark.parametrize("text", UNREADABLE)
def test_keyper_and_oracle_files_json_cannot_hold_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "file.json"
    path.write_text(text)
    with pytest.raises(BadRequest, match="expected a committee file"):
        load_committee(path)
    with pytest.raises(BadRequest, match="expected a keyper key file"):
        load_key(path)
    with pytest.raises(OracleError, match="expected JSON"):
        load_oracle_config(path)


def _with_first_key_twice(text: str) -> tuple[str, str]:
    """``text`` (a JSON object) with its first member given again, with another value."""
    key = next(iter(json.loads(text)))
    return "{" + json.dumps(key) + ": 0," + text.lstrip()[1:], key


@pytest.mark.parametrize("name", ["result.json", "pre_state.json", "oracle.json", "transfers.json"])
def test_a_published_file_with_a_key_twice_is_unreadable(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    folder = tmp_path / "batch"
    shutil.copytree(published, folder)
    text, key = _with_first_key_twice((folder / name).read_text())
    (folder / name).write_text(text)
    refusal = f'{folder / name}: expected JSON, got the key "{key}" twice in one object'
    assert main(["replay", str(folder)]) == 2
    assert capsys.readouterr().err == f"sealbatch replay: error: {refusal}\n"
    proof = tmp_path / "proof.bin"
    proof.write_bytes(b"SBSTARK\x02")
    assert main(["verify", str(proof), "--public", str(folder)]) == 2
    assert capsys.readouterr().err == f"sealbatch verify: error: {refusal}\n"
    with pytest.raises(BatchStatementError, match=f'{name}: expected JSON, got the key "{key}"'):
        statement_from_files(read_batch_dir(folder))


def test_keyper_and_oracle_files_with_a_key_twice_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "file.json"
    path.write_text('{"format": "x", "threshold": 1, "format": "y"}')
    twice = 'got the key "format" twice in one object'
    with pytest.raises(BadRequest, match=f"expected a committee file, {twice}"):
        load_committee(path)
    with pytest.raises(BadRequest, match=f"expected a keyper key file, {twice}"):
        load_key(path)
    with pytest.raises(OracleError, match=f"expected JSON in {path}, {twice}"):
        load_oracle_config(path)


@pytest.mark.parametrize(
    ("column", "needle"),
    [
        ("limit_price", "limit_price: expected an integer from 1 to"),
        ("quantity", "quantity: expected an integer from 1 to"),
        ("origin_batch", "origin_batch: expected an integer from 0 to"),
        ("client_id", "client_id: expected a uint64"),
        ("bond", "bond: expected base units from 0 to"),
    ],
)
def test_an_orders_csv_number_of_more_digits_than_int_converts_is_out_of_range(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], column: str, needle: str
) -> None:
    """A 5000-digit number in orders.csv is out of its field's range (replay exit 2,
    verify exit 1, both naming the row and field), not int()'s ValueError traceback."""
    folder = tmp_path / "batch"
    shutil.copytree(published, folder)
    with (folder / "orders.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    revealed = next(r for r in rows if r["bond"])  # a row with client_id, salt and bond
    revealed[column] = "9" * 5000
    with (folder / "orders.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    assert main(["replay", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sealbatch replay: error: {folder}: orders.csv row ")
    assert needle in err and len(err.splitlines()) == 1
    proof = tmp_path / "proof.bin"
    proof.write_bytes(b"SBSTARK\x02")
    assert main(["verify", str(proof), "--public", str(folder)]) == 1
    err = capsys.readouterr().err
    assert needle in err and len(err.splitlines()) == 1
    with pytest.raises(BatchStatementError, match=needle):
        statement_from_files(read_batch_dir(folder))
