"""The operator's published files as ``settlement/anchor_exchange.py`` reads them: a missing
file, one that is not JSON or a malformed value is a ``BatchStatementError`` naming the
file and the field; only the readers' own errors are caught, so a bug in them (here a
planted ``AttributeError``) is never turned into a message about the batch."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from sealbatch.settlement import anchor_exchange
from sealbatch.settlement.anchor_exchange import ExchangeContract, statement_from_batch
from sealbatch.settlement.errors import BatchStatementError
from tests.settlement.batch_air_helpers import small_batch_files


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return small_batch_files()


def _edit(files: dict[str, str], name: str, change: Callable[[Any], None]) -> dict[str, str]:
    doc = json.loads(files[name])
    change(doc)
    return {**files, name: json.dumps(doc)}


def _forced(files: dict[str, str]) -> None:
    """``ExchangeContract.statement_for``'s reading of the forced requests (it raises before
    it asks the chain anything, so no contract is needed)."""
    ExchangeContract.statement_for(None, files)


def _set(path: tuple[str, ...], value: object) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value

    return change


def _drop(key: str) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        del doc[key]

    return change


READS: dict[str, Callable[[dict[str, str]], object]] = {
    "statement": lambda f: statement_from_batch(f, queue_to=0),
    "forced requests": _forced,
    "pre config": anchor_exchange._pre_config,
    "oracle config": anchor_exchange._oracle_config,
}

MALFORMED = [
    ("statement", "transfers.json", None, "expected the file transfers.json"),
    ("statement", "oracle.json", "{", "oracle.json: expected JSON"),
    ("statement", "oracle.json", _set(("reports",), "x"), "oracle.json: reports: expected a list"),
    (
        "forced requests",
        "transfers.json",
        _set(("withdrawals",), 3),
        "withdrawals: expected a list",
    ),
    (
        "pre config",
        "pre_state.json",
        _drop("config"),
        "published batch: pre_state.json.config: expected a value",
    ),
    ("pre config", "pre_state.json", "[]", "pre_state.json: expected an object"),
    (
        "pre config",
        "pre_state.json",
        _set(("config", "markets"), "x"),
        "published batch: pre_state.json: config: markets: expected an object",
    ),
    ("oracle config", "oracle.json", None, "published batch: oracle.json: expected the file"),
    (
        "oracle config",
        "oracle.json",
        _drop("config"),
        "published batch: oracle.json.config: expected a value",
    ),
    ("oracle config", "oracle.json", _set(("config", "sources"), 1), "sources: expected a list"),
]


@pytest.mark.parametrize(
    ("read", "name", "change", "message"),
    MALFORMED,
    ids=[f"{r}-{n}-{i}" for i, (r, n, _, _) in enumerate(MALFORMED)],
)
def test_a_malformed_published_file_is_named(
    files: dict[str, str], read: str, name: str, change: object, message: str
) -> None:
    if change is None:
        folder = {k: v for k, v in files.items() if k != name}
    elif isinstance(change, str):
        folder = {**files, name: change}
    else:
        folder = _edit(files, name, change)  # type: ignore[arg-type]
    with pytest.raises(BatchStatementError, match=message.replace(".", "\\.")):
        READS[read](folder)


def test_the_honest_files_are_read(files: dict[str, str]) -> None:
    assert statement_from_batch(files, queue_to=0)[0].batch_id == 1
    assert anchor_exchange._pre_config(files).markets
    assert anchor_exchange._oracle_config(files).sources


@pytest.mark.parametrize(
    ("read", "reader"),
    [
        ("statement", "transfers_from_dict"),
        ("forced requests", "forced_requests_from_dict"),
        ("pre config", "config_from_dict"),
        ("oracle config", "oracle_config_from_dict"),
    ],
)
def test_a_bug_in_a_reader_is_not_swallowed(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch, read: str, reader: str
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("planted bug")

    monkeypatch.setattr(anchor_exchange, reader, broken)
    with pytest.raises(AttributeError, match="planted bug"):
        READS[read](files)
