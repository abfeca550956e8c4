"""orders.csv publishes each revealed order's client id, salt and bond: `sealbatch replay`
recomputes every revealed order's commitment and, with the bonds, the commitment root;
a folder without the columns (published before them) gets an error naming the missing
column."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from sealbatch.settlement.batch_air.statement import read_batch_dir, statement_from_files
from sealbatch.settlement.errors import BatchStatementError
from sealbatch.venue.cli import main


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--batches", "2", "--no-prove", "--out", str(out)]) == 0
    return out / "batch-2"


def _rows(folder: Path) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO((folder / "orders.csv").read_text()))
    return list(reader.fieldnames or ()), list(reader)


def _rewrite(
    src: Path, dst: Path, edit: Callable[[list[str], list[dict[str, str]]], list[str]]
) -> Path:
    folder = dst / "batch"
    shutil.copytree(src, folder)
    header, rows = _rows(folder)
    header = edit(header, rows)
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    (folder / "orders.csv").write_text(out.getvalue())
    return folder


def test_revealed_orders_publish_their_salts(published: Path) -> None:
    header, rows = _rows(published)
    assert header[-3:] == ["client_id", "salt", "bond"]
    revealed = [r for r in rows if r["salt"]]
    assert revealed, "the demo's batch 2 reveals orders"
    for r in revealed:
        assert r["salt"].startswith("0x") and len(r["salt"]) == 66
        assert r["client_id"].isdigit()
        assert r["bond"].isdigit() and int(r["bond"]) < 1 << 30
    assert all(not r["bond"] for r in rows if not r["salt"])


def _first_revealed(rows: list[dict[str, str]]) -> dict[str, str]:
    return next(r for r in rows if r["salt"])


def _other_salt(header: list[str], rows: list[dict[str, str]]) -> list[str]:
    r = _first_revealed(rows)
    r["salt"] = "0x" + ("00" if r["salt"][2:4] != "00" else "11") + r["salt"][4:]
    return header


def _more_lots(header: list[str], rows: list[dict[str, str]]) -> list[str]:
    # The operator publishes a bigger order than the trader committed to.
    _first_revealed(rows)["quantity"] = str(int(_first_revealed(rows)["quantity"]) + 1)
    return header


def _other_client_id(header: list[str], rows: list[dict[str, str]]) -> list[str]:
    r = _first_revealed(rows)
    r["client_id"] = str(int(r["client_id"]) + 1)
    return header


def _no_salt(header: list[str], rows: list[dict[str, str]]) -> list[str]:
    r = _first_revealed(rows)
    r["salt"] = r["client_id"] = r["bond"] = ""
    return header


@pytest.mark.parametrize("edit", [_other_salt, _more_lots, _other_client_id, _no_salt])
def test_replay_recomputes_each_revealed_commitment(
    published: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[list[str], list[dict[str, str]]], list[str]],
) -> None:
    assert main(["replay", str(published)]) == 0
    capsys.readouterr()
    folder = _rewrite(published, tmp_path, edit)
    assert main(["replay", str(folder)]) == 1
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("orders.csv commitments")]
    assert lines and "MISMATCH" in lines[0], out
    # the statement a verifier derives refuses the folder too, naming the row
    with pytest.raises(BatchStatementError, match=r"orders\.csv row"):
        statement_from_files(read_batch_dir(folder))


def _other_bond(header: list[str], rows: list[dict[str, str]]) -> list[str]:
    r = _first_revealed(rows)
    r["bond"] = str(int(r["bond"]) + 1)
    return header


def test_a_revealed_order_with_another_bond_is_a_seed_mismatch(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The leaf binds the bond the trader signed: another bond in orders.csv gives
    another commitment root than the published seed, in replay and in the prover's
    statement (which recomputes the seed; the AIR's own refusal, S8 completeness, is
    test_batch_air_clearing's)."""
    folder = _rewrite(published, tmp_path, _other_bond)
    assert main(["replay", str(folder)]) == 1
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("result.json seed")]
    assert lines and "MISMATCH" in lines[0], out
    assert main(["prove", str(folder), "-o", str(tmp_path / "p.bin")]) == 1
    assert "result.json seed: published" in capsys.readouterr().err


def _drop_columns(header: list[str], rows: list[dict[str, str]]) -> list[str]:
    return [h for h in header if h not in ("client_id", "salt", "bond")]


def _drop_bond(header: list[str], rows: list[dict[str, str]]) -> list[str]:
    return [h for h in header if h != "bond"]


def test_a_folder_without_bonds_names_the_missing_column(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _rewrite(published, tmp_path, _drop_bond)
    with pytest.raises(BatchStatementError, match="missing bond"):
        statement_from_files(read_batch_dir(folder))
    assert main(["replay", str(folder)]) == 2
    assert "missing bond" in capsys.readouterr().err


def test_a_folder_without_salts_names_the_missing_column(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _rewrite(published, tmp_path, _drop_columns)
    with pytest.raises(BatchStatementError, match="missing client_id,salt,bond"):
        statement_from_files(read_batch_dir(folder))
    # prove refuses the batch (exit 1), naming the column; verify derives the same statement
    assert main(["prove", str(folder), "-o", str(tmp_path / "p.bin")]) == 1
    assert "missing client_id,salt,bond" in capsys.readouterr().err
    assert main(["replay", str(folder)]) == 2
    assert "missing client_id,salt,bond" in capsys.readouterr().err


@pytest.mark.parametrize("field", ["bond", "trader"])
def test_a_forfeit_published_with_another_bond_or_trader_is_a_seed_mismatch(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    """The operator publishes a forfeit with a smaller bond, or charges it to another
    trader: its leaf is not the one under the published seed (and its signed commit
    no longer matches either)."""
    folder = tmp_path / "batch"
    shutil.copytree(published, folder)
    result = json.loads((folder / "result.json").read_text())
    order_forfeits = [f for f in result["forfeited"] if f.get("rfq_id") is None]
    assert order_forfeits, "the demo's batch 2 forfeits a commitment"
    f = order_forfeits[0]
    f[field] = f["bond"] - 1 if field == "bond" else "0x" + "77" * 20
    (folder / "result.json").write_text(json.dumps(result))
    assert main(["replay", str(folder)]) == 1
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("result.json seed")]
    assert lines and "MISMATCH" in lines[0], out


def test_a_field_beyond_the_header_is_refused_naming_the_row(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value appended to a row of orders.csv, under no column, is not read past:
    replay exits 2 naming the row, and the verifier derives no statement."""
    folder = tmp_path / "batch"
    shutil.copytree(published, folder)
    lines = (folder / "orders.csv").read_text().splitlines()
    lines[1] += ",7"
    (folder / "orders.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(BatchStatementError, match=r"orders\.csv row 1: expected 12 fields"):
        statement_from_files(read_batch_dir(folder))
    assert main(["replay", str(folder)]) == 2
    assert "orders.csv row 1: expected 12 fields" in capsys.readouterr().err
