"""A published batch with one value of another type, out of its range or missing:
``sealbatch verify --public`` and ``sealbatch replay`` each name the file and the field
(the readers check every value where they read it, settlement/published_values.py),
exit with their documented code, never print a traceback, and change no file.

Every file of a demo batch is attacked: wrong type, negative, 2^64, a missing key, extra
nesting, a string that is not hex, a truncated list, a string for a list, a bool for an
integer. tests/settlement/test_batch_proof.py and tests/venue/test_replay.py keep the
mutations that once crashed the tools (found by mutating every value in turn).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sealbatch.crypto.proof import MAGIC
from sealbatch.venue.cli import main
from tests.venue.published_mutation import DELETE, set_csv, set_json

#: verify --public: a folder that gives no statement is an invalid proof of it (exit 1);
#: replay: a malformed file exits 2, a published value unlike the recomputed one 1.
VERIFY_NO_STATEMENT, REPLAY_MALFORMED, REPLAY_MISMATCH = 1, 2, 1

TRADER = "0x" + "ab" * 20
#: (file, path, value, the place the messages name, replay's exit code)
JSON_MUTATIONS: list[tuple[str, tuple[Any, ...], Any, str, int]] = [
    ("result.json", ("batch_id",), "3", "result.json: batch_id", 2),
    ("result.json", ("seed",), "0xzz", "result.json: seed", 2),
    ("result.json", ("markets",), ["BTC-PERP"], "result.json: markets", 2),
    ("result.json", ("markets", "BTC-PERP"), "x", "result.json: markets.BTC-PERP", 2),
    ("result.json", ("markets", "BTC-PERP", "price"), True, "markets.BTC-PERP.price", 2),
    ("result.json", ("markets", "BTC-PERP", "fills"), "x", "markets.BTC-PERP.fills", 2),
    (
        "result.json",
        ("markets", "BTC-PERP", "fills", 0, "quantity"),
        "7",
        "result.json: markets.BTC-PERP.fills[0].quantity",
        2,
    ),
    (
        "result.json",
        ("markets", "BTC-PERP", "fills", 0, "order_id"),
        DELETE,
        "result.json: markets.BTC-PERP.fills[0].order_id",
        2,
    ),
    ("result.json", ("forfeited",), {}, "result.json: forfeited", 2),
    ("result.json", ("forfeited", 0, "bond"), 2**64, "result.json: forfeited[0].bond", 2),
    ("result.json", ("forfeited", 0, "trader"), 1.5, "result.json: forfeited[0].trader", 2),
    ("result.json", ("carried", 0), [["nested"]], "result.json: carried[0]", 2),
    ("result.json", ("carried", 0, "quantity"), -1, "result.json: carried[0].quantity", 2),
    (
        "pre_state.json",
        ("accounts", 0, "address"),
        "0xzz",
        "pre_state.json: accounts[0].address",
        2,
    ),
    ("pre_state.json", ("accounts", 0, "subaccount"), -1, "accounts[0].subaccount", 2),
    ("pre_state.json", ("accounts", 0, "collateral"), 2**64, "accounts[0].collateral", 2),
    ("pre_state.json", ("accounts", 0, "positions"), "x", "accounts[0].positions", 2),
    ("pre_state.json", ("markets", "BTC-PERP", "calm"), -1, "markets.BTC-PERP.calm", 2),
    ("pre_state.json", ("fee_pool",), True, "pre_state.json: fee_pool", 2),
    ("pre_state.json", ("resting_orders", 0, "side"), "hold", "resting_orders[0].side", 2),
    (
        "pre_state.json",
        ("config", "markets", "BTC-PERP", "fee_bps"),
        "5",
        "pre_state.json: config.markets.BTC-PERP.fee_bps",
        2,
    ),
    (
        "pre_state.json",
        ("config", "markets", "BTC-PERP", "tiers", 0),
        [1000, 500],
        "pre_state.json: config.markets.BTC-PERP.tiers[0]",
        2,
    ),
    ("pre_state.json", ("config", "deleverage"), None, "pre_state.json: config.deleverage", 2),
    # replay recomputes the post-state and names the first field that differs
    ("post_state.json", ("accounts", 0, "address"), None, "accounts[0].address", 1),
    ("post_state.json", ("timestamp_ms",), "x", "timestamp_ms", 1),
    ("oracle.json", ("round_id",), 2**64, "oracle.json: round_id", 2),
    ("oracle.json", ("reports", 0, "source"), "x", "oracle.json: reports[0].source", 2),
    ("oracle.json", ("reports", 0, "price"), "607932", "oracle.json: reports[0].price", 2),
    ("oracle.json", ("reports",), "x", "oracle.json: reports", 2),
    ("oracle.json", ("config", "sources"), "x", "oracle.json: config.sources", 2),
    ("transfers.json", ("format",), "v0", "transfers.json: format", 2),
    ("transfers.json", ("deposits",), "x", "transfers.json: deposits", 2),
    (
        "transfers.json",
        ("deposits",),
        [{"address": "0xzz", "subaccount": 0, "amount": 1}],
        "transfers.json: deposits[0].address",
        2,
    ),
    (
        "transfers.json",
        ("withdrawals",),
        [{"address": TRADER, "subaccount": True, "amount": 5}],
        "transfers.json: withdrawals[0].subaccount",
        2,
    ),
    (
        "transfers.json",
        ("blocks",),
        [
            {
                "block_id": "0x12",
                "market": "BTC-PERP",
                "buyer": TRADER,
                "seller": TRADER,
                "price": 1,
                "quantity": 1,
                "batch_id": 3,
            }
        ],
        "transfers.json: blocks[0].block_id",
        2,
    ),
]
#: orders.csv: (row, column, text, the place the messages name)
CSV_MUTATIONS = [
    (1, "quantity", "x", "orders.csv row 1: quantity"),
    (1, "quantity", "1" + "0" * 20, "orders.csv row 1: quantity"),
    (1, "side", "hold", "orders.csv row 1: side"),
    (1, "trader", "0xzz", "orders.csv row 1: trader"),
    (2, "limit_price", "-1", "orders.csv row 2: limit_price"),
    (1, "bond", "true", "orders.csv row 1: bond"),
    (1, "order_id", "0x12", "orders.csv row 1: order_id"),
]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A demo batch with forfeits, carried orders and GTC rests (batch 3)."""
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--batches", "3", "--no-prove", "--out", str(out)]) == 0
    return {f.name: f.read_text() for f in (out / "batch-3").iterdir()}


def _both_tools(
    tmp_path: Path, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> tuple[tuple[int, str], tuple[int, str]]:
    """``verify --public`` and ``replay`` on the folder of ``files``: each one's exit code
    and output; and no file of the folder changed."""
    folder = tmp_path / "batch-3"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    proof = tmp_path / "proof.bin"
    proof.write_bytes(MAGIC + b"\0" * 64)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    capsys.readouterr()
    verify_code = main(["verify", str(proof), "--public", str(folder)])
    verify = capsys.readouterr()
    replay_code = main(["replay", str(folder)])
    replay = capsys.readouterr()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert "Traceback" not in verify.err + replay.err
    return (verify_code, verify.err), (replay_code, replay.out + replay.err)


def test_the_honest_batch_replays(tmp_path: Path, batch: dict[str, str], capsys: Any) -> None:
    (verify_code, verify_err), (replay_code, _) = _both_tools(tmp_path, batch, capsys)
    assert replay_code == 0
    # the proof is junk: the statement derives, the proof is refused
    assert verify_code == 1 and "gives no statement" not in verify_err


@pytest.mark.parametrize(
    ("name", "path", "value", "place", "replay_code"),
    JSON_MUTATIONS,
    ids=[f"{n}:{'.'.join(map(str, p))}={v!r}"[:70] for n, p, v, _, _ in JSON_MUTATIONS],
)
def test_a_malformed_json_value_is_named_by_both_tools(
    tmp_path: Path,
    batch: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    name: str,
    path: tuple[Any, ...],
    value: Any,
    place: str,
    replay_code: int,
) -> None:
    files = {**batch, name: set_json(batch[name], path, value)}
    (verify_code, verify_err), (code, replay_out) = _both_tools(tmp_path, files, capsys)
    assert verify_code == VERIFY_NO_STATEMENT
    assert "gives no statement" in verify_err and place in verify_err, verify_err
    assert code == replay_code
    if code == REPLAY_MALFORMED:
        assert replay_out.startswith("sealbatch replay: error: ") and place in replay_out
    else:
        assert code == REPLAY_MISMATCH and f"MISMATCH .{place}" in replay_out, replay_out


@pytest.mark.parametrize(("row", "column", "text", "place"), CSV_MUTATIONS)
def test_a_malformed_orders_csv_cell_is_named_by_both_tools(
    tmp_path: Path,
    batch: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    row: int,
    column: str,
    text: str,
    place: str,
) -> None:
    files = {**batch, "orders.csv": set_csv(batch["orders.csv"], row, column, text)}
    (verify_code, verify_err), (replay_code, replay_out) = _both_tools(tmp_path, files, capsys)
    assert verify_code == VERIFY_NO_STATEMENT and place in verify_err, verify_err
    assert replay_code == REPLAY_MALFORMED and place in replay_out, replay_out


@pytest.mark.parametrize("text", ["", "\n"], ids=["empty", "blank line"])
@pytest.mark.parametrize("name", ["orders.csv", "result.json", "pre_state.json"])
def test_an_empty_published_file_is_unreadable_to_both_tools(
    tmp_path: Path, batch: dict[str, str], capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    """An empty file is not the file its format has, whether CSV (no header row) or JSON
    (not JSON): both tools exit 2 naming it, not 1 for a proof that has no statement."""
    files = {**batch, name: text}
    (verify_code, verify_err), (replay_code, replay_out) = _both_tools(tmp_path, files, capsys)
    folder = tmp_path / "batch-3"
    expected = "expected a CSV header row" if name.endswith(".csv") else "expected JSON"
    assert verify_code == 2
    assert verify_err.startswith(f"sealbatch verify: error: {folder / name}: {expected}")
    assert replay_code == 2
    assert replay_out.startswith(f"sealbatch replay: error: {folder / name}: {expected}")
