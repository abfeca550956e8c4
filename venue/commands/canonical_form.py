"""The one byte form of a published batch folder (docs/formats.md, "Canonical form").

Each file a verifier reads is parsed with its reader and written again with the
writer the venue publishes it with (:meth:`~sealbatch.settlement.publication.
BatchPublication.files`); the published bytes must be those bytes. Then every
address must be in its EIP-55 form (the readers keep an address as published, and
its case is no part of what a signature or a root commits to). So upper-case hex in
a hash, a leading zero, an omitted optional field, a key out of order, an extra key,
other white space or a ``\\r\\n`` line ending each make a folder that neither ``sealbatch
verify --public`` nor ``sealbatch replay`` takes: one batch has one published folder,
and two auditors who hash it agree.

Readers first, then this check: a value a reader refuses is named by it, and only a
folder whose values all read reaches the comparison of bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sealbatch.auction.batch import BatchResult, Fill, MarketResult
from sealbatch.auction.clearing import Curves
from sealbatch.auction.commit_reveal import Forfeit
from sealbatch.auction.errors import AuctionError
from sealbatch.auction.orders import Side
from sealbatch.crypto.eip712 import Address, checksum_address
from sealbatch.settlement import published_values as pv
from sealbatch.settlement.errors import BatchStatementError, SettlementError
from sealbatch.settlement.json_text import loads_json
from sealbatch.settlement.oracle import OracleRound
from sealbatch.settlement.publication import (
    BATCH_FILES,
    check_result,
    document_text,
    forced_requests_from_dict,
    read_oracle_config,
    transfers_from_dict,
    transfers_to_dict,
)
from sealbatch.settlement.snapshot import (
    config_from_dict,
    orders_from_csv,
    orders_to_csv,
    resting_from_json,
    result_to_dict,
    state_from_dict,
    state_to_dict,
)
from sealbatch.venue.commands.forfeit_signatures import canonical_signed

__all__ = ["canonical_difference", "canonical_text"]

#: An address token: ``0x`` and 40 hex digits, not part of a longer hex string.
_ADDRESS = re.compile(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{40}(?![0-9A-Za-z])")
#: Characters of a differing line a message shows on each side of the first difference.
_CONTEXT = 40


def _no_curves() -> Curves:
    import numpy as np

    empty = np.zeros(0, dtype=np.int64)
    return Curves(empty, empty, empty, empty, empty, 0, 0)


def _value(d: Mapping[str, Any], key: str) -> Any:
    """``d[key]`` as read, None when absent: written back as null, its line then differs."""
    return d.get(key)


def _fill(f: object, where: str) -> Fill:
    d = pv.obj(f, where)
    side = d.get("side")
    if side not in ("buy", "sell"):
        raise BatchStatementError(f"{pv.at(where, 'side')}: expected buy or sell, got {side!r}")
    return Fill(
        pv.hex_bytes(pv.member(d, "order_id", where), pv.at(where, "order_id")),
        Address(_value(d, "trader")),  # written back as read
        _value(d, "market"),
        Side(side),
        _value(d, "price"),
        _value(d, "quantity"),
    )


def _result(text: str) -> str:
    """result.json as :func:`~sealbatch.settlement.snapshot.result_to_dict` writes the
    values it holds (an absent value is written as null, so its line differs)."""
    doc = check_result(loads_json(text))
    markets = {}
    for m, raw in pv.obj(doc["markets"], "result.json: markets").items():
        where = pv.at("result.json: markets", m)
        d = pv.obj(raw, where)
        fills = tuple(
            _fill(f, pv.at(pv.at(where, "fills"), n))
            for n, f in enumerate(pv.items(d.get("fills", []), pv.at(where, "fills")))
        )
        markets[m] = MarketResult(
            market=m,
            reference_price=d.get("reference_price"),
            price=_value(d, "price"),
            volume=_value(d, "volume"),
            buy_volume=_value(d, "buy_volume"),
            sell_volume=_value(d, "sell_volume"),
            imbalance=_value(d, "imbalance"),
            fills=fills,
            curves=_no_curves(),  # result.json leaves the curves out
            orders=_value(d, "orders"),
        )
    forfeited = []
    for n, f in enumerate(doc.get("forfeited", [])):
        where = f"result.json: forfeited[{n}].signed"
        rfq = f.get("rfq_id")
        forfeit = Forfeit(
            bytes.fromhex(f["commitment"].removeprefix("0x")),
            Address(f["trader"]),
            f["market"],
            f["sequence"],
            f["bond"],
            None if rfq is None else bytes.fromhex(rfq.removeprefix("0x")),
            signed=f.get("signed"),
        )
        signed = None if forfeit.signed is None else canonical_signed(forfeit, where)
        forfeited.append(replace(forfeit, signed=signed))
    carried = tuple(
        resting_from_json(c, f"result.json: carried[{n}]")
        for n, c in enumerate(doc.get("carried", []))
    )
    result = BatchResult(
        batch_id=doc["batch_id"],
        seed=bytes.fromhex(doc["seed"].removeprefix("0x")),
        markets=markets,
        orders=(),
        forfeited=tuple(forfeited),
        carried=carried,
        rejections=(),
    )
    return document_text(result_to_dict(result))


def _oracle(text: str) -> str:
    doc = pv.obj(loads_json(text), "oracle.json")
    oracle_round = OracleRound.from_dict(doc, "oracle.json")
    return document_text({**oracle_round.to_dict(), "config": read_oracle_config(doc).to_dict()})


def _transfers(text: str) -> str:
    doc = loads_json(text)
    deposits, blocks, withdrawals = transfers_from_dict(doc)
    try:
        requests = forced_requests_from_dict(doc)
    except SettlementError as exc:
        raise BatchStatementError(f"transfers.json: {exc}") from None
    return document_text(transfers_to_dict(deposits, blocks, withdrawals, requests))


def _state(name: str) -> Callable[[str], str]:
    def write(text: str) -> str:
        doc = pv.obj(loads_json(text), name)
        config = config_from_dict(pv.member(doc, "config", name), f"{name}: config")
        return document_text(state_to_dict(state_from_dict(doc, config, name), config))

    return write


#: Each published file's writer, applied to what its reader takes of the published text.
_WRITERS: Mapping[str, Callable[[str], str]] = {
    "orders.csv": lambda text: orders_to_csv(orders_from_csv(text)),
    "result.json": _result,
    "oracle.json": _oracle,
    "transfers.json": _transfers,
    "pre_state.json": _state("pre_state.json"),
    "post_state.json": _state("post_state.json"),
}


def canonical_text(name: str, text: str) -> str:
    """The text the venue writes for the published file ``name`` holding what ``text``
    holds.

    Raises:
        SettlementError, AuctionError: a value its reader refuses (naming it).
        ValueError: ``text`` is no JSON, or holds no address where one must be.
    """
    return _WRITERS[name](text)


def _around(line: str | None, column: int) -> str:
    """``line`` from a little before ``column`` on, as a Python literal (escapes shown)."""
    if line is None:
        return "the end of the file"
    start = max(0, column - _CONTEXT)
    end = column + _CONTEXT
    return ("…" if start else "") + repr(line[start:end]) + ("…" if end < len(line) else "")


def _line_difference(name: str, published: str, canonical: str) -> str | None:
    """The first line where ``published`` is not ``canonical``, and the column: both
    lines around it (line endings are part of a line)."""
    if published == canonical:
        return None
    ours = published.splitlines(keepends=True)
    theirs = canonical.splitlines(keepends=True)
    n = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
        min(len(ours), len(theirs)),
    )
    mine = ours[n] if n < len(ours) else None
    want = theirs[n] if n < len(theirs) else None
    column = 0
    if mine is not None and want is not None:
        column = next(
            (i for i, (a, b) in enumerate(zip(mine, want, strict=False)) if a != b),
            min(len(mine), len(want)),
        )
    return (
        f"{name} line {n + 1}, column {column + 1}: published {_around(mine, column)}, "
        f"canonical {_around(want, column)}"
    )


def _address_difference(name: str, text: str) -> str | None:
    for n, line in enumerate(text.splitlines(), start=1):
        for match in _ADDRESS.finditer(line):
            address = match.group()
            if address != checksum_address(address):
                return (
                    f"{name} line {n}, column {match.start() + 1}: address {address}, "
                    f"expected its EIP-55 form {checksum_address(address)}"
                )
    return None


def canonical_difference(files: Mapping[str, str]) -> str | None:
    """Where the first published file of ``files`` (names as ``BATCH_FILES``) is not
    in the canonical form the venue writes, or None (see the module docstring).

    The message names the file and its first differing line, both as published and
    as the venue writes it: ``orders.csv line 3: published '…,07,…', canonical '…,7,…'``.
    """
    for name in BATCH_FILES:
        text = files[name]
        try:
            canonical = canonical_text(name, text)
        except (AuctionError, SettlementError, ValueError, KeyError, TypeError) as exc:
            return f"{name}: cannot be written again in its canonical form: {exc}"
        problem = _line_difference(name, text, canonical) or _address_difference(name, text)
        if problem:
            return problem
    return None
