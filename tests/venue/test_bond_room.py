"""The bonds at stake are a running figure per trader, kept exact: racing bulk
commitments cannot reserve more than the trader's free collateral, and the figure
always equals the sum of the bonds it stands for."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address
from sealbatch.venue.app import create_app
from sealbatch.venue.clock import ManualClock
from tests.venue.conftest import FUNDING, T0, Venue, make_settings

#: Each racing commitment's bond: exactly 200 of them fit the trader's collateral.
BOND = FUNDING // 200


@pytest.fixture
def funded(db_url: str) -> Iterator[Venue]:
    clock = ManualClock(T0 + 100)
    with TestClient(
        create_app(
            make_settings(
                db_url, signer_workers=0, rate_limit_per_s=10_000, rate_limit_burst=10_000
            ),
            clock,
        )
    ) as tc:
        v = Venue(tc, clock)
        v.traders["dave"].deposit(FUNDING)
        yield v


def _bulk(venue: Venue, n: int, bond: int) -> list[dict[str, Any]]:
    dave = venue.traders["dave"]
    batch = dave._collecting()
    expiry = venue.clock.now_ms() + 60_000
    return [
        dave._commit_body(Order("BTC-PERP", Side.BUY, 100, 1), batch, bond, 0, expiry)[0]
        for _ in range(n)
    ]


def _sum_of_bonds(venue: Venue, trader: str) -> int:
    settle = venue.service.core.settlement
    return sum(bonds.get(Address(trader), 0) for bonds in settle._bonds.values())


def test_racing_bulk_commitments_cannot_reserve_more_than_the_collateral(funded: Venue) -> None:
    """The attack: a trader sends two bulk requests of 150 bonded commitments at once
    (each request alone fits 150 of the 200 its collateral covers), hoping both pass
    the bond check before either's bonds count, so that forfeits exceed what it has."""
    first, second = _bulk(funded, 150, BOND), _bulk(funded, 150, BOND)
    answers: list[list[dict[str, Any]]] = []
    lock = threading.Lock()

    def send(bodies: list[dict[str, Any]]) -> None:
        r = funded.tc.post("/v1/commitments", json=bodies)
        assert r.status_code == 200, r.text
        with lock:
            answers.append(r.json())

    threads = [threading.Thread(target=send, args=(b,)) for b in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    items = [i for a in answers for i in a]
    taken = [i for i in items if i["ok"]]
    refused = [i["problem"]["code"] for i in items if not i["ok"]]
    assert len(taken) == 200  # exactly what the collateral covers, not 300
    assert refused == ["insufficient_bond"] * 100
    dave = funded.traders["dave"]._me()
    settle = funded.service.core.settlement
    assert settle._at_stake(Address(dave)) == _sum_of_bonds(funded, dave) == 200 * BOND
    assert settle.room(Address(dave)) == 0
    # Not even a commitment at the minimum bond: the bonds hold all of it.
    r = funded.tc.post("/v1/commitments", json=_bulk(funded, 1, 0)[0])
    assert r.json()["code"] == "insufficient_bond"


def test_the_stake_is_released_exactly_when_the_batch_settles(funded: Venue) -> None:
    bodies = _bulk(funded, 3, BOND)
    batch = bodies[0]["batch_id"]
    r = funded.tc.post("/v1/commitments", json=bodies)
    assert all(i["ok"] for i in r.json())
    dave = Address(funded.traders["dave"]._me())
    settle = funded.service.core.settlement
    assert settle._at_stake(dave) == 3 * BOND
    funded.to_cleared(batch)  # never revealed: the bonds are forfeited, off the stake
    assert settle._at_stake(dave) == _sum_of_bonds(funded, str(dave)) == 0
    assert dave not in settle._stake


def test_the_running_stake_always_equals_the_bonds_it_stands_for() -> None:
    """Random reservations, settlements and cancellations: the running figure and the
    sum over the bonds per batch never differ, and a snapshot taken before the
    figure existed gets it rebuilt."""
    from sealbatch.auction.markets import DEFAULT_MARKETS
    from sealbatch.settlement.clearinghouse import Clearinghouse
    from sealbatch.settlement.errors import InsufficientBond

    rng = random.Random(7)
    ch = Clearinghouse(DEFAULT_MARKETS)
    traders = [Address("0x" + f"{i:02x}" * 20) for i in range(1, 5)]
    for t in traders:
        ch.deposit(t, 10_000, 0)

    def recomputed(t: Address) -> int:
        return sum(b.get(t, 0) for b in ch._bonds.values())

    for _ in range(400):
        op = rng.random()
        batch = rng.randrange(4)
        if op < 0.8:
            t = rng.choice(traders)
            with contextlib.suppress(InsufficientBond):
                ch.reserve_bond(batch, t, rng.randrange(1, 900), "a bond")
        else:
            ch.release(batch)
        for t in traders:
            assert ch._at_stake(t) == recomputed(t)
            assert ch._at_stake(t) <= 10_000
    state = ch.__getstate__()
    del state["_stake"]  # as a snapshot written before the running figure
    loaded = Clearinghouse.__new__(Clearinghouse)
    loaded.__setstate__(state)
    assert {t: loaded._at_stake(t) for t in traders} == {t: ch._at_stake(t) for t in traders}
