"""The committee file: each field checked where it is read, and only domain errors caught."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sealbatch.crypto.threshold import ThresholdError
from sealbatch.venue import committee as committee_module
from sealbatch.venue.committee import Committee, load_committee, load_key, write_committee
from sealbatch.venue.errors import BadRequest


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("committee")
    write_committee(folder, 2, 3)
    return dict(json.loads((folder / "committee.json").read_text()))


def test_honest_committee_round_trips(honest: dict[str, Any]) -> None:
    c = Committee.from_json(honest)
    assert (c.threshold, c.size) == (2, 3)
    assert c.to_json() == honest


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_DELETE = object()

PK1 = ("keypers", 1, "public_key")
AD2 = ("keypers", 2, "address")

# (id, path to the field, the planted value, text the error must contain)
BAD_FIELDS = [
    ("threshold-missing", ("threshold",), _DELETE, "threshold: missing"),
    ("threshold-string", ("threshold",), "2", "threshold: expected an integer, got '2'"),
    ("threshold-bool", ("threshold",), True, "threshold: expected an integer, got True"),
    ("threshold-zero", ("threshold",), 0, "expected 1 <= threshold <= keypers <= 255, got 0 of 3"),
    ("threshold-above-n", ("threshold",), 4, "got 4 of 3"),
    ("keypers-missing", ("keypers",), _DELETE, "keypers: missing"),
    ("keypers-string", ("keypers",), "abc", "keypers: expected a list, got str"),
    ("keypers-object", ("keypers",), {"1": {}}, "keypers: expected a list, got dict"),
    ("keyper-not-object", ("keypers", 1), 7, "keypers[1]: expected an object, got int"),
    ("index-missing", ("keypers", 0, "index"), _DELETE, "keypers[0].index: missing"),
    ("index-bool", ("keypers", 0, "index"), True, "keypers[0].index: expected 1, got True"),
    ("index-wrong", ("keypers", 2, "index"), 2, "keypers[2].index: expected 3, got 2"),
    ("public-key-missing", PK1, _DELETE, "keypers[1].public_key: missing"),
    ("public-key-int", PK1, 5, "keypers[1].public_key: expected 0x"),
    ("public-key-no-0x", PK1, "02" * 33, "keypers[1].public_key: expected 0x"),
    ("public-key-not-hex", PK1, "0xzz", "keypers[1].public_key: expected 0x"),
    ("public-key-short", PK1, "0x02", "keypers[1].public_key: expected a 33-byte"),
    ("public-key-off-curve", PK1, "0x05" + "00" * 32, "keypers[1].public_key"),
    ("address-missing", AD2, _DELETE, "keypers[2].address: missing"),
    ("address-int", AD2, 12, "keypers[2].address: expected a 0x address"),
    ("address-short", AD2, "0x1234", "keypers[2].address: expected a 20-byte"),
    ("address-other", AD2, "0x" + "11" * 20, "keyper 3: expected the address"),
]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [pytest.param(p, v, m, id=i) for i, p, v, m in BAD_FIELDS],
)
def test_a_bad_field_is_named(
    honest: dict[str, Any], path: tuple[Any, ...], value: Any, message: str
) -> None:
    with pytest.raises(BadRequest) as info:
        Committee.from_json(_set(honest, path, value))
    assert message in str(info.value)


def test_too_many_keypers_are_refused_before_they_are_parsed(honest: dict[str, Any]) -> None:
    doc = _set(honest, ("keypers",), [None] * 256)
    with pytest.raises(BadRequest, match="got 2 of 256"):
        Committee.from_json(doc)


@pytest.mark.parametrize(
    ("check", "error"),
    [
        pytest.param("check_point", AttributeError, id="AttributeError"),
        pytest.param("check_point", KeyError, id="KeyError"),
        pytest.param("check_point", TypeError, id="TypeError"),
        pytest.param("checksum_address", AttributeError, id="address-AttributeError"),
    ],
)
def test_a_bug_in_a_check_escapes(
    honest: dict[str, Any], monkeypatch: pytest.MonkeyPatch, check: str, error: type[Exception]
) -> None:
    """A programming error planted in a check (the points', the addresses') is not
    dressed up as a bad committee file."""

    def broken(*args: object) -> str:
        raise error("planted")

    monkeypatch.setattr(committee_module, check, broken)
    with pytest.raises(error, match="planted"):
        Committee.from_json(honest)


def test_a_domain_error_of_the_point_check_is_a_bad_request(
    honest: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuses(name: str, data: object) -> bytes:
        raise ThresholdError(f"{name}: refused")

    monkeypatch.setattr(committee_module, "check_point", refuses)
    with pytest.raises(BadRequest, match=r"keypers\[0\]\.public_key: refused"):
        Committee.from_json(honest)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", "expected a committee file", id="empty"),
        pytest.param(b"\xff\xfe", "expected a committee file", id="not-utf8"),
        pytest.param(b"[1, 2]", "expected a JSON object, got list", id="list"),
    ],
)
def test_load_committee_names_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "committee.json"
    path.write_bytes(content)
    with pytest.raises(BadRequest, match=message):
        load_committee(path)


def test_load_committee_of_a_folder_is_a_bad_request(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="expected a regular file, got a directory"):
        load_committee(tmp_path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["dev-zero", "over-cap"])
def test_a_key_or_committee_file_that_is_a_device_or_too_large_is_refused(
    tmp_path: Path, kind: str
) -> None:
    """/dev/zero was read until memory ran out; a file over the configuration-file cap
    (docs/formats.md, "Size caps") is refused from its size, unread."""
    from sealbatch.settlement.input_files import CONFIG_FILE_CAP

    if kind == "dev-zero":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero here")
        path, reason = Path("/dev/zero"), "expected a regular file, got a character device"
    else:
        path = tmp_path / "committee.json"
        with path.open("wb") as f:
            f.truncate(CONFIG_FILE_CAP.max_bytes + 1)
        reason = "expected at most 16 MiB (the cap on a configuration file), got "
    for load in (load_committee, load_key):
        with pytest.raises(BadRequest) as refused:
            load(path)
        assert str(refused.value).startswith(f"{path}: {reason}")


def test_load_committee_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "committee.json"
    path.write_text(json.dumps({"format": "sealbatch.committee.v1", "threshold": 1, "keypers": 5}))
    with pytest.raises(BadRequest) as info:
        load_committee(path)
    assert str(info.value) == f"{path}: keypers: expected a list, got int"


_SECRET = "0x" + "11" * 32


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        pytest.param([1], "expected a JSON object, got list", id="list"),
        pytest.param(
            {"format": "x"}, "expected format 'sealbatch.keyper-key.v1', got 'x'", id="format"
        ),
        pytest.param({"index": 1}, "secret: missing", id="secret-missing"),
        pytest.param({"secret": _SECRET}, "index: missing", id="index-missing"),
        pytest.param(
            {"index": 1, "secret": 5},
            "secret: expected 0x and 64 hex digits, got int",
            id="secret-int",
        ),
        pytest.param(
            {"index": 1, "secret": "0xzz"},
            "secret: expected 0x and 64 hex digits",
            id="secret-not-hex",
        ),
        pytest.param(
            {"index": 1, "secret": "0x11"},
            "expected a 32-byte secp256k1 secret, got 1",
            id="secret-short",
        ),
        pytest.param(
            {"index": "1", "secret": _SECRET},
            "index: expected 1 to 255, got '1'",
            id="index-string",
        ),
        pytest.param(
            {"index": True, "secret": _SECRET},
            "index: expected 1 to 255, got True",
            id="index-bool",
        ),
    ],
)
def test_load_key_names_the_file_and_the_field(tmp_path: Path, doc: Any, message: str) -> None:
    if isinstance(doc, dict):
        doc = {"format": "sealbatch.keyper-key.v1", **doc}
    path = tmp_path / "keyper-1.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BadRequest) as info:
        load_key(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "11" * 32 not in str(info.value), "a key file's error never shows its secret"


def test_load_key_reads_an_honest_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keyper-1.json"
    path.write_text(
        json.dumps({"format": "sealbatch.keyper-key.v1", "index": 2, "secret": _SECRET})
    )
    key = load_key(path)
    assert (key.index, key.secret) == (2, bytes.fromhex("11" * 32))
