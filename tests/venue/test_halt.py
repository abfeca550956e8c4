"""A failed batch halts the venue: nothing trades, open batches are cancelled without
forfeits, the operator view and metrics say so, and only the operator's signed
resume restarts the batch clock; a restart replays the halt and the resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import address_of, sign_digest, signing_digest
from sealbatch.settlement import clearinghouse
from sealbatch.settlement.errors import SettlementError
from sealbatch.venue.app import create_app
from sealbatch.venue.auth import RESUME_TYPE
from sealbatch.venue.client import ApiError
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.commands import resume as resume_cmd
from sealbatch.venue.settings import DEFAULT_OPERATOR_KEY
from tests.venue.conftest import KEYS, T0, Venue, make_settings

#: Batches whose transition the patched ledger refuses.
FAILING: set[int] = set()


@pytest.fixture(autouse=True)
def failing_ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[int]]:
    """The ledger refuses the batches in FAILING (the same on replay: deterministic)."""
    real = clearinghouse.apply_batch

    def apply_batch(state: Any, result: Any, *args: Any, **kw: Any) -> Any:
        if result.batch_id in FAILING:
            raise SettlementError(
                f"batch {result.batch_id}: expected a valid batch, got a test fault"
            )
        return real(state, result, *args, **kw)

    monkeypatch.setattr(clearinghouse, "apply_batch", apply_batch)
    FAILING.clear()
    yield FAILING
    FAILING.clear()


def _resume_body(venue: Venue, batch_id: int, key: bytes, nonce: int = 1) -> dict[str, Any]:
    operator = address_of(key)
    now = venue.clock.now_ms()
    values = {"operator": operator, "batchId": batch_id, "nonce": nonce, "expiry": now + 60_000}
    sig = sign_digest(key, signing_digest(venue.service.domain, RESUME_TYPE, values))
    return {
        "operator": operator,
        "batch_id": batch_id,
        "nonce": nonce,
        "expiry_ms": now + 60_000,
        "signature": "0x" + sig.hex(),
    }


OPERATOR_KEY = bytes.fromhex(DEFAULT_OPERATOR_KEY[2:])


def _halt_at_batch_1(venue: Venue) -> dict[str, Any]:
    """Batch 0 trades; batch 1 fails while dave has a commitment in batch 2."""
    t = venue.traders
    a = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    b = t["erin"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
    venue.to_reveal(0)
    t["dave"].reveal(a)
    t["erin"].reveal(b)
    assert venue.to_cleared(0)["status"] == "settled"
    FAILING.add(1)
    c = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    d = t["erin"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
    venue.to_reveal(1)
    t["dave"].reveal(c)
    t["erin"].reveal(d)
    # Batch 2 collects while batch 1 reveals: dave commits with a bond.
    e = t["dave"].commit(Order("BTC-PERP", Side.BUY, 101, 1), bond=5_000_000)
    assert e.batch_id == 2
    rec = venue.to_cleared(1)
    assert rec["status"] == "failed"
    return {"c": c, "d": d, "e": e, "record": rec}


def test_a_failed_batch_halts_the_venue_and_cancels_open_batches(venue: Venue) -> None:
    got = _halt_at_batch_1(venue)
    core = venue.service.core
    # The open batch 2 was cancelled: dave's bond released, not forfeited.
    status = core.order_statuses[got["e"].commitment]
    assert (status.status, status.reason) == ("not_filled", "venue_halted")
    dave = venue.traders["dave"].address
    assert dave is not None
    assert core.settlement._at_stake(dave) == 0
    insurance = core.settlement.state.insurance_fund
    # Loud: the operator view, the metric, and every trading write refused with 503.
    view = venue.tc.get("/v1/operator").json()
    assert view["halted"]["batch_id"] == 1
    assert view["halted"]["reason"] == got["record"]["settlement"]["error"]
    assert "sealbatch_halted 1.0" in venue.tc.get("/metrics").text
    with pytest.raises(ApiError) as err:
        venue.traders["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    assert (err.value.status, err.value.code) == (503, "venue_halted")
    with pytest.raises(ApiError) as err:
        venue.traders["alice"].deposit(1_000_000)
    assert err.value.code == "venue_halted"
    # No batch clears while halted, however long the clock runs.
    venue.clock.set(T0 + 20_000)
    assert venue.tc.get("/v1/operator").json()["last_cleared_batch"] == 1
    assert core.settlement.state.insurance_fund == insurance  # nothing forfeited


def test_only_the_operator_resumes_and_only_the_halt_it_names(venue: Venue) -> None:
    _halt_at_batch_1(venue)
    venue.clock.set(T0 + 10_000 + 50)
    # A trader cannot resume the venue (the attack: restart trading past a fault).
    r = venue.tc.post(
        "/v1/operator/resume", json=_resume_body(venue, 1, bytes.fromhex(KEYS["alice"][2:]))
    )
    assert (r.status_code, r.json()["code"]) == (401, "bad_signature")
    r = venue.tc.post("/v1/operator/resume", json=_resume_body(venue, 7, OPERATOR_KEY))
    assert (r.status_code, r.json()["code"]) == (409, "wrong_batch")
    assert venue.service.core.halted is not None
    r = venue.tc.post("/v1/operator/resume", json=_resume_body(venue, 1, OPERATOR_KEY))
    assert r.status_code == 200, r.text
    assert r.json()["batch_id"] == 1
    assert r.json()["collecting"] == 10
    assert venue.service.core.halted is None
    assert "sealbatch_halted 0.0" in venue.tc.get("/metrics").text
    # The same signed order cannot be replayed, and a running venue has nothing to resume.
    r = venue.tc.post("/v1/operator/resume", json=_resume_body(venue, 1, OPERATOR_KEY))
    assert (r.status_code, r.json()["code"]) == (409, "not_halted")
    # Trading goes on from the batch collecting now; the skipped batches left no record.
    t = venue.traders
    a = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    b = t["erin"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
    assert a.batch_id == 10
    venue.to_reveal(10)
    t["dave"].reveal(a)
    t["erin"].reveal(b)
    rec = venue.to_cleared(10)
    assert rec["status"] == "settled"
    assert rec["markets"]["BTC-PERP"]["volume"] == 1
    assert venue.tc.get("/v1/batches/5").status_code == 404


def test_a_batch_that_fails_again_halts_again(venue: Venue) -> None:
    _halt_at_batch_1(venue)
    venue.clock.set(T0 + 3_000 + 50)
    FAILING.add(3)
    r = venue.tc.post("/v1/operator/resume", json=_resume_body(venue, 1, OPERATOR_KEY))
    assert r.status_code == 200, r.text
    t = venue.traders
    a = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    assert a.batch_id == 3
    venue.to_reveal(3)
    t["dave"].reveal(a)
    assert venue.to_cleared(3)["status"] == "failed"
    assert venue.service.core.halted is not None
    assert venue.service.core.halted["batch_id"] == 3


def test_a_restart_replays_the_halt_and_the_resume(db_url: str) -> None:
    clock = ManualClock(T0 + 100)
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
        venue = Venue(tc, clock)
        venue.fund()
        _halt_at_batch_1(venue)
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
        venue = Venue(tc, clock)
        assert venue.service.core.halted is not None
        assert venue.service.core.halted["batch_id"] == 1
        clock.set(T0 + 6_000 + 50)
        r = tc.post("/v1/operator/resume", json=_resume_body(venue, 1, OPERATOR_KEY))
        assert r.status_code == 200, r.text
        records = {b: json.dumps(r.to_json()) for b, r in venue.service.core.records.items()}
    with TestClient(create_app(make_settings(db_url), clock)) as tc:
        op = tc.app.state.service  # type: ignore[attr-defined]
        assert op.core.halted is None
        assert op.core.last_cleared == 4  # resumed at 6 050 ms: batch 4 was due
        assert {b: json.dumps(r.to_json()) for b, r in op.core.records.items()} == records


class _Borrowed:
    """An httpx client context that hands out the test client and leaves it open."""

    def __init__(self, tc: TestClient) -> None:
        self.tc = tc

    def __enter__(self) -> TestClient:
        return self.tc

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def test_sealbatch_resume_signs_with_the_operator_key(
    venue: Venue, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _halt_at_batch_1(venue)
    venue.clock.set(T0 + 4_000 + 50)
    monkeypatch.setattr(httpx, "Client", lambda **_kw: _Borrowed(venue.tc))
    parser = __import__("sealbatch.venue.cli", fromlist=["build_parser"]).build_parser()
    monkeypatch.setenv("SEALBATCH_OPERATOR_KEY", KEYS["alice"])
    assert resume_cmd.run(parser.parse_args(["resume", "--batch", "1"])) == 2  # not the operator's
    monkeypatch.delenv("SEALBATCH_OPERATOR_KEY")
    assert resume_cmd.run(parser.parse_args(["resume", "--batch", "2"])) == 1  # wrong batch
    assert venue.service.core.halted is not None
    assert resume_cmd.run(parser.parse_args(["resume", "--batch", "1"])) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["batch_id"] == 1
    assert venue.service.core.halted is None


def test_a_batch_the_clearing_refuses_fails_and_halts_and_loses_no_order(
    venue: Venue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clearing (not settlement) refuses batch 1 (an AuctionError): it must end
    ``failed`` with the reason and halt the venue, as a batch settlement refuses does,
    not leave its book half taken (every read a 422, the batch cleared later without
    its orders)."""
    from sealbatch.auction.errors import AuctionError
    from sealbatch.venue import state_machine

    real = state_machine.clear_batch

    def clear_batch(sealed: Any, *args: Any, **kw: Any) -> Any:
        if sealed.batch_id == 1:
            raise AuctionError("batch 1: expected a batch the clearing takes, got a test fault")
        return real(sealed, *args, **kw)

    monkeypatch.setattr(state_machine, "clear_batch", clear_batch)
    t = venue.traders
    venue.to_cleared(0)  # the deposits; batch 1 collects
    before = t["dave"].account()["collateral"]
    c = t["dave"].commit(Order("BTC-PERP", Side.BUY, 100, 1), bond=5_000_000)
    d = t["erin"].commit(Order("BTC-PERP", Side.SELL, 100, 1))
    assert c.batch_id == 1
    venue.to_reveal(1)
    t["dave"].reveal(c)
    t["erin"].reveal(d)
    rec = venue.to_cleared(1)
    assert rec["status"] == "failed"
    assert "the clearing refused batch 1" in rec["settlement"]["error"]
    assert venue.service.core.halted is not None
    assert venue.service.core.halted["batch_id"] == 1
    fate = t["dave"].order(c.commitment)
    assert (fate["status"], fate["reason"]) == ("not_filled", "batch_failed")
    assert t["dave"].account()["collateral"] == before  # the bond was released
    monkeypatch.setattr(state_machine, "clear_batch", real)
    venue.clock.set(T0 + 4_000 + 50)
    r = venue.tc.post("/v1/operator/resume", json=_resume_body(venue, 1, OPERATOR_KEY))
    assert r.status_code == 200, r.text
