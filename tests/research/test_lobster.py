"""LOBSTER export (message + order-book files), import and batch-auction replay."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sealbatch.research.errors import LobsterFormatError
from sealbatch.research.lobster import (
    EMPTY_ASK,
    EMPTY_BID,
    export_lobster,
    read_lobster_messages,
    replay_batch_auction,
)
from sealbatch.research.runner import run_simulation
from sealbatch.research.scenario import MechanismSpec, scenario_from_dict


def _book_from_messages(path: Path) -> list[tuple[int, int, int, int]]:
    """Rebuild the top of book after every message from the messages alone."""
    orders: dict[int, list[int]] = {}
    tops = []
    for m in read_lobster_messages(path):
        if m.kind == 1:
            orders[m.order_id] = [m.direction, m.price, m.size]
        elif m.kind in (2, 4):
            orders[m.order_id][2] -= m.size
            if orders[m.order_id][2] == 0:
                del orders[m.order_id]
        elif m.kind == 3:
            del orders[m.order_id]
        asks = [o for o in orders.values() if o[0] < 0]
        bids = [o for o in orders.values() if o[0] > 0]
        ap = min((o[1] for o in asks), default=None)
        bp = max((o[1] for o in bids), default=None)
        tops.append(
            (
                EMPTY_ASK if ap is None else ap,
                sum(o[2] for o in asks if o[1] == ap),
                EMPTY_BID if bp is None else bp,
                sum(o[2] for o in bids if o[1] == bp),
            )
        )
    return tops


@pytest.mark.parametrize("spec", [MechanismSpec("clob"), MechanismSpec("fba", 100)], ids=str)
def test_exported_book_file_matches_the_messages(tmp_path: Path, spec: MechanismSpec) -> None:
    s = scenario_from_dict({"horizon_s": 3.0})
    result = run_simulation(s, spec, 3, record=True)
    msg, book = export_lobster(result.mechanism, tmp_path, "run", s.price_scale, levels=3)
    rows = list(csv.reader(book.open()))
    assert all(len(r) == 12 for r in rows)
    tops = [tuple(int(x) for x in r[:4]) for r in rows]
    assert tops == _book_from_messages(msg)
    kinds = {m.kind for m in read_lobster_messages(msg)}
    assert kinds >= {1, 4} and (6 in kinds) == (spec.kind == "fba")
    first = msg.read_text().splitlines()[0].split(",")
    assert first[0].startswith("34200.") and len(first[0].split(".")[1]) == 9


def test_replay_of_a_hand_written_flow(tmp_path: Path) -> None:
    # two asks rest; a buyer-initiated run of executions of 3 lots up to 101.00 at t=0.05 s
    lines = [
        "34200.000000000,1,1,2,1000000,-1",
        "34200.001000000,1,2,4,1010000,-1",
        "34200.050000000,4,1,2,1000000,-1",
        "34200.050000000,4,2,1,1010000,-1",
        "34200.150000000,1,3,5,990000,1",
        "34200.160000000,3,2,3,1010000,-1",
    ]
    path = tmp_path / "m.csv"
    path.write_text("\n".join(lines) + "\n")
    r = replay_batch_auction(read_lobster_messages(path), interval_ms=100)
    assert r.orders_submitted == 3 and r.aggressors == 1
    # batch 0: an aggressor buy of 3 limited at 1010000 meets asks 2@1000000 and 4@1010000:
    # 3 lots trade at the volume-maximising price with least imbalance
    b0 = r.batches.iloc[0]
    assert b0["volume"] == 3 and 1_000_000 <= b0["price"] <= 1_010_000
    assert r.volume == 3  # the later bid at 990000 crosses nothing


@pytest.mark.parametrize(
    "line, message",
    [
        ("34200.1,1,1,2,1000000", "expected 6 columns"),
        ("34200.1,9,1,2,1000000,1", "column Type"),
        ("34200.1,1,1,x,1000000,1", "column Size"),
        ("34200.1,1,1,2,1000000,0", "column Direction"),
        ("noon,1,1,2,1000000,1", "column Time"),
    ],
)
def test_malformed_rows_name_row_and_column(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("34200.0,1,7,1,1000000,1\n" + line + "\n")
    with pytest.raises(LobsterFormatError, match=f"row 2.*{message}|{message}") as info:
        read_lobster_messages(path)
    assert str(info.value).startswith(f"{path}: row 2")


def test_export_requires_recording(tmp_path: Path) -> None:
    result = run_simulation(scenario_from_dict({"horizon_s": 0.5}), MechanismSpec("clob"), 0)
    with pytest.raises(LobsterFormatError, match="enable_recording"):
        export_lobster(result.mechanism, tmp_path, "x", 10_000)
