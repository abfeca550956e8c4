"""Check a published ``threshold.json`` against its batch folder (``sealbatch replay``).

Anyone holding the folder recomputes, from public data only (docs/threshold.md):

1. every dealing is signed by its keyper and came before the dealings closed;
   every complaint is signed by its keyper, came before the complaints closed
   and names a dealer that dealt; every answer is signed by its dealer, came
   before the batch opened, answers a complaint, and its ``valid`` is what
   checking the share against the dealer's commitments gives; the
   disqualified dealers are exactly those with a bad answer or an unanswered
   complaint; and the batch key is the sum of the qualified dealings' Feldman
   commitments;
2. the seal is signed by its operator and seals the batch's published seed
   (the commitment root);
3. every released share is signed by its keyper and verifies against the batch
   key, and the published secret is their combination (``x·G`` is the key);
4. every fault is what it says: a ``bad_share`` is signed by the keyper named
   and does not verify; an ``early_release`` verifies and came before the seal;
5. every ciphertext is signed by its trader, and opening it with the secret
   gives the published outcome: a decrypted order is in ``orders.csv`` under
   its commitment, exactly; a forfeited one (its reason recomputed) is among
   the batch's forfeits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.commit_reveal import Forfeit
from sealbatch.auction.encrypted_orders import open_ciphertexts
from sealbatch.crypto.eip712 import Address, Eip712Domain, recover_signer, signing_digest
from sealbatch.crypto.exceptions import SignatureError
from sealbatch.crypto.keccak import keccak256
from sealbatch.crypto.threshold import (
    BadShare,
    Dealing,
    ThresholdError,
    aggregate_dealings,
    combine_shares,
    verify_share,
)
from sealbatch.venue.committee import (
    ANSWER_TYPE,
    COMPLAINT_TYPE,
    DEALING_TYPE,
    ENCRYPTED_ORDER_TYPE,
    KEY_SHARE_TYPE,
    SEAL_TYPE,
    Committee,
    dealing_hash,
)
from sealbatch.venue.errors import BadRequest

__all__ = ["threshold_difference"]


def _b(value: Any) -> bytes:
    return bytes.fromhex(str(value).removeprefix("0x"))


def _signer(domain: Eip712Domain, struct: Any, values: Mapping[str, Any], sig: Any) -> Address:
    return recover_signer(signing_digest(domain, struct, values), _b(sig))


def threshold_difference(
    doc: Mapping[str, Any],
    batch_id: int,
    seed: bytes,
    orders: Sequence[RestingOrder],
    forfeited: Sequence[Forfeit],
) -> str | None:
    """The first way ``doc`` (a batch's threshold.json) disagrees with the batch, or None."""
    try:
        return _difference(doc, batch_id, seed, orders, forfeited)
    except (KeyError, TypeError, ValueError, IndexError, SignatureError, BadRequest) as exc:
        return f"malformed: {type(exc).__name__}: {exc}"


def _difference(
    doc: Mapping[str, Any],
    batch_id: int,
    seed: bytes,
    orders: Sequence[RestingOrder],
    forfeited: Sequence[Forfeit],
) -> str | None:
    d = doc["domain"]
    domain = Eip712Domain(d["name"], d["version"], d["chainId"], d["verifyingContract"])
    committee = Committee.from_json(doc["committee"])
    t, n = committee.threshold, committee.size
    # 1. the round: dealings, complaints, answers, disqualifications, and the key
    rnd = doc["round"]
    deal_until = int(rnd["dealings_until_ms"])
    complain_until = int(rnd["complaints_until_ms"])
    answer_until = int(rnd["answers_until_ms"])
    if not 0 < complain_until - deal_until == answer_until - complain_until:
        return f"round: expected three phases of one commit window each, got {rnd}"
    dealings: dict[int, Dealing] = {}
    for dl in doc["dealings"]:
        dealer = int(dl["dealer"])
        commitments = [_b(c) for c in dl["commitments"]]
        shares = [_b(s) for s in dl["shares"]]
        values = {
            "keyper": dl["keyper"],
            "batchId": batch_id,
            "dealer": dealer,
            "dealingHash": dealing_hash(batch_id, dealer, commitments, shares),
        }
        want = committee.member(dealer).address
        got = _signer(domain, DEALING_TYPE, values, dl["signature"])
        if got != want:
            return f"dealing of keyper {dealer}: expected signer {want}, got {got}"
        if int(dl["at_ms"]) >= deal_until or dealer in dealings:
            return f"dealing of keyper {dealer}: expected one, before {deal_until}"
        dealings[dealer] = Dealing(batch_id, dealer, tuple(commitments), ())
    complaints: set[tuple[int, int]] = set()
    for c in doc["complaints"]:
        index, dealer = int(c["index"]), int(c["dealer"])
        values = {"keyper": c["keyper"], "batchId": batch_id, "index": index, "dealer": dealer}
        want = committee.member(index).address
        got = _signer(domain, COMPLAINT_TYPE, values, c["signature"])
        if got != want:
            return f"complaint of keyper {index}: expected signer {want}, got {got}"
        if int(c["at_ms"]) >= complain_until or dealer not in dealings or dealer == index:
            return (
                f"complaint of keyper {index} about dealer {dealer}: expected one about "
                f"another keyper's dealing, before {complain_until}"
            )
        complaints.add((dealer, index))
    out: dict[int, str] = {}
    answered: set[tuple[int, int]] = set()
    for a in doc["answers"]:
        dealer, index = int(a["dealer"]), int(a["index"])
        values = {
            "keyper": a["keyper"],
            "batchId": batch_id,
            "dealer": dealer,
            "index": index,
            "share": _b(a["share"]),
        }
        want = committee.member(dealer).address
        got = _signer(domain, ANSWER_TYPE, values, a["signature"])
        if got != want:
            return f"answer of dealer {dealer}: expected signer {want}, got {got}"
        if (dealer, index) not in complaints or (dealer, index) in answered:
            return f"answer of dealer {dealer} to keyper {index}: expected one per complaint"
        if int(a["at_ms"]) >= answer_until:
            return f"answer of dealer {dealer} to keyper {index}: expected it before {answer_until}"
        try:
            verify_share(
                dealings[dealer].commitments, index, int.from_bytes(values["share"], "big")
            )
            valid = True
        except (BadShare, ThresholdError):
            valid = False
        if valid != a["valid"]:
            return f"answer of dealer {dealer} to keyper {index}: published valid={a['valid']}"
        answered.add((dealer, index))
        if not valid:
            out.setdefault(dealer, "bad_answer")
    for dealer, _index in sorted(complaints - answered):
        out.setdefault(dealer, "unanswered_complaint")
    published_out = {int(d["dealer"]): d["reason"] for d in doc["disqualified"]}
    if published_out != dict(sorted(out.items())):
        return f"disqualified: expected {dict(sorted(out.items()))}, got {published_out}"
    qualified = [d for i, d in sorted(dealings.items()) if i not in out]
    key = aggregate_dealings(qualified, t, n) if len(qualified) >= t else None
    published_key = doc["key"]
    if key is None or published_key is None:
        if key is not None or published_key is not None:
            return (
                f"key: expected one exactly with at least {t} qualified dealings, got "
                f"{len(qualified)}"
            )
        return None
    if list(published_key["dealers"]) != [d.dealer for d in qualified]:
        return (
            f"key: expected the qualified dealers {[d.dealer for d in qualified]}, got "
            f"{published_key['dealers']}"
        )
    if "0x" + key.public_key.hex() != published_key["public_key"]:
        return (
            f"key: expected the dealings to sum to {published_key['public_key']}, got "
            f"0x{key.public_key.hex()}"
        )
    # 2. the seal
    seal = doc["seal"]
    sealed_ms = None
    if seal is not None:
        values = {
            "operator": seal["operator"],
            "batchId": int(seal["batch_id"]),
            "commitmentRoot": _b(seal["commitment_root"]),
            "commitments": int(seal["commitments"]),
        }
        got = _signer(domain, SEAL_TYPE, values, seal["signature"])
        if got != seal["operator"]:
            return f"seal: expected the signature of {seal['operator']}, got {got}'s"
        if values["batchId"] != batch_id or values["commitmentRoot"] != seed:
            return (
                f"seal: expected batch {batch_id} with root 0x{seed.hex()} (result.json's seed), "
                f"got batch {values['batchId']} with root {seal['commitment_root']}"
            )
        sealed_ms = int(seal["sealed_ms"])
        if sealed_ms <= answer_until + (answer_until - complain_until):
            return (
                f"seal: expected it after the batch's commit window ({answer_until} + one "
                f"window), got {sealed_ms}"
            )
    # 3. shares and the secret
    taken: dict[int, int] = {}
    for s in doc["shares"]:
        index = int(s["index"])
        values = {
            "keyper": s["keyper"],
            "batchId": batch_id,
            "index": index,
            "share": _b(s["share"]),
        }
        want = committee.member(index).address
        got = _signer(domain, KEY_SHARE_TYPE, values, s["signature"])
        if got != want:
            return f"share of keyper {index}: expected signer {want}, got {got}"
        try:
            key.verify_share(index, int.from_bytes(values["share"], "big"))
        except BadShare as exc:
            return f"share of keyper {index}: taken, but {exc}"
        taken[index] = int.from_bytes(values["share"], "big")
    secret = combine_shares(key, taken) if len(taken) >= t else None
    published_secret = doc["secret"]
    want_secret = None if secret is None else "0x" + secret.to_bytes(32, "big").hex()
    if want_secret != published_secret:
        return f"secret: expected {want_secret} from the shares, got {published_secret}"
    # 4. faults
    for f in doc["faults"]:
        index = int(f["index"])
        values = {
            "keyper": f["keyper"],
            "batchId": batch_id,
            "index": index,
            "share": _b(f["share"]),
        }
        got = _signer(domain, KEY_SHARE_TYPE, values, f["signature"])
        if got != committee.member(index).address:
            return f"fault against keyper {index}: expected its signature, got {got}'s"
        try:
            key.verify_share(index, int.from_bytes(values["share"], "big"))
            valid = True
        except (BadShare, ThresholdError):
            valid = False
        if f["kind"] == "bad_share" and valid:
            return f"fault against keyper {index}: a bad_share that verifies"
        if f["kind"] == "early_release" and (
            not valid or (sealed_ms is not None and int(f["at_ms"]) >= sealed_ms)
        ):
            return f"fault against keyper {index}: an early_release that is not one"
    # 5. ciphertexts and outcomes
    outcomes = {o["commitment"]: o for o in doc["outcomes"]}
    cts = doc["ciphertexts"]
    if sorted(outcomes) != sorted(c["commitment"] for c in cts):
        return "outcomes: expected one per ciphertext"
    by_id = {r.order_id: r for r in orders if r.origin_batch == batch_id}
    lost = {f.commitment for f in forfeited if f.rfq_id is None}
    items = []
    for c in cts:
        commitment = _b(c["commitment"])
        ciphertext = _b(c["ciphertext"])
        values = {
            "trader": c["trader"],
            "batchId": batch_id,
            "commitment": commitment,
            "ciphertextHash": keccak256(ciphertext),
        }
        got = _signer(domain, ENCRYPTED_ORDER_TYPE, values, c["signature"])
        if got.lower() != str(c["trader"]).lower():
            return f"ciphertext of 0x{commitment.hex()}: expected the trader's signature"
        items.append((ciphertext, str(c["trader"]), commitment))
    opened = (
        open_ciphertexts(secret, key.public_key, batch_id, items)
        if secret is not None
        else [None] * len(items)
    )
    for (_, _, commitment), o in zip(items, opened, strict=True):
        name = "0x" + commitment.hex()
        out = outcomes[name]["outcome"]
        if out == "revealed_by_hand":
            if commitment not in by_id:
                return f"{name}: revealed_by_hand, but not in orders.csv"
        elif out == "decrypted":
            if o is None or o.forfeited:
                return f"{name}: published decrypted, recomputed {getattr(o, 'reason', 'no key')}"
            if commitment not in by_id or by_id[commitment].order != o.order:
                return f"{name}: decrypted, but orders.csv does not hold that order under it"
        elif out in ("forfeited", "key_unavailable", "rejected"):
            if commitment in by_id or commitment not in lost:
                return f"{name}: {out}, but not among the batch's forfeits"
            if out == "forfeited" and (o is None or o.reason != outcomes[name]["reason"]):
                got_reason = "no key" if o is None else o.reason
                return f"{name}: forfeited as {outcomes[name]['reason']}, recomputed {got_reason}"
            if out == "key_unavailable" and secret is not None:
                return f"{name}: key_unavailable, but the secret is published"
            if out == "rejected" and (o is None or o.forfeited):
                return f"{name}: rejected after decryption, but it does not decrypt"
        else:
            return f"{name}: unknown outcome {out!r}"
    return None
