"""One batch, one published folder: ``sealbatch replay`` (and ``verify --public``,
tests/venue/test_batch_proof_cli.py) refuse a file that holds the batch's values in
another byte form than the venue writes (docs/formats.md, "Canonical form")."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sealbatch.crypto.eip712 import checksum_address
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.ledger import AccountKey
from sealbatch.settlement.publication import BATCH_FILES, document_text, transfers_to_dict
from sealbatch.venue.cli import main
from sealbatch.venue.commands.canonical_form import canonical_difference, canonical_text


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A demo batch with fills, forfeits (signed commits) and carried orders (batch 3)."""
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--batches", "3", "--no-prove", "--out", str(out)]) == 0
    folder = out / "batch-3"
    return {name: (folder / name).read_bytes().decode() for name in BATCH_FILES}


def _upper_first(pattern: str) -> Callable[[str], str]:
    """Upper-case the hex digits of the first match of ``pattern`` (its group 1)."""

    def edit(text: str) -> str:
        m = re.search(pattern, text)
        assert m, pattern
        return text[: m.start(1)] + m.group(1).upper() + text[m.end(1) :]

    return edit


def _lower_first_address(after: str) -> Callable[[str], str]:
    """Lower-case the first EIP-55 address after the text ``after``."""

    def edit(text: str) -> str:
        at = text.index(after)
        m = re.compile(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{40}(?![0-9A-Za-z])").search(text, at)
        assert m and m.group() != m.group().lower(), after
        return text[: m.start()] + m.group().lower() + text[m.end() :]

    return edit


def _json_edit(change: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        doc = json.loads(text)
        change(doc)
        return json.dumps(doc, indent=1) + "\n"

    return edit


def _csv_cell(row: int, column: str, change: Callable[[str], str]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        lines = text.split("\n")
        header = lines[0].split(",")
        cells = lines[row].split(",")
        k = header.index(column)
        cells[k] = change(cells[k])
        lines[row] = ",".join(cells)
        return "\n".join(lines)

    return edit


def _first_key_last(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    """Move the first key of the object at ``path`` to its end (values unchanged)."""

    def change(doc: dict[str, Any]) -> None:
        obj = doc
        for key in path:
            obj = obj[key]
        first = next(iter(obj))
        obj[first] = obj.pop(first)

    return change


def _drop(path: tuple[Any, ...], key: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        obj: Any = doc
        for k in path:
            obj = obj[k]
        del obj[key]

    return change


def _revealed_row(text: str) -> int:
    """The first orders.csv row of an order revealed in this batch (it has a salt)."""
    return next(n for n, line in enumerate(text.split("\n")[1:], 1) if ",0x" in line[70:])


#: (file, what changes, the edit): each keeps every value the readers take and changes
#: bytes; each verified and most replayed before the canonical form was checked.
MALLEATIONS: list[tuple[str, str, Callable[[str], str]]] = [
    ("orders.csv", "upper-case order id", _upper_first(r"\n0x([0-9a-f]{64}),")),
    ("orders.csv", "upper-case salt", _upper_first(r",0x([0-9a-f]{64}),\d+\n")),
    ("orders.csv", "lower-case trader", _lower_first_address("\n0x")),
    ("orders.csv", "leading zero: quantity", _csv_cell(1, "quantity", "0{}".format)),
    ("orders.csv", "leading zero: origin_batch", _csv_cell(1, "origin_batch", "00{}".format)),
    ("orders.csv", "reduce_only as 0", _csv_cell(1, "reduce_only", lambda _: "0")),
    ("orders.csv", "CRLF line endings", lambda t: t.replace("\n", "\r\n")),
    ("orders.csv", "a blank line at the end", lambda t: t + "\n"),
    ("orders.csv", "a quoted cell", _csv_cell(1, "market", '"{}"'.format)),
    ("result.json", "upper-case seed", _upper_first(r'"seed": "0x([0-9a-f]{64})"')),
    ("result.json", "upper-case fill order id", _upper_first(r'"order_id": "0x([0-9a-f]{64})"')),
    ("result.json", "upper-case commitment", _upper_first(r'"commitment": "0x([0-9a-f]{64})"')),
    ("result.json", "upper-case signature", _upper_first(r'"signature": "0x([0-9a-f]{130})"')),
    ("result.json", "lower-case fill trader", _lower_first_address('"fills"')),
    ("result.json", "lower-case forfeit trader", _lower_first_address('"forfeited"')),
    ("result.json", "lower-case signed trader", _lower_first_address('"message"')),
    ("result.json", "lower-case carried trader", _lower_first_address('"carried"')),
    ("result.json", "rfq_id omitted", _json_edit(_drop(("forfeited", 0), "rfq_id"))),
    (
        "result.json",
        "a fill's market omitted",
        _json_edit(
            lambda d: next(m for m in d["markets"].values() if m["fills"])["fills"][0].pop("market")
        ),
    ),
    ("result.json", "an extra key", _json_edit(lambda d: d.update(note="hello"))),
    ("result.json", "keys out of order", _json_edit(_first_key_last(()))),
    (
        "result.json",
        "signed keys out of order",
        _json_edit(
            lambda d: _first_key_last(("forfeited", 0, "signed"))(d)  # type: ignore[arg-type]
        ),
    ),
    (
        "result.json",
        "signed types renamed",
        _json_edit(lambda d: d["forfeited"][0]["signed"]["types"]["Commit"][0].update(name="who")),
    ),
    ("result.json", "compact JSON", lambda t: json.dumps(json.loads(t)) + "\n"),
    ("result.json", "no final newline", lambda t: t.rstrip("\n")),
    ("result.json", "trailing white space", lambda t: t.replace(",\n", ", \n", 1)),
    ("result.json", "CRLF line endings", lambda t: t.replace("\n", "\r\n")),
    ("oracle.json", "upper-case report signature", _upper_first(r'"signature": "0x([0-9a-f]+)"')),
    ("oracle.json", "lower-case source in the config", _lower_first_address('"config"')),
    ("oracle.json", "a default rule omitted", _json_edit(_drop(("config",), "stale_ms"))),
    ("oracle.json", "rules out of order", _json_edit(_first_key_last(("config",)))),
    ("transfers.json", "keys out of order", _json_edit(_first_key_last(()))),
    ("transfers.json", "indent 2", lambda t: json.dumps(json.loads(t), indent=2) + "\n"),
    ("pre_state.json", "lower-case account address", _lower_first_address('"accounts"')),
    ("pre_state.json", "an extra key", _json_edit(lambda d: d["accounts"][0].update(x=1))),
    ("post_state.json", "keys out of order", _json_edit(_first_key_last(("markets",)))),
    ("post_state.json", "CRLF line endings", lambda t: t.replace("\n", "\r\n")),
]


def test_the_venue_writes_the_canonical_form(batch: dict[str, str]) -> None:
    assert canonical_difference(batch) is None
    for name, text in batch.items():
        assert canonical_text(name, text) == text


@pytest.mark.parametrize(
    ("name", "what", "edit"), MALLEATIONS, ids=[f"{n}: {w}" for n, w, _ in MALLEATIONS]
)
def test_a_malleated_file_does_not_replay(
    tmp_path: Path,
    batch: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    name: str,
    what: str,
    edit: Callable[[str], str],
) -> None:
    """Each malleation changes the bytes of one file and none of what its reader takes;
    replay names the file and its first differing line."""
    edited = edit(batch[name])
    assert edited != batch[name]
    folder = tmp_path / "batch-3"
    folder.mkdir()
    for n, text in {**batch, name: edited}.items():
        (folder / n).write_bytes(text.encode())
    capsys.readouterr()
    code = main(["replay", str(folder)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert re.search(rf"canonical form +MISMATCH {re.escape(name)} line \d+, column \d+: ", out), (
        out
    )


def test_the_message_shows_both_lines(batch: dict[str, str]) -> None:
    text = batch["orders.csv"]
    row = _revealed_row(text)
    edited = _csv_cell(row, "quantity", "0{}".format)(text)
    problem = canonical_difference({**batch, "orders.csv": edited})
    assert problem is not None
    line = text.split("\n")[row]
    column = len(",".join(line.split(",")[:5])) + 2  # the quantity's first digit
    quantity = line.split(",")[5]
    assert problem.startswith(f"orders.csv line {row + 1}, column {column}: published "), problem
    assert f",0{quantity}," in problem.split("canonical")[0], problem
    assert f",{quantity}," in problem.split("canonical")[1], problem


def test_an_address_not_in_eip55_form_is_named(batch: dict[str, str]) -> None:
    """A folder whose bytes are the writer's but hold a lower-case address: the second
    rule names it (the readers keep an address as published)."""
    text = batch["pre_state.json"]
    edited = _lower_first_address('"accounts"')(text)
    problem = canonical_difference({**batch, "pre_state.json": edited})
    assert problem is not None and re.fullmatch(
        r"pre_state\.json line \d+, column \d+: address 0x[0-9a-f]{40}, expected its EIP-55 form "
        r"0x[0-9a-fA-F]{40}",
        problem,
    ), problem


def test_transfers_with_entries_have_one_form(batch: dict[str, str]) -> None:
    """Hex and addresses inside transfers.json entries (the demo's batches have none)."""
    alice, bob = checksum_address("0x" + "ab" * 20), checksum_address("0x" + "cd" * 20)
    block = BlockTrade(bytes(range(32)), "BTC-PERP", alice, bob, 650_000, 3, 7)
    doc = transfers_to_dict(
        [(AccountKey(alice, 0), 1_000)], [block], [(AccountKey(bob, 2), 5)], forced_requests=[4]
    )
    text = document_text(doc)
    assert canonical_difference({**batch, "transfers.json": text}) is None
    block_id = bytes(range(32)).hex()
    for edited in (
        text.replace(alice, alice.lower(), 1),  # the deposit's address
        text.replace(bob, bob.lower()),  # the block's seller, the withdrawal's address
        text.replace(block_id, block_id.upper()),
    ):
        assert edited != text
        problem = canonical_difference({**batch, "transfers.json": edited})
        assert problem is not None and problem.startswith("transfers.json line "), problem


@pytest.mark.parametrize(
    "rules",
    [{"divergence_bps": 300}, {"agreement_bps": 60}, {"stale_ms": 6_000}],
    ids=lambda r: next(iter(r)),
)
def test_oracle_rules_that_decide_nothing_are_not_in_the_statement(
    batch: dict[str, str], rules: dict[str, int]
) -> None:
    """docs/formats.md, "oracle.json": the statement binds the readings, the reports and
    ``max_price_age_ms``; another rule under which the round reads the same gives the same
    public inputs (L1 binds the rules: OracleIndex.sol's immutables). This pins the
    documented limit: binding the rules must update the docs with this test."""
    from sealbatch.settlement.batch_air.statement import statement_from_files

    doc = json.loads(batch["oracle.json"])
    doc["config"].update(rules)
    changed = {**batch, "oracle.json": document_text(doc)}
    honest = statement_from_files(batch)
    other = statement_from_files(changed)
    assert other.public_inputs == honest.public_inputs
    assert other.max_price_age_ms == honest.max_price_age_ms
    assert canonical_difference(changed) is None  # a canonical file: the form is no remedy
