"""docs/api.md lists exactly the error codes the venue can answer, with their status.

The list is derived from the code, not kept by hand: every ``code`` of the
error classes the venue turns into problem documents (the auction's, the
settlement's and the venue's own, subclasses included), every code literal the
venue passes to ``NotFound``/``Conflict``/``Unauthorized`` or to ``problem()``,
and the framework's own refusals. A new refusal that the table does not list —
or a listed one the code no longer has — fails here, and so does a status or a
"what changed" cell that disagrees with the code.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import sealbatch.auction.orders_csv
import sealbatch.settlement.anchor
import sealbatch.venue.api.routes.stream as stream_routes
import sealbatch.venue.app  # noqa: F401  (imports every route and its errors)
from sealbatch.auction.errors import AuctionError
from sealbatch.crypto.exceptions import SealbatchError
from sealbatch.settlement.errors import SettlementError
from sealbatch.venue import errors as venue_errors
from sealbatch.venue.errors import VenueError, problem_status
from sealbatch.venue.state_machine import RECORDED_REVEAL_CODES

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"

#: Codes the code has that the venue never answers over HTTP, and why.
NOT_ANSWERED = {
    "invalid_orders_csv": "sealbatch clear's CSV reader, not the venue",
    "anchor_error": "the L1 stage reports it in the operator view, never an answer",
    "contract_reverted": "the L1 stage reports it in the operator view, never an answer",
    "transaction_too_large": "the L1 stage reports it in the operator view, never an answer",
    "l1_unavailable": "raised while the venue starts on an L1 (it refuses to start)",
    "l1_request_out_of_order": "the L1 stage's own check of the contract's queue order",
    "forced_withdrawal_unservable": "the L1 stage reports it in the operator view (unserved)",
    "l1_deposit_waits": "the L1 stage holds the deposit for a later pass, never an answer",
    "state_diverged": "raised while the venue starts (it refuses to start), never an answer",
    "snapshot_damaged": "a snapshot refused while the venue starts (logged, the log replayed)",
    "invariant_violation": "a settlement refusal fails the batch (venue_halted), never a write",
    "unanchorable_batch": "a settlement refusal fails the batch (venue_halted), never a write",
    "duplicate_commitment": "the venue refuses a hash taken before (commitment_taken) first",
    "stream_refused": "the stream's error frames, checked against the stream section below",
}

#: Exception classes whose second argument (or ``code=``) names the answered code.
_CODE_ARG = {"NotFound": 404, "Conflict": 409, "Unauthorized": 401}

#: Venue modules that are not the server (clients, the keyper process, commands, demos).
_NOT_SERVER = (
    "client.py",
    "stream_client.py",
    "keyper.py",
    "demo.py",
    "live_demo.py",
    "local_venue.py",
)


def _is_server_module(name: str) -> bool:
    parts = name.split(".")
    if parts[:2] != ["sealbatch", "venue"]:
        return parts[:2] in (["sealbatch", "auction"], ["sealbatch", "settlement"])
    return "commands" not in parts and f"{parts[-1]}.py" not in _NOT_SERVER


def _import_the_server() -> None:
    """Import every module of the server and the layers it calls, so the error
    classes found below do not depend on what other tests imported first."""
    import sealbatch.auction
    import sealbatch.settlement
    import sealbatch.venue

    for package in (sealbatch.auction, sealbatch.settlement, sealbatch.venue):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if _is_server_module(info.name) and "explorer" not in info.name.split("."):
                importlib.import_module(info.name)


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


def _instance(cls: type[SealbatchError]) -> SealbatchError:
    err = Exception.__new__(cls)
    return err


def _class_codes() -> dict[str, set[int]]:
    """The code and HTTP status of every error class the venue maps to a problem."""
    _import_the_server()
    codes: dict[str, set[int]] = {}
    for root in (AuctionError, SettlementError, VenueError):
        for cls in _subclasses(root):
            if not _is_server_module(cls.__module__):
                continue  # a client's, a command's or the keyper process's error
            if cls is stream_routes.StreamRefused or cls.__name__ in _CODE_ARG:
                continue  # their codes are given per raise (_literal_codes)
            code = cls.__dict__.get("code")  # an inherited code is its parent's
            if isinstance(code, str):
                codes.setdefault(code, set()).add(problem_status(_instance(cls)))
    return codes


def _server_sources() -> list[Path]:
    files = [p for p in (ROOT / "venue").rglob("*.py") if "commands" not in p.parts]
    files = [p for p in files if p.name not in _NOT_SERVER]
    for layer in ("auction", "settlement"):
        files.extend((ROOT / layer).rglob("*.py"))
    return files


def _literal_codes() -> dict[str, set[int]]:
    """Codes written as literals: ``NotFound(msg, "code")``, ``problem(409, "code", ...)``,
    and the framework's status → code mapping in venue/app.py."""
    codes: dict[str, set[int]] = {}
    for path in _server_sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in _CODE_ARG:
                args = list(node.args[1:2]) + [k.value for k in node.keywords if k.arg == "code"]
                for a in args:
                    if isinstance(a, ast.Constant) and isinstance(a.value, str):
                        codes.setdefault(a.value, set()).add(_CODE_ARG[name])
                if not args:  # the class's own default code
                    default = getattr(venue_errors, name).code
                    codes.setdefault(default, set()).add(_CODE_ARG[name])
            if name == "problem" and len(node.args) >= 2:
                status, code = node.args[0], node.args[1]
                if isinstance(code, ast.Constant) and isinstance(status, ast.Constant):
                    codes.setdefault(code.value, set()).add(status.value)
    app = ast.parse((ROOT / "venue" / "app.py").read_text())
    for node in ast.walk(app):
        if isinstance(node, ast.Dict):
            items = list(zip(node.keys, node.values, strict=True))
            if items and all(
                isinstance(k, ast.Constant)
                and isinstance(k.value, int)
                and isinstance(v, ast.Constant)
                and isinstance(v.value, str)
                for k, v in items
            ):
                for k, v in items:
                    assert isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                    codes.setdefault(v.value, set()).add(k.value)
        # The fallback of that mapping: any other HTTP-level refusal.
        func = node.func if isinstance(node, ast.Call) else None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Dict):
            assert isinstance(node, ast.Call)
            if func.attr == "get" and isinstance(node.args[1], ast.Constant):
                codes.setdefault(str(node.args[1].value), set()).add(0)
    return codes


def server_codes() -> dict[str, set[int]]:
    """Every code the venue can answer over HTTP, with its statuses (0: any 4xx)."""
    codes = _class_codes()
    for code, statuses in _literal_codes().items():
        codes.setdefault(code, set()).update(statuses)
    return {c: s for c, s in codes.items() if c not in NOT_ANSWERED}


def _error_table() -> list[tuple[str, list[str], str]]:
    """The rows of docs/api.md's error table: (status, codes, what changed)."""
    text = API_MD.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"\d{3}|4xx", cells[0]):
            rows.append((cells[0], re.findall(r"`([a-z_]+)`", cells[1]), cells[3]))
    return rows


def test_the_error_table_lists_exactly_the_codes_the_venue_answers() -> None:
    documented = [c for _, codes, _ in _error_table() for c in codes]
    assert len(documented) == len(set(documented)), "a code listed twice"
    derived = server_codes()
    assert set(documented) == set(derived), (
        f"undocumented: {sorted(set(derived) - set(documented))}; "
        f"documented but never answered: {sorted(set(documented) - set(derived))}"
    )


def test_every_listed_status_is_the_one_the_code_answers() -> None:
    derived = server_codes()
    for status, codes, _ in _error_table():
        for code in codes:
            want = {"4xx" if s == 0 else str(s) for s in derived[code]}
            assert want == {status}, f"{code}: documented {status}, answered {sorted(want)}"


def test_what_a_refusal_changes_is_stated_per_code() -> None:
    """A refused reveal of a held commitment forfeits the bond (unless revealed
    again): the table says so for exactly those codes, and "nothing" elsewhere."""
    for _, codes, changed in _error_table():
        recorded = {c in RECORDED_REVEAL_CODES for c in codes}
        assert len(recorded) == 1, f"{codes}: recorded and unrecorded codes share a row"
        if recorded == {True}:
            assert "forfeit" in changed and "nonce" in changed, (codes, changed)
        else:
            assert changed.startswith("nothing"), (codes, changed)


def _stream_codes() -> set[str]:
    """The codes of the stream's error frames: StreamRefused literals and signed-read refusals."""
    tree = ast.parse(Path(stream_routes.__file__).read_text())
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "StreamRefused":
            for a in node.args[1:2]:
                if isinstance(a, ast.Constant):
                    codes.add(a.value)
    return codes


@pytest.mark.parametrize("code", sorted(_stream_codes()))
def test_the_stream_section_lists_every_error_frame(code: str) -> None:
    text = API_MD.read_text().split("## Stream (`WS /v1/stream`)", 1)[1].split("\n## ", 1)[0]
    assert f"`{code}`" in text


def test_the_stream_section_gives_the_replay_shape_and_topic_case() -> None:
    """The replay answer's keys are the model's (StreamReplayPublic), each message's
    keys StreamMessagePublic's, and topics are said to be lower-cased."""
    from sealbatch.venue.api.public import StreamMessagePublic, StreamReplayPublic

    text = API_MD.read_text().split("## Stream (`WS /v1/stream`)", 1)[1].split("\n## ", 1)[0]
    replay = re.search(r"answers `\{([^`]*)\}`", text)
    assert replay is not None
    assert re.findall(r'"([a-z_]+)"', replay.group(1)) == list(StreamReplayPublic.model_fields)
    message = re.search(r"every message as\s+`\{([^`]*)\}`", text)
    assert message is not None
    assert set(re.findall(r'"([a-z_]+)"', message.group(1))) == set(
        StreamMessagePublic.model_fields
    )
    assert "lower-cases" in text


def test_every_info_and_market_field_is_documented() -> None:
    """What /v1/info and /v1/markets serve is what the section says they serve."""
    from sealbatch.venue.api.public import BreakerPublic, InfoPublic, MarketPublic

    text = API_MD.read_text().split("## What a client reads first", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M)
    assert rows == list(InfoPublic.model_fields)
    for name in MarketPublic.model_fields:
        assert f"`{name}`" in text, name
    breaker = re.search(r"`breaker` is `\{([^}]*)\}`", " ".join(text.split()))
    assert breaker is not None
    assert [f.strip() for f in breaker.group(1).split(",")] == list(BreakerPublic.model_fields)
    assert "Batches do not lengthen" in text
