"""``sealbatch clear`` end to end: the JSON contract, the rules, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sealbatch.venue.cli import main

HEADER = "order_id,trader,side,limit_price,quantity\n"


def _write(tmp_path: Path, body: str, header: str = HEADER) -> str:
    path = tmp_path / "orders.csv"
    path.write_text(header + body, encoding="utf-8")
    return str(path)


def _clear_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["clear", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_json_has_exactly_the_documented_keys(tmp_path: Path, capsys) -> None:
    path = _write(
        tmp_path,
        "a,alice,buy,102,5\nb,bob,buy,100,3\nc,carol,sell,100,5\n"
        "d,dave,sell,102,3\ne,erin,buy,,2\n",
    )
    out = _clear_json(capsys, path)
    assert set(out) == {"price", "volume", "buy_volume", "sell_volume", "imbalance", "fills"}
    # At 102: demand = 5 (a) + 2 (market e) = 7, supply = 5 + 3 = 8; at 100 and 101 only
    # 5 lots execute, so 102 maximises volume.
    assert out["price"] == 102
    assert (out["volume"], out["buy_volume"], out["sell_volume"]) == (7, 7, 8)
    assert out["imbalance"] == 1
    fills = {f["order_id"]: f["quantity"] for f in out["fills"]}  # type: ignore[union-attr]
    assert sum(q for o, q in fills.items() if o in "abe") == 7  # buys
    assert sum(q for o, q in fills.items() if o in "cd") == 7  # sells
    assert fills["a"] == 5 and fills["e"] == 2 and "b" not in fills


def test_no_trade_prints_null_price(tmp_path: Path, capsys) -> None:
    out = _clear_json(capsys, _write(tmp_path, "a,alice,buy,99,5\nb,bob,sell,100,5\n"))
    assert out["price"] is None and out["volume"] == 0 and out["fills"] == []


def test_reference_breaks_ties(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, "a,alice,buy,110,5\nb,bob,sell,90,5\n")
    assert _clear_json(capsys, path, "--reference", "95")["price"] == 95
    assert _clear_json(capsys, path, "--reference", "200")["price"] == 110
    assert _clear_json(capsys, path)["price"] == 100  # midpoint of [90, 110]


def test_seed_decides_tied_remainder_lot(tmp_path: Path, capsys) -> None:
    # One sell lot against two equal bids: the seed alone decides who gets it.
    path = _write(tmp_path, "a,alice,buy,100,1\nb,bob,buy,100,1\nc,carol,sell,100,1\n")
    winners = set()
    for seed in ("00" * 32, "11" * 32, "22" * 32, "33" * 32, "44" * 32, "55" * 32):
        out = _clear_json(capsys, path, "--seed", seed)
        (buy,) = [f["order_id"] for f in out["fills"] if f["order_id"] != "c"]  # type: ignore[union-attr]
        winners.add(buy)
    assert winners == {"a", "b"}


def test_human_output(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, "a,alice,buy,100,4\nb,bob,sell,100,4\n")
    assert main(["clear", path]) == 0
    out = capsys.readouterr().out
    assert "price      100 ticks" in out and "volume     4 lots" in out


@pytest.mark.parametrize(
    ("body", "header", "needle"),
    [
        ("a,alice,buy,100,-5\n", HEADER, "row 1, field 'quantity'"),
        ("a,alice,buy,100,0\n", HEADER, "row 1, field 'quantity'"),
        # More digits than int() converts (4300): out of range, not a ValueError.
        ("a,alice,buy,100," + "9" * 5000 + "\n", HEADER, "row 1, field 'quantity': expected an"),
        ("a,alice,buy," + "9" * 5000 + ",5\n", HEADER, "row 1, field 'limit_price': expected"),
        ("a,alice,buy,100,5\nb,bob,sell,1.5,5\n", HEADER, "row 2, field 'limit_price'"),
        ("a,alice,hold,100,5\n", HEADER, "row 1, field 'side'"),
        ("a,alice,buy,100,5\na,bob,sell,100,5\n", HEADER, "row 2, field 'order_id'"),
        ("a,alice,buy,100\n", HEADER, "row 1, field 'quantity'"),
        ("a,alice,buy,5\n", "order_id,trader,side,quantity\n", "field 'limit_price'"),
        ("", "", "empty file"),
        # A value past the header's last column (a shifted row) is refused, not dropped.
        ("a,alice,buy,100,5,7\n", HEADER, "row 1: expected 5 fields"),
        ("a,alice,buy,100,5,5\n", HEADER.strip() + ",quantity\n", "field 'quantity'"),
    ],
)
def test_bad_file_one_line_naming_row_and_field(
    tmp_path: Path, capsys, body: str, header: str, needle: str
) -> None:
    path = _write(tmp_path, body, header)
    assert main(["clear", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], captured.err


def test_unreadable_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["clear", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def _sparse(path: Path, size: int) -> str:
    """A file of ``size`` bytes that are holes: nothing written, nothing to read."""
    with path.open("wb") as f:
        f.truncate(size)
    return str(path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["dev-zero", "directory", "over-cap"])
def test_a_stream_a_folder_or_an_oversized_file_exits_2_at_once(
    tmp_path: Path, capsys, kind: str
) -> None:
    """``clear /dev/zero`` read until memory ran out; a file over the batch-file cap
    (docs/formats.md, "Size caps") is refused from its size, unread."""
    from sealbatch.settlement.input_files import BATCH_FILE_CAP

    if kind == "dev-zero":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero here")
        path, reason = "/dev/zero", "expected a regular file, got a character device"
    elif kind == "directory":
        path, reason = str(tmp_path), "expected a regular file, got a directory"
    else:
        path = _sparse(tmp_path / "orders.csv", BATCH_FILE_CAP.max_bytes + 1)
        reason = (
            f"expected at most 2 GiB (the cap on a batch file), "
            f"got {BATCH_FILE_CAP.max_bytes + 1} bytes"
        )
    assert main(["clear", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"sealbatch clear: error: cannot read {path}: {reason}\n"


def test_a_file_at_the_cap_is_read(tmp_path: Path, capsys, monkeypatch) -> None:
    """The cap refuses only what is over it: a book of exactly the cap's bytes clears."""
    from sealbatch.settlement import input_files

    path = _write(tmp_path, "a,alice,buy,100,5\nb,bob,sell,100,5\n")
    size = Path(path).stat().st_size
    monkeypatch.setattr(input_files, "BATCH_FILE_CAP", input_files.FileCap("a batch file", size))
    assert _clear_json(capsys, path)["volume"] == 5
    monkeypatch.setattr(
        input_files, "BATCH_FILE_CAP", input_files.FileCap("a batch file", size - 1)
    )
    assert main(["clear", path]) == 2
    assert f"expected at most {size - 1} bytes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--reference", "1.5"],
        ["--reference", "0"],
        # int() takes these; the CSV's prices are ASCII digits and so is the reference.
        ["--reference", "\u0663"],
        ["--reference", "1_000"],
        ["--reference", "9" * 5000],
        ["--seed", "zz"],
        ["--seed", "ab"],
    ],
    ids=["decimal", "zero", "arabic-digit", "underscore", "5000-digits", "seed-zz", "seed-ab"],
)
def test_bad_options_exit_2(tmp_path: Path, capsys, argv: list[str]) -> None:
    path = _write(tmp_path, "a,alice,buy,100,4\n")
    assert main(["clear", path, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"sealbatch clear: error: {argv[0]}: expected")


def test_market_column_must_name_one_market(tmp_path: Path, capsys) -> None:
    header = "market,order_id,trader,side,limit_price,quantity\n"
    body = "BTC-PERP,a,alice,buy,100,4\nETH-PERP,b,bob,sell,100,4\nBTC-PERP,c,carol,sell,99,4\n"
    path = _write(tmp_path, body, header)
    assert main(["clear", path]) == 2
    assert "--market" in capsys.readouterr().err
    out = _clear_json(capsys, path, "--market", "BTC-PERP")
    assert out["volume"] == 4 and {f["order_id"] for f in out["fills"]} == {"a", "c"}  # type: ignore[union-attr]


def test_a_market_selection_matching_no_row_is_refused(tmp_path: Path, capsys) -> None:
    """``--market`` naming a market the file does not have (a typo) exits 2 naming the
    markets it has, instead of clearing an empty book as "no trade"."""
    header = "market,order_id,trader,side,limit_price,quantity\n"
    path = _write(tmp_path, "BTC-PERP,a,alice,buy,100,4\nETH-PERP,b,bob,sell,100,4\n", header)
    assert main(["clear", path, "--market", "BTC-PREP", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "field 'market': expected rows of market 'BTC-PREP', got only BTC-PERP, ETH-PERP" in (
        captured.err
    )
