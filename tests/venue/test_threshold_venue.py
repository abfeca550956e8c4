"""Encrypted orders through the venue with a keyper committee (in process, manual clock).

Keypers are driven by hand here (their dealing and share messages built by
:class:`~sealbatch.venue.keyper.Keyper` itself), so each rule is hit at an
exact time: a dealing after its batch opened, a share before the seal, a
forged share, a garbage ciphertext, fewer than ``t`` shares. The keypers as
real processes are tested in test_keyper_processes.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.encrypted_orders import associated_data, encode_sealed, encrypt_order
from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import sign_digest, signing_digest
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.threshold import (
    CURVE_ORDER,
    ThresholdError,
    combine_shares,
    deal,
    encrypt,
)
from sealbatch.venue.app import create_app
from sealbatch.venue.cli import main
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.committee import (
    ENCRYPTED_ORDER_TYPE,
    Committee,
    KeyperKey,
    load_committee,
    load_key,
    write_committee,
)
from sealbatch.venue.keyper import Keyper
from tests.venue.conftest import KEYS, T0, Venue, make_settings

T, N = 2, 3
BOND = 1_000_000


@pytest.fixture
def committee_dir(tmp_path: Path) -> Path:
    write_committee(tmp_path / "committee", T, N)
    return tmp_path / "committee"


class Committee3:
    """The venue, its committee and one in-process :class:`Keyper` per key file."""

    def __init__(self, venue: Venue, committee: Committee, keys: list[KeyperKey]) -> None:
        self.venue = venue
        self.committee = committee
        self.keypers = [Keyper(k, committee, "http://testserver") for k in keys]
        info = venue.tc.get("/v1/info").json()
        for k in self.keypers:
            k._info = info

    def dealing(self, index: int, batch_id: int) -> dict[str, Any]:
        return asyncio.run(self.keypers[index - 1].dealing_body(batch_id))

    def deal(self, batch_id: int, dealers: tuple[int, ...] = (1, 2, 3)) -> None:
        for i in dealers:
            r = self.venue.tc.post("/v1/keypers/dealings", json=self.dealing(i, batch_id))
            assert r.status_code == 200, r.text

    def share_of(self, index: int, batch_id: int) -> int:
        """Keyper ``index``'s share, summed from the dealings the venue took."""
        doc = self.venue.tc.get(f"/v1/batches/{batch_id}/key").json()
        total = 0
        for d in doc["dealings"]:
            if d["dealer"] not in doc["dealers"]:
                continue
            k = self.keypers[d["dealer"] - 1].key
            total += deal(k.seed, k.index, batch_id, T, N).shares[index - 1]
        return total % CURVE_ORDER

    def share_body(self, index: int, batch_id: int, share: int | None = None) -> dict[str, Any]:
        value = self.share_of(index, batch_id) if share is None else share
        return asyncio.run(self.keypers[index - 1].share_body(batch_id, value))

    def release(self, index: int, batch_id: int, share: int | None = None) -> Any:
        return self.venue.tc.post(
            "/v1/keypers/shares", json=self.share_body(index, batch_id, share)
        )


@pytest.fixture
def cv(
    db_url: str, clock: ManualClock, committee_dir: Path, tmp_path: Path
) -> Iterator[Committee3]:
    settings = make_settings(
        db_url,
        committee=str(committee_dir / "committee.json"),
        publish_dir=str(tmp_path / "published"),
        key_wait_ms=500,
    )
    app = create_app(settings, clock)
    with TestClient(app) as tc:
        v = Venue(tc, clock)
        v.fund()
        keys = [load_key(committee_dir / f"keyper-{i}.json") for i in range(1, N + 1)]
        yield Committee3(v, load_committee(committee_dir / "committee.json"), keys)


def _to_commit(v: Venue, batch_id: int) -> None:
    v.clock.set(T0 + batch_id * 1_000 + 10)


def _to_sealed(v: Venue, batch_id: int) -> None:
    """Past the reveal window: the batch is sealed and waits for its keypers."""
    v.clock.set(T0 + (batch_id + 1) * 1_000 + 300 + 5)
    v.service.advance()


def _trade_encrypted(cv: Committee3, batch_id: int = 3) -> tuple[Any, Any]:
    cv.deal(batch_id)
    return _submit_pair(cv, batch_id)


def _submit_pair(cv: Committee3, batch_id: int) -> tuple[Any, Any]:
    """Alice's encrypted buy and Bob's encrypted sell in ``batch_id`` (dealt already)."""
    _to_commit(cv.venue, batch_id)
    alice, bob = cv.venue.traders["alice"], cv.venue.traders["bob"]
    buy = alice.submit(Order("BTC-PERP", Side.BUY, 650_000, 3), bond=BOND, encrypted=True)
    sell = bob.submit(Order("BTC-PERP", Side.SELL, 649_000, 3), bond=BOND, encrypted=True)
    return buy, sell


def _record(v: Venue, batch_id: int) -> dict[str, Any]:
    r = v.tc.get(f"/v1/batches/{batch_id}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_honest_batch_decrypts_and_clears_without_any_reveal(
    cv: Committee3, capsys: pytest.CaptureFixture[str]
) -> None:
    buy, sell = _trade_encrypted(cv)
    _to_sealed(cv.venue, 3)
    key = cv.venue.tc.get("/v1/batches/3/key").json()
    assert key["seal"] is not None and key["seal"]["commitments"] == 2
    # no share yet: the batch waits past its reveal window for the keypers
    assert _record(cv.venue, 3)["status"] == "committed"
    assert cv.release(1, 3).json()["combined"] is False
    assert cv.release(3, 3).json()["combined"] is True
    rec = _record(cv.venue, 3)
    assert rec["status"] == "settled"
    assert rec["markets"]["BTC-PERP"]["volume"] == 3
    assert [o["outcome"] for o in rec["threshold"]["outcomes"]] == ["decrypted", "decrypted"]
    assert rec["forfeits"] == []
    for p in (buy, sell):
        assert cv.venue.traders["alice"].order(p.commitment)["status"] == "filled"
    # the published folder carries threshold.json and replays, checks included
    cv.venue.service.wait_published()
    folder = Path(cv.venue.service.settings.publish_dir or "") / "batch-3"
    doc = json.loads((folder / "threshold.json").read_text())
    assert doc["secret"] == rec["threshold"]["secret"]
    assert main(["replay", str(folder)]) == 0
    assert "threshold.json" in capsys.readouterr().out


def test_a_tampered_threshold_file_fails_replay(
    cv: Committee3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _trade_encrypted(cv)
    _to_sealed(cv.venue, 3)
    cv.release(1, 3)
    cv.release(2, 3)
    assert _record(cv.venue, 3)["status"] == "settled"  # durable, so handed to the publisher
    cv.venue.service.wait_published()
    src = Path(cv.venue.service.settings.publish_dir or "") / "batch-3"
    for field, value in (
        ("outcomes", "forfeited"),
        ("secret", "0x" + "11" * 32),
        ("seal_root", "0x" + "22" * 32),
    ):
        dst = tmp_path / f"b-{field}"
        dst.mkdir()
        for f in src.iterdir():
            (dst / f.name).write_text(f.read_text())
        doc = json.loads((dst / "threshold.json").read_text())
        if field == "outcomes":
            doc["outcomes"][0]["outcome"] = value
            doc["outcomes"][0]["reason"] = "undecryptable"
        elif field == "secret":
            doc["secret"] = value
        else:
            doc["seal"]["commitment_root"] = value
        (dst / "threshold.json").write_text(json.dumps(doc))
        assert main(["replay", str(dst)]) == 1, field
        assert "threshold.json" in capsys.readouterr().out


#: A threshold.json value of another type or range: (path, value, the place named).
_MALFORMED: list[tuple[tuple[str | int, ...], Any, str]] = [
    (("domain", "chainId"), "x", "threshold.json: domain.chainId"),
    (("round", "dealings_until_ms"), -1, "threshold.json: round.dealings_until_ms"),
    (("dealings", 0, "dealer"), "1", "threshold.json: dealings[0].dealer"),
    (("dealings", 0, "commitments"), "x", "threshold.json: dealings[0].commitments"),
    (("dealings", 0, "keyper"), 7, "threshold.json: dealings[0].keyper"),
    (("dealings", 0, "signature"), "0xzz", "threshold.json: dealings[0].signature"),
    (("disqualified",), {}, "threshold.json: disqualified"),
    (("key", "dealers", 0), True, "threshold.json: key.dealers[0]"),
    (("seal", "commitment_root"), "0x12", "threshold.json: seal.commitment_root"),
    (("shares", 0, "share"), None, "threshold.json: shares[0].share"),
    (("ciphertexts", 0, "trader"), "0xzz", "threshold.json: ciphertexts[0].trader"),
    (("outcomes", 0, "outcome"), ["decrypted"], "threshold.json: outcomes[0].outcome"),
]


def _published_threshold(cv: Committee3) -> Path:
    """A settled encrypted batch's published folder (threshold.json included)."""
    _trade_encrypted(cv)
    _to_sealed(cv.venue, 3)
    cv.release(1, 3)
    cv.release(2, 3)
    assert _record(cv.venue, 3)["status"] == "settled"
    cv.venue.service.wait_published()
    return Path(cv.venue.service.settings.publish_dir or "") / "batch-3"


def test_the_archive_of_an_unpublished_encrypted_batch_carries_its_threshold_file(
    cv: Committee3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder that could not be written (here: removed) is still served from memory by
    ``GET /v1/batches/{id}/archive``: the same files, threshold.json included, and
    they replay with its checks."""
    src = _published_threshold(cv)
    published = {f.name: f.read_text() for f in src.iterdir()}
    assert "threshold.json" in published
    for f in src.iterdir():
        f.unlink()
    src.rmdir()
    r = cv.venue.tc.get("/v1/batches/3/archive")
    assert r.status_code == 200, r.text
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        tar.extractall(tmp_path / "served", filter="data")
    served = tmp_path / "served" / "batch-3"
    assert {f.name: f.read_text() for f in served.iterdir()} == published
    assert main(["replay", str(served)]) == 0
    assert "threshold.json" in capsys.readouterr().out


def test_a_malformed_threshold_value_is_named_and_a_bug_escapes(
    cv: Committee3, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """replay reads threshold.json value by value: one of another type or range is
    ``malformed`` naming the file and the field (never a crash); only the readers',
    signatures' and threshold crypto's errors are caught, so a bug (here a planted
    AttributeError) escapes."""
    src = _published_threshold(cv)
    for n, (path, value, place) in enumerate(_MALFORMED):
        dst = tmp_path / f"b-{n}"
        dst.mkdir()
        for f in src.iterdir():
            (dst / f.name).write_text(f.read_text())
        doc = json.loads((dst / "threshold.json").read_text())
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        (dst / "threshold.json").write_text(json.dumps(doc))
        assert main(["replay", str(dst)]) == 1, path
        out = capsys.readouterr().out
        assert f"malformed: BatchStatementError: {place}" in out, (path, out)
    from sealbatch.venue import threshold_check

    def broken(*args: object) -> None:
        raise AttributeError("planted bug")

    monkeypatch.setattr(threshold_check, "aggregate_dealings", broken)
    with pytest.raises(AttributeError, match="planted bug"):
        main(["replay", str(src)])


def test_t_minus_one_shares_cannot_decrypt(cv: Committee3) -> None:
    """One share (t - 1) neither combines nor opens anything: after the wait the
    encrypted orders forfeit as key_unavailable."""
    _trade_encrypted(cv)
    _to_sealed(cv.venue, 3)
    assert cv.release(2, 3).json()["combined"] is False
    key = cv.venue.tc.get("/v1/batches/3/key").json()
    from sealbatch.crypto.threshold import BatchKey

    bk = BatchKey(
        3,
        T,
        N,
        tuple(key["dealers"]),
        tuple(bytes.fromhex(c[2:]) for c in key["commitments"]),
    )
    with pytest.raises(ThresholdError):
        combine_shares(bk, {2: cv.share_of(2, 3)})
    # past the reveal window + key_wait_ms the batch clears without the secret
    cv.venue.clock.set(T0 + 4_000 + 300 + 500 + 1)
    cv.venue.service.advance()
    rec = _record(cv.venue, 3)
    assert rec["threshold"]["secret"] is None
    assert {o["outcome"] for o in rec["threshold"]["outcomes"]} == {"key_unavailable"}
    assert len(rec["forfeits"]) == 2


def test_a_hand_reveal_still_works_without_keypers(cv: Committee3) -> None:
    buy, sell = _trade_encrypted(cv)
    cv.venue.to_reveal(3)
    cv.venue.traders["alice"].reveal(buy)
    cv.venue.traders["bob"].reveal(sell)
    rec = cv.venue.to_cleared(3)
    assert rec["status"] == "settled"
    assert rec["markets"]["BTC-PERP"]["volume"] == 3
    assert {o["outcome"] for o in rec["threshold"]["outcomes"]} == {"revealed_by_hand"}


def test_early_release_is_recorded_against_its_keyper(cv: Committee3) -> None:
    _trade_encrypted(cv)
    # in batch 3's reveal window: not sealed yet (hand reveals still come in)
    cv.venue.to_reveal(3)
    r = cv.release(2, 3)
    assert r.status_code == 200 and r.json()["early"] is True
    _to_sealed(cv.venue, 3)
    cv.release(1, 3)
    rec = _record(cv.venue, 3)
    faults = rec["threshold"]["faults"]
    assert [(f["kind"], f["index"]) for f in faults] == [("early_release", 2)]
    assert faults[0]["keyper"] == cv.committee.member(2).address


def test_a_forged_share_is_refused_and_attributed(cv: Committee3) -> None:
    _trade_encrypted(cv)
    _to_sealed(cv.venue, 3)
    good = cv.share_of(3, 3)
    r = cv.release(3, 3, share=(good + 1) % CURVE_ORDER)
    assert r.status_code == 400 and r.json()["code"] == "bad_request"
    assert "bad_share" in r.json()["detail"]
    # a share signed by another key than the keyper's is refused and blamed on nobody
    body = cv.share_body(1, 3)
    body["signature"] = cv.share_body(2, 3)["signature"]
    assert cv.venue.tc.post("/v1/keypers/shares", json=body).status_code == 401
    # the honest shares still combine
    late = cv.share_body(3, 3)
    cv.release(1, 3)
    assert cv.release(2, 3).json()["combined"] is True
    # the batch cleared with the t-th share: a later one is refused
    r = cv.venue.tc.post("/v1/keypers/shares", json=late)
    assert r.status_code == 409 and r.json()["code"] == "batch_cleared"
    rec = _record(cv.venue, 3)
    faults = rec["threshold"]["faults"]
    assert [(f["kind"], f["index"]) for f in faults] == [("bad_share", 3)]
    assert rec["markets"]["BTC-PERP"]["volume"] == 3


def _garbage_commit(
    v: Venue,
    batch_id: int,
    ciphertext: bytes,
    body: dict[str, Any] | None = None,
    commitment: bytes | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Bob commits honestly but sends (and signs) a ciphertext of his choosing."""
    bob = v.traders["bob"]
    if body is None or commitment is None:
        order = Order("BTC-PERP", Side.SELL, 649_000, 3)
        body, pending = bob._commit_body(order, batch_id, BOND, 0, v.clock.now_ms() + 60_000)
        commitment = pending.commitment
    body["ciphertext"] = "0x" + ciphertext.hex()
    digest = signing_digest(
        bob.domain,
        ENCRYPTED_ORDER_TYPE,
        {
            "trader": bob.address,
            "batchId": batch_id,
            "commitment": commitment,
            "ciphertextHash": keccak256(ciphertext),
        },
    )
    body["ciphertext_signature"] = "0x" + sign_digest(KEYS["bob"], digest).hex()
    return body, commitment


def test_a_garbage_ciphertext_forfeits_with_a_reason(cv: Committee3) -> None:
    cv.deal(3)
    _to_commit(cv.venue, 3)
    body, commitment = _garbage_commit(cv.venue, 3, b"\x01" + b"\x02" * 80)
    assert cv.venue.tc.post("/v1/commitments", json=body).status_code == 200
    # another trader's ciphertext copied under bob's commitment
    key = bytes.fromhex(cv.venue.tc.get("/v1/batches/3/key").json()["public_key"][2:])
    copied = encrypt_order(
        key,
        Order("BTC-PERP", Side.SELL, 1, 3),
        b"\x09" * 32,
        cv.venue.traders["carol"].address or "",
        3,
    )
    body2, commitment2 = _garbage_commit(cv.venue, 3, copied)
    assert cv.venue.tc.post("/v1/commitments", json=body2).status_code == 200
    # a well-formed ciphertext bound to bob's own commitment, of another order (a
    # price he would rather have had): it opens, but to the wrong order
    bob = cv.venue.traders["bob"]
    body3, pending3 = bob._commit_body(
        Order("BTC-PERP", Side.SELL, 649_000, 3), 3, BOND, 0, cv.venue.clock.now_ms() + 60_000
    )
    swapped = encrypt(
        key,
        encode_sealed(Order("BTC-PERP", Side.SELL, 600_000, 3), pending3.salt),
        associated_data(bob.address or "", 3, pending3.commitment),
    )
    body3, commitment3 = _garbage_commit(cv.venue, 3, swapped, body3, pending3.commitment)
    assert cv.venue.tc.post("/v1/commitments", json=body3).status_code == 200
    _to_sealed(cv.venue, 3)
    cv.release(1, 3)
    cv.release(2, 3)
    rec = _record(cv.venue, 3)
    outcomes = {o["commitment"]: o for o in rec["threshold"]["outcomes"]}
    assert outcomes["0x" + commitment.hex()]["reason"] == "undecryptable"
    assert outcomes["0x" + commitment2.hex()]["reason"] == "undecryptable"
    assert outcomes["0x" + commitment3.hex()]["reason"] == "commitment_mismatch"
    forfeited = {f["commitment"]: f["bond"] for f in rec["forfeits"]}
    assert forfeited == {"0x" + c.hex(): BOND for c in (commitment, commitment2, commitment3)}
    assert rec["markets"]["BTC-PERP"]["volume"] == 0  # the swapped order did not trade
    status = cv.venue.traders["bob"].order(commitment)
    assert status["status"] == "forfeited"


def test_a_ciphertext_the_trader_did_not_sign_is_refused(cv: Committee3) -> None:
    """Swapping in a ciphertext (to make an honest trader forfeit) needs the trader's key."""
    cv.deal(3)
    _to_commit(cv.venue, 3)
    body, _ = _garbage_commit(cv.venue, 3, b"\x01" + b"\x02" * 80)
    body["ciphertext"] = "0x01" + "03" * 80
    r = cv.venue.tc.post("/v1/commitments", json=body)
    assert r.status_code == 401, r.text
    assert cv.venue.tc.get("/v1/batches/3").json()["commitments"] == 0


def test_dealing_rules(cv: Committee3) -> None:
    cv.deal(3, dealers=(1,))
    r = cv.venue.tc.post("/v1/keypers/dealings", json=cv.dealing(1, 3))
    assert r.status_code == 409 and r.json()["code"] == "duplicate_dealing"
    # too late: batch 0 is collecting now, so batch 2's complaint round has begun
    for late in (0, 1, 2):
        r = cv.venue.tc.post("/v1/keypers/dealings", json=cv.dealing(2, late))
        assert r.status_code == 409 and r.json()["code"] == "dealing_late"
    # signed by keyper 2 in keyper 3's name
    body = cv.dealing(3, 4)
    body["signature"] = cv.dealing(2, 4)["signature"]
    assert cv.venue.tc.post("/v1/keypers/dealings", json=body).status_code == 401
    # with one dealer (< t) batch 3 has no key: encrypted orders are refused
    _to_commit(cv.venue, 3)
    assert cv.venue.tc.get("/v1/batches/3/key").status_code == 404
    alice = cv.venue.traders["alice"]
    with pytest.raises(Exception, match="no_batch_key"):
        alice.commit(Order("BTC-PERP", Side.BUY, 650_000, 1), bond=BOND, encrypted=True)


def test_restart_replays_the_keyper_log(
    db_url: str, clock: ManualClock, committee_dir: Path, tmp_path: Path
) -> None:
    """Dealings, shares and the decrypted batch come back identical after a restart."""
    settings = make_settings(db_url, committee=str(committee_dir / "committee.json"))
    keys = [load_key(committee_dir / f"keyper-{i}.json") for i in range(1, N + 1)]
    with TestClient(create_app(settings, clock)) as tc:
        v = Venue(tc, clock)
        v.fund()
        cv = Committee3(v, load_committee(committee_dir / "committee.json"), keys)
        _trade_encrypted(cv)
        _to_sealed(v, 3)
        cv.release(1, 3)
        cv.release(2, 3)
        before = _record(v, 3)
    with TestClient(create_app(settings, clock)) as tc:
        after = tc.get("/v1/batches/3").json()
    assert after["result_hash"] == before["result_hash"]
    assert after["threshold"] == before["threshold"]


def test_keyper_answers_match_the_declared_models(cv: Committee3) -> None:
    """Every keyper route's answer validates against the model it declares (and the
    batch record with its threshold section against BatchPublic)."""
    from pydantic import TypeAdapter

    from tests.venue.test_response_models import _routes

    models = {k: r.response_model for k, r in _routes(cv.venue).items()}

    def check(method: str, path: str, body: Any) -> None:
        TypeAdapter(models[(method, path)]).validate_python(body)

    check("GET", "/v1/keypers", cv.venue.tc.get("/v1/keypers").json())
    r = cv.venue.tc.post("/v1/keypers/dealings", json=cv.dealing(1, 3))
    check("POST", "/v1/keypers/dealings", r.json())
    cv.deal(3, dealers=(2, 3))
    _to_commit(cv.venue, 3)
    cv.venue.traders["alice"].submit(
        Order("BTC-PERP", Side.BUY, 650_000, 3), bond=BOND, encrypted=True
    )
    _to_sealed(cv.venue, 3)
    check("GET", "/v1/batches/{batch_id}/key", cv.venue.tc.get("/v1/batches/3/key").json())
    check("POST", "/v1/keypers/shares", cv.release(1, 3).json())
    cv.release(2, 3, share=5)  # a bad share: a fault in the record
    cv.release(3, 3)
    rec = _record(cv.venue, 3)
    assert rec["threshold"]["faults"]
    check("GET", "/v1/batches/{batch_id}", rec)
