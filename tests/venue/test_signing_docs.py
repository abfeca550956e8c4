"""docs/signing.md stays true: its vectors against the code, its example against a venue.

Every ```json block of docs/signing.md with a ``"vector"`` key is checked here
against the venue's own encoders (type strings, hashes, signatures, the JSON
bodies the routes parse) and against ``eth_account``, so an encoding change
that the page does not follow fails. ``examples/generic_client.py`` (no
sealbatch imports) then trades against a local ``sealbatch serve``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from sealbatch.auction import commit_reveal
from sealbatch.auction.commitment import commitment_preimage, compute_commitment
from sealbatch.auction.orders import Order
from sealbatch.crypto.eip712 import (
    Eip712Domain,
    StructType,
    address_of,
    recover_signer,
    sign_digest,
    signing_digest,
)
from sealbatch.settlement.oracle import PriceReport, SignedReport
from sealbatch.venue import auth, committee, read_auth, rfq, schemas

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "signing.md"
EXAMPLES = ROOT / "examples"

#: Every EIP-712 struct the venue signs or verifies, by name.
STRUCTS: dict[str, StructType] = {
    v.name: v
    for mod in (commit_reveal, auth, read_auth, rfq, committee)
    for v in vars(mod).values()
    if isinstance(v, StructType)
}

#: The request model that carries each struct's JSON body.
MODELS: dict[str, type[Any]] = {
    "Commit": schemas.CommitIn,
    "Reveal": schemas.RevealIn,
    "Deposit": schemas.DepositIn,
    "Withdraw": schemas.WithdrawIn,
    "Rfq": schemas.RfqIn,
    "QuoteCommit": schemas.QuoteCommitIn,
    "QuoteReveal": schemas.QuoteRevealIn,
    "Accept": schemas.AcceptIn,
    "Resume": schemas.ResumeIn,
    "KeyShare": schemas.KeyShareIn,
    "KeyperComplaint": schemas.ComplaintIn,
    "ComplaintAnswer": schemas.AnswerIn,
}


def _vectors() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)\n```", DOC.read_text(), flags=re.S)
    return [v for v in map(json.loads, blocks) if isinstance(v, dict) and "vector" in v]


VECTORS = _vectors()
BY_NAME = {v["vector"]: v for v in VECTORS}
EIP712 = [v for v in VECTORS if "type" in v]
DOMAIN = Eip712Domain()


def _b(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _code_values(struct: StructType, message: dict[str, Any]) -> dict[str, Any]:
    """The doc's message with bytesN fields as bytes (what the code hashes)."""
    kinds = dict(struct.fields)
    return {k: _b(v) if kinds[k].startswith("bytes") else v for k, v in message.items()}


def _type_string(struct: StructType) -> str:
    return f"{struct.name}({','.join(f'{t} {n}' for n, t in struct.fields)})"


def test_every_signed_struct_has_a_vector() -> None:
    assert set(STRUCTS) == {v["vector"] for v in EIP712}
    assert set(STRUCTS) >= {
        "Commit",
        "Receipt",
        "Reveal",
        "Deposit",
        "Withdraw",
        "Rfq",
        "AccountRead",
    }
    for name in ("Commitment", "QuoteCommitment", "PriceReport", "Domain"):
        assert name in BY_NAME


def test_domain_is_the_served_default() -> None:
    v = BY_NAME["Domain"]
    domain = Eip712Domain(
        v["domain"]["name"],
        v["domain"]["version"],
        v["domain"]["chainId"],
        v["domain"]["verifyingContract"],
    )
    assert domain == DOMAIN
    assert "0x" + DOMAIN.separator.hex() == v["separator"]


@pytest.mark.parametrize("vec", EIP712, ids=lambda v: v["vector"])
def test_eip712_vector_matches_the_code(vec: dict[str, Any]) -> None:
    struct = STRUCTS[vec["vector"]]
    assert vec["type"] == _type_string(struct)
    # the type string of the page appears verbatim in a text block too
    assert vec["type"] in DOC.read_text()
    values = _code_values(struct, vec["message"])
    assert [n for n, _ in struct.fields] == list(vec["message"])
    assert "0x" + struct.type_hash.hex() == vec["type_hash"]
    assert "0x" + struct.hash_struct(values).hex() == vec["struct_hash"]
    digest = signing_digest(DOMAIN, struct, values)
    assert "0x" + digest.hex() == vec["digest"]
    assert address_of(vec["key"]) == vec["signer"]
    assert "0x" + sign_digest(vec["key"], digest).hex() == vec["signature"]
    assert recover_signer(digest, _b(vec["signature"])) == vec["signer"]


@pytest.mark.parametrize("vec", EIP712, ids=lambda v: v["vector"])
def test_eip712_vector_signs_the_same_with_eth_account(vec: dict[str, Any]) -> None:
    struct = STRUCTS[vec["vector"]]
    signable = encode_typed_data(full_message=DOMAIN.typed_data(struct, vec["message"]))
    signed = Account.sign_message(signable, vec["key"])
    assert "0x" + signed.message_hash.hex() == vec["digest"]
    assert "0x" + signed.signature.hex() == vec["signature"]


@pytest.mark.parametrize("vec", [v for v in EIP712 if "body" in v], ids=lambda v: v["vector"])
def test_json_body_maps_to_the_signed_message(vec: dict[str, Any]) -> None:
    """The route parses the documented body into exactly the documented message."""
    name = vec["vector"]
    struct = STRUCTS[name]
    body = MODELS[name].model_validate(vec["body"])
    if name == "Commit":
        message = body.to_domain().commit.message()
    elif name == "Reveal":
        message = body.message(body.order.to_domain())
    else:
        message = body.message()
    assert message == _code_values(struct, vec["message"])


def test_receipt_answer_maps_to_the_receipt_message() -> None:
    v = BY_NAME["Receipt"]
    r = v["receipt"]
    receipt = commit_reveal.Receipt(
        r["batch_id"],
        r["sequence"],
        _b(r["commitment"]),
        r["received_at_ms"],
        _b(r["operator_signature"]),
    )
    assert receipt.message() == _code_values(STRUCTS["Receipt"], v["message"])
    assert receipt.signer(DOMAIN) == r["operator"] == v["signer"]


def test_account_read_headers_verify_as_documented() -> None:
    v = BY_NAME["AccountRead"]
    read = read_auth.read_from_headers(v["headers"])
    assert read is not None
    now = v["message"]["expiry"] - 1_000
    operator = address_of("0x" + "5e" * 32)
    who = read_auth.check_read(read, v["signer"], domain=DOMAIN, operator=operator, now_ms=now)
    assert who == v["signer"]


def test_reveal_signs_the_order_fields_a_wallet_shows() -> None:
    """The Reveal's message is the revealed order, field by field (no opaque hash)."""
    v = BY_NAME["Reveal"]
    order = Order.from_dict(v["body"]["order"])
    message = v["message"]
    assert {k: message[k] for k in order.typed_fields()} == order.typed_fields()
    assert (message["market"], message["side"], message["limitPrice"]) == (
        "BTC-PERP",
        "buy",
        650_000,
    )
    assert message["quantity"] == v["body"]["order"]["quantity"]
    assert v["body"]["commitment"] == BY_NAME["Commitment"]["commitment"]
    assert v["body"]["order"] == BY_NAME["Commitment"]["order"]
    assert "bytes32" not in dict(STRUCTS["Reveal"].fields).get("market", "")


@pytest.mark.parametrize(
    ("field", "other"),
    [("side", "sell"), ("limitPrice", 650_001), ("quantity", 11), ("market", "ETH-PERP"),
     ("timeInForce", "gtc"), ("reduceOnly", True), ("clientId", 8)],
)  # fmt: skip
def test_a_reveal_signed_for_one_order_does_not_verify_for_another(field: str, other: Any) -> None:
    """Attack: a venue (or a man in the middle) swaps the order under a wallet's
    signature; the signature then recovers to another address."""
    v = BY_NAME["Reveal"]
    struct = STRUCTS["Reveal"]
    changed = _code_values(struct, {**v["message"], field: other})
    assert (
        recover_signer(signing_digest(DOMAIN, struct, changed), _b(v["signature"])) != v["signer"]
    )


def _standalone() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "poseidon2_babybear", EXAMPLES / "poseidon2_babybear.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_commitment_vector_matches_the_code_and_the_standalone_recipe() -> None:
    v = BY_NAME["Commitment"]
    order = Order.from_dict(v["order"])
    salt = _b(v["salt"])
    assert commitment_preimage(order, salt, v["trader"], v["batch_id"]) == v["preimage"]
    assert (
        "0x" + compute_commitment(order, salt, v["trader"], v["batch_id"]).hex() == v["commitment"]
    )
    mine = _standalone().order_commitment(v["order"], salt, v["trader"], v["batch_id"])
    assert "0x" + mine.hex() == v["commitment"]
    assert BY_NAME["Commit"]["message"]["commitment"] == v["commitment"]


def test_standalone_poseidon2_agrees_on_other_orders() -> None:
    from sealbatch.auction.orders import Side, TimeInForce

    mod = _standalone()
    trader = "0x" + "5a" * 20
    for order in (
        Order("ETH-PERP", Side.SELL, None, 3, TimeInForce.IOC, True, (1 << 64) - 1),
        Order("BTC-PERP", Side.BUY, 650_000, 25, TimeInForce.GTC, False, 42),
    ):
        for salt in (bytes(32), b"\xff" * 32):
            expected = compute_commitment(order, salt, trader, 7)
            assert mod.order_commitment(order.to_dict(), salt, trader, 7) == expected


def test_quote_commitment_and_rfq_id() -> None:
    q = BY_NAME["QuoteCommitment"]
    got = rfq.compute_quote_commitment(
        _b(q["rfq_id"]), q["maker"], q["bid"], q["ask"], _b(q["salt"])
    )
    assert "0x" + got.hex() == q["commitment"]
    assert BY_NAME["Rfq"]["rfq_id"] == BY_NAME["Rfq"]["digest"] == q["rfq_id"]
    assert BY_NAME["QuoteCommit"]["message"]["commitment"] == q["commitment"]


def test_sides_are_signed_as_their_json_strings() -> None:
    """Every EIP-712 side is the JSON string: no number encodings to get wrong."""
    assert BY_NAME["Rfq"]["body"]["side"] == BY_NAME["Rfq"]["message"]["side"] == "hidden"
    assert BY_NAME["Accept"]["body"]["side"] == BY_NAME["Accept"]["message"]["side"] == "buy"
    body = dict(BY_NAME["Accept"]["body"], side="sell")
    assert schemas.AcceptIn.model_validate(body).message()["side"] == "sell"
    body = dict(BY_NAME["Rfq"]["body"], side="sell")
    assert schemas.RfqIn.model_validate(body).message()["side"] == "sell"
    for name in ("Reveal", "Rfq", "Accept"):
        assert dict(STRUCTS[name].fields)["side"] == "string"


def test_encrypted_order_signs_the_keccak_of_the_ciphertext() -> None:
    from eth_utils import keccak

    v = BY_NAME["EncryptedOrder"]
    assert "0x" + keccak(_b(v["ciphertext"])).hex() == v["message"]["ciphertextHash"]
    assert v["message"]["commitment"] == BY_NAME["Commitment"]["commitment"]


def test_price_report_signs_the_raw_digest_without_a_prefix() -> None:
    v = BY_NAME["PriceReport"]
    signed = SignedReport.from_dict(v["body"])
    assert "0x" + signed.report.digest().hex() == v["digest"]
    signed.verify()
    assert signed.report == PriceReport("BTC-PERP", 650_000, 1_800_000_000_000, v["signer"])
    assert (
        "0x" + Account.unsafe_sign_hash(_b(v["digest"]), v["key"]).signature.hex() == v["signature"]
    )
    # an EIP-191 prefixed signature (personal_sign) recovers to another address
    from eth_account.messages import encode_defunct

    prefixed = Account.sign_message(encode_defunct(_b(v["digest"])), v["key"]).signature
    assert recover_signer(_b(v["digest"]), bytes(prefixed)) != v["signer"]


def test_a_changed_field_changes_the_digest() -> None:
    """The vectors bind every field: the attack of signing one value and sending another fails."""
    v = BY_NAME["Commit"]
    struct = STRUCTS["Commit"]
    for field, other in (("bond", 0), ("batchId", 43), ("market", "ETH-PERP"), ("nonce", 8)):
        changed = _code_values(struct, {**v["message"], field: other})
        assert "0x" + signing_digest(DOMAIN, struct, changed).hex() != v["digest"]
    other_chain = Eip712Domain(chain_id=1)
    values = _code_values(struct, v["message"])
    assert (
        recover_signer(signing_digest(other_chain, struct, values), _b(v["signature"]))
        != v["signer"]
    )


def test_examples_import_nothing_of_the_project() -> None:
    for name in ("generic_client.py", "poseidon2_babybear.py"):
        tree = ast.parse((EXAMPLES / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "sealbatch" for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.module is not None
                assert node.module.split(".")[0] not in ("sealbatch", "tests"), node.module


def test_generic_client_trades_against_a_local_venue() -> None:
    """The docs' example (deposit, oracle, commit, receipt check, reveal, fill, then an RFQ
    block: request, sealed quote, reveal, accept, settle) runs green."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "generic_client.py")],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "buyer: filled 5 lots" in proc.stdout, proc.stdout
    assert "seller: filled 5 lots" in proc.stdout, proc.stdout
    assert re.search(r"batch \d+ settled at \d+", proc.stdout), proc.stdout
    assert re.search(r"block in batch \d+: filled at 650200", proc.stdout), proc.stdout


def test_api_md_lists_exactly_the_reveal_refusals_that_forfeit() -> None:
    """docs/api.md names the refused reveals that are recorded (and can forfeit the bond)."""
    from sealbatch.venue.state_machine import RECORDED_REVEAL_CODES

    text = (ROOT / "docs" / "api.md").read_text()
    item = text.split("1. **A refused reveal of a commitment the batch holds**", 1)[1]
    item = item.split("is\n   logged durably", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", item)) == set(RECORDED_REVEAL_CODES)
