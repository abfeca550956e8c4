"""Forged messages naming someone else cannot spend that address's rate budget,
whatever they are refused for."""

from __future__ import annotations

import time

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.venue.client import ApiError
from tests.venue.conftest import Venue


def _forged_commit(victim: str, batch_id: int) -> dict[str, object]:
    return {
        "trader": victim,
        "batch_id": batch_id,
        "market": "BTC-PERP",
        "commitment": "0x" + "ab" * 32,
        "nonce": 1,
        "signature": "0x" + "cd" * 64 + "1b",  # not the victim's
    }


def _forged_reveal(victim: str) -> dict[str, object]:
    return {
        "trader": victim,
        "commitment": "0x" + "ef" * 32,  # never taken
        "order": {"market": "BTC-PERP", "side": "buy", "limit_price": 1, "quantity": 1},
        "salt": "0x" + "00" * 32,
        "nonce": 1,
        "signature": "0x" + "cd" * 64 + "1b",
    }


def test_refusals_before_the_signature_check_spend_no_tokens(venue: Venue) -> None:
    victim = venue.traders["alice"].address
    assert victim is not None
    limiter = venue.service.limiter
    before = limiter.remaining(victim.lower())
    wrong_batch = [_forged_commit(victim, 10**9) for _ in range(50)]  # wrong_batch
    r = venue.tc.post("/v1/commitments", json=wrong_batch)
    assert r.status_code == 200 and not any(item["ok"] for item in r.json())
    for _ in range(20):
        r = venue.tc.post("/v1/reveals", json=_forged_reveal(victim))
        assert r.status_code == 404, r.text  # unknown_commitment
    assert limiter.remaining(victim.lower()) >= before - 1  # (refill rounding)


def test_a_refusal_its_signer_signed_still_spends(venue: Venue) -> None:
    alice = venue.traders["alice"]
    assert alice.address is not None
    limiter = venue.service.limiter
    before = limiter.remaining(alice.address.lower())
    start = time.monotonic()
    for _ in range(30):
        with pytest.raises(ApiError) as refused:
            alice.commit(Order("BTC-PERP", Side.BUY, 650_000, 1), batch_id=10**9)
        assert refused.value.code == "wrong_batch"
    refilled = (time.monotonic() - start) * limiter.rate
    assert limiter.remaining(alice.address.lower()) <= before - 30 + refilled + 1
