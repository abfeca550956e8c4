"""Batch proofs end to end: prove a published batch, verify it against the published
files, and reject proofs for other files, shapes or options."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from sealbatch.crypto.exceptions import VerificationError
from sealbatch.crypto.options import DEFAULT_OPTIONS
from sealbatch.settlement.batch_air.air import rows_for
from sealbatch.settlement.batch_proof import (
    BATCH_AIR_NAME,
    prove_batch_dir,
    prove_files,
    verify_batch_dir,
    verify_files,
)
from sealbatch.settlement.batch_verify import batch_options, describe_public_input
from sealbatch.settlement.errors import BatchStatementError
from tests.settlement.batch_air_helpers import small_batch_files, statement_of


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return small_batch_files()


@pytest.fixture(scope="module")
def proof(files: dict[str, str]) -> bytes:
    return prove_files(files)


def test_honest_proof_verifies_against_the_published_files(
    files: dict[str, str], proof: bytes
) -> None:
    report = verify_files(proof, files)
    assert report.conjectured >= 100
    assert proof[8 : 9 + len(BATCH_AIR_NAME)].endswith(BATCH_AIR_NAME.encode())


def test_batch_dir_round_trip(files: dict[str, str], proof: bytes, tmp_path: Path) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert verify_batch_dir(proof, tmp_path).conjectured >= 100
    assert prove_batch_dir(tmp_path) == proof  # proofs are deterministic


def test_a_published_file_that_disagrees_fails_verification(
    files: dict[str, str], proof: bytes
) -> None:
    result = json.loads(files["result.json"])
    result["markets"]["ETH-PERP"]["price"] += 1
    for fill in result["markets"]["ETH-PERP"]["fills"]:
        fill["price"] += 1
    # The error names the public input, not only its index.
    with pytest.raises(VerificationError, match=r"public inputs differ.*the outputs digest"):
        verify_files(proof, {**files, "result.json": json.dumps(result)})


def test_a_published_fill_that_differs_from_the_proved_one_fails_verification(
    files: dict[str, str], proof: bytes
) -> None:
    """One fill's lots changed in result.json: the outputs digest the verifier derives
    (a public input) is not the one the proof's digest rows produced."""
    result = json.loads(files["result.json"])
    result["markets"]["BTC-PERP"]["fills"][0]["quantity"] -= 1
    with pytest.raises(VerificationError, match=r"index 35: the outputs digest \(result.json\)"):
        verify_files(proof, {**files, "result.json": json.dumps(result)})


@pytest.mark.parametrize("name", ["pre_state.json", "post_state.json"])
@pytest.mark.parametrize(
    ("field", "change"),
    [
        (("markets", "BTC-PERP", "contract_multiplier"), 1),
        (("accounts", 0, "equity"), 1),
        (("accounts", 0, "maintenance_requirement"), -1),
        (("accounts", 0, "liquidating"), None),
    ],
)
def test_a_state_file_s_derived_value_is_recomputed(
    files: dict[str, str], proof: bytes, name: str, field: tuple[object, ...], change: int | None
) -> None:
    """The fields of a state file outside its root (the multiplier's copy, each account's
    equity, requirements and ``liquidating``) are recomputed from the state: a changed one
    once verified."""
    doc = json.loads(files[name])
    *path, key = field
    parent = doc
    for part in path:
        parent = parent[part]
    parent[key] = (not parent[key]) if change is None else parent[key] + change
    with pytest.raises(VerificationError, match=rf"{name} \..*\.{key}: published"):
        verify_files(proof, {**files, name: json.dumps(doc)})


def test_revealed_orders_out_of_receipt_order_fail_verification(
    files: dict[str, str], proof: bytes
) -> None:
    """orders.csv lists the revealed orders in receipt order, which places their leaves
    under the commitment root: two swapped revealed rows once verified."""
    header, first, second, *rest = files["orders.csv"].splitlines(keepends=True)
    assert not first.rstrip().endswith(",") and not second.rstrip().endswith(",")  # revealed
    text = "".join([header, second, first, *rest])
    with pytest.raises(VerificationError, match=r"result.json seed: published 0x\w+, recomputed"):
        verify_files(proof, {**files, "orders.csv": text})


@pytest.mark.parametrize("digest", ["0x" + "00" * 32, None])
def test_the_oracle_round_s_published_digest_is_recomputed(
    files: dict[str, str], proof: bytes, digest: str | None
) -> None:
    """The inputs digest takes the round's recomputed digest: a changed or missing copy in
    oracle.json once verified."""
    doc = json.loads(files["oracle.json"])
    if digest is None:
        del doc["digest"]
    else:
        doc["digest"] = digest
    with pytest.raises(VerificationError, match=r"oracle.json digest: published"):
        verify_files(proof, {**files, "oracle.json": json.dumps(doc)})


def test_a_revealed_order_s_bond_is_bound_by_the_seed(files: dict[str, str], proof: bytes) -> None:
    """orders.csv is the only file with a revealed order's bond, which its leaf under the
    commitment root binds (not its commitment): the verifier recomputes the root from it
    (a changed bond once verified)."""
    header, first, *rest = files["orders.csv"].splitlines(keepends=True)
    assert header.rstrip().endswith(",bond")
    head, bond = first.rstrip("\n").rsplit(",", 1)
    text = "".join([header, f"{head},{int(bond) + 1}\n", *rest])
    with pytest.raises(VerificationError, match=r"result.json seed: published 0x\w+, recomputed"):
        verify_files(proof, {**files, "orders.csv": text})


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("trader", "0x" + "11" * 20, "trader"),
        ("side", "sell", "side"),
        ("side", None, "side"),
    ],
)
def test_a_fill_whose_copy_of_its_order_differs_fails_verification(
    files: dict[str, str], proof: bytes, key: str, value: object, named: str
) -> None:
    """A fill's trader, side and market copy its order's (orders.csv): the proof binds the
    record to the order's row, so a changed copy once verified."""
    result = json.loads(files["result.json"])
    fill = result["markets"]["BTC-PERP"]["fills"][0]
    if value is None:
        del fill[key]
    else:
        fill[key] = value
    with pytest.raises(VerificationError, match=rf"fills\[0\]\.{named}: published"):
        verify_files(proof, {**files, "result.json": json.dumps(result)})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("buy_volume", 1),
        ("sell_volume", -1),
        ("imbalance", 1),
        ("buy_volume", 0.0),
        ("imbalance", None),
    ],
)
def test_published_demand_and_supply_are_those_at_the_proved_price(
    files: dict[str, str], proof: bytes, key: str, value: object
) -> None:
    """``buy_volume``, ``sell_volume`` and ``imbalance`` are no public input: the verifier
    recomputes them from orders.csv at the proved price (a changed one once verified)."""
    result = json.loads(files["result.json"])
    market = result["markets"]["ETH-PERP"]
    if value is None:
        del market[key]
    elif isinstance(value, float):
        market[key] = float(market[key])
    else:
        market[key] += value
    with pytest.raises(VerificationError, match=rf"ETH-PERP\.{key}: published"):
        verify_files(proof, {**files, "result.json": json.dumps(result)})


@pytest.mark.parametrize("name", ["oracle.json", "transfers.json", "result.json"])
def test_a_file_of_another_json_shape_gives_no_statement(files: dict[str, str], name: str) -> None:
    """A JSON array where the format has an object: the statement names the file (an
    array oracle.json used to escape as an AttributeError traceback)."""
    from sealbatch.settlement.batch_air.statement import statement_from_files

    with pytest.raises(BatchStatementError, match=f"{name}: expected a JSON object, got list"):
        statement_from_files({**files, name: "[]"})
    with pytest.raises(VerificationError, match="expected a JSON object"):
        verify_files(b"unused", {**files, name: "[1]"})


def _set(doc: dict, path: tuple, value: object) -> str:  # type: ignore[type-arg]
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("result.json", ("markets", "BTC-PERP"), "x"),  # was AttributeError
        ("result.json", ("markets",), None),  # was TypeError
        ("pre_state.json", ("accounts", 0, "subaccount"), -1),  # was OverflowError
        ("post_state.json", ("accounts", 0, "address"), None),  # was TypeError
        ("oracle.json", ("reports", 0, "source"), "x"),  # was eth_abi's EncodingTypeError
        ("oracle.json", ("round_id",), 2**70),  # was eth_abi's ValueOutOfBounds
    ],
)
def test_a_value_of_another_type_gives_no_statement_never_a_traceback(
    files: dict[str, str],
    name: str,
    path: tuple,
    value: object,  # type: ignore[type-arg]
) -> None:
    """Found by mutating the published files' values: each escaped verify_files as a crash
    (sealbatch verify printed a traceback); it is a verification failure naming it."""
    text = _set(json.loads(files[name]), path, value)
    with pytest.raises(VerificationError, match="the published batch gives no statement"):
        verify_files(b"unused", {**files, name: text})


def test_a_public_input_is_named_by_what_it_is() -> None:
    """The verifier's mismatch message says which public input differs (docs/stark.md,
    "Public inputs"), for every region of the statement."""
    markets = ("BTC-PERP", "ETH-PERP")
    named = {i: describe_public_input(i, markets) for i in range(45 + 24 + 2)}
    assert named[0] == named[2] == "the batch id"
    assert named[3].startswith("the pre-state root") and named[18].startswith("the post-state")
    assert named[19] == "the commitment root (result.json seed)"
    assert named[27].startswith("the inputs digest") and named[42].startswith("the outputs")
    assert (named[43], named[44]) == (
        "the number of markets",
        "the number of commitments (revealed or forfeited)",
    )
    assert named[45] == "BTC-PERP clearing price"
    assert named[46] == named[49] == "BTC-PERP funding index"
    assert (named[50], named[52], named[53], named[56]) == (
        "BTC-PERP mark price",
        "BTC-PERP reference price",
        "BTC-PERP index price",
        "BTC-PERP oracle flag",
    )
    assert named[57] == "ETH-PERP clearing price" and named[68] == "ETH-PERP oracle flag"
    assert named[69].endswith("element 0)") and named[70].endswith("element 1)")


def test_a_missing_file_fails_verification(files: dict[str, str], proof: bytes) -> None:
    with pytest.raises(VerificationError, match=r"orders\.csv"):
        verify_files(proof, {k: v for k, v in files.items() if k != "orders.csv"})


def test_other_options_are_refused(files: dict[str, str]) -> None:
    rows = rows_for(statement_of(files))
    weak = prove_files(files, options=replace(DEFAULT_OPTIONS, grinding_bits=0))
    assert batch_options(rows) != DEFAULT_OPTIONS
    with pytest.raises(VerificationError, match="batch options"):
        verify_files(weak, files)


def test_a_changed_byte_fails(files: dict[str, str], proof: bytes) -> None:
    bad = bytearray(proof)
    bad[len(bad) // 2] ^= 1
    with pytest.raises(VerificationError):
        verify_files(bytes(bad), files)


def test_a_batch_breaking_its_statement_is_refused_by_the_prover(files: dict[str, str]) -> None:
    result = json.loads(files["result.json"])
    fill = result["markets"]["BTC-PERP"]["fills"][0]
    fill["quantity"] += 1  # bought ≠ sold
    with pytest.raises(BatchStatementError, match="S2 bought = sold"):
        prove_files({**files, "result.json": json.dumps(result)})


def test_the_batch_verifier_never_imports_a_prover() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sealbatch.settlement.batch_verify as v; "
        "print(sorted(m for m in sys.modules if m.endswith('prover')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
