"""A hostile trader's path, query and header values get a documented 4xx naming the
bad parameter: never a 500, a traceback, an answer for another name of the thing
asked for, or an unbounded answer (docs/api.md, "Path and query parameters")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import address_of
from sealbatch.venue import client as client_module
from sealbatch.venue import service as service_module
from sealbatch.venue.api.routes.batches import PAGE_DEFAULT, PAGE_MAX
from sealbatch.venue.api.routes.rfqs import PAGE_MAX as RFQ_PAGE_MAX
from sealbatch.venue.errors import ApiError
from sealbatch.venue.rfq import OPEN_PAGE_MAX
from tests.venue.conftest import KEYS, Venue

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"

ALICE = address_of(KEYS["alice"])

#: Every path and query number of the GET routes, ``{}`` where the value goes, and
#: the parameter the refusal must name.
NUMBER_SLOTS = [
    ("/v1/batches/{}", "path.batch_id"),
    ("/v1/batches/{}/proof", "path.batch_id"),
    ("/v1/batches/{}/archive", "path.batch_id"),
    ("/v1/batches/{}/commitments/0", "path.batch_id"),
    ("/v1/batches/0/commitments/{}", "path.sequence"),
    ("/v1/batches/{}/key", "path.batch_id"),
    ("/v1/keypers/rounds/{}", "path.batch_id"),
    ("/v1/batches?limit={}", "query.limit"),
    ("/v1/batches?before={}", "query.before"),
    ("/v1/stream/replay?topic=batches&after={}", "query.after"),
]


def _problem(r: Any, status: int, code: str, names: str) -> dict[str, Any]:
    """Check ``r`` is the problem ``status``/``code`` whose detail starts with
    ``names`` and stays short whatever was sent; returns the problem."""
    assert r.status_code == status, (r.request.url, r.text[:300])
    assert r.headers["content-type"] == "application/problem+json"
    p: dict[str, Any] = r.json()
    assert p["status"] == status and p["code"] == code, p
    assert p["detail"].startswith(names), p["detail"]
    assert len(p["detail"]) < 400 and "Traceback" not in r.text
    return p


@pytest.fixture
def cleared(venue: Venue) -> Venue:
    """A venue whose batch 0 cleared with two commitments (receipts 0 and 1)."""
    venue.trade(
        0,
        [
            ("alice", Order("BTC-PERP", Side.BUY, 100, 5)),
            ("bob", Order("BTC-PERP", Side.SELL, 100, 5)),
        ],
    )
    return venue


@pytest.mark.parametrize(
    "value",
    [
        "-1",  # negative: 404 unknown_batch before, as if it could exist
        "-0",
        "%2B1",  # "+1"
        "%201",  # " 1"
        "1%20",  # "1 "
        "1_0",  # pydantic's lax int took it as 10
        str(1 << 63),  # past the database's integers: 404 before, as if it could exist
        str(1 << 64),  # past uint64
        "9" * 5_000,  # past int()'s digit limit
        "%D9%A3",  # Arabic-Indic three
        "%C2%B2",  # superscript two
        "%F0%9D%9F%97",  # mathematical bold nine
        "0x10",
        "1e3",
        "1.0",
        "%00",
    ],
)
def test_a_malformed_number_is_invalid_request_naming_it(cleared: Venue, value: str) -> None:
    for template, name in NUMBER_SLOTS:
        r = cleared.tc.get(template.format(value))
        _problem(r, 422, "invalid_request", f"{name}: expected")


def test_the_largest_id_is_a_number_the_venue_answers_for(cleared: Venue) -> None:
    top = str((1 << 63) - 1)
    for path in ("", "/proof", "/archive", "/commitments/0"):
        _problem(cleared.tc.get(f"/v1/batches/{top}{path}"), 404, "unknown_batch", "batch ")
    _problem(
        cleared.tc.get(f"/v1/batches/0/commitments/{top}"), 404, "not_found", "batch 0: expected"
    )
    assert cleared.tc.get(f"/v1/batches?before={top}").status_code == 200
    assert cleared.tc.get(f"/v1/stream/replay?topic=batches&after={top}").json()["messages"] == []


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("/v1/batches?limit=1&limit=500", "limit"),
        ("/v1/batches?limit=1&limit=x", "limit"),
        ("/v1/batches?before=1&before=0", "before"),
        ("/v1/stream/replay?topic=batches&topic=rfqs&after=0", "topic"),
        (f"/v1/stream/replay?topic=account:{ALICE}&topic=batches&after=0", "topic"),
        ("/v1/stream/replay?topic=batches&after=0&after=5", "after"),
    ],
)
def test_a_query_parameter_given_twice_is_refused(venue: Venue, query: str, name: str) -> None:
    """The framework takes the last value and a proxy in front may take the first:
    the venue takes neither."""
    _problem(venue.tc.get(query), 400, "bad_request", f"{name}: expected one value, got 2")


def test_the_batch_page_is_capped_and_the_cap_documented(cleared: Venue) -> None:
    for limit in (0, PAGE_MAX + 1, 10**9):
        r = cleared.tc.get(f"/v1/batches?limit={limit}")
        _problem(r, 422, "invalid_request", "query.limit: expected")
    assert len(cleared.tc.get(f"/v1/batches?limit={PAGE_MAX}").json()["batches"]) == 1
    assert cleared.tc.get("/v1/batches?limit=1&before=0").json()["batches"] == []
    docs = API_MD.read_text(encoding="utf-8")
    assert f"`limit` batches (1 to {PAGE_MAX}, default {PAGE_DEFAULT};" in docs
    spec = cleared.tc.get("/openapi.json").json()
    (limit_param,) = (
        p for p in spec["paths"]["/v1/batches"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit_param["schema"]["maximum"] == PAGE_MAX


BAD_HEX32 = [
    "0x",
    "0x" + "a" * 63,  # odd length
    "0x" + "a" * 65,
    "0X" + "a" * 64,  # the prefix is 0x
    "a" * 64,  # no prefix
    "0x" + "g" * 64,
    "0x" + "a" * 10_000,
    "0x" + "%D9%A3" * 64,  # Arabic-Indic digits
    "0x" + "%EF%BD%81" * 64,  # fullwidth a
    "0x" + "a" * 62 + "%00%00",
    "%20",
]


@pytest.mark.parametrize("value", BAD_HEX32)
def test_a_malformed_32_byte_id_is_bad_request_naming_it(venue: Venue, value: str) -> None:
    _problem(venue.tc.get(f"/v1/orders/{value}"), 400, "bad_request", "commitment: expected 0x")
    _problem(venue.tc.get(f"/v1/rfqs/{value}"), 400, "bad_request", "rfq_id: expected 0x")


def test_a_32_byte_id_in_upper_case_is_looked_up(venue: Venue) -> None:
    upper = "0x" + "AB" * 32
    _problem(venue.tc.get(f"/v1/orders/{upper}"), 404, "unknown_commitment", "commitment 0x")
    _problem(venue.tc.get(f"/v1/rfqs/{upper}"), 404, "unknown_rfq", "rfq 0x")


@pytest.mark.parametrize(
    "value",
    [
        "0x",
        "0x" + "a" * 39,
        "0x" + "a" * 41,
        "0x" + "g" * 40,
        "a" * 40,  # bare hex: taken (and checksummed) before, though "0x" is asked for
        "0X" + "a" * 40,  # likewise (a topic is lower-cased first: account:0x... is taken)
        "0x" + "a" * 10_000,
        "0x" + "%D9%A3" * 40,
        "0x" + "%EF%BD%81" * 40,
    ],
)
def test_a_malformed_address_is_bad_request_naming_it(venue: Venue, value: str) -> None:
    _problem(venue.tc.get(f"/v1/accounts/{value}"), 400, "bad_request", "address: expected 0x")
    if not value.startswith("0X"):
        r = venue.tc.get(f"/v1/stream/replay?topic=account:{value}&after=0")
        _problem(r, 400, "bad_request", "topic: expected")


def test_an_address_in_any_case_of_its_digits_asks_for_a_signed_read(venue: Venue) -> None:
    for address in (ALICE, ALICE.lower(), "0x" + ALICE[2:].upper()):
        r = venue.tc.get(f"/v1/accounts/{address}")
        _problem(r, 401, "signature_required", "account data of")


@pytest.mark.parametrize(
    "value",
    ["btc-perp", "BTC-PERP%20", "BTC-PERP%00", "x" * 10_000, "%D9%A3", "%2E%2E", "%C3%A9" * 5_000],
)
def test_an_unknown_market_is_404_listing_the_markets(venue: Venue, value: str) -> None:
    p = _problem(venue.tc.get(f"/v1/markets/{value}"), 404, "unknown_market", "market: expected")
    assert "'BTC-PERP'" in p["detail"]


@pytest.mark.parametrize(
    "value", ["", "x" * 10_000, "%D9%A3", "btc-perp", "account:", "account:0x", "batches%00"]
)
def test_an_unknown_topic_is_bad_request_naming_it(venue: Venue, value: str) -> None:
    r = venue.tc.get(f"/v1/stream/replay?topic={value}&after=0")
    _problem(r, 400, "bad_request", "topic: expected")


def _read(expiry: bytes, signature: bytes, account: bytes = ALICE.encode()) -> list[Any]:
    return [
        (b"sealbatch-account", account),
        (b"sealbatch-expiry", expiry),
        (b"sealbatch-signature", signature),
    ]


FRESH = b"1800000001000"  # within read_max_ttl_ms of the fixture's clock


@pytest.mark.parametrize(
    ("headers", "code", "names"),
    [
        ([(b"sealbatch-account", ALICE.encode())], "signature_required", "signed read:"),
        (_read(b"\xb2", b"0x"), "bad_signature", "Sealbatch-Expiry:"),  # superscript two
        (_read("1٣".encode(), b"0x"), "bad_signature", "Sealbatch-Expiry:"),
        (_read(b"-1", b"0x"), "bad_signature", "Sealbatch-Expiry:"),
        (_read(b"+1800000001000", b"0x"), "bad_signature", "Sealbatch-Expiry:"),
        (_read(b"0x10", b"0x"), "bad_signature", "Sealbatch-Expiry:"),
        (_read(b"9" * 21, b"0x"), "bad_signature", "Sealbatch-Expiry:"),
        (_read(b"", b""), "bad_signature", "Sealbatch-Expiry:"),
        (_read(b"9" * 20, b"0x"), "read_expired", "expiry:"),
        (_read(FRESH, b"0x" + b"f" * 131), "bad_signature", "signature:"),  # odd length
        (_read(FRESH, b"0X" + b"ab" * 65), "bad_signature", "signature:"),
        (_read(FRESH, b"0x" + b"zz" * 65), "bad_signature", "signature:"),
        (_read(FRESH, b"0x" + b"ab" * 5_000), "bad_signature", "signature:"),
        (_read(FRESH, b"0x" + b"1b" * 64 + b"05"), "bad_signature", "signature:"),  # v = 5
        (_read(FRESH, "٣".encode() * 65), "bad_signature", "signature:"),
        (_read(FRESH, b"0x" + b"00" * 65, b"x" * 10_000), "bad_signature", "account:"),
        (_read(FRESH, b"0x" + b"00" * 65, "é".encode()), "bad_signature", "account:"),
    ],
)
def test_a_malformed_signed_read_is_401_naming_the_header(
    venue: Venue, headers: list[Any], code: str, names: str
) -> None:
    for url in (
        f"/v1/accounts/{ALICE}",
        "/v1/orders/0x" + "00" * 32,
        f"/v1/stream/replay?topic=account:{ALICE}&after=0",
    ):
        _problem(venue.tc.get(url, headers=headers), 401, code, names)


@pytest.mark.parametrize(
    ("topics", "detail"),
    [
        (["x" * 10_000], "topic: expected"),
        (["٣"], "topic: expected"),
        (["account:0x" + "٣" * 40], "topic: expected"),
        (["account:0x" + "a" * 10_000], "topic: expected"),
        (["batches"] * 65, "topics: expected at most 64"),
    ],
)
def test_a_malformed_stream_topic_is_bad_subscribe(
    venue: Venue, topics: list[str], detail: str
) -> None:
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": topics})
        msg = ws.receive_json()
        assert msg["type"] == "error" and msg["code"] == "bad_subscribe", msg
        assert msg["detail"].startswith(detail) and len(msg["detail"]) < 200
        assert ws.receive()["code"] == 1008


def test_the_open_rfqs_come_a_capped_page_at_a_time(
    venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening an RFQ costs no bond: a flood of them must not make one answer of
    ``GET /v1/rfqs`` unbounded, and a maker still reads them all, page by page."""
    alice = venue.traders["alice"]
    ids = [alice.request_rfq("BTC-PERP", 10_000, window_ms=2_000)["rfq_id"] for _ in range(5)]
    tc = venue.tc

    def page(query: str) -> list[str]:
        r = tc.get(f"/v1/rfqs{query}")
        assert r.status_code == 200, r.text
        return [x["rfq_id"] for x in r.json()["rfqs"]]

    assert page("") == ids
    assert page("?limit=2") == ids[:2]
    assert page(f"?limit=2&after={ids[1]}") == ids[2:4]
    assert page(f"?limit=2&after={ids[3].upper().replace('0X', '0x')}") == ids[4:]
    assert page(f"?after={ids[4]}") == []
    for limit in (0, RFQ_PAGE_MAX + 1, 10**9, -1):
        _problem(tc.get(f"/v1/rfqs?limit={limit}"), 422, "invalid_request", "query.limit:")
    _problem(tc.get("/v1/rfqs?after=0x12"), 400, "bad_request", "after: expected 0x")
    _problem(tc.get("/v1/rfqs?after=0x" + "00" * 32), 404, "unknown_rfq", "after: expected")
    _problem(tc.get("/v1/rfqs?limit=1&limit=2"), 400, "bad_request", "limit: expected one")
    monkeypatch.setattr(client_module, "RFQ_PAGE", 2)
    assert [r["rfq_id"] for r in venue.traders["bob"].open_rfqs()] == ids
    assert f"(1 to {RFQ_PAGE_MAX}, the default;" in API_MD.read_text(encoding="utf-8")


def test_an_rfq_path_id_is_checked_before_it_is_compared(
    venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/v1/rfqs/0X.../quotes`` was taken: the path equalled the body's ``0x...``
    once both were lower-cased."""
    alice, bob = venue.traders["alice"], venue.traders["bob"]
    rid = alice.request_rfq("BTC-PERP", 10_000, window_ms=2_000)["rfq_id"]
    send = bob._req

    def upper_prefix(method: str, path: str, *args: Any, **kw: Any) -> Any:
        return send(method, path.replace(rid, "0X" + rid[2:]), *args, **kw)

    monkeypatch.setattr(bob, "_req", upper_prefix)
    with pytest.raises(ApiError) as refused:
        bob.quote(rid, 99, 101)
    assert refused.value.status == 400 and refused.value.code == "bad_request"
    assert refused.value.detail.startswith("rfq_id: expected 0x")
    assert venue.tc.get(f"/v1/rfqs/{rid}").json()["quotes"] == []


def test_the_rfqs_snapshot_is_the_first_page(venue: Venue, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``rfqs`` stream's snapshot listed every open RFQ, however many were opened."""
    monkeypatch.setattr(service_module, "OPEN_PAGE_MAX", 2)
    alice = venue.traders["alice"]
    ids = [alice.request_rfq("BTC-PERP", 10_000, window_ms=2_000)["rfq_id"] for _ in range(3)]
    with venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": ["rfqs"]})
        snapshot = ws.receive_json()
    assert snapshot["type"] == "snapshot"
    assert [r["rfq_id"] for r in snapshot["data"]["open"]] == ids[:2]
    assert RFQ_PAGE_MAX == OPEN_PAGE_MAX
