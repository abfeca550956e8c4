"""The signed commit each published forfeit carries, checked as ``sealbatch replay``
and ``sealbatch verify --public`` both check it (docs/formats.md, "result.json"):
the proof moves a forfeit's bond but cannot check a signature."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sealbatch.auction.commit_reveal import Forfeit
    from sealbatch.crypto.eip712 import Eip712Domain, StructType

__all__ = ["canonical_signed", "forfeit_signature_difference"]


def _signed_commit(
    struct: StructType, signed: Mapping[str, Any], where: str
) -> tuple[Eip712Domain, dict[str, Any], bytes]:
    """The EIP-712 domain, message and signature of a published signed forfeit, each
    message field read as its EIP-712 type (bytes fields as bytes).

    Raises:
        BatchStatementError: a missing field or one of another type or range (named).
    """
    from sealbatch.crypto.eip712 import Eip712Domain
    from sealbatch.settlement import published_values as pv

    def read(doc: Mapping[str, Any], key: str, at: str, kind: str) -> Any:
        value, place = pv.member(doc, key, at), pv.at(at, key)
        if kind == "address":
            return pv.address(value, place)
        if kind == "string":
            return pv.text(value, place)
        if kind.startswith("bytes"):
            return pv.hex_bytes(value, place, int(kind.removeprefix("bytes")))
        bits = int(kind.removeprefix("uint"))  # the structs read here have no other kinds
        return pv.integer(value, place, 0, (1 << bits) - 1)

    at = pv.at(where, "domain")
    d = pv.obj(pv.member(signed, "domain", where), at)
    domain = Eip712Domain(
        read(d, "name", at, "string"),
        read(d, "version", at, "string"),
        read(d, "chainId", at, "uint256"),
        read(d, "verifyingContract", at, "address"),
    )
    at = pv.at(where, "message")
    message = pv.obj(pv.member(signed, "message", where), at)
    values = {name: read(message, name, at, kind) for name, kind in struct.fields}
    return domain, values, read(signed, "signature", where, "bytes65")


def forfeit_signature_difference(forfeits: Sequence[Forfeit], batch_id: int) -> str | None:
    """The first forfeit whose published signed commit does not make that forfeit.

    Each forfeit must carry the trader's signed ``Commit`` (an RFQ quote's: the
    maker's ``QuoteCommit``) for its commitment, market, batch and bond (RFQ id),
    signed under the batch's one EIP-712 domain by the forfeited trader: without
    it an operator could invent a commitment in anyone's name and take its bond.
    """
    from sealbatch.auction.commit_reveal import COMMIT_TYPE
    from sealbatch.crypto.eip712 import recover_signer, signing_digest
    from sealbatch.crypto.exceptions import SignatureError
    from sealbatch.settlement.errors import BatchStatementError
    from sealbatch.venue.rfq import QUOTE_COMMIT_TYPE

    domains: set[str] = set()
    for n, f in enumerate(forfeits):
        name = f"forfeit {n} (0x{f.commitment.hex()})"
        if not isinstance(f.signed, dict):
            return f"{name}: expected the trader's signed commit, got {f.signed!r}"
        quote = f.rfq_id is not None
        struct, signer_field = (QUOTE_COMMIT_TYPE, "maker") if quote else (COMMIT_TYPE, "trader")
        if f.signed.get("primaryType") != struct.name:
            return (
                f"{name}: published signer {f.trader}, recovered none (primaryType: expected "
                f"{struct.name}, got {f.signed.get('primaryType')!r})"
            )
        try:
            domain, values, signature = _signed_commit(
                struct, f.signed, f"result.json: forfeited[{n}].signed"
            )
            recovered = recover_signer(signing_digest(domain, struct, values), signature)
        except (BatchStatementError, SignatureError) as exc:
            return f"{name}: published signer {f.trader}, recovered none ({exc})"
        domains.add(json.dumps(domain.as_dict(), sort_keys=True).lower())
        if recovered.lower() != f.trader.lower():
            return f"{name}: published signer {f.trader}, recovered {recovered}"
        expected: dict[str, Any] = {signer_field: f.trader, "commitment": f.commitment}
        if quote:
            expected["rfqId"] = f.rfq_id
        else:
            expected.update(batchId=batch_id, market=f.market, bond=f.bond)
        for key, want in expected.items():
            got = values[key]
            if key == signer_field:
                same = str(got).lower() == str(want).lower()
            else:
                same = got == want
            if not same:
                shown = "0x" + want.hex() if isinstance(want, bytes) else want
                return f"{name}: the signed commit's {key} is {got!r}, expected {shown}"
    if len(domains) > 1:
        return f"forfeits: expected one EIP-712 domain for the batch, got {len(domains)}"
    return None


def canonical_signed(forfeit: Forfeit, where: str) -> dict[str, Any]:
    """The ``signed`` member the venue writes for ``forfeit``, from the values its
    published one gives (:func:`~sealbatch.crypto.eip712.signed_typed_data`): the types
    of its struct, its domain and message fields in order, addresses in EIP-55 form,
    hex in lower case. ``where`` names it in errors.

    Raises:
        BatchStatementError: a ``signed`` that is no object or lacks a field, or a field of
            another type (named).
    """
    from sealbatch.auction.commit_reveal import COMMIT_TYPE
    from sealbatch.crypto.eip712 import signed_typed_data
    from sealbatch.settlement import published_values as pv
    from sealbatch.venue.rfq import QUOTE_COMMIT_TYPE

    struct = COMMIT_TYPE if forfeit.rfq_id is None else QUOTE_COMMIT_TYPE
    domain, values, signature = _signed_commit(struct, pv.obj(forfeit.signed, where), where)
    return signed_typed_data(domain, struct, values, signature)
