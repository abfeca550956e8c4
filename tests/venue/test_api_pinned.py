"""The venue's JSON answers, byte for byte, against answers pinned in tests/venue/pinned/.

Clients parse these formats (docs/api.md), so a refactoring of how the venue
builds them must not move a byte: key order, spacing, nulls and numbers are
all pinned. One deterministic session (fixed salts, nonces and stream epoch,
a manual clock, deterministic signatures) touches every kind of batch record
and order status: fills, a block trade, a forfeit, a recorded reveal
refusal, a rationed, a limit-not-reached, an open and a committed order.

A deliberate change of a format (documented in docs/api.md) re-pins with
``SEALBATCH_REPIN=1 .venv/bin/python -m pytest tests/venue/test_api_pinned.py``
and shows up as a diff of the pinned files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.venue import client as client_module
from sealbatch.venue import stream as stream_module
from sealbatch.venue.app import create_app
from sealbatch.venue.client import VenueClient
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.errors import ApiError
from tests.venue.conftest import T0, Venue, make_settings
from tests.venue.test_rfq import _auction_trade, _prime_price, _rfq_until_revealed

PINNED = Path(__file__).parent / "pinned"


def _seeded_os(label: str) -> types.SimpleNamespace:
    """``os`` with a deterministic ``urandom`` (SHA-256 of a label and a counter)."""
    counter = itertools.count()

    def urandom(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(f"{label}:{next(counter)}".encode()).digest()
        return out[:n]

    return types.SimpleNamespace(**{**vars(os), "urandom": urandom})


@pytest.fixture(params=[256, 1], ids=["in_memory", "from_database"])
def pinned_venue(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Venue]:
    """A venue whose salts, nonces and stream epoch repeat from run to run; with
    ``memory_batches=1`` old records and order statuses are read back from the
    database, and must answer the same bytes."""
    monkeypatch.setattr(client_module, "os", _seeded_os("salt"))
    monkeypatch.setattr(stream_module, "os", _seeded_os("epoch"))
    nonces = itertools.count(1)
    monkeypatch.setattr(VenueClient, "next_nonce", lambda self: next(nonces))
    clock = ManualClock(T0 + 100)
    settings = make_settings(f"sqlite:///{tmp_path / 'venue.db'}", memory_batches=request.param)
    app = create_app(settings, clock)
    with TestClient(app) as tc:
        v = Venue(tc, clock)
        v.fund()
        yield v


def _session(venue: Venue) -> dict[str, bytes]:
    """Drive one session; returns each answer's name and body."""
    t = venue.traders
    _prime_price(venue, 100)  # batch 0: dave buys 1 from erin at 100
    rfq, _ = _rfq_until_revealed(venue)
    acc = t["alice"].accept_best(rfq["rfq_id"], "buy")
    batch = acc["batch_id"]
    # In the block's batch: a rationed buy, one whose limit is not reached, a
    # commitment never revealed (forfeit) and a reveal refused as a mismatch.
    rationed = t["bob"].commit(Order("BTC-PERP", Side.BUY, 99, 3), batch_id=batch)
    low = t["carol"].commit(Order("BTC-PERP", Side.BUY, 90, 1), batch_id=batch)
    t["alice"].commit(Order("ETH-PERP", Side.BUY, 50, 1), batch_id=batch, bond=1_000)
    mismatch = t["erin"].commit(Order("BTC-PERP", Side.SELL, 99, 2), batch_id=batch)
    seller = t["carol"].commit(Order("BTC-PERP", Side.SELL, 99, 1), batch_id=batch)
    _auction_trade(venue, batch, 99)  # dave buys 1 from erin at 99; reveal window
    for who, p in (("bob", rationed), ("carol", low), ("carol", seller)):
        t[who].reveal(p)
    wrong = dataclasses.replace(mismatch, order=Order("BTC-PERP", Side.SELL, 98, 2))
    with pytest.raises(ApiError):
        t["erin"].reveal(wrong)
    venue.to_cleared(batch)
    # A committed (never cleared) order in the batch collecting now.
    open_order = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    dave, bob = t["dave"].read_headers(), t["bob"].read_headers()
    gets: dict[str, tuple[str, dict[str, str] | None, dict[str, Any]]] = {
        "batch_0": ("/v1/batches/0", None, {}),
        "batch_block": (f"/v1/batches/{batch}", None, {}),
        "batch_open": (f"/v1/batches/{open_order.batch_id}", None, {}),
        "batches": ("/v1/batches", None, {}),
        "order_rationed_own": (f"/v1/orders/0x{rationed.commitment.hex()}", bob, {}),
        "order_rationed_public": (f"/v1/orders/0x{rationed.commitment.hex()}", None, {}),
        "order_committed_own": (f"/v1/orders/0x{open_order.commitment.hex()}", dave, {}),
        "account_dave": (f"/v1/accounts/{t['dave'].address}", dave, {}),
        "account_bob": (f"/v1/accounts/{t['bob'].address}", bob, {}),
        "stream_batches": ("/v1/stream/replay", None, {"topic": "batches", "after": 0}),
        "stream_bob": (
            "/v1/stream/replay",
            bob,
            {"topic": f"account:{t['bob'].address.lower()}", "after": 0},
        ),
    }
    out = {}
    for name, (path, headers, params) in gets.items():
        r = venue.tc.get(path, headers=headers, params=params)
        assert r.status_code == 200, (name, r.text)
        out[name] = r.content
    return out


def test_answers_match_the_pinned_bytes(pinned_venue: Venue) -> None:
    answers = _session(pinned_venue)
    # The session reaches every part of a record the pins are meant to hold.
    block = json.loads(answers["batch_block"])
    assert block["forfeits"] and block["rejections"] and block["blocks"]
    assert json.loads(answers["order_rationed_own"])["reason"] == "rationed"
    assert json.loads(answers["order_committed_own"])["status"] == "committed"
    reasons = {o["reason"] for o in json.loads(answers["account_bob"])["orders"]}
    assert "rationed" in reasons
    if os.environ.get("SEALBATCH_REPIN") == "1":
        PINNED.mkdir(exist_ok=True)
        for stale in PINNED.glob("*.json"):
            stale.unlink()
        for name, body in answers.items():
            (PINNED / f"{name}.json").write_bytes(body + b"\n")
    pinned = {p.stem: p.read_bytes() for p in PINNED.glob("*.json")}
    assert sorted(pinned) == sorted(answers)
    for name, body in answers.items():
        assert body + b"\n" == pinned[name], f"{name}: the answer differs from pinned/{name}.json"
