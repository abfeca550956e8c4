"""sealbatch demo --out writes self-contained batch folders; sealbatch replay checks them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sealbatch.venue.cli import main
from sealbatch.venue.commands.replay import first_difference

FILES = {
    "orders.csv",
    "result.json",
    "oracle.json",
    "transfers.json",
    "pre_state.json",
    "post_state.json",
}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    # Proofs are not what these tests check (tests/venue/test_batch_proof_cli.py does).
    assert main(["demo", "--batches", "3", "--no-prove", "--out", str(out)]) == 0
    return out


def test_demo_writes_every_file(published: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sorted(p.name for p in published.iterdir()) == ["batch-1", "batch-2", "batch-3"]
    for b in published.iterdir():
        assert {p.name for p in b.iterdir()} == FILES
    header = (published / "batch-1" / "orders.csv").read_text().splitlines()[0]
    assert "market" in header.split(",")
    post = json.loads((published / "batch-2" / "post_state.json").read_text())
    pre3 = json.loads((published / "batch-3" / "pre_state.json").read_text())
    assert post == pre3  # one batch's post-state is the next one's pre-state
    acct = post["accounts"][0]
    assert {
        "address",
        "collateral",
        "positions",
        "equity",
        "maintenance_requirement",
        "liquidating",
    } <= set(acct)
    for m in post["markets"].values():
        assert {"mark_price", "funding_index", "contract_multiplier"} <= set(m)
    assert {"fee_pool", "insurance_fund", "socialised_loss", "state_root"} <= set(post)


def test_demo_prints_settlement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--batches", "2", "--no-prove"]) == 0
    out = capsys.readouterr().out
    assert "funding rate" in out and "insurance fund" in out and "state root 0x" in out
    assert "liquidations" in out or "liquidation order" in out


def test_demo_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "--batches", "2", "--no-prove"])
    first = capsys.readouterr().out
    main(["demo", "--batches", "2", "--no-prove"])
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("n", [1, 2, 3])
def test_published_batches_replay(
    published: Path, n: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(published / f"batch-{n}")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"batch {n} replays exactly"
    # One column of verdicts, however long a check's name.
    assert len({line.rindex(" ok") for line in lines[:-1]}) == 1, lines


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_text(f.read_text())
    return dst


def test_tampered_post_state_fails_naming_the_field(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _copy(published / "batch-2", tmp_path / "b")
    post = json.loads((d / "post_state.json").read_text())
    post["accounts"][1]["collateral"] += 1
    (d / "post_state.json").write_text(json.dumps(post))
    assert main(["replay", str(d)]) == 1
    assert ".accounts[1].collateral" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "compared"),
    [
        ("pre_state.json", True),
        ("post_state.json", True),
        ("result.json", True),
        ("oracle.json", False),
        ("transfers.json", False),
    ],
)
def test_an_extra_key_is_a_mismatch_in_every_file(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, compared: bool
) -> None:
    """docs/formats.md: replay compares the states and result.json whole with what it
    recomputes, naming an extra key there; an extra key anywhere is not the canonical
    form ("Canonical form"), which names the file and line."""
    d = _copy(published / "batch-2", tmp_path / "b")
    doc = json.loads((d / name).read_text())
    doc["x_extra"] = 1
    (d / name).write_text(json.dumps(doc, indent=1) + "\n")
    rc = main(["replay", str(d)])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert ("x_extra" in out.split("canonical form")[0]) is compared
    assert f"canonical form                  MISMATCH {name} line " in out, out


def test_tampered_orders_fail(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _copy(published / "batch-2", tmp_path / "b")
    lines = (d / "orders.csv").read_text().splitlines()
    cols = lines[1].split(",")
    cols[5] = str(int(cols[5]) + 7)  # quantity
    lines[1] = ",".join(cols)
    (d / "orders.csv").write_text("\n".join(lines) + "\n")
    assert main(["replay", str(d)]) == 1
    assert "MISMATCH" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["seed", "swap-orders"])
def test_seed_must_be_the_commitment_root(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """A published seed that is not the Poseidon2 root of the batch's commitments
    in receipt order (an operator choosing its own tie-breaks) is caught."""
    d = _copy(published / "batch-2", tmp_path / "b")
    if how == "seed":
        result = json.loads((d / "result.json").read_text())
        seed = bytes.fromhex(result["seed"][2:])
        result["seed"] = "0x" + (bytes([seed[0] ^ 1]) + seed[1:]).hex()
        (d / "result.json").write_text(json.dumps(result))
    else:  # reorder the revealed orders: the receipt order changes, so the root does
        lines = (d / "orders.csv").read_text().splitlines()
        lines[1], lines[2] = lines[2], lines[1]
        (d / "orders.csv").write_text("\n".join(lines) + "\n")
    assert main(["replay", str(d)]) == 1
    out = capsys.readouterr().out
    assert "result.json seed" in out and "MISMATCH published 0x" in out


def test_tampered_pre_state_fails_the_root(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _copy(published / "batch-3", tmp_path / "b")
    pre = json.loads((d / "pre_state.json").read_text())
    pre["insurance_fund"] += 1
    (d / "pre_state.json").write_text(json.dumps(pre))
    assert main(["replay", str(d)]) == 1
    assert "state_root" in capsys.readouterr().out


def test_missing_or_malformed_files_exit_2(published: Path, tmp_path: Path) -> None:
    d = _copy(published / "batch-1", tmp_path / "b")
    (d / "oracle.json").write_text("{not json")
    assert main(["replay", str(d)]) == 2
    (d / "oracle.json").unlink()
    assert main(["replay", str(d)]) == 2


@pytest.mark.parametrize(
    "name", ["result.json", "pre_state.json", "post_state.json", "oracle.json"]
)
def test_a_file_that_is_json_but_not_an_object_exits_2(
    published: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON array or null where the format has an object: exit 2 naming the file (was
    exit 2 with "list indices must be integers", or for post_state.json a MISMATCH
    printing the whole recomputed state and exit 1)."""
    for text in ("[]", "null"):
        d = _copy(published / "batch-1", tmp_path / f"b-{name}-{text}")
        (d / name).write_text(text)
        assert main(["replay", str(d)]) == 2
        captured = capsys.readouterr()
        assert f"{d / name}: expected a JSON object, got" in captured.err
        assert captured.out == ""


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("pre_state.json", ("accounts", 0, "address"), 1.5),  # was TypeError in the root
        ("pre_state.json", ("markets", "ETH-PERP", "mark_price"), 2**70),  # OverflowError
        ("oracle.json", ("round_id",), -1),  # was eth_abi's ValueOutOfBounds
        ("oracle.json", ("reports", 0, "source"), 1.5),  # was eth_abi's EncodingTypeError
    ],
)
def test_a_value_of_another_type_is_a_malformed_file_not_a_traceback(
    published: Path,
    tmp_path: Path,
    name: str,
    path: tuple,  # type: ignore[type-arg]
    value: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by mutating one published value at a time: each crashed replay."""
    d = _copy(published / "batch-1", tmp_path / "b")
    doc = json.loads((d / name).read_text())
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (d / name).write_text(json.dumps(doc))
    assert main(["replay", str(d)]) == 2
    assert capsys.readouterr().err.startswith(f"sealbatch replay: error: {d}: ")


def _refuse_oracle_json(folder: Path, kind: str) -> str:
    """Make ``folder/oracle.json`` /dev/zero, a folder, or a sparse file over the
    batch-file cap; return why the reader refuses it."""
    from sealbatch.settlement.input_files import BATCH_FILE_CAP

    bad = folder / "oracle.json"
    bad.unlink(missing_ok=True)
    if kind == "dev-zero":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero here")
        bad.symlink_to("/dev/zero")
        return "expected a regular file, got a character device"
    if kind == "directory":
        bad.mkdir()
        return "expected a regular file, got a directory"
    with bad.open("wb") as f:  # holes: nothing written, nothing to read
        f.truncate(BATCH_FILE_CAP.max_bytes + 1)
    size = BATCH_FILE_CAP.max_bytes + 1
    return f"expected at most 2 GiB (the cap on a batch file), got {size} bytes"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["dev-zero", "directory", "over-cap"])
def test_a_batch_file_that_is_a_stream_a_folder_or_too_large_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """A published file that is /dev/zero was read until memory ran out: exit 2 at once
    naming the file and the reason, for one folder and for a folder of them."""
    from sealbatch.settlement.publication import BATCH_FILES

    folder = tmp_path / "batch-1"
    folder.mkdir()
    for f in BATCH_FILES:
        (folder / f).write_text("{}" if f.endswith(".json") else "x\n")
    reason = _refuse_oracle_json(folder, kind)
    for target in (folder, tmp_path):
        assert main(["replay", str(target)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        want = f"sealbatch replay: error: cannot read {folder / 'oracle.json'}: {reason}\n"
        assert captured.err == want


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["proof.bin", "threshold.json"])
def test_a_proof_or_threshold_file_that_is_a_device_fails_its_check_at_once(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """The files replay reads after re-settling: an unreadable one fails its check (exit 1,
    as a proof.bin that cannot be read always has), now without reading /dev/zero forever."""
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    d = _copy(published / "batch-1", tmp_path / "b")
    (d / name).symlink_to("/dev/zero")
    assert main(["replay", str(d)]) == 1
    out = capsys.readouterr().out
    assert f"{name} " in out
    assert "MISMATCH cannot read it: expected a regular file, got a character device" in out


def test_a_path_that_is_no_batch_folder_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nowhere")]) == 2
    assert "expected a batch folder (batch-<n>/) or a folder of them, got" in (
        capsys.readouterr().err
    )
    (tmp_path / "empty").mkdir()
    assert main(["replay", str(tmp_path / "empty")]) == 2
    assert "found neither" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["batch-\u00b2", "batch-\u0663"], ids=["superscript", "arabic"])
def test_a_folder_named_with_non_ascii_digits_is_no_batch_folder(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "batch-²" and "batch-٣": digits to str.isdigit(), not batch ids (docs/formats.md).
    (tmp_path / name).mkdir()
    assert main(["replay", str(tmp_path)]) == 2
    assert "found neither" in capsys.readouterr().err


def test_first_difference() -> None:
    assert first_difference({"a": [1, 2]}, {"a": [1, 2]}) is None
    assert first_difference({"a": [1, 2]}, {"a": [1, 3]}) == ".a[1]: published 2, recomputed 3"
    assert first_difference({"a": 1}, {"b": 1}) == ".a: missing in the recomputation"
    assert first_difference([1], [1, 2]) == ": published 1 entries, recomputed 2"
    assert first_difference({"x": True}, {"x": 1}) is not None


def _limbs(v: int) -> list[int]:
    m = abs(v)
    return [int(v < 0), m & 0xFFFFFF, (m >> 24) & 0xFFFFFF, (m >> 48) & 0xFFFFFF]


def _ulimbs(v: int, count: int) -> list[int]:
    return [(v >> (24 * k)) & 0xFFFFFF for k in range(count)]


def _documented_root(doc: dict) -> str:
    """The state root rebuilt from the JSON alone, following docs/formats.md."""
    import numpy as np

    from sealbatch.crypto import poseidon2

    markets = sorted(doc["markets"])
    leaves = []
    for a in doc["accounts"]:
        addr = int(a["address"], 16)
        row = [0x5EA10001] + [(addr >> (24 * k)) & 0xFFFFFF for k in range(7)]
        row += [a["subaccount"], int(a["portfolio_margin"]), *_limbs(a["collateral"])]
        for m in markets:
            row += _limbs(a["positions"][m])
        leaves.append(poseidon2.hash_elements(np.array(row, dtype=np.uint64)))
    n = len(leaves)
    d = max(1, (max(n, 1) - 1).bit_length())
    level = leaves + [np.zeros(8, dtype=np.uint64)] * ((1 << d) - n)
    while len(level) > 1:
        level = [poseidon2.compress(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    head = [0x5EA10002, *_limbs(doc["batch_id"]), *_limbs(n), d]
    for k in ("fee_pool", "insurance_fund", "socialised_loss", "timestamp_ms"):
        head += _limbs(doc[k])
    for m in markets:
        ms = doc["markets"][m]
        for k in (
            "mark_price",
            "index_price",
            "last_price",
            "funding_index",
            "index_time_ms",
            "premium",
            "premium_sum",
        ):
            head += _limbs(ms[k])
        head += _limbs(ms["premium_time"]) + _limbs(ms["interval_batches"])
        head += [int(ms["flagged"]), int(ms["protective"]), ms["calm"]]
    pending = [(p, 1) for p in doc["pending_liquidations"]]
    pending += [({**r, "subaccount": 0}, 0) for r in doc["resting_orders"]]
    p_ = 15 * (1 << 27) + 1
    records = [0x5EA10005, len(doc["pending_liquidations"]), len(doc["resting_orders"])]
    records += [0] * 5
    for p, kind in pending:
        market = p["market"].encode()
        code = int(poseidon2.hash_elements(np.array([0x5EA10004, len(market), *market]))[0])
        flags = (
            int(p["side"] == "buy")
            | int(p["limit_price"] is not None) << 1
            | int(p["time_in_force"] == "gtc") << 2
            | int(p["reduce_only"]) << 3
        )
        oid = bytes.fromhex(p["order_id"].removeprefix("0x"))
        words = [int.from_bytes(oid[i : i + 4], "little") for i in range(0, 32, 4)]
        records += [kind, code, flags, p["limit_price"] or 0, p["quantity"]]
        high = sum(3**i * (w // p_) for i, w in enumerate(words))
        records += [*_ulimbs(p["origin_batch"], 2), high]
        records += [*_ulimbs(int(p["trader"], 16), 7), p["subaccount"]]
        records += [w % p_ for w in words]
    head += [0] * (-len(head) % 8)
    # the config digest block: the canonical JSON text's bytes, three per element
    text = json.dumps(doc["config"], sort_keys=True, separators=(",", ":")).encode()
    packed = text + bytes(-len(text) % 3)
    config = [0x5EA10007, len(text)]
    config += [int.from_bytes(packed[i : i + 3], "little") for i in range(0, len(packed), 3)]
    head += [int(x) for x in poseidon2.hash_elements(np.array(config, dtype=np.uint64))]
    head += [int(x) for x in poseidon2.hash_elements(np.array(records, dtype=np.uint64))]
    header = poseidon2.hash_elements(np.array(head, dtype=np.uint64))
    root = poseidon2.compress(level[0], header)
    return "0x" + b"".join(int(x).to_bytes(4, "little") for x in root).hex()


@pytest.mark.parametrize("n", [1, 2, 3])
def test_auditor_checks_of_docs_formats_hold(published: Path, n: int) -> None:
    folder = published / f"batch-{n}"
    pre = json.loads((folder / "pre_state.json").read_text())
    post = json.loads((folder / "post_state.json").read_text())
    result = json.loads((folder / "result.json").read_text())

    def total(doc: dict) -> int:
        return (
            sum(a["collateral"] for a in doc["accounts"]) + doc["fee_pool"] + doc["insurance_fund"]
        )

    assert total(pre) == total(post)
    for m in post["markets"]:
        assert sum(a["positions"][m] for a in post["accounts"]) == 0
    fees = 0
    for m, r in result["markets"].items():
        cfg = pre["config"]["markets"][m]
        for f in r["fills"]:
            fees += -(
                (-f["quantity"] * f["price"] * cfg["contract_multiplier"] * cfg["fee_bps"])
                // 10_000
            )
    assert post["fee_pool"] - pre["fee_pool"] == fees
    bonds = sum(f["bond"] for f in result["forfeited"])
    assert post["insurance_fund"] - pre["insurance_fund"] >= min(bonds, 1)
    for doc in (pre, post):
        assert _documented_root(doc) == doc["state_root"]
