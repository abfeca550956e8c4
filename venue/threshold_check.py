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
   the ``withheld`` faults (last, by index) name exactly the keypers without a
   share among the published ones when an encrypted order is ``key_unavailable``,
   and there are none otherwise;
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
from sealbatch.settlement import published_values as pv
from sealbatch.settlement.errors import BatchStatementError
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


_UINT64 = (1 << 64) - 1
_THRESHOLD_ERRORS = (BatchStatementError, SignatureError, ThresholdError, BadRequest)


class _Node:
    """A value of ``threshold.json`` and its place: read by type, an error names the
    place (``threshold.json: dealings[0].dealer``)."""

    def __init__(self, value: Any, where: str = "threshold.json") -> None:
        self.value, self.where = value, where

    def __getitem__(self, key: str) -> _Node:
        doc = pv.obj(self.value, self.where)
        return _Node(pv.member(doc, key, self.where), pv.at(self.where, key))

    def items(self) -> list[_Node]:
        return [
            _Node(v, pv.at(self.where, i)) for i, v in enumerate(pv.items(self.value, self.where))
        ]

    def is_null(self) -> bool:
        return self.value is None

    def uint(self, high: int = _UINT64) -> int:
        return pv.integer(self.value, self.where, 0, high)

    def hex_bytes(self, size: int | None = None) -> bytes:
        return pv.hex_bytes(self.value, self.where, size)

    def address(self) -> Address:
        return pv.address(self.value, self.where)

    def text(self) -> str:
        return pv.text(self.value, self.where)

    def flag(self) -> bool:
        return pv.flag(self.value, self.where)


def _signer(domain: Eip712Domain, struct: Any, values: Mapping[str, Any], sig: _Node) -> Address:
    return recover_signer(signing_digest(domain, struct, values), sig.hex_bytes(65))


def _key_share(node: _Node, batch_id: int, domain: Eip712Domain) -> tuple[int, int, Address]:
    """A released share's (or a fault's): the keyper index, the share and the signer of
    its signed ``KeyShare``."""
    index, share = node["index"].uint(), node["share"].hex_bytes()
    values = {"keyper": node["keyper"].address(), "batchId": batch_id, "index": index,
              "share": share}  # fmt: skip
    signer = _signer(domain, KEY_SHARE_TYPE, values, node["signature"])
    return index, int.from_bytes(share, "big"), signer


def threshold_difference(
    doc: Mapping[str, Any],
    batch_id: int,
    seed: bytes,
    orders: Sequence[RestingOrder],
    forfeited: Sequence[Forfeit],
) -> str | None:
    """The first way ``doc`` (a batch's threshold.json) disagrees with the batch, or None.

    A value of another type or range, a signature that recovers no signer, a point or
    committee that is not one gives ``malformed: …`` naming it; any other exception is a
    bug and escapes.
    """
    try:
        return _difference(_Node(doc), batch_id, seed, orders, forfeited)
    except _THRESHOLD_ERRORS as exc:
        return f"malformed: {type(exc).__name__}: {exc}"


def _difference(
    doc: _Node,
    batch_id: int,
    seed: bytes,
    orders: Sequence[RestingOrder],
    forfeited: Sequence[Forfeit],
) -> str | None:
    d = doc["domain"]
    domain = Eip712Domain(
        d["name"].text(), d["version"].text(), d["chainId"].uint(), d["verifyingContract"].address()
    )
    committee = Committee.from_json(pv.obj(doc["committee"].value, doc["committee"].where))
    t, n = committee.threshold, committee.size
    # 1. the round: dealings, complaints, answers, disqualifications, and the key
    rnd = doc["round"]
    deal_until = rnd["dealings_until_ms"].uint()
    complain_until = rnd["complaints_until_ms"].uint()
    answer_until = rnd["answers_until_ms"].uint()
    if not 0 < complain_until - deal_until == answer_until - complain_until:
        return f"round: expected three phases of one commit window each, got {rnd.value}"
    dealings: dict[int, Dealing] = {}
    for dl in doc["dealings"].items():
        dealer = dl["dealer"].uint()
        commitments = [c.hex_bytes() for c in dl["commitments"].items()]
        shares = [s.hex_bytes() for s in dl["shares"].items()]
        values = {
            "keyper": dl["keyper"].address(),
            "batchId": batch_id,
            "dealer": dealer,
            "dealingHash": dealing_hash(batch_id, dealer, commitments, shares),
        }
        want = committee.member(dealer).address
        got = _signer(domain, DEALING_TYPE, values, dl["signature"])
        if got != want:
            return f"dealing of keyper {dealer}: expected signer {want}, got {got}"
        if dl["at_ms"].uint() >= deal_until or dealer in dealings:
            return f"dealing of keyper {dealer}: expected one, before {deal_until}"
        dealings[dealer] = Dealing(batch_id, dealer, tuple(commitments), ())
    complaints: set[tuple[int, int]] = set()
    for c in doc["complaints"].items():
        index, dealer = c["index"].uint(), c["dealer"].uint()
        values = {
            "keyper": c["keyper"].address(),
            "batchId": batch_id,
            "index": index,
            "dealer": dealer,
        }
        want = committee.member(index).address
        got = _signer(domain, COMPLAINT_TYPE, values, c["signature"])
        if got != want:
            return f"complaint of keyper {index}: expected signer {want}, got {got}"
        if c["at_ms"].uint() >= complain_until or dealer not in dealings or dealer == index:
            return (
                f"complaint of keyper {index} about dealer {dealer}: expected one about "
                f"another keyper's dealing, before {complain_until}"
            )
        complaints.add((dealer, index))
    out: dict[int, str] = {}
    answered: set[tuple[int, int]] = set()
    for a in doc["answers"].items():
        dealer, index = a["dealer"].uint(), a["index"].uint()
        share = a["share"].hex_bytes()
        values = {
            "keyper": a["keyper"].address(),
            "batchId": batch_id,
            "dealer": dealer,
            "index": index,
            "share": share,
        }
        want = committee.member(dealer).address
        got = _signer(domain, ANSWER_TYPE, values, a["signature"])
        if got != want:
            return f"answer of dealer {dealer}: expected signer {want}, got {got}"
        if (dealer, index) not in complaints or (dealer, index) in answered:
            return f"answer of dealer {dealer} to keyper {index}: expected one per complaint"
        if a["at_ms"].uint() >= answer_until:
            return f"answer of dealer {dealer} to keyper {index}: expected it before {answer_until}"
        try:
            verify_share(dealings[dealer].commitments, index, int.from_bytes(share, "big"))
            valid = True
        except (BadShare, ThresholdError):
            valid = False
        published_valid = a["valid"].flag()
        if valid != published_valid:
            return f"answer of dealer {dealer} to keyper {index}: published valid={published_valid}"
        answered.add((dealer, index))
        if not valid:
            out.setdefault(dealer, "bad_answer")
    for dealer, _index in sorted(complaints - answered):
        out.setdefault(dealer, "unanswered_complaint")
    published_out = {x["dealer"].uint(): x["reason"].text() for x in doc["disqualified"].items()}
    if published_out != dict(sorted(out.items())):
        return f"disqualified: expected {dict(sorted(out.items()))}, got {published_out}"
    qualified = [d for i, d in sorted(dealings.items()) if i not in out]
    key = aggregate_dealings(qualified, t, n) if len(qualified) >= t else None
    published_key = doc["key"]
    if key is None or published_key.is_null():
        if key is not None or not published_key.is_null():
            return (
                f"key: expected one exactly with at least {t} qualified dealings, got "
                f"{len(qualified)}"
            )
        return None
    published_dealers = [x.uint() for x in published_key["dealers"].items()]
    if published_dealers != [d.dealer for d in qualified]:
        return (
            f"key: expected the qualified dealers {[d.dealer for d in qualified]}, got "
            f"{published_dealers}"
        )
    published_public = published_key["public_key"].text()
    if "0x" + key.public_key.hex() != published_public:
        return (
            f"key: expected the dealings to sum to {published_public}, got 0x{key.public_key.hex()}"
        )
    # 2. the seal
    seal = doc["seal"]
    sealed_ms = None
    if not seal.is_null():
        operator = seal["operator"].address()
        values = {
            "operator": operator,
            "batchId": seal["batch_id"].uint(),
            "commitmentRoot": seal["commitment_root"].hex_bytes(32),
            "commitments": seal["commitments"].uint(),
        }
        got = _signer(domain, SEAL_TYPE, values, seal["signature"])
        if got != operator:
            return f"seal: expected the signature of {operator}, got {got}'s"
        if values["batchId"] != batch_id or values["commitmentRoot"] != seed:
            return (
                f"seal: expected batch {batch_id} with root 0x{seed.hex()} (result.json's seed), "
                f"got batch {values['batchId']} with root {seal['commitment_root'].value}"
            )
        sealed_ms = seal["sealed_ms"].uint()
        if sealed_ms <= answer_until + (answer_until - complain_until):
            return (
                f"seal: expected it after the batch's commit window ({answer_until} + one "
                f"window), got {sealed_ms}"
            )
    # 3. shares and the secret
    taken: dict[int, int] = {}
    for s in doc["shares"].items():
        index, released, got = _key_share(s, batch_id, domain)
        want = committee.member(index).address
        if got != want:
            return f"share of keyper {index}: expected signer {want}, got {got}"
        try:
            key.verify_share(index, released)
        except BadShare as exc:
            return f"share of keyper {index}: taken, but {exc}"
        taken[index] = released
    secret = combine_shares(key, taken) if len(taken) >= t else None
    published_secret = None if doc["secret"].is_null() else doc["secret"].text()
    want_secret = None if secret is None else "0x" + secret.to_bytes(32, "big").hex()
    if want_secret != published_secret:
        return f"secret: expected {want_secret} from the shares, got {published_secret}"
    # 4. faults: the signed ones (bad and early shares), then the withheld shares
    unavailable = any(o["outcome"].text() == "key_unavailable" for o in doc["outcomes"].items())
    withheld: list[int] = []
    for f in doc["faults"].items():
        if f["kind"].text() == "withheld":
            index = f["index"].uint()
            keyper = f["keyper"].address()
            if not (f["share"].is_null() and f["signature"].is_null()):
                return f"withheld fault against keyper {index}: expected no share or signature"
            if keyper != committee.member(index).address:
                return (
                    f"withheld fault against keyper {index}: expected its address "
                    f"{committee.member(index).address}, got {keyper}"
                )
            if sealed_ms is not None and f["at_ms"].uint() < sealed_ms:
                return f"withheld fault against keyper {index}: the wait ended before the seal"
            withheld.append(index)
            continue
        if withheld:
            return f"faults: expected the withheld shares last, got {f['kind'].text()} after them"
        index, released, got = _key_share(f, batch_id, domain)
        if got != committee.member(index).address:
            return f"fault against keyper {index}: expected its signature, got {got}'s"
        try:
            key.verify_share(index, released)
            valid = True
        except (BadShare, ThresholdError):
            valid = False
        kind = f["kind"].text()
        if kind == "bad_share" and valid:
            return f"fault against keyper {index}: a bad_share that verifies"
        if kind == "early_release" and (
            not valid or (sealed_ms is not None and f["at_ms"].uint() >= sealed_ms)
        ):
            return f"fault against keyper {index}: an early_release that is not one"
    silent = [m.index for m in committee.members if m.index not in taken]
    want_withheld = silent if unavailable and secret is None else []
    if withheld != want_withheld:
        return (
            f"withheld faults: expected keypers {want_withheld} (no valid share of a batch "
            f"cleared without its secret), got {withheld}"
        )
    # 5. ciphertexts and outcomes
    outcomes = {o["commitment"].hex_bytes(32): o for o in doc["outcomes"].items()}
    cts = doc["ciphertexts"].items()
    if sorted(outcomes) != sorted(c["commitment"].hex_bytes(32) for c in cts):
        return "outcomes: expected one per ciphertext"
    by_id = {r.order_id: r for r in orders if r.origin_batch == batch_id}
    lost = {f.commitment for f in forfeited if f.rfq_id is None}
    items = []
    for c in cts:
        commitment = c["commitment"].hex_bytes(32)
        ciphertext = c["ciphertext"].hex_bytes(None)
        trader = c["trader"].address()
        values = {
            "trader": trader,
            "batchId": batch_id,
            "commitment": commitment,
            "ciphertextHash": keccak256(ciphertext),
        }
        got = _signer(domain, ENCRYPTED_ORDER_TYPE, values, c["signature"])
        if got.lower() != trader.lower():
            return f"ciphertext of 0x{commitment.hex()}: expected the trader's signature"
        items.append((ciphertext, str(trader), commitment))
    opened = (
        open_ciphertexts(secret, key.public_key, batch_id, items)
        if secret is not None
        else [None] * len(items)
    )
    for (_, _, commitment), o in zip(items, opened, strict=True):
        name = "0x" + commitment.hex()
        published = outcomes[commitment]
        outcome = published["outcome"].text()
        if outcome == "revealed_by_hand":
            if commitment not in by_id:
                return f"{name}: revealed_by_hand, but not in orders.csv"
        elif outcome == "decrypted":
            if o is None or o.forfeited:
                return f"{name}: published decrypted, recomputed {getattr(o, 'reason', 'no key')}"
            if commitment not in by_id or by_id[commitment].order != o.order:
                return f"{name}: decrypted, but orders.csv does not hold that order under it"
        elif outcome in ("forfeited", "key_unavailable", "rejected"):
            if commitment in by_id or commitment not in lost:
                return f"{name}: {outcome}, but not among the batch's forfeits"
            if outcome == "forfeited":
                reason = published["reason"].text()
                if o is None or o.reason != reason:
                    got_reason = "no key" if o is None else o.reason
                    return f"{name}: forfeited as {reason}, recomputed {got_reason}"
            if outcome == "key_unavailable" and secret is not None:
                return f"{name}: key_unavailable, but the secret is published"
            if outcome == "rejected" and (o is None or o.forfeited):
                return f"{name}: rejected after decryption, but it does not decrypt"
        else:
            return f"{name}: unknown outcome {outcome!r}"
    return None
