"""Attacks on threshold-encrypted orders through the venue (in process, manual clock).

Each test plays one attacker against the real intake, seal, share and opening
path of docs/threshold.md: a trader whose ciphertext decrypts to an order the
rules refuse (the "make the ones I don't like fail" option), a copier of
another trader's ciphertext (same batch and the next), the length of a
ciphertext as a leak of the order before the seal, and keypers that withhold
their shares.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.bounds import MAX_LOTS
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import sign_digest, signing_digest
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.threshold import CURVE_ORDER
from sealbatch.venue.app import create_app
from sealbatch.venue.cli import main
from sealbatch.venue.client import VenueClient
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.committee import (
    ENCRYPTED_ORDER_TYPE,
    load_committee,
    load_key,
    write_committee,
)
from tests.venue.conftest import KEYS, Venue, make_settings
from tests.venue.test_threshold_venue import (
    BOND,
    Committee3,
    N,
    T,
    _record,
    _to_commit,
    _to_sealed,
)


@pytest.fixture
def cv(db_url: str, clock: ManualClock, tmp_path: Path) -> Iterator[Committee3]:
    """A funded venue with an honest 2-of-3 committee (key_wait_ms 500)."""
    folder = tmp_path / "committee"
    write_committee(folder, T, N)
    settings = make_settings(
        db_url,
        committee=str(folder / "committee.json"),
        publish_dir=str(tmp_path / "published"),
        key_wait_ms=500,
    )
    with TestClient(create_app(settings, clock)) as tc:
        v = Venue(tc, clock)
        v.fund()
        keys = [load_key(folder / f"keyper-{i}.json") for i in range(1, N + 1)]
        yield Committee3(v, load_committee(folder / "committee.json"), keys)


def _public_key(cv: Committee3, batch_id: int) -> bytes:
    return bytes.fromhex(cv.venue.tc.get(f"/v1/batches/{batch_id}/key").json()["public_key"][2:])


def _body(
    cv: Committee3, name: str, order: Order, batch_id: int, encrypted: bool = True
) -> tuple[dict[str, Any], bytes]:
    """``name``'s signed commitment body for ``order`` (with its ciphertext), unsent."""
    client = cv.venue.traders[name]
    body, pending = client._commit_body(
        order,
        batch_id,
        BOND,
        0,
        cv.venue.clock.now_ms() + 60_000,
        _public_key(cv, batch_id) if encrypted else None,
    )
    return body, pending.commitment


def _with_ciphertext(
    client: VenueClient, name: str, body: dict[str, Any], commitment: bytes, ciphertext: bytes
) -> dict[str, Any]:
    """``body`` carrying ``ciphertext``, signed by its own trader ``name``."""
    digest = signing_digest(
        client.domain,
        ENCRYPTED_ORDER_TYPE,
        {
            "trader": client.address,
            "batchId": body["batch_id"],
            "commitment": commitment,
            "ciphertextHash": keccak256(ciphertext),
        },
    )
    return {
        **body,
        "ciphertext": "0x" + ciphertext.hex(),
        "ciphertext_signature": "0x" + sign_digest(KEYS[name], digest).hex(),
    }


def _post(cv: Committee3, body: dict[str, Any]) -> Any:
    return cv.venue.tc.post("/v1/commitments", json=body)


def _open(cv: Committee3, batch_id: int) -> dict[str, Any]:
    """Seal ``batch_id``, release two shares (t = 2), and return its record."""
    _to_sealed(cv.venue, batch_id)
    cv.release(1, batch_id)
    assert cv.release(2, batch_id).json()["combined"] is True
    return _record(cv.venue, batch_id)


def test_a_decrypted_order_the_rules_refuse_forfeits_its_bond(cv: Committee3) -> None:
    """The free option: commit several encrypted orders, make the unwanted ones
    decrypt to an order the reveal rules refuse (a quantity beyond the market's size
    limit, a reduce-only sell with no position to reduce). Each is refused at
    opening like a hand reveal, recorded with its code, and forfeits its bond exactly
    as an unrevealed commitment; the honest pair trades as if they were not there."""
    cv.deal(3)
    _to_commit(cv.venue, 3)
    alice_body, alice_c = _body(cv, "alice", Order("BTC-PERP", Side.BUY, 650_000, 3), 3)
    bob_body, bob_c = _body(cv, "bob", Order("BTC-PERP", Side.SELL, 649_000, 3), 3)
    huge_body, huge_c = _body(cv, "carol", Order("BTC-PERP", Side.BUY, 650_000, MAX_LOTS), 3)
    ro_body, ro_c = _body(
        cv, "carol", Order("BTC-PERP", Side.SELL, 649_000, 3, reduce_only=True), 3
    )
    for body in (alice_body, bob_body, huge_body, ro_body):
        r = _post(cv, body)
        assert r.status_code == 200, r.text
    rec = _open(cv, 3)
    outcomes = {o["commitment"]: o for o in rec["threshold"]["outcomes"]}
    assert outcomes["0x" + alice_c.hex()]["outcome"] == "decrypted"
    assert outcomes["0x" + bob_c.hex()]["outcome"] == "decrypted"
    expected = {
        "0x" + huge_c.hex(): "size_out_of_range",
        "0x" + ro_c.hex(): "reduce_only_increases",
    }
    for c, code in expected.items():
        assert (outcomes[c]["outcome"], outcomes[c]["reason"]) == ("rejected", code), outcomes[c]
    # the refusals are recorded with the batch, with the same codes
    assert {r["commitment"]: r["code"] for r in rec["rejections"]} == expected
    # the bond of each refused order is forfeited, exactly as an unrevealed one
    forfeited = {f["commitment"]: f["bond"] for f in rec["forfeits"]}
    assert forfeited == {c: BOND for c in expected}
    for c in (huge_c, ro_c):
        fate = cv.venue.traders["carol"].order(c)
        assert fate["status"] == "forfeited", fate
    # nothing else changed: the honest pair traded its 3 lots between themselves
    assert rec["markets"]["BTC-PERP"]["volume"] == 3
    for name, c in (("alice", alice_c), ("bob", bob_c)):
        assert cv.venue.traders[name].order(c)["status"] == "filled"


def test_a_copied_ciphertext_forfeits_the_copier_and_leaves_its_owner_alone(
    cv: Committee3,
) -> None:
    """Front-running by copy: carol takes alice's ciphertext (the operator, or anyone
    on the path, sees it) and sends it, signed by herself, under her own commitment in
    the same batch and in the next. Alice's own body sent again is refused
    (``commitment_taken`` in the same batch, ``wrong_batch`` in the next); carol's
    copies are taken (the venue cannot open them before the seal) but open to nothing
    (the associated data binds trader, batch and commitment) and forfeit her bond;
    alice's order decrypts and trades."""
    cv.deal(3)
    cv.deal(4)
    _to_commit(cv.venue, 3)
    alice_body, alice_c = _body(cv, "alice", Order("BTC-PERP", Side.BUY, 650_000, 3), 3)
    bob_body, _ = _body(cv, "bob", Order("BTC-PERP", Side.SELL, 649_000, 3), 3)
    assert _post(cv, alice_body).status_code == 200
    assert _post(cv, bob_body).status_code == 200
    stolen = bytes.fromhex(alice_body["ciphertext"][2:])
    # the same body again: the hash is taken
    r = _post(cv, alice_body)
    assert r.status_code == 409 and r.json()["code"] == "commitment_taken", r.text
    # carol's copy in the same batch, under her own (honest-looking) commitment
    carol = cv.venue.traders["carol"]
    own, own_c = _body(cv, "carol", Order("BTC-PERP", Side.BUY, 650_000, 3), 3, encrypted=False)
    r = _post(cv, _with_ciphertext(carol, "carol", own, own_c, stolen))
    assert r.status_code == 200, r.text
    # batch 4: alice's body replayed is refused, carol's copy is taken and forfeits
    _to_commit(cv.venue, 4)
    r = _post(cv, alice_body)
    assert r.status_code == 409 and r.json()["code"] == "wrong_batch", r.text
    own4, own4_c = _body(cv, "carol", Order("BTC-PERP", Side.BUY, 650_000, 3), 4, encrypted=False)
    r = _post(cv, _with_ciphertext(carol, "carol", own4, own4_c, stolen))
    assert r.status_code == 200, r.text

    rec = _open(cv, 3)
    outcomes = {o["commitment"]: o for o in rec["threshold"]["outcomes"]}
    assert outcomes["0x" + alice_c.hex()]["outcome"] == "decrypted"
    assert outcomes["0x" + own_c.hex()]["reason"] == "undecryptable"
    assert {f["commitment"]: f["bond"] for f in rec["forfeits"]} == {"0x" + own_c.hex(): BOND}
    assert rec["markets"]["BTC-PERP"]["volume"] == 3
    rec4 = _open(cv, 4)
    outcomes4 = {o["commitment"]: o for o in rec4["threshold"]["outcomes"]}
    assert outcomes4["0x" + own4_c.hex()]["reason"] == "undecryptable"
    assert {f["commitment"]: f["bond"] for f in rec4["forfeits"]} == {"0x" + own4_c.hex(): BOND}
    assert cv.venue.traders["alice"].order(alice_c)["status"] != "forfeited"


def test_a_ciphertext_length_tells_only_the_market_the_commitment_names(cv: Committee3) -> None:
    """Before the seal the operator sees every ciphertext. Its length is
    1 + 33 + 16 + 59 + m bytes (docs/threshold.md), m the market id's length, and
    the market is in the commitment in the clear: side, limit, quantity, flags and
    client id leave no trace in the length."""
    cv.deal(3)
    _to_commit(cv.venue, 3)
    orders = [
        Order("BTC-PERP", Side.BUY, 650_000, 1),
        Order("BTC-PERP", Side.SELL, 649_000, MAX_LOTS),
        Order("BTC-PERP", Side.BUY, None, 3),
        Order("BTC-PERP", Side.SELL, 1, 3, TimeInForce.GTC),
        Order("BTC-PERP", Side.SELL, None, 7, reduce_only=True, client_id=2**64 - 1),
    ]
    lengths = set()
    for order in orders:
        body, _ = _body(cv, "alice", order, 3)
        assert body["market"] == order.market  # public with the commitment anyway
        lengths.add(len(bytes.fromhex(body["ciphertext"][2:])))
    assert lengths == {1 + 33 + 16 + 59 + len("BTC-PERP")}


@pytest.mark.xfail(
    strict=True,
    reason="a batch whose key was never combined forfeits every encrypted commitment not "
    "revealed by hand (key_unavailable): n - t + 1 keypers that withhold their shares "
    "take honest traders' bonds (they are named as withheld faults, the bonds stay "
    "forfeited); returning those bonds needs a third fate beside revealed and forfeited in the "
    "batch statement and its proof (docs/threshold.md, Liveness)",
)
def test_keypers_that_withhold_their_shares_cost_no_honest_trader_its_bond(
    cv: Committee3,
) -> None:
    cv.deal(3)
    _to_commit(cv.venue, 3)
    alice = cv.venue.traders["alice"]
    bob = cv.venue.traders["bob"]
    alice.submit(Order("BTC-PERP", Side.BUY, 650_000, 3), bond=BOND, encrypted=True)
    bob.submit(Order("BTC-PERP", Side.SELL, 649_000, 3), bond=BOND, encrypted=True)
    _to_sealed(cv.venue, 3)
    # keyper 3 answers with a wrong share, keyper 2 not at all: one valid share (t - 1)
    assert cv.release(1, 3).json()["combined"] is False
    assert cv.release(3, 3, share=cv.share_of(3, 3) + 1).status_code == 400
    cv.venue.clock.set(cv.venue.clock.now_ms() + 500 + 1)  # past key_wait_ms
    cv.venue.service.advance()
    rec = _record(cv.venue, 3)
    assert {o["outcome"] for o in rec["threshold"]["outcomes"]} == {"key_unavailable"}
    assert rec["forfeits"] == []


def test_keypers_that_withhold_their_shares_are_named(
    cv: Committee3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch that clears without its secret (``key_unavailable``) names every keyper
    that gave no valid share by the end of the wait as ``withheld``: keyper 2 (silent)
    and keyper 3 (a bad share only, beside its ``bad_share``), not keyper 1. Replay
    recomputes the list from the published shares: a withheld keyper dropped from it,
    or an honest one added, fails ``sealbatch replay``."""
    cv.deal(3)
    _to_commit(cv.venue, 3)
    cv.venue.traders["alice"].submit(
        Order("BTC-PERP", Side.BUY, 650_000, 3), bond=BOND, encrypted=True
    )
    cv.venue.traders["bob"].submit(
        Order("BTC-PERP", Side.SELL, 649_000, 3), bond=BOND, encrypted=True
    )
    _to_sealed(cv.venue, 3)
    assert cv.release(1, 3).json()["combined"] is False
    assert cv.release(3, 3, share=cv.share_of(3, 3) + 1).status_code == 400
    deadline = cv.venue.clock.now_ms() + 500 + 1
    cv.venue.clock.set(deadline)  # past key_wait_ms
    cv.venue.service.advance()
    rec = _record(cv.venue, 3)
    faults = rec["threshold"]["faults"]
    assert [(f["kind"], f["index"]) for f in faults] == [
        ("bad_share", 3),
        ("withheld", 2),
        ("withheld", 3),
    ]
    for f in faults[1:]:
        assert f["keyper"] == cv.committee.member(f["index"]).address
        assert f["share"] is None and f["signature"] is None
        assert f["at_ms"] <= deadline
    cv.venue.service.wait_published()
    src = Path(cv.venue.service.settings.publish_dir or "") / "batch-3"
    doc = json.loads((src / "threshold.json").read_text())
    assert doc["faults"] == faults
    assert main(["replay", str(src)]) == 0
    capsys.readouterr()
    member1 = cv.committee.member(1).address
    for name, edit in (
        ("dropped", lambda fs: fs[:-1]),
        ("honest", lambda fs: [*fs[:1], {**fs[1], "index": 1, "keyper": member1}, *fs[2:]]),
        ("signed", lambda fs: [*fs[:1], {**fs[1], "signature": fs[0]["signature"]}, *fs[2:]]),
    ):
        dst = tmp_path / f"b-{name}"
        dst.mkdir()
        for f in src.iterdir():
            (dst / f.name).write_text(f.read_text())
        edited = json.loads((src / "threshold.json").read_text())
        edited["faults"] = edit(edited["faults"])
        (dst / "threshold.json").write_text(json.dumps(edited))
        assert main(["replay", str(dst)]) == 1, name
        assert "withheld" in capsys.readouterr().out, name


def test_an_opened_batch_can_claim_no_key_unavailable_order_nor_withheld_keyper(
    cv: Committee3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once the secret is combined it is published and anyone decrypts: a forfeited
    encrypted order relabelled ``key_unavailable``, or a ``withheld`` fault against the
    keyper that did not release (its share was not needed), fails replay."""
    cv.deal(3)
    _to_commit(cv.venue, 3)
    for name, order in (
        ("alice", Order("BTC-PERP", Side.BUY, 650_000, 3)),
        ("bob", Order("BTC-PERP", Side.SELL, 649_000, 3)),
        ("carol", Order("BTC-PERP", Side.BUY, 650_000, MAX_LOTS)),
    ):
        assert _post(cv, _body(cv, name, order, 3)[0]).status_code == 200
    rec = _open(cv, 3)
    assert [o["outcome"] for o in rec["threshold"]["outcomes"]] == [
        "decrypted",
        "decrypted",
        "rejected",
    ]
    assert rec["threshold"]["faults"] == []
    cv.venue.service.wait_published()
    src = Path(cv.venue.service.settings.publish_dir or "") / "batch-3"
    assert main(["replay", str(src)]) == 0
    capsys.readouterr()
    member3 = cv.committee.member(3).address
    withheld = {"kind": "withheld", "index": 3, "keyper": member3, "share": None,
                "signature": None, "at_ms": cv.venue.clock.now_ms(), "detail": ""}  # fmt: skip
    for name, want in (("relabelled", "the secret is published"), ("withheld", "withheld")):
        dst = tmp_path / f"b-{name}"
        dst.mkdir()
        for f in src.iterdir():
            (dst / f.name).write_text(f.read_text())
        doc = json.loads((src / "threshold.json").read_text())
        if name == "relabelled":
            doc["outcomes"][2]["outcome"] = "key_unavailable"
        else:
            doc["faults"].append(withheld)
        (dst / "threshold.json").write_text(json.dumps(doc))
        assert main(["replay", str(dst)]) == 1, name
        assert want in capsys.readouterr().out, name


def test_a_keyper_repeating_a_bad_share_is_recorded_once(cv: Committee3) -> None:
    """Each signed share that does not verify was recorded as a fault, kept in memory
    until the batch clears and published in its threshold.json: a keyper posting
    bad shares at its write rate for a whole commit window (up to an hour) grew both
    without bound. One bad share is all the evidence there is against a keyper for a
    batch: a later one is refused (``bad_request``, ``bad_share``) and recorded no
    more; the keyper's valid share is still taken, and the batch opens."""
    cv.deal(3)
    _to_commit(cv.venue, 3)
    cv.venue.traders["alice"].submit(
        Order("BTC-PERP", Side.BUY, 650_000, 3), bond=BOND, encrypted=True
    )
    cv.venue.traders["bob"].submit(
        Order("BTC-PERP", Side.SELL, 649_000, 3), bond=BOND, encrypted=True
    )
    _to_sealed(cv.venue, 3)
    good = cv.share_of(3, 3)
    for k in range(1, 21):
        r = cv.release(3, 3, share=(good + k) % CURVE_ORDER)
        assert r.status_code == 400 and r.json()["code"] == "bad_request", r.text
        assert r.json()["detail"].startswith("bad_share"), r.text
    # the keyper's own valid share is still taken and opens the batch
    cv.release(1, 3)
    assert cv.release(3, 3).json()["combined"] is True
    rec = _record(cv.venue, 3)
    faults = rec["threshold"]["faults"]
    assert [(f["kind"], f["index"]) for f in faults] == [("bad_share", 3)]
    assert int(faults[0]["share"], 16) == (good + 1) % CURVE_ORDER
    assert rec["markets"]["BTC-PERP"]["volume"] == 3


def test_repeated_bad_shares_replay_to_the_same_faults(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    """The refused repeats are in the event log (they were answered); a restart
    replays them to the same single fault and the same batch."""
    folder = tmp_path / "committee"
    write_committee(folder, T, N)
    settings = make_settings(db_url, committee=str(folder / "committee.json"))
    keys = [load_key(folder / f"keyper-{i}.json") for i in range(1, N + 1)]
    with TestClient(create_app(settings, clock)) as tc:
        v = Venue(tc, clock)
        v.fund()
        cv = Committee3(v, load_committee(folder / "committee.json"), keys)
        cv.deal(3)
        _to_commit(v, 3)
        v.traders["alice"].submit(
            Order("BTC-PERP", Side.BUY, 650_000, 3), bond=BOND, encrypted=True
        )
        v.traders["bob"].submit(Order("BTC-PERP", Side.SELL, 649_000, 3), bond=BOND, encrypted=True)
        _to_sealed(v, 3)
        good = cv.share_of(3, 3)
        for k in range(1, 6):
            assert cv.release(3, 3, share=(good + k) % CURVE_ORDER).status_code == 400
        cv.release(1, 3)
        cv.release(2, 3)
        before = _record(v, 3)
    assert len(before["threshold"]["faults"]) == 1
    with TestClient(create_app(settings, clock)) as tc:
        after = tc.get("/v1/batches/3").json()
    assert after["result_hash"] == before["result_hash"]
    assert after["threshold"] == before["threshold"]
