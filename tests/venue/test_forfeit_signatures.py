"""A published forfeit carries the trader's signed commit, and replay checks it:
an operator cannot invent a commitment in a trader's name and take its bond."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sealbatch.auction.commit_reveal import COMMIT_TYPE, Commit
from sealbatch.crypto.eip712 import Address, Eip712Domain, address_of, sign_digest
from sealbatch.venue.cli import main

ATTACKER_KEY = "0x" + "77" * 32


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--batches", "2", "--no-prove", "--out", str(out)]) == 0
    return out


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_text(f.read_text())
    return dst


def _forfeited(folder: Path) -> tuple[dict, list[dict]]:
    result = json.loads((folder / "result.json").read_text())
    return result, result["forfeited"]


def _domain(signed: dict) -> Eip712Domain:
    d = signed["domain"]
    return Eip712Domain(d["name"], d["version"], d["chainId"], Address(d["verifyingContract"]))


def test_honest_forfeits_carry_their_signed_commit_and_replay(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, forfeits = _forfeited(published / "batch-2")
    assert forfeits, "the demo's batch 2 forfeits a bond"
    for f in forfeits:
        assert f["signed"]["primaryType"] == "Commit"
        assert f["signed"]["message"]["trader"] == f["trader"]
        assert f["signed"]["message"]["commitment"] == f["commitment"]
    assert main(["replay", str(published / "batch-2")]) == 0
    assert "replays exactly" in capsys.readouterr().out


def test_a_forfeit_signed_by_another_key_fails_naming_both(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The operator re-signs a victim's commit with its own key: replay names both."""
    d = _copy(published / "batch-2", tmp_path / "b")
    result, forfeits = _forfeited(d)
    f = forfeits[0]
    m = f["signed"]["message"]
    commit = Commit(
        Address(m["trader"]),
        m["batchId"],
        m["market"],
        bytes.fromhex(m["commitment"][2:]),
        m["nonce"],
        m["marginLock"],
        m["bond"],
        m["expiry"],
    )
    sig = sign_digest(ATTACKER_KEY, commit.digest(_domain(f["signed"])))
    f["signed"]["signature"] = "0x" + sig.hex()
    (d / "result.json").write_text(json.dumps(result))
    assert main(["replay", str(d)]) == 1
    out = capsys.readouterr().out
    assert f"published signer {f['trader']}, recovered {address_of(ATTACKER_KEY)}" in out


def test_an_invented_forfeit_without_a_signature_fails(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _copy(published / "batch-2", tmp_path / "b")
    result, forfeits = _forfeited(d)
    forfeits[0]["signed"] = None
    (d / "result.json").write_text(json.dumps(result))
    assert main(["replay", str(d)]) == 1
    assert "expected the trader's signed commit" in capsys.readouterr().out


def test_an_invented_forfeit_signed_by_the_operator_fails(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A brand-new commitment in the victim's name, with a signature the operator made."""
    d = _copy(published / "batch-2", tmp_path / "b")
    result, forfeits = _forfeited(d)
    victim = forfeits[0]["trader"]
    commitment = bytes([9]) * 32
    commit = Commit(Address(victim), result["batch_id"], forfeits[0]["market"], commitment, 99)
    domain = _domain(forfeits[0]["signed"])
    sig = sign_digest(ATTACKER_KEY, commit.digest(domain))
    forfeits.append(
        {
            "commitment": "0x" + commitment.hex(),
            "trader": victim,
            "market": forfeits[0]["market"],
            "sequence": 99,
            "bond": 0,
            "rfq_id": None,
            "signed": {
                **domain.typed_data(COMMIT_TYPE, commit.message()),
                "signature": "0x" + sig.hex(),
            },
        }
    )
    (d / "result.json").write_text(json.dumps(result))
    assert main(["replay", str(d)]) == 1
    out = capsys.readouterr().out
    assert f"published signer {victim}, recovered {address_of(ATTACKER_KEY)}" in out


def test_a_signed_commit_from_another_batch_does_not_make_a_forfeit(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trader's genuine signature from batch 1 cannot forfeit a bond in batch 2."""
    _, old = _forfeited(published / "batch-1")
    d = _copy(published / "batch-2", tmp_path / "b")
    result, forfeits = _forfeited(d)
    forfeits[0]["signed"] = old[0]["signed"]
    forfeits[0]["trader"] = old[0]["trader"]
    forfeits[0]["commitment"] = old[0]["commitment"]
    (d / "result.json").write_text(json.dumps(result))
    assert main(["replay", str(d)]) == 1
    assert "the signed commit's batchId is 1, expected 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("path", "value", "place"),
    [
        (("domain", "chainId"), "x", "forfeited[0].signed.domain.chainId"),
        (("domain", "verifyingContract"), 7, "forfeited[0].signed.domain.verifyingContract"),
        (("message", "bond"), -1, "forfeited[0].signed.message.bond"),
        (("message", "commitment"), "0x12", "forfeited[0].signed.message.commitment"),
        (("message", "market"), ["BTC-PERP"], "forfeited[0].signed.message.market"),
        (("message",), "x", "forfeited[0].signed.message"),
        (("signature",), "0xzz", "forfeited[0].signed.signature"),
    ],
    ids=lambda v: ".".join(v) if isinstance(v, tuple) else None,
)
def test_a_malformed_signed_commit_is_named(
    published: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    path: tuple[str, ...],
    value: object,
    place: str,
) -> None:
    """A signed commit with a field of another type or range: replay reports the forfeit
    unproved, naming the file and the field, and does not crash."""
    d = _copy(published / "batch-2", tmp_path / "b")
    result, forfeits = _forfeited(d)
    node = forfeits[0]["signed"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (d / "result.json").write_text(json.dumps(result))
    assert main(["replay", str(d)]) == 1
    out = capsys.readouterr().out
    assert "recovered none (result.json: " + place in out, out


def test_a_bug_in_the_signature_check_is_not_swallowed(
    published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the readers' and the signature's own errors are a forfeit left unproved: a bug
    (here a planted AttributeError in the recovery) escapes."""
    from sealbatch.crypto import eip712

    def broken(*args: object) -> Address:
        raise AttributeError("planted bug")

    monkeypatch.setattr(eip712, "recover_signer", broken)
    with pytest.raises(AttributeError, match="planted bug"):
        main(["replay", str(published / "batch-2")])
