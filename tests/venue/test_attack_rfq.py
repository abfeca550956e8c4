"""Attacks on RFQ quotes: several sealed quotes for a free last look, copied hashes.

A maker may post one sealed quote per RFQ, each quote puts a bond at stake,
and an unrevealed quote forfeits it to the insurance fund: choosing which of
several prices to show is impossible, and withholding a price costs the bond.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from sealbatch.venue.client import ApiError, VenueClient
from sealbatch.venue.rfq import QUOTE_COMMIT_TYPE, compute_quote_commitment
from tests.venue.conftest import FUNDING, Venue


def _quote_body(maker: VenueClient, rfq_id: str, commitment: bytes) -> dict[str, Any]:
    nonce = maker.next_nonce()
    values = {
        "maker": maker._me(),
        "rfqId": bytes.fromhex(rfq_id[2:]),
        "commitment": commitment,
        "nonce": nonce,
        "expiry": 2**63,
    }
    return {
        "maker": maker._me(),
        "rfq_id": rfq_id,
        "commitment": "0x" + commitment.hex(),
        "nonce": nonce,
        "expiry_ms": 2**63,
        "signature": maker._sign(QUOTE_COMMIT_TYPE, values),
    }


def _most_lots_bought(ch: Any, trader: str, price: int) -> int:
    """The most BTC-PERP lots ``trader`` carries alone buying at ``price`` in batch 2."""
    from sealbatch.auction.orders import Order, Side

    lo, hi = 1, 1 << 21
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ch.fits(2, trader, Order("BTC-PERP", Side.BUY, price, mid)):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _settle_all(venue: Venue) -> None:
    venue.clock.set(venue.clock.now_ms() + 5_000)
    venue.tc.get("/v1/batches")


def test_a_second_sealed_quote_from_one_maker_is_refused(venue: Venue) -> None:
    """Issue 10 attack 3: three sealed quotes, reveal the one you like."""
    t = venue.traders
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    first = t["bob"].quote(rfq["rfq_id"], 90, 110)
    quotes_before = dict(venue.service.core.rfqs.get(bytes.fromhex(rfq["rfq_id"][2:])).quotes)
    for bid, ask in ((95, 105), (99, 101)):
        try:
            t["bob"].quote(rfq["rfq_id"], bid, ask)
        except ApiError as err:
            assert err.status == 409 and err.code == "one_quote_per_maker"
        else:
            raise AssertionError("a second sealed quote by one maker was taken")
    rfq_now = venue.service.core.rfqs.get(bytes.fromhex(rfq["rfq_id"][2:]))
    assert rfq_now.quotes == quotes_before and first.commitment in rfq_now.quotes


def test_an_unrevealed_quote_forfeits_its_bond_to_the_insurance_fund(venue: Venue) -> None:
    t = venue.traders
    bond = venue.tc.get("/v1/info").json()["rfq"]["quote_bond"]
    assert bond >= 1_000_000
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    t["bob"].quote(rfq["rfq_id"], 90, 110)  # bob never reveals
    kept = t["carol"].quote(rfq["rfq_id"], 95, 105)
    venue.clock.set(rfq["opened_ms"] + 200)
    t["carol"].reveal_quote(kept)
    _settle_all(venue)
    bob, carol = t["bob"].account(), t["carol"].account()
    assert bob["collateral"] == FUNDING - bond
    assert carol["collateral"] == FUNDING
    records = [venue.service.core.records[b].to_json() for b in sorted(venue.service.core.records)]
    forfeits = [f for r in records for f in r["forfeits"]]
    assert [(f["trader"], f["bond"]) for f in forfeits] == [(t["bob"]._me(), bond)]
    settled = [r["settlement"] for r in records if r["forfeits"]]
    assert settled[0]["forfeits"] == [[t["bob"]._me(), bond]]
    assert venue.service.core.settlement.state.insurance_fund >= bond


def test_a_quote_needs_free_collateral_for_its_bond(venue: Venue) -> None:
    """A maker with nothing at stake cannot quote (the bond would be unpayable)."""
    t = venue.traders
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    pauper = VenueClient(
        "http://testserver", os.urandom(32), http=venue.tc, clock=venue.clock.now_ms
    )
    try:
        pauper.quote(rfq["rfq_id"], 90, 110)
    except ApiError as err:
        assert err.status == 422 and err.code == "insufficient_bond"
    else:
        raise AssertionError("a quote without collateral for its bond was taken")
    assert venue.service.core.rfqs.get(bytes.fromhex(rfq["rfq_id"][2:])).quotes == {}


def test_quote_bonds_and_commitment_bonds_share_one_budget(venue: Venue) -> None:
    """The same free collateral cannot back a quote bond and a commitment bond."""
    t = venue.traders
    bond = venue.service.core.quote_bond
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    t["bob"].quote(rfq["rfq_id"], 90, 110)
    from sealbatch.auction.orders import Order, Side
    from sealbatch.settlement.errors import InsufficientBond

    ch = venue.service.core.settlement
    free = ch._free_collateral(t["bob"]._me())
    # a pending withdrawal brings the free collateral within one commitment's bond (< 2^30)
    t["bob"].withdraw(free - bond - 500_000_000)
    free = ch._free_collateral(t["bob"]._me())
    assert free - bond < 1 << 30
    try:
        t["bob"].commit(Order("BTC-PERP", Side.BUY, 100, 1), bond=free - bond + 1)
    except ApiError as err:
        assert err.code == InsufficientBond.code
    else:
        raise AssertionError("a commitment bond was backed by collateral a quote bond holds")
    t["bob"].commit(Order("BTC-PERP", Side.BUY, 100, 1), bond=free - bond)


def test_a_copied_quote_hash_is_refused_in_any_rfq(venue: Venue) -> None:
    t = venue.traders
    one = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    two = t["dave"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    q = t["bob"].quote(one["rfq_id"], 90, 110)
    for rfq_id in (one["rfq_id"], two["rfq_id"]):
        r = venue.tc.post(
            f"/v1/rfqs/{rfq_id}/quotes", json=_quote_body(t["carol"], rfq_id, q.commitment)
        )
        assert r.status_code == 409 and r.json()["code"] == "commitment_taken", r.text
    # a fresh hash from carol is fine
    fresh = compute_quote_commitment(
        bytes.fromhex(two["rfq_id"][2:]), t["carol"]._me(), 1, 2, os.urandom(32)
    )
    r = venue.tc.post(
        f"/v1/rfqs/{two['rfq_id']}/quotes", json=_quote_body(t["carol"], two["rfq_id"], fresh)
    )
    assert r.status_code == 201, r.text


def test_only_the_requester_accepts_and_only_once(venue: Venue) -> None:
    """The race for block accepts: a stranger's accept and a second accept are
    refused and change nothing."""
    t = venue.traders
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    q = t["bob"].quote(rfq["rfq_id"], 99, 101)
    venue.clock.set(rfq["opened_ms"] + 200)
    t["bob"].reveal_quote(q)
    venue.clock.set(rfq["opened_ms"] + 300)
    try:
        t["carol"].accept_best(rfq["rfq_id"], "buy")
    except ApiError as err:
        assert err.code == "not_requester"
    else:
        raise AssertionError("a stranger accepted the block")
    assert venue.service.core.rfqs.get(bytes.fromhex(rfq["rfq_id"][2:])).accepted is None
    t["alice"].accept_best(rfq["rfq_id"], "buy")
    try:
        t["alice"].accept_best(rfq["rfq_id"], "sell")
    except ApiError as err:
        assert err.code == "already_accepted"
    else:
        raise AssertionError("a block was accepted twice")
    assert sum(len(v) for v in venue.service.core.blocks.values()) == 1


def test_a_withdrawal_cannot_take_the_collateral_behind_a_quote_bond(venue: Venue) -> None:
    """One budget: a quote bond at stake is not free collateral to withdraw."""
    t = venue.traders
    venue.to_cleared(0)  # deposits credited
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    t["bob"].quote(rfq["rfq_id"], 90, 110)
    bond = venue.service.core.quote_bond
    with pytest.raises(ApiError) as refused:
        t["bob"].withdraw(FUNDING)
    assert refused.value.code == "insufficient_collateral"
    assert not venue.service.core.settlement.pending_withdrawals
    t["bob"].withdraw(FUNDING - bond)


def test_a_block_and_a_bond_cannot_share_free_collateral(venue: Venue) -> None:
    """Issue 10 item 7: bonds and block margin were checked separately, so the same
    free collateral backed both. A bond now fits only beside the block."""
    from sealbatch.auction.orders import Order, Side
    from tests.venue.test_rfq import _prime_price, _rfq_until_revealed

    t = venue.traders
    _prime_price(venue, 100)
    rfq, _ = _rfq_until_revealed(venue)
    t["alice"].accept_best(rfq["rfq_id"], "buy")
    ch = venue.service.core.settlement
    alice = t["alice"]._me()
    # a pending withdrawal brings the room within one commitment's bond (< 2^30)
    t["alice"].withdraw(ch.room(alice) - 500_000_000)
    room, free = ch.room(alice), ch._free_collateral(alice)
    assert room < 1 << 30
    assert room < free  # the block holds margin the plain free collateral ignores
    with pytest.raises(ApiError) as refused:
        t["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 1), bond=room + 1)
    assert refused.value.code == "insufficient_bond"
    t["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 1), bond=room)
    assert ch.room(alice) == 0


def test_a_maker_cannot_withdraw_its_way_out_of_a_revealed_quote(venue: Venue) -> None:
    """No last look: a revealed quote is firm until the window closes. A maker who
    could withdraw the collateral behind it once prices show would make it one the
    requester cannot take (passed over as an unfunded maker's), bond released: a free
    option. The withdrawal must leave the revealed quote carried."""
    from sealbatch.auction.orders import Order, Side
    from tests.venue.test_rfq import _prime_price, _rfq_until_revealed

    t = venue.traders
    _prime_price(venue, 100)
    rfq, _ = _rfq_until_revealed(venue)  # bob 99/101, carol 98/100: carol's ask is best
    ch = venue.service.core.settlement
    carol = t["carol"]._me()
    free = ch._free_collateral(carol) - venue.service.core.quote_bond  # beside its bond
    with pytest.raises(ApiError) as refused:
        t["carol"].withdraw(free)
    assert refused.value.code == "insufficient_collateral"
    assert not ch.pending_withdrawals
    t["carol"].withdraw(ch.room(carol))  # what leaves the block carried may go
    with pytest.raises(ApiError) as no_bond:  # nor may a bond lock up what carries it
        t["carol"].commit(Order("BTC-PERP", Side.BUY, 100, 1))
    assert no_bond.value.code == "insufficient_bond"
    acc = t["alice"].accept_best(rfq["rfq_id"], "buy")
    assert acc["price"] == 100 and acc["seller"] == carol


def _one_budget_setup(venue: Venue) -> tuple[VenueClient, int, Any, dict[str, Any]]:
    """A trader with 2 000 USDC commits in batch 2 the largest buy it can carry alone
    and asks for a block of half that (window within batch 2's reveal window); bob's
    quote is revealed. Returns the trader, that size, its pending order and the RFQ."""
    from sealbatch.auction.orders import Order, Side
    from tests.venue.conftest import T0
    from tests.venue.test_rfq import _prime_price

    _prime_price(venue, 100)  # batch 2 collects
    ch = venue.service.core.settlement
    p = VenueClient("http://testserver", "0x" + "ab" * 32, http=venue.tc, clock=venue.clock.now_ms)
    p.deposit(2_000_000_000)
    lo = _most_lots_bought(ch, p._me(), 100)
    pending = p.commit(Order("BTC-PERP", Side.BUY, 100, lo))
    venue.clock.set(T0 + 2_650)
    rfq = p.request_rfq("BTC-PERP", lo // 2, window_ms=400)
    q = venue.traders["bob"].quote(rfq["rfq_id"], 99, 101)
    venue.clock.set(T0 + 2_900)
    venue.traders["bob"].reveal_quote(q)
    venue.to_reveal(2)  # the RFQ's accept phase: batch 3 collects, batch 2 reveals
    return p, lo, pending, rfq


def test_a_block_cannot_lean_on_the_margin_of_orders_in_the_batch_revealing(
    venue: Venue,
) -> None:
    """A block accepted for the batch collecting settles after the batch revealing now:
    both may fill, so the block must fit beside the orders revealed there (it was
    judged alone: 150 % of what the account can carry was taken)."""
    p, _, pending, rfq = _one_budget_setup(venue)
    p.reveal(pending)  # takes all the account can carry
    with pytest.raises(ApiError) as refused:
        p.accept_best(rfq["rfq_id"], "buy")
    assert refused.value.code == "insufficient_margin"
    assert venue.tc.get(f"/v1/rfqs/{rfq['rfq_id']}").json()["accepted"] is None


def test_a_reveal_cannot_lean_on_the_margin_of_a_block_accepted_for_the_next_batch(
    venue: Venue,
) -> None:
    """The other order: a block accepted for the next batch counts in this batch's
    reveal margin check."""
    p, _, pending, rfq = _one_budget_setup(venue)
    p.accept_best(rfq["rfq_id"], "buy")
    with pytest.raises(ApiError) as refused:
        p.reveal(pending)
    assert refused.value.code == "insufficient_margin"


def test_a_sealed_quote_cannot_be_abandoned_for_free_by_withdrawing_what_carries_it(
    venue: Venue,
) -> None:
    """A free option on the requester: a maker seals a quote, takes away all its
    collateral but the bond while the quote is sealed (nothing held it then), and
    reveals a quote it cannot carry. The reveal used to be taken, the quote passed
    over at accept and the bond released: abandoning a sealed quote cost nothing.
    Now a reveal the maker cannot carry is refused, so the quote stays sealed and
    forfeits its bond like any quote not revealed."""
    from tests.venue.test_rfq import _prime_price

    t = venue.traders
    _prime_price(venue, 100)
    ch = venue.service.core.settlement
    bond = venue.service.core.quote_bond
    carol = t["carol"]._me()
    rfq = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
    kept = t["bob"].quote(rfq["rfq_id"], 99, 101)
    dropped = t["carol"].quote(rfq["rfq_id"], 98, 100)  # the best ask, if carried
    before = t["carol"].account()["collateral"]
    taken = ch.room(carol)  # everything but the bond at stake
    t["carol"].withdraw(taken)
    venue.clock.set(rfq["opened_ms"] + 200)  # reveal phase
    with pytest.raises(ApiError) as refused:
        t["carol"].reveal_quote(dropped)
    assert refused.value.code == "insufficient_margin"
    assert "forfeits its bond" in refused.value.detail
    t["bob"].reveal_quote(kept)
    view = venue.tc.get(f"/v1/rfqs/{rfq['rfq_id']}").json()
    assert [q["revealed"] for q in view["quotes"]] == [True, False]
    venue.clock.set(rfq["opened_ms"] + 300)  # accept phase
    acc = t["alice"].accept_best(rfq["rfq_id"], "buy")
    assert acc["seller"] == t["bob"]._me() and acc["price"] == 101
    _settle_all(venue)
    assert t["carol"].account()["collateral"] == before - taken - bond
    records = [venue.service.core.records[b].to_json() for b in sorted(venue.service.core.records)]
    forfeits = [(f["trader"], f["bond"]) for r in records for f in r["forfeits"]]
    assert forfeits == [(carol, bond)]


def test_the_venue_wide_cap_on_open_rfqs_is_not_free_to_fill(db_url: str) -> None:
    """``rfq.max_open`` RFQs open at once block every other trader's block trades. It
    took nothing to fill: a key with no account opened RFQs (about 313 keys × 32
    RFQs filled the default cap of 10 000). Now each open RFQ holds the request bond
    from its requester's free collateral until it is accepted or closes: filling the
    cap ties up ``max_open × request_bond``, and an account without it is refused."""
    from fastapi.testclient import TestClient

    from sealbatch.venue.app import create_app
    from sealbatch.venue.clock import ManualClock
    from tests.venue.conftest import T0, make_settings

    clock = ManualClock(T0 + 100)
    settings = make_settings(db_url, rfq_max_open_per_account=2, rfq_max_open=4)
    with TestClient(create_app(settings, clock)) as tc:
        venue = Venue(tc, clock)
        rules = tc.get("/v1/info").json()["rfq"]
        # Sybil keys with nothing deposited cannot open a single RFQ.
        for _ in range(rules["max_open"]):
            sybil = VenueClient("http://testserver", os.urandom(32), http=tc, clock=clock.now_ms)
            with pytest.raises(ApiError) as refused:
                sybil.request_rfq("BTC-PERP", 10_000, window_ms=400)
            assert refused.value.status == 422 and refused.value.code == "insufficient_bond"
            assert "request bond" in refused.value.detail
        assert venue.service.core.rfqs.open_count == 0
        bond = rules["request_bond"]
        assert bond == settings.rfq_request_bond > 0
        # A funded account pays the bond per open RFQ, out of what it could withdraw.
        t = venue.traders
        t["alice"].deposit(2 * bond)
        ch = venue.service.core.settlement
        alice = t["alice"]._me()
        room = ch.room(alice)
        first = t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
        assert ch.room(alice) == room - bond
        t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
        assert ch.room(alice) == room - 2 * bond == 0
        with pytest.raises(ApiError) as held:
            t["alice"].withdraw(1)
        assert held.value.code == "insufficient_collateral"
        # Once the windows end the bonds are released (never forfeited): the next
        # write finds them free.
        clock.set(first["close_ms"])
        t["alice"].request_rfq("BTC-PERP", 10_000, window_ms=400)
        assert ch.room(alice) == room - bond


def test_an_accept_releases_the_request_bond_and_need_not_leave_room_for_it(
    venue: Venue,
) -> None:
    from tests.venue.test_rfq import _prime_price, _rfq_until_revealed

    t = venue.traders
    _prime_price(venue, 100)
    ch = venue.service.core.settlement
    alice = t["alice"]._me()
    room = ch.room(alice)
    rfq, _ = _rfq_until_revealed(venue)
    bond = venue.service.core.rfq_bond
    assert ch.room(alice) == room - bond
    t["alice"].accept_best(rfq["rfq_id"], "buy")
    assert ch._at_stake(alice) == 0  # the request bond went with the accept


def _firm_maker_setup(venue: Venue) -> tuple[VenueClient, Any, dict[str, Any]]:
    """A maker with 2 000 USDC commits in batch 2 the largest buy it can carry alone,
    then quotes 99/101 on alice's hidden-side RFQ of half that and reveals the quote
    (carried: nothing of the maker's is taken yet). The clock ends in batch 2's reveal
    window, which is the RFQ's accept phase. Returns the maker, its pending order and
    the RFQ."""
    from sealbatch.auction.orders import Order, Side
    from tests.venue.conftest import T0
    from tests.venue.test_rfq import _prime_price

    _prime_price(venue, 100)  # batch 2 collects
    ch = venue.service.core.settlement
    m = VenueClient("http://testserver", "0x" + "cd" * 32, http=venue.tc, clock=venue.clock.now_ms)
    m.deposit(2_000_000_000)
    lo = _most_lots_bought(ch, m._me(), 100)
    pending = m.commit(Order("BTC-PERP", Side.BUY, 100, lo))
    venue.clock.set(T0 + 2_650)
    rfq = venue.traders["alice"].request_rfq("BTC-PERP", max(lo // 2, 10_000), window_ms=400)
    q = m.quote(rfq["rfq_id"], 99, 101)
    venue.clock.set(T0 + 2_900)
    m.reveal_quote(q)
    venue.to_reveal(2)
    return m, pending, rfq


def test_a_maker_cannot_reveal_an_order_that_takes_the_margin_behind_its_revealed_quote(
    venue: Venue,
) -> None:
    """No last look through the auction: a maker whose revealed quote is firm reveals
    an order that uses up the margin carrying the quote's bid. The reveal used to be
    taken, the requester's sell then passed the maker over (it could not carry the
    block any more) and its bond came back: a free option. The reveal is refused
    now, and the requester trades with the maker at its quote."""
    m, pending, rfq = _firm_maker_setup(venue)
    with pytest.raises(ApiError) as refused:
        m.reveal(pending)
    assert refused.value.code == "insufficient_margin"
    assert "revealed quote in RFQ " + rfq["rfq_id"] in refused.value.detail
    acc = venue.traders["alice"].accept_best(rfq["rfq_id"], "sell")
    assert acc["buyer"] == m._me() and acc["price"] == 99


def test_a_requester_cannot_accept_a_block_that_takes_the_margin_behind_its_revealed_quote(
    venue: Venue,
) -> None:
    """No last look through another RFQ: a maker whose revealed quote is firm accepts,
    as the requester of a block of its own, one that fits alone but leaves the quote's
    bid uncarried. The accept used to be taken (and the quote then passed over at
    alice's accept, its bond released); it is refused now."""
    from sealbatch.auction.orders import Order, Side
    from tests.venue.conftest import T0
    from tests.venue.test_rfq import _prime_price

    _prime_price(venue, 100)  # batch 2 collects
    ch = venue.service.core.settlement
    m = VenueClient("http://testserver", "0x" + "ce" * 32, http=venue.tc, clock=venue.clock.now_ms)
    m.deposit(2_000_000_000)
    lo = _most_lots_bought(ch, m._me(), 101)
    venue.clock.set(T0 + 2_600)
    own = m.request_rfq("BTC-PERP", lo * 3 // 4, side="buy", window_ms=400)
    theirs = venue.traders["bob"].quote(own["rfq_id"], 99, 101)
    venue.clock.set(T0 + 2_650)
    rfq = venue.traders["alice"].request_rfq("BTC-PERP", lo // 2, window_ms=400)
    q = m.quote(rfq["rfq_id"], 99, 101)
    venue.clock.set(T0 + 2_850)
    venue.traders["bob"].reveal_quote(theirs)
    m.reveal_quote(q)
    venue.clock.set(T0 + 2_960)  # m's own RFQ accepts; alice's quote is still firm
    assert ch.fits(2, m._me(), Order("BTC-PERP", Side.BUY, 101, lo * 3 // 4))  # alone
    with pytest.raises(ApiError) as refused:
        m.accept_best(own["rfq_id"], "buy")
    assert refused.value.code == "insufficient_margin"
    assert "revealed quote in RFQ " + rfq["rfq_id"] in refused.value.detail
    assert venue.tc.get(f"/v1/rfqs/{own['rfq_id']}").json()["accepted"] is None
    venue.clock.set(T0 + 3_010)
    acc = venue.traders["alice"].accept_best(rfq["rfq_id"], "sell")
    assert acc["buyer"] == m._me() and acc["price"] == 99
