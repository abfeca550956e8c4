"""``sealbatch demo`` proves every batch; ``prove BATCH_DIR``, ``verify --public`` and
``replay`` on published batches: exit 0 valid, 1 invalid, 2 unreadable or malformed."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sealbatch.venue.cli import main

#: The module's fixture proves and anchors two demo batches: minutes on a loaded machine.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Two proved demo batches published with their proofs, and what demo printed."""
    out = tmp_path_factory.mktemp("proved")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["demo", "--batches", "2", "--out", str(out)]) == 0
    return out, buf.getvalue()


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_json(folder: Path, name: str, edit: Callable[[Any], None]) -> None:
    doc = json.loads((folder / name).read_text())
    edit(doc)
    (folder / name).write_text(json.dumps(doc, indent=1) + "\n")


def test_demo_proves_and_verifies_every_batch(demo: tuple[Path, str]) -> None:
    out, printed = demo
    lines = re.findall(r"proof (\d+) bytes, proved in [\d.]+ s, verified in \d+ ms: valid", printed)
    assert len(lines) == 2, printed
    for n, size in zip((1, 2), lines, strict=True):
        proof = out / f"batch-{n}" / "proof.bin"
        assert proof.stat().st_size == int(size)


def test_demo_anchors_a_batch_only_with_its_published_post_root(demo: tuple[Path, str]) -> None:
    """Each proven batch is anchored on the demo's chain (anchor.json: the transaction, its
    block and gas, the contract's root after it, which is the batch's post-state root) or
    the demo says why the exchange cannot anchor it; never both, never neither."""
    from sealbatch.settlement.roots import state_root
    from sealbatch.settlement.snapshot import config_from_dict, state_from_dict

    out, printed = demo
    anchored = re.findall(r"anchored on L1: tx 0x[0-9a-f]+… block (\d+), (\d+) gas", printed)
    refused = re.findall(r"not anchored on L1: (.+)", printed)
    files = sorted(out.glob("batch-*/anchor.json"))
    assert len(files) == len(anchored) and len(anchored) + len(refused) >= 1, printed
    for path, (block, gas) in zip(files, anchored, strict=True):
        doc = json.loads(path.read_text())
        post = json.loads((path.parent / "post_state.json").read_text())
        root = state_root(state_from_dict(post, config_from_dict(post["config"])))
        assert doc["post_root"] == "0x" + root.hex()
        assert (doc["block"], doc["gas_used"]) == (int(block), int(gas))
        assert doc["gas_used"] < 1 << 24  # EIP-7825: one transaction at most 2^24 gas
        assert re.fullmatch(r"0x[0-9a-f]{64}", doc["tx"])
    if refused:  # the first refusal ends the demo's anchoring: later roots cannot chain
        assert not (out / f"batch-{len(files) + 2}" / "anchor.json").exists()


def test_proved_folders_match_the_published_format(demo: tuple[Path, str]) -> None:
    """proof.bin's head and anchor.json as docs/formats.md documents them (the outsider's
    checker of tests/test_published_format.py, on this module's proved demo)."""
    from tests.test_published_format import check_proof_and_anchor

    out, _ = demo
    for n in (1, 2):
        check_proof_and_anchor(out / f"batch-{n}")


def test_verify_public_accepts_the_batch_it_proves(
    demo: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = demo
    for n in (1, 2):
        folder = out / f"batch-{n}"
        assert main(["verify", str(folder / "proof.bin"), "--public", str(folder)]) == 0
        assert capsys.readouterr().out.startswith(f"valid: batch proof of {folder}")


def _recase(pattern: str, case: Callable[[str], str]) -> Callable[[str], str]:
    """Change the case of group 1 of the first match of ``pattern``."""

    def edit(text: str) -> str:
        m = re.search(pattern, text)
        assert m, pattern
        return text[: m.start(1)] + case(m[1]) + text[m.end(1) :]

    return edit


#: One malleation per file verify reads (tests/venue/test_canonical_form.py has them all,
#: on replay): each verified with the batch's own proof before the canonical form.
_MALLEATIONS: list[tuple[str, Callable[[str], str]]] = [
    ("orders.csv", _recase(r"\n0x([0-9a-f]{64}),", str.upper)),
    ("orders.csv", lambda t: t.replace("\n", "\r\n")),
    ("result.json", _recase(r'"seed": "(0x[0-9a-f]{64})"', lambda h: "0x" + h[2:].upper())),
    ("result.json", lambda t: t.replace('\n   "rfq_id": null,', "", 1)),  # an optional field
    ("oracle.json", lambda t: json.dumps(json.loads(t)) + "\n"),
    ("transfers.json", lambda t: t.rstrip("\n")),
    ("pre_state.json", lambda t: json.dumps(json.loads(t), indent=2) + "\n"),
    ("post_state.json", lambda t: t.replace("\n", " \n", 1)),
]


@pytest.mark.parametrize(("name", "edit"), _MALLEATIONS, ids=[n for n, _ in _MALLEATIONS])
def test_a_published_file_in_another_byte_form_does_not_verify(
    demo: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    edit: Callable[[str], str],
) -> None:
    """docs/formats.md, "Canonical form": the values the proof binds, in bytes the venue
    does not write, are refused (exit 1), naming the file and its first differing line."""
    out, _ = demo
    folder = _copy(out / "batch-1", tmp_path / "batch-1")
    text = (folder / name).read_bytes().decode()
    assert edit(text) != text
    (folder / name).write_bytes(edit(text).encode())
    capsys.readouterr()
    assert main(["verify", str(folder / "proof.bin"), "--public", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "does not verify: not in the canonical form the venue writes" in err, err
    assert re.search(rf"{re.escape(name)} line \d+, column \d+: ", err), err


def test_a_batch_proof_without_its_folder_asks_for_it(
    demo: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``verify proof.bin`` on a batch proof is a usage error naming ``--public`` (exit 2),
    not an invalid proof of an "unknown AIR" (exit 1)."""
    out, _ = demo
    assert main(["verify", str(out / "batch-1" / "proof.bin")]) == 2
    err = capsys.readouterr().err
    assert "is a batch proof" in err and "--public BATCH_DIR" in err


def test_a_proof_of_another_batch_is_invalid(
    demo: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = demo
    proof = out / "batch-1" / "proof.bin"
    assert main(["verify", str(proof), "--public", str(out / "batch-2")]) == 1
    assert "invalid proof of" in capsys.readouterr().err


def _raise_first_fill(doc: Any) -> None:
    for market in doc["markets"].values():
        if market["fills"]:
            market["fills"][0]["quantity"] += 1
            return
    raise AssertionError("the demo batch has no fill")


def _richer_first_account(doc: Any) -> None:
    doc["accounts"][0]["collateral"] += 1_000_000


def _higher_fee_pool(doc: Any) -> None:
    doc["fee_pool"] += 1


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("result.json", _raise_first_fill),
        ("pre_state.json", _richer_first_account),
        ("post_state.json", _higher_fee_pool),
    ],
)
def test_a_tampered_published_file_fails_verification(
    demo: tuple[Path, str],
    tmp_path: Path,
    name: str,
    edit: Callable[[Any], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The statement comes from the files: a file that disagrees with what was
    proved fails, whichever file it is."""
    out, _ = demo
    folder = _copy(out / "batch-1", tmp_path / "batch-1")
    _edit_json(folder, name, edit)
    assert main(["verify", str(folder / "proof.bin"), "--public", str(folder)]) == 1
    assert "invalid proof of" in capsys.readouterr().err
    # replay names the proof (and whatever else no longer matches)
    assert main(["replay", str(folder)]) == 1


def test_a_forfeit_without_its_trader_s_signature_fails_verification(
    demo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forfeit moves its trader's bond, which no proof can tie to the trader's signature:
    verify checks each forfeit's signed commit as replay does (a re-signed or damaged one
    once verified, so anyone's bond could be taken by an invented forfeit)."""
    out, _ = demo
    folder = _copy(out / "batch-1", tmp_path / "batch-1")

    def damage(doc: Any) -> None:
        assert doc["forfeited"], "the demo's batch 1 has a forfeit"
        sig = doc["forfeited"][0]["signed"]["signature"]
        doc["forfeited"][0]["signed"]["signature"] = (
            sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
        )

    _edit_json(folder, "result.json", damage)
    assert main(["verify", str(folder / "proof.bin"), "--public", str(folder)]) == 1
    assert "result.json forfeit signatures: forfeit 0" in capsys.readouterr().err


def test_a_flipped_proof_byte_is_invalid(
    demo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = demo
    data = bytearray((out / "batch-2" / "proof.bin").read_bytes())
    data[len(data) // 2] ^= 1
    bad = tmp_path / "proof.bin"
    bad.write_bytes(bytes(data))
    assert main(["verify", str(bad), "--public", str(out / "batch-2")]) == 1
    assert "invalid proof of" in capsys.readouterr().err


@pytest.mark.parametrize(
    "damage",
    ["not a proof", "missing file", "not json", "no folder"],
)
def test_malformed_input_exits_2(
    demo: tuple[Path, str], tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = demo
    folder = _copy(out / "batch-1", tmp_path / "batch-1")
    proof = folder / "proof.bin"
    if damage == "not a proof":
        proof.write_bytes(b"definitely not a proof")
    elif damage == "missing file":
        (folder / "oracle.json").unlink()
    elif damage == "not json":
        (folder / "result.json").write_text("{ not json")
    else:
        folder = tmp_path / "nowhere"
    assert main(["verify", str(proof), "--public", str(folder)]) == 2
    assert "error:" in capsys.readouterr().err


def test_prove_batch_dir_reproduces_the_published_proof(
    demo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``prove BATCH_DIR`` needs the folder alone; proofs are deterministic bytes."""
    out, _ = demo
    target = tmp_path / "p.bin"
    assert main(["prove", str(out / "batch-2"), "-o", str(target)]) == 0
    captured = capsys.readouterr()
    assert "proving batch-2:" in captured.err  # progress on stderr
    assert f"wrote {target}" in captured.out
    assert target.read_bytes() == (out / "batch-2" / "proof.bin").read_bytes()


def test_prove_refuses_what_it_cannot_prove(
    demo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = demo
    target = tmp_path / "p.bin"
    # usage and unreadable input: 2, and nothing written
    assert main(["prove", str(tmp_path / "nowhere"), "-o", str(target)]) == 2
    assert main(["prove", str(out / "batch-1")]) == 2
    assert main(["prove", str(out / "batch-1"), "--rows", "64", "-o", str(target)]) == 2
    # a batch whose files do not satisfy the batch statement: 1
    folder = _copy(out / "batch-1", tmp_path / "batch-1")
    _edit_json(folder, "result.json", _raise_first_fill)
    assert main(["prove", str(folder), "-o", str(target), "--quiet"]) == 1
    assert "batch rejected" in capsys.readouterr().err
    assert not target.exists()


def test_replay_checks_a_published_proof(
    demo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = demo
    assert main(["replay", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 batches replay exactly, roots chained" in printed
    assert main(["replay", str(out / "batch-1")]) == 0
    assert re.search(r"^proof\.bin\s+ok$", capsys.readouterr().out, re.M)
    # batch 2's proof published beside batch 1: the files replay, the proof does not
    folder = _copy(out / "batch-1", tmp_path / "batch-1")
    shutil.copy(out / "batch-2" / "proof.bin", folder / "proof.bin")
    assert main(["replay", str(folder)]) == 1
    assert re.search(r"^proof\.bin\s+MISMATCH not a valid proof", capsys.readouterr().out, re.M)


def _config_edits(config: Any) -> list[tuple[str, Callable[[Any], None]]]:
    """One edit per term of a published ``config`` (every market term, every tier entry,
    every correlation off the diagonal — both symmetric entries — and every global), each
    to a value the readers still accept; a term no other value of passes the readers (the
    correlation diagonal, the last tier's ``max_lots``) has no edit."""
    from sealbatch.settlement.errors import SettlementError
    from sealbatch.settlement.snapshot import config_from_dict

    def at(path: tuple[Any, ...], value: Any) -> Callable[[Any], None]:
        def edit(doc: Any) -> None:
            node = doc
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
            if "correlation_bps" in path:  # keep it symmetric
                i = path.index("correlation_bps")
                matrix = doc
                for k in path[: i + 1]:
                    matrix = matrix[k]
                matrix[path[i + 2]][path[i + 1]] = value

        return edit

    def candidates(value: Any) -> list[Any]:
        if isinstance(value, str):
            return [{"adl": "socialise", "socialise": "adl"}.get(value, value + "0")]
        return [value + 1, value - 1]

    paths: list[tuple[Any, ...]] = []
    for mid, terms in config["markets"].items():
        for name, value in terms.items():
            if name == "tiers":
                paths += [("markets", mid, "tiers", i, k) for i, t in enumerate(value)
                          for k in range(len(t))]  # fmt: skip
            else:
                paths.append(("markets", mid, name))
    m = len(config["correlation_bps"])
    paths += [("correlation_bps", i, j) for i in range(m) for j in range(i + 1, m)]
    paths += [(k,) for k in config if k not in ("markets", "correlation_bps")]
    edits = []
    for path in paths:
        node = config
        for k in path:
            node = node[k]
        for value in candidates(node):
            doc = json.loads(json.dumps(config))
            at(path, value)(doc)
            try:
                config_from_dict(doc)
            except SettlementError:
                continue
            name = ".".join(str(k) for k in path)
            edits.append((name, at(("config", *path), value)))
            break
    return edits


def test_every_config_term_edited_in_both_state_files_fails_verification(
    demo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state roots commit to the config digest: a term edited in both state files
    (each file's state_root recomputed to match, as a forger would) gives other public
    roots than the proof's, whether or not the term decided anything in the batch. Before
    the digest, the terms batch 1 did not use (block_min_lots, band_bps, shock_bps, ...)
    verified. The pre-state's config edited alone fails too."""
    from sealbatch.settlement.roots import state_root
    from sealbatch.settlement.snapshot import config_from_dict, state_from_dict

    out, _ = demo
    config = json.loads((out / "batch-1" / "pre_state.json").read_text())["config"]
    edits = _config_edits(config)
    assert len(edits) >= 50 and any(n.endswith("block_min_lots") for n, _ in edits)
    assert {"deleverage", "forfeit_bond", "correlation_bps.0.1"} <= {n for n, _ in edits}

    def reroot(doc: Any) -> None:
        state = state_from_dict(doc, config_from_dict(doc["config"]))
        doc["state_root"] = "0x" + state_root(state).hex()

    verified = []
    for n, (name, edit) in enumerate(edits):
        folder = _copy(out / "batch-1", tmp_path / f"b{n}")
        for file in ("pre_state.json", "post_state.json"):
            _edit_json(folder, file, lambda doc, edit=edit: (edit(doc), reroot(doc)))
        code = main(["verify", str(folder / "proof.bin"), "--public", str(folder)])
        if code != 1:
            verified.append((name, code))
        shutil.rmtree(folder)
    capsys.readouterr()
    assert not verified, f"config edits that did not fail verification: {verified}"
    # the pre-state's config alone (its root recomputed): the pre root is not the proof's
    folder = _copy(out / "batch-1", tmp_path / "pre-only")
    name, edit = next(e for e in edits if e[0].endswith("block_min_lots"))
    _edit_json(folder, "pre_state.json", lambda doc: (edit(doc), reroot(doc)))
    assert main(["verify", str(folder / "proof.bin"), "--public", str(folder)]) == 1
    assert "invalid proof of" in capsys.readouterr().err
