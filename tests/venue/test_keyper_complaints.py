"""The complaint round of the keypers' dealings, in process with a manual clock.

Batch 3 is dealt while batch 0 collects; its complaints close when batch 2
opens, its answers when batch 3 opens. A dealer that gives keyper 2 a bad share
(tests/venue/bad_dealer.py) is complained about and, unless it answers with a
share that verifies, left out of batch 3's key; the key that traders encrypt to
is final before they can encrypt, and the round is in threshold.json, which
``replay`` rechecks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sealbatch.crypto.eip712 import sign_digest, signing_digest
from sealbatch.crypto.threshold import BadShare, aggregate_dealings, deal
from sealbatch.venue.app import create_app
from sealbatch.venue.cli import main
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.committee import COMPLAINT_TYPE, load_committee, load_key, write_committee
from tests.venue.bad_dealer import BadDealer
from tests.venue.conftest import KEYS, T0, Venue, make_settings
from tests.venue.test_threshold_venue import (
    Committee3,
    N,
    T,
    _garbage_commit,
    _record,
    _submit_pair,
    _to_sealed,
)

B = 3  # the batch dealt while batch 0 collects


@pytest.fixture
def cv(db_url: str, clock: ManualClock, tmp_path: Path) -> Iterator[Committee3]:
    """A 2-of-3 committee whose keyper 1 deals keyper 2 a bad share."""
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
        committee = load_committee(folder / "committee.json")
        keys = [load_key(folder / f"keyper-{i}.json") for i in range(1, N + 1)]
        c = Committee3(v, committee, keys)
        bad = BadDealer(keys[0], committee, "http://testserver", victim=2)
        bad._info = c.keypers[0]._info
        c.keypers[0] = bad
        yield c


def _post(cv: Committee3, route: str, body: dict[str, Any]) -> Any:
    return cv.venue.tc.post(f"/v1/keypers/{route}", json=body)


def _complain(cv: Committee3, index: int, dealer: int, batch_id: int = B) -> Any:
    return _post(
        cv, "complaints", asyncio.run(cv.keypers[index - 1].complaint_body(batch_id, dealer))
    )


def _answer(cv: Committee3, dealer: int, index: int, share: int, batch_id: int = B) -> Any:
    body = asyncio.run(cv.keypers[dealer - 1].answer_body(batch_id, index, share))
    return _post(cv, "answers", body)


def _round(cv: Committee3, batch_id: int = B) -> dict[str, Any]:
    r = cv.venue.tc.get(f"/v1/keypers/rounds/{batch_id}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _to_collecting(cv: Committee3, batch_id: int) -> None:
    cv.venue.clock.set(max(cv.venue.clock.now_ms(), T0 + batch_id * 1_000 + 10))


def _victim_sees_a_bad_share(cv: Committee3) -> None:
    """Keyper 2 opens what dealer 1 dealt it and finds it does not verify; the others'
    shares (and dealer 1's shares to keypers 3) verify."""
    dealing = next(d for d in _round(cv)["dealings"] if d["dealer"] == 1)
    with pytest.raises(BadShare):
        cv.keypers[1].share_from(B, dealing)
    cv.keypers[2].share_from(B, dealing)


def _decrypt_and_replay(cv: Committee3, releasers: tuple[int, ...] = (2, 3)) -> dict[str, Any]:
    """Trade in batch B, seal, release ``releasers``' shares; the batch decrypts and its
    folder replays; its record's threshold section lists threshold.json's disqualified
    dealers. Returns threshold.json."""
    _submit_pair(cv, B)
    _to_sealed(cv.venue, B)
    for i in releasers:
        assert cv.release(i, B).status_code == 200
    rec = _record(cv.venue, B)
    assert rec["status"] == "settled"
    assert [o["outcome"] for o in rec["threshold"]["outcomes"]] == ["decrypted", "decrypted"]
    assert rec["markets"]["BTC-PERP"]["volume"] == 3
    cv.venue.service.wait_published()
    folder = Path(cv.venue.service.settings.publish_dir or "") / f"batch-{B}"
    assert main(["replay", str(folder)]) == 0
    doc: dict[str, Any] = json.loads((folder / "threshold.json").read_text())
    # the batch record shows the dealers left out of the key as the published round does
    assert rec["threshold"]["disqualified"] == doc["disqualified"]
    return doc


def _replays_after(tmp_path: Path, cv: Committee3, edit: Any) -> int:
    """Replay a copy of batch B's folder with threshold.json edited by ``edit``."""
    src = Path(cv.venue.service.settings.publish_dir or "") / f"batch-{B}"
    dst = tmp_path / f"edited-{len(list(tmp_path.iterdir()))}"
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    doc = json.loads((dst / "threshold.json").read_text())
    edit(doc)
    (dst / "threshold.json").write_text(json.dumps(doc))
    code: int = main(["replay", str(dst)])
    return code


def test_a_bad_share_unanswered_disqualifies_its_dealer(
    cv: Committee3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cv.deal(B)
    _victim_sees_a_bad_share(cv)
    r = _complain(cv, 2, 1)
    assert r.status_code == 200, r.text
    # complaints are taken from the dealing on; before the batch opens the dealer may
    # still answer: not disqualified yet
    assert _round(cv)["phase"] == "dealing" and _round(cv)["disqualified"] == []
    _to_collecting(cv, B - 2)
    assert _round(cv)["phase"] == "complaints" and _round(cv)["disqualified"] == []
    _to_collecting(cv, B - 1)
    assert _round(cv)["phase"] == "answers"
    _to_collecting(cv, B)
    rnd = _round(cv)
    assert rnd["phase"] == "closed"
    assert rnd["disqualified"] == [{"dealer": 1, "reason": "unanswered_complaint"}]
    # the key traders encrypt to is the sum of the qualified dealers' dealings only
    key = cv.venue.tc.get(f"/v1/batches/{B}/key").json()
    assert key["dealers"] == [2, 3]
    qualified = [
        deal(k.key.seed, k.key.index, B, T, N) for k in cv.keypers if k.key.index in (2, 3)
    ]
    assert key["public_key"] == "0x" + aggregate_dealings(qualified, T, N).public_key.hex()
    # keyper 2's share (from the qualified dealers) verifies: the batch decrypts
    doc = _decrypt_and_replay(cv)
    assert [c["index"] for c in doc["complaints"]] == [2]
    assert doc["answers"] == []
    assert doc["disqualified"] == [{"dealer": 1, "reason": "unanswered_complaint"}]
    assert doc["key"]["dealers"] == [2, 3]
    # a published round that hides the complaint, or keeps the dealer, fails replay
    assert _replays_after(tmp_path, cv, lambda d: d.update(complaints=[])) == 1
    assert _replays_after(tmp_path, cv, lambda d: d.update(disqualified=[])) == 1
    capsys.readouterr()


def test_a_false_complaint_is_answered_and_void(cv: Committee3) -> None:
    """Keyper 3 complains about dealer 2's honest share: dealer 2 answers with the share
    in the clear, which verifies; dealer 2 stays, and keyper 3's false complaint shows."""
    cv.deal(B)
    assert _complain(cv, 3, 2).status_code == 200
    _to_collecting(cv, B - 1)
    share = cv.keypers[1].dealt_share(B, 3)
    r = _answer(cv, 2, 3, share)
    assert r.status_code == 200 and r.json()["valid"] is True
    _to_collecting(cv, B)
    rnd = _round(cv)
    assert rnd["answers"][0]["share"] == "0x" + share.to_bytes(32, "big").hex()
    # keyper 1 is the bad dealer but nobody complained about it: it stays qualified
    assert rnd["disqualified"] == []
    key = cv.venue.tc.get(f"/v1/batches/{B}/key").json()
    assert key["dealers"] == [1, 2, 3]
    # the share revealed to keyper 3 is the one it could decrypt: its share sums it
    dealing = next(d for d in rnd["dealings"] if d["dealer"] == 2)
    assert cv.keypers[2].share_from(B, dealing) == share
    doc = _decrypt_and_replay(cv, releasers=(1, 3))
    assert [(a["dealer"], a["index"], a["valid"]) for a in doc["answers"]] == [(2, 3, True)]


def test_an_answer_after_the_deadline_is_refused(cv: Committee3) -> None:
    cv.deal(B)
    assert _complain(cv, 2, 1).status_code == 200
    # complaints close two batches ahead: one while batch 2 collects is late
    _to_collecting(cv, B - 1)
    r = _complain(cv, 3, 1)
    assert r.status_code == 409 and r.json()["code"] == "complaint_late"
    # the batch opened: the round is over, the dealer is out and cannot come back
    _to_collecting(cv, B)
    r = _answer(cv, 1, 2, cv.keypers[0].dealt_share(B, 2))
    assert r.status_code == 409 and r.json()["code"] == "answer_late"
    assert cv.venue.tc.get(f"/v1/batches/{B}/key").json()["dealers"] == [2, 3]
    assert _round(cv)["answers"] == []


def test_an_answer_with_a_wrong_share_disqualifies_at_once(
    cv: Committee3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cv.deal(B)
    assert _complain(cv, 2, 1).status_code == 200
    bad = cv.keypers[0]
    assert isinstance(bad, BadDealer)
    r = _answer(cv, 1, 2, bad.bad_share(B))
    assert r.status_code == 400 and "bad_answer" in r.json()["detail"]
    # recorded (signed evidence) and final: a second, valid answer is refused
    rnd = _round(cv)
    assert [(a["dealer"], a["valid"]) for a in rnd["answers"]] == [(1, False)]
    assert rnd["disqualified"] == [{"dealer": 1, "reason": "bad_answer"}]
    r = _answer(cv, 1, 2, bad.dealt_share(B, 2))
    assert r.status_code == 409 and r.json()["code"] == "duplicate_answer"
    _to_collecting(cv, B)
    assert cv.venue.tc.get(f"/v1/batches/{B}/key").json()["dealers"] == [2, 3]
    doc = _decrypt_and_replay(cv)
    assert doc["disqualified"] == [{"dealer": 1, "reason": "bad_answer"}]

    def flip(d: dict[str, Any]) -> None:
        d["answers"][0]["valid"] = True

    assert _replays_after(tmp_path, cv, flip) == 1
    capsys.readouterr()


def test_complaints_and_answers_that_are_not_the_keypers_are_refused(cv: Committee3) -> None:
    cv.deal(B, dealers=(1, 2))
    body = asyncio.run(cv.keypers[1].complaint_body(B, 1))
    # signed by an outsider in keyper 2's name
    forged = dict(body)
    values = {"keyper": body["keyper"], "batchId": B, "index": 2, "dealer": 1}
    digest = signing_digest(asyncio.run(cv.keypers[1].domain()), COMPLAINT_TYPE, values)
    forged["signature"] = "0x" + sign_digest(KEYS["erin"], digest).hex()
    assert _post(cv, "complaints", forged).status_code == 401
    # unsigned (a signature of zeros)
    assert _post(cv, "complaints", {**body, "signature": "0x" + "00" * 65}).status_code == 401
    # an outsider under its own address, as keyper 2 or as a keyper the committee lacks
    from sealbatch.crypto.eip712 import address_of

    outsider = address_of(KEYS["erin"])
    r = _post(cv, "complaints", {**body, "keyper": outsider})
    assert r.status_code == 400
    r = _post(cv, "complaints", {**body, "index": 9})
    assert r.status_code == 400 and "expected 1 to 3" in r.json()["detail"]
    # a complaint against itself, or about a dealer that did not deal
    assert _complain(cv, 1, 1).status_code == 400
    r = _complain(cv, 2, 3)
    assert r.status_code == 404 and r.json()["code"] == "no_dealing"
    # nothing was taken
    assert _round(cv)["complaints"] == []
    # an answer nobody asked for, and one signed by another keyper than the dealer
    r = _answer(cv, 2, 3, cv.keypers[1].dealt_share(B, 3))
    assert r.status_code == 404 and r.json()["code"] == "no_complaint"
    assert _complain(cv, 2, 1).status_code == 200
    r = _complain(cv, 2, 1)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_complaint"
    answer = asyncio.run(cv.keypers[0].answer_body(B, 2, cv.keypers[0].dealt_share(B, 2)))
    answer["signature"] = asyncio.run(cv.keypers[2].answer_body(B, 2, 1))["signature"]
    assert _post(cv, "answers", answer).status_code == 401
    assert _round(cv)["answers"] == []


def test_the_key_cannot_change_once_traders_may_encrypt(cv: Committee3) -> None:
    """Once batch B opens (traders encrypt to its key) no dealing, complaint or answer
    for it is taken, so no dealer can move X_B under the traders' ciphertexts."""
    cv.deal(B)
    _to_collecting(cv, B)
    before = cv.venue.tc.get(f"/v1/batches/{B}/key").json()
    assert before["dealers"] == [1, 2, 3]
    r = _complain(cv, 2, 1)
    assert r.status_code == 409 and r.json()["code"] == "complaint_late"
    r = _post(cv, "dealings", cv.dealing(1, B))
    assert r.status_code == 409 and r.json()["code"] == "dealing_late"
    assert cv.venue.tc.get(f"/v1/batches/{B}/key").json() == before


def test_an_early_encrypted_commitment_does_not_fix_the_key(cv: Committee3) -> None:
    """A commitment with a ciphertext for batch B sent while B's round is open is
    refused and fixes nothing: the dealer's later valid answer still counts, and B's
    key when it opens is over every dealer."""
    cv.deal(B)
    assert _complain(cv, 3, 2).status_code == 200
    body, _ = _garbage_commit(cv.venue, B, b"\x01" + b"\x02" * 80)
    r = cv.venue.tc.post("/v1/commitments", json=body)
    assert r.status_code == 409 and r.json()["code"] == "wrong_batch"
    assert cv.venue.tc.get(f"/v1/batches/{B}/key").status_code == 404
    _to_collecting(cv, B - 1)
    assert _answer(cv, 2, 3, cv.keypers[1].dealt_share(B, 3)).status_code == 200
    _to_collecting(cv, B)
    assert cv.venue.tc.get(f"/v1/batches/{B}/key").json()["dealers"] == [1, 2, 3]


def test_the_round_comes_back_after_a_restart(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    """Complaints, answers and the disqualification replay from the log identically."""
    folder = tmp_path / "committee"
    write_committee(folder, T, N)
    settings = make_settings(db_url, committee=str(folder / "committee.json"))
    committee = load_committee(folder / "committee.json")
    keys = [load_key(folder / f"keyper-{i}.json") for i in range(1, N + 1)]
    with TestClient(create_app(settings, clock)) as tc:
        v = Venue(tc, clock)
        c = Committee3(v, committee, keys)
        c.deal(B)
        assert _complain(c, 2, 1).status_code == 200
        assert _complain(c, 3, 2).status_code == 200
        assert _answer(c, 2, 3, c.keypers[1].dealt_share(B, 3)).status_code == 200
        _to_collecting(c, B)
        before = tc.get(f"/v1/batches/{B}/key").json()
        assert before["dealers"] == [2, 3]
    with TestClient(create_app(settings, clock)) as tc:
        after = tc.get(f"/v1/batches/{B}/key").json()
    assert after == before


def _bridge(tc: TestClient) -> httpx.AsyncClient:
    """An HTTP client for a :class:`Keyper` that reaches the in-process venue."""

    def handle(request: httpx.Request) -> httpx.Response:
        r = tc.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.content,
            headers={"content-type": request.headers.get("content-type", "application/json")},
        )
        return httpx.Response(r.status_code, content=r.content, headers=r.headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://testserver")


@pytest.mark.parametrize("answers", ["none", "valid", "wrong"])
def test_keypers_complain_answer_and_release_on_their_own(cv: Committee3, answers: str) -> None:
    """The keypers' own loop steps: deal, check the round (keyper 2 complains about the
    bad dealer, which answers as told), then release after the seal; keyper 2's share
    sums the share revealed to it when the answer was valid."""
    bad = cv.keypers[0]
    assert isinstance(bad, BadDealer)
    bad.answers = answers
    for k in cv.keypers:
        k.lead = 3
        k._http = _bridge(cv.venue.tc)

    async def step() -> None:
        for k in cv.keypers:
            await k.deal_ahead()
        for k in cv.keypers:
            await k.check_rounds()

    asyncio.run(step())
    assert cv.keypers[1].complained[B] == {1}
    _to_collecting(cv, B - 1)
    asyncio.run(step())
    _to_collecting(cv, B)
    key = cv.venue.tc.get(f"/v1/batches/{B}/key").json()
    want = [1, 2, 3] if answers == "valid" else [2, 3]
    assert key["dealers"] == want
    _submit_pair(cv, B)
    _to_sealed(cv.venue, B)
    seal = cv.venue.tc.get(f"/v1/batches/{B}/key").json()["seal"]
    assert asyncio.run(cv.keypers[1].release(seal)) is True
    assert asyncio.run(cv.keypers[2].release(seal)) is True
    rec = _record(cv.venue, B)
    assert rec["status"] == "settled"
    assert [o["outcome"] for o in rec["threshold"]["outcomes"]] == ["decrypted", "decrypted"]
    assert rec["threshold"]["faults"] == []
    for k in cv.keypers:
        asyncio.run(k.http.aclose())


def test_round_answers_match_the_declared_models(cv: Committee3) -> None:
    """The complaint, answer and round routes answer what they declare (a bad answer's
    record and a disqualification included)."""
    from pydantic import TypeAdapter

    from tests.venue.test_response_models import _routes

    models = {k: r.response_model for k, r in _routes(cv.venue).items()}

    def check(method: str, path: str, body: Any) -> None:
        TypeAdapter(models[(method, path)]).validate_python(body)

    cv.deal(B)
    check("POST", "/v1/keypers/complaints", _complain(cv, 2, 1).json())
    check("POST", "/v1/keypers/complaints", _complain(cv, 3, 2).json())
    check("POST", "/v1/keypers/answers", _answer(cv, 2, 3, cv.keypers[1].dealt_share(B, 3)).json())
    assert _answer(cv, 1, 2, 5).status_code == 400
    check("GET", "/v1/keypers/rounds/{batch_id}", _round(cv))
    _to_collecting(cv, B)
    check("GET", "/v1/keypers/rounds/{batch_id}", _round(cv))
    check("GET", "/v1/batches/{batch_id}/key", cv.venue.tc.get(f"/v1/batches/{B}/key").json())


def test_complaints_and_answers_go_out_on_the_keys_topic(cv: Committee3) -> None:
    cv.deal(B)
    with cv.venue.tc.websocket_connect("/v1/stream") as ws:
        ws.send_json({"op": "subscribe", "topics": ["keys"]})
        assert ws.receive_json()["type"] == "snapshot"
        assert _complain(cv, 3, 2).status_code == 200
        msg = ws.receive_json()
        assert msg["type"] == "complaint"
        assert msg["data"] == _round(cv)["complaints"][0]
        bad = cv.keypers[1].dealt_share(B, 3) % 7 + 1  # not the share: a bad answer
        assert _answer(cv, 2, 3, bad).status_code == 400
        msg = ws.receive_json()
        assert msg["type"] == "answer" and msg["data"]["valid"] is False
        assert msg["data"] == _round(cv)["answers"][0]
