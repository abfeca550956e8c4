"""RFQs in bounded memory: closed RFQs leave memory once their batches are old, and
still answer from the database exactly as before; open RFQs are capped per
requester and venue-wide, since opening one only holds a refundable request bond
(a flood of signed requests must not grow the venue's memory)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.venue.app import create_app
from sealbatch.venue.client import ApiError, VenueClient
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.rfq import ACCEPT_TYPE, QUOTE_COMMIT_TYPE, RFQ_TYPE
from sealbatch.venue.service import VenueService
from tests.venue.conftest import T0, Venue, make_settings

#: Cleared batches (and the RFQs that ended in them) kept in memory in these tests.
WINDOW = 4
#: RFQ rounds, one a batch: many times the window.
ROUNDS = 40


@pytest.fixture
def small(db_url: str) -> Iterator[Venue]:
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(db_url, memory_batches=WINDOW), clock)) as tc:
        v = Venue(tc, clock)
        v.fund()
        yield v


def _sizes(op: VenueService) -> dict[str, int]:
    book = op.core.rfqs
    return {
        "rfqs": len(book.rfqs),
        "quote_hashes": len(book.quote_hashes),
        # (the count of open RFQs: what the caps read)
        "closing": len(getattr(book, "_closing", ())),
        "counted": len(getattr(book, "_counted", ())),
        "open_by_requester": sum(getattr(book, "open_by_requester", {}).values()),
        "rfqs_out": len(getattr(op.core, "rfqs_out", ())),
    }


def _round(venue: Venue, r: int) -> str:
    """An RFQ in batch ``r``: Bob quotes and reveals; in even rounds Alice accepts,
    in odd ones Carol's quote stays sealed (its bond forfeits) and the RFQ expires.
    Returns its id, once its window has closed."""
    t = venue.traders
    venue.clock.set(max(venue.clock.now_ms(), T0 + r * 1_000 + 100))
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    opened = rfq["opened_ms"]
    bob = t["bob"].quote(rfq["rfq_id"], 99, 101)
    if r % 2:
        t["carol"].quote(rfq["rfq_id"], 98, 100)
    venue.clock.set(opened + 200)
    t["bob"].reveal_quote(bob)
    venue.clock.set(opened + 300)
    if r % 2 == 0:
        t["alice"].accept_best(rfq["rfq_id"], "buy")
    venue.clock.set(opened + 450)
    return str(rfq["rfq_id"])


def _views(venue: Venue, ids: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for i in ids:
        r = venue.tc.get(f"/v1/rfqs/{i}")
        assert r.status_code == 200, r.text
        out[i] = r.json()
    return out


def _in_memory(venue: Venue, rfq_id: str) -> bool:
    return bytes.fromhex(rfq_id[2:]) in venue.service.core.rfqs.rfqs


def _after(venue: Venue, rfq_id: str) -> list[str]:
    r = venue.tc.get("/v1/rfqs", params={"after": rfq_id})
    assert r.status_code == 200, r.text
    return [x["rfq_id"] for x in r.json()["rfqs"]]


def test_closed_rfqs_leave_memory_and_still_answer_identically(small: Venue) -> None:
    ids = [_round(small, r) for r in range(10)]
    closed = _views(small, ids)  # each just after its window closed
    at_10 = _sizes(small.service)
    ids += [_round(small, r) for r in range(10, ROUNDS)]
    closed |= _views(small, ids[10:])
    at_end = _sizes(small.service)
    # Four times the RFQs, the same memory.
    assert at_end == at_10, (at_10, at_end)
    assert at_end["rfqs"] <= WINDOW + 3
    assert at_end["quote_hashes"] <= 2 * (WINDOW + 3)
    assert {v["phase"] for v in closed.values()} == {"accepted", "expired"}
    # The oldest, long gone from memory, answer exactly as they did.
    assert not _in_memory(small, ids[0])
    assert _views(small, ids) == closed
    # Listing after an RFQ that left memory: every open RFQ (all opened after it).
    small.clock.set(T0 + ROUNDS * 1_000 + 100)
    fresh = small.traders["dave"].request_rfq("BTC-PERP", 10_000, window_ms=2_000)
    assert _after(small, ids[0]) == [fresh["rfq_id"]] == _after(small, ids[-1])
    assert [r["rfq_id"] for r in small.traders["bob"].open_rfqs()] == [fresh["rfq_id"]]
    # An id the venue never had is still unknown, in both places.
    never = "0x" + "ab" * 32
    for r in (small.tc.get(f"/v1/rfqs/{never}"), small.tc.get(f"/v1/rfqs?after={never}")):
        assert (r.status_code, r.json()["code"]) == (404, "unknown_rfq")


def _signed(client: VenueClient, kind: str, rfq_id: str, **fields: Any) -> dict[str, Any]:
    """A signed body of ``kind`` (``quote`` or ``accept``) naming ``rfq_id``."""
    rid = bytes.fromhex(rfq_id[2:])
    nonce, expiry = client.next_nonce(), 2**63
    commitment = fields["commitment"]
    if kind == "quote":
        values = {"maker": client.address, "rfqId": rid, "commitment": commitment}
        values |= {"nonce": nonce, "expiry": expiry}
        return {
            "maker": client.address,
            "rfq_id": rfq_id,
            "commitment": "0x" + commitment.hex(),
            "nonce": nonce,
            "expiry_ms": expiry,
            "signature": client._sign(QUOTE_COMMIT_TYPE, values),
        }
    values = {"requester": client.address, "rfqId": rid, "commitment": commitment}
    values |= {"side": "buy", "nonce": nonce, "expiry": expiry}
    return {
        "requester": client.address,
        "rfq_id": rfq_id,
        "commitment": "0x" + commitment.hex(),
        "side": "buy",
        "nonce": nonce,
        "expiry_ms": expiry,
        "signature": client._sign(ACCEPT_TYPE, values),
    }


def _answer(venue: Venue, path: str, body: dict[str, Any]) -> tuple[int, str, str]:
    """Status, code and detail (up to the time it quotes, if any) of posting ``body``."""
    r = venue.tc.post(path, json=body)
    return r.status_code, r.json()["code"], r.json()["detail"].split(", got ")[0]


def test_writes_naming_an_old_rfq_are_refused_as_before(small: Venue) -> None:
    """A quote, an accept or a quote hash naming an RFQ that left memory is refused
    exactly as while it was in memory (not as an unknown RFQ, nor taken)."""
    t = small.traders
    ids = [_round(small, r) for r in range(2)]
    old = ids[0]
    taken = bytes.fromhex(small.tc.get(f"/v1/rfqs/{old}").json()["quotes"][0]["commitment"][2:])
    cases = {
        "quote": (
            f"/v1/rfqs/{old}/quotes",
            _signed(t["erin"], "quote", old, commitment=b"\1" * 32),
        ),
        "accept": (
            f"/v1/rfqs/{old}/accept",
            _signed(t["alice"], "accept", old, commitment=taken),
        ),
    }
    before = {k: _answer(small, p, b) for k, (p, b) in cases.items()}
    assert before["quote"][:2] == (409, "outside_window")
    assert before["accept"][:2] == (409, "already_accepted")
    for r in range(2, 3 * WINDOW):
        _round(small, r)
    assert not _in_memory(small, old)
    # The same bodies again (refused, their nonces unused): the same answers.
    assert {k: _answer(small, p, b) for k, (p, b) in cases.items()} == before
    # A quote hash taken in the old RFQ stays taken, in a new RFQ too.
    fresh = t["dave"].request_rfq("BTC-PERP", 10_000, window_ms=2_000)["rfq_id"]
    body = _signed(t["erin"], "quote", fresh, commitment=taken)
    assert _answer(small, f"/v1/rfqs/{fresh}/quotes", body)[:2] == (409, "commitment_taken")


def _rfq_body(client: VenueClient, window_ms: int = 2_000) -> dict[str, Any]:
    nonce, expiry = client.next_nonce(), 2**63
    values = {
        "requester": client.address,
        "market": "BTC-PERP",
        "size": 10_000,
        "side": "hidden",
        "windowMs": window_ms,
        "nonce": nonce,
        "expiry": expiry,
    }
    return {
        "requester": client.address,
        "market": "BTC-PERP",
        "size": 10_000,
        "side": "hidden",
        "window_ms": window_ms,
        "nonce": nonce,
        "expiry_ms": expiry,
        "signature": client._sign(RFQ_TYPE, values),
    }


@pytest.fixture
def capped(db_url: str) -> Iterator[Venue]:
    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url, rfq_max_open_per_account=3, rfq_max_open=5)
    with TestClient(create_app(settings, clock)) as tc:
        v = Venue(tc, clock)
        v.fund()  # each open RFQ holds its request bond
        yield v


def test_open_rfqs_are_capped_per_requester_and_on_the_venue(capped: Venue) -> None:
    t, tc = capped.traders, capped.tc
    first = [t["alice"].request_rfq("BTC-PERP", 10_000) for _ in range(3)]
    book = capped.service.core.rfqs

    def held() -> tuple[int, int, list[dict[str, Any]]]:
        return len(book.rfqs), len(book.nonces), tc.get("/v1/rfqs").json()["rfqs"]

    before = held()
    fourth = _rfq_body(t["alice"])
    r = tc.post("/v1/rfqs", json=fourth)
    assert (r.status_code, r.json()["code"]) == (409, "too_many_open_rfqs"), r.text
    assert "at most 3 open RFQs per requester" in r.json()["detail"]
    # Refused: nothing changed (no RFQ, its nonce unused, the open ones as they were).
    assert held() == before
    # Another requester is not held back by Alice's.
    t["bob"].request_rfq("BTC-PERP", 10_000)
    t["bob"].request_rfq("BTC-PERP", 10_000)
    # ... until the venue's cap (5 open): Carol's first is refused too.
    r = tc.post("/v1/rfqs", json=_rfq_body(t["carol"]))
    assert (r.status_code, r.json()["code"]) == (409, "too_many_open_rfqs"), r.text
    assert "at most 5 open RFQs on the venue" in r.json()["detail"]
    # Once Alice's first three close (their windows end), the refused body is taken.
    capped.clock.set(first[0]["close_ms"])
    r = tc.post("/v1/rfqs", json=fourth)
    assert r.status_code == 201, r.text
    assert tc.post("/v1/rfqs", json=_rfq_body(t["carol"])).status_code == 201


def test_an_accepted_rfq_no_longer_counts_as_open(capped: Venue) -> None:
    t = capped.traders
    rfqs = [t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400) for _ in range(3)]
    with pytest.raises(ApiError) as e:
        t["alice"].request_rfq("BTC-PERP", 10_000)
    assert e.value.code == "too_many_open_rfqs"
    q = t["bob"].quote(rfqs[0]["rfq_id"], 99, 101)
    capped.clock.set(rfqs[0]["opened_ms"] + 200)
    t["bob"].reveal_quote(q)
    capped.clock.set(rfqs[0]["opened_ms"] + 300)  # the windows are still open
    t["alice"].accept_best(rfqs[0]["rfq_id"], "buy")
    assert t["alice"].request_rfq("BTC-PERP", 10_000)["phase"] == "quoting"


@pytest.mark.parametrize("snapshot_every", [0, 2])
def test_a_restart_keeps_old_answers_and_memory(db_url: str, snapshot_every: int) -> None:
    """Replayed from the start (no snapshot) or from a snapshot: the RFQs that left
    memory stay out of it and answer as before."""
    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url, memory_batches=WINDOW, snapshot_every=snapshot_every)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        ids = [_round(venue, r) for r in range(3 * WINDOW)]
        views = _views(venue, ids)
        sizes = _sizes(venue.service)
        kept = list(venue.service.core.rfqs.rfqs)
    assert not _in_memory(venue, ids[0])
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        assert list(venue.service.core.rfqs.rfqs) == kept
        assert _sizes(venue.service) == sizes
        assert _views(venue, ids) == views
        assert _after(venue, ids[0]) == []
        # Old quote hashes stay taken across the restart.
        fresh = venue.traders["dave"].request_rfq("BTC-PERP", 10_000, window_ms=2_000)["rfq_id"]
        taken = bytes.fromhex(views[ids[0]]["quotes"][0]["commitment"][2:])
        body = _signed(venue.traders["erin"], "quote", fresh, commitment=taken)
        assert _answer(venue, f"/v1/rfqs/{fresh}/quotes", body)[:2] == (409, "commitment_taken")


def test_a_book_pickled_before_the_caps_counts_its_open_rfqs(capped: Venue) -> None:
    """A snapshot written before open RFQs were counted loads with them counted."""
    from sealbatch.venue.rfq import RfqBook

    t = capped.traders
    for name in ("alice", "alice", "bob"):
        t[name].request_rfq("BTC-PERP", 10_000)
    book = capped.service.core.rfqs
    new = ("_closing", "_counted", "open_by_requester", "open_count", "_opened")
    old_state = {k: v for k, v in book.__dict__.items() if k not in new and "max_open" not in k}
    old = RfqBook.__new__(RfqBook)
    old.__setstate__(old_state)
    assert old.open_by_requester == book.open_by_requester
    assert old.open_by_requester[t["alice"].address] == 2
    assert old.open_count == book.open_count == 3


def test_an_acceptance_reads_back_what_it_wrote() -> None:
    from sealbatch.crypto.eip712 import Address
    from sealbatch.venue.batch_record import BlockOutcome
    from sealbatch.venue.rfq import Acceptance

    a = Acceptance(
        bytes(range(32)),
        bytes(range(1, 33)),
        "BTC-PERP",
        Address("0x" + "11" * 20),
        Address("0x" + "22" * 20),
        101,
        7,
        T0 + 5,
        3,
    )
    assert Acceptance.from_dict(a.to_dict()) == a
    # a stored block outcome carries more keys than the acceptance (status, reason)
    doc = {**a.to_dict(), "status": "filled", "reason": None}
    assert BlockOutcome.from_json(doc).acceptance == a
    changed = {**a.to_dict(), "price": 102}
    assert Acceptance.from_dict(changed) != a


def test_info_gives_the_caps_on_open_rfqs_the_venue_enforces(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set through the environment to other values than the defaults (32, 10 000),
    ``/v1/info`` → ``rfq`` gives the caps, beside the RFQ rules it gave before; the
    per-requester one is the cap a requester then meets."""
    monkeypatch.setenv("SEALBATCH_RFQ_MAX_OPEN_PER_ACCOUNT", "2")
    monkeypatch.setenv("SEALBATCH_RFQ_MAX_OPEN", "7")
    monkeypatch.setenv("SEALBATCH_RFQ_REQUEST_BOND", "5000000")
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()  # each open RFQ holds its request bond
        rfq = tc.get("/v1/info").json()["rfq"]
        assert (rfq["max_open_per_account"], rfq["max_open"]) == (2, 7)
        assert rfq["request_bond"] == 5_000_000
        assert set(rfq) == {
            "min_window_ms",
            "max_window_ms",
            "band_bps",
            "quote_bond",
            "request_bond",
            "max_open_per_account",
            "max_open",
        }
        alice = venue.traders["alice"]
        for _ in range(rfq["max_open_per_account"]):
            alice.request_rfq("BTC-PERP", 10_000)
        r = tc.post("/v1/rfqs", json=_rfq_body(alice))
        assert (r.status_code, r.json()["code"]) == (409, "too_many_open_rfqs"), r.text
