"""The SDK goes by the venue's clock: an automatic reveal, quote reveal or accept
sent before its window opens by the venue's clock (the local clock ran ahead) is
answered 409 ``outside_window``, and the SDK measures the offset again and retries."""

from __future__ import annotations

from typing import Any

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError, VenueClient
from tests.venue.conftest import KEYS, Venue
from tests.venue.test_rfq import _prime_price

AHEAD_MS = 50  # how far the local clock jumps ahead of the venue's after the first sync


class _Skewed:
    """A client whose local clock runs ``skew`` ms ahead of the venue's manual clock;
    its sleeps move the venue's clock. Records every write it sends."""

    def __init__(self, venue: Venue, name: str) -> None:
        self.venue = venue
        self.skew = 0
        self.sent: list[tuple[str, int, int | str]] = []  # (path, venue time, status)
        self.client = VenueClient(
            "http://testserver",
            KEYS[name],
            http=venue.tc,
            clock=lambda: venue.clock.now_ms() + self.skew,
            sleep=lambda s: venue.clock.advance(max(1, round(s * 1000))),
        )
        send = self.client._req

        def recording(method: str, path: str, body: Any = None, **params: Any) -> Any:
            at = venue.clock.now_ms()
            try:
                out = send(method, path, body, **params)
            except ApiError as exc:
                if method == "POST":
                    self.sent.append((path, at, exc.code))
                raise
            if method == "POST":
                self.sent.append((path, at, 200))
            return out

        self.client._req = recording  # type: ignore[method-assign]

    def posts(self, suffix: str) -> list[tuple[str, int, int | str]]:
        return [s for s in self.sent if s[0].endswith(suffix)]


def test_an_early_reveal_is_retried_and_succeeds(venue: Venue) -> None:
    alice = _Skewed(venue, "alice")
    pending = alice.client.commit(Order("BTC-PERP", Side.BUY, 100, 1))
    opens = alice.client.reveal_opens_ms(pending.batch_id)
    alice.skew = AHEAD_MS  # the local clock jumps ahead after the sync
    out = alice.client.reveal_when_open(pending)
    assert out["status"] == "revealed"
    (early, ok) = alice.posts("/v1/reveals")
    assert early[1] < opens and early[2] == "outside_window"  # sent early, refused
    assert ok[1] >= opens and ok[2] == 200  # retried inside the window
    assert venue.service.core.order_status(pending.commitment).status == "revealed"


def test_without_the_retry_the_early_reveal_fails(venue: Venue) -> None:
    """What the retry guards against: the same early send, made once, is refused."""
    alice = _Skewed(venue, "alice")
    pending = alice.client.commit(Order("BTC-PERP", Side.BUY, 100, 1))
    alice.skew = AHEAD_MS
    alice.client.sleep_until(alice.client.reveal_opens_ms(pending.batch_id) + 20)
    with pytest.raises(ApiError) as err:
        alice.client.reveal(pending)
    assert err.value.status == 409 and err.value.code == "outside_window"


def test_a_late_reveal_is_not_retried(venue: Venue) -> None:
    alice = _Skewed(venue, "alice")
    pending = alice.client.commit(Order("BTC-PERP", Side.BUY, 100, 1))
    venue.to_cleared(pending.batch_id)  # the reveal window has closed
    with pytest.raises(ApiError) as err:
        alice.client.reveal_when_open(pending)
    assert err.value.code == "outside_window"
    assert len(alice.posts("/v1/reveals")) == 1


def test_an_early_quote_reveal_and_accept_are_retried(venue: Venue) -> None:
    _prime_price(venue, 100)
    fund, maker = _Skewed(venue, "alice"), _Skewed(venue, "carol")
    rfq = fund.client.request_rfq("BTC-PERP", 10_000, side="buy", window_ms=400)
    quote = maker.client.quote(rfq["rfq_id"], 99, 101)
    maker.skew = fund.skew = AHEAD_MS
    revealed = maker.client.reveal_quote_when_open(quote, rfq)
    assert revealed["revealed"] is True
    (early, ok) = maker.posts("/reveals")
    assert early[1] < rfq["quote_close_ms"] <= ok[1] and early[2] == "outside_window"
    accepted = fund.client.accept_best_when_open(rfq, "buy")
    assert accepted["price"] == 101
    (acc,) = fund.posts("/accept")
    assert acc[1] >= rfq["reveal_close_ms"] and acc[2] == 200


def test_an_early_commit_into_a_named_batch_is_retried_and_succeeds(venue: Venue) -> None:
    """A commit aimed at the next batch, sent when the local clock (ahead) says its
    window opened: answered ``wrong_batch`` by the venue, retried, taken in that batch."""
    alice = _Skewed(venue, "alice")
    s = alice.client.info()["schedule"]
    collecting = (venue.clock.now_ms() - s["genesis_ms"]) // s["commit_window_ms"]
    alice.skew = AHEAD_MS  # the local clock jumps ahead after the sync
    opens = s["genesis_ms"] + (collecting + 1) * s["commit_window_ms"]
    venue.clock.set(opens - AHEAD_MS + 5)  # open by the local clock, not by the venue's
    pending = alice.client.commit(Order("BTC-PERP", Side.BUY, 100, 1), batch_id=collecting + 1)
    assert pending.batch_id == collecting + 1 and pending.receipt
    codes = [code for _, _, code in alice.posts("/v1/commitments")]
    assert codes[0] == "wrong_batch" and codes[-1] == 200
    assert all(at >= opens for _, at, code in alice.posts("/v1/commitments") if code == 200)


def test_a_commit_into_the_batch_collecting_now_by_a_clock_ahead_is_retried(
    venue: Venue,
) -> None:
    """``commit`` with no batch named, while the local clock (ahead) already reads the
    next batch: answered ``wrong_batch``, retried once that window opens by the venue's
    clock, and taken (examples/trader_commit_reveal.py failed with 409 wrong_batch)."""
    alice = _Skewed(venue, "alice")
    s = alice.client.info()["schedule"]
    collecting = (venue.clock.now_ms() - s["genesis_ms"]) // s["commit_window_ms"]
    alice.skew = AHEAD_MS
    opens = s["genesis_ms"] + (collecting + 1) * s["commit_window_ms"]
    venue.clock.set(opens - AHEAD_MS + 5)  # the next batch by the local clock only
    pending = alice.client.commit(Order("BTC-PERP", Side.BUY, 100, 1))
    assert pending.batch_id == collecting + 1 and pending.receipt
    codes = [code for _, _, code in alice.posts("/v1/commitments")]
    assert codes[0] == "wrong_batch" and codes[-1] == 200


def test_an_oracle_report_is_never_dated_in_the_venues_future(venue: Venue) -> None:
    """A source whose measured clock runs a few ms ahead of the venue's still has its
    report taken: the SDK dates it ORACLE_REPORT_LAG_MS back (examples/trader_commit_reveal.py
    failed with 400 "timestamp_ms: expected at most ... (now)")."""
    from sealbatch.settlement.dev_oracle import dev_oracle_keys
    from sealbatch.venue.client import ORACLE_REPORT_LAG_MS

    skew = {"ms": 0}
    feeder = VenueClient(
        "http://testserver",
        dev_oracle_keys()[0],
        http=venue.tc,
        clock=lambda: venue.clock.now_ms() + skew["ms"],
    )
    feeder.info()  # the offset is measured: 0
    skew["ms"] = 30  # then the local clock runs 30 ms ahead
    before = venue.clock.now_ms()
    feeder.post_oracle_price("BTC-PERP", 650_000)
    (kept,) = [
        r.report for (m, _), r in venue.service.core.settlement.reports.items() if m == "BTC-PERP"
    ]
    assert kept.timestamp_ms == before + 30 - ORACLE_REPORT_LAG_MS <= before
