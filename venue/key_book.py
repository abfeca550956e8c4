"""The venue's side of the keyper committee: dealings, batch keys, seals, released shares.

:class:`KeyBook` is part of the venue's deterministic state
(:class:`~sealbatch.venue.state_machine.VenueStateMachine` holds one when the
venue runs with a committee). Every input is a logged write (a dealing, a
released share) or a function of the log (the seal, made when a batch's commit
window has closed), so replaying the log rebuilds it exactly.

The rules (docs/threshold.md), for batch ``b`` while batch ``c`` is collecting:

* **dealings** are taken while ``c <= b - DEALINGS_LEAD`` (and at most
  :data:`MAX_LEAD` batches ahead);
* **complaints** (keyper ``j``: dealer ``i``'s share to me does not verify) are
  taken while ``c <= b - COMPLAINTS_LEAD``, against a dealer that dealt;
* **answers** (dealer ``i`` publishes ``f_i(j)`` in the clear) are taken while
  ``c <= b - ANSWERS_LEAD``; one that does not verify against ``i``'s
  commitments is recorded and disqualifies ``i`` at once;
* when ``b`` opens (``c >= b``) the round is over: a dealer with a complaint it
  did not answer validly is **disqualified**, the qualified set and the batch
  key (their sum, only with at least ``t`` qualified dealers) are final, and
  no dealing, complaint or answer for ``b`` is taken any more. Every phase
  lasts at least one whole commit window, and all of them end before any
  trader can encrypt to the key;
* a released share must carry its keyper's signature; one that does not verify
  against the batch key is refused and recorded against its keyper
  (``bad_share``); a valid share taken before the batch's seal is recorded as
  evidence of an early release (``early_release``) against its keyper;
* with ``t`` valid shares the batch secret is combined and checked against the
  batch key;
* a batch that clears without its secret while an encrypted order waited for it
  (``key_unavailable``) names every keyper that gave no valid share by the end of
  the wait (``withheld``, :func:`withheld_faults`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sealbatch.crypto.eip712 import Address, Eip712Domain, StructType, sign_digest, signing_digest
from sealbatch.crypto.threshold import (
    BadShare,
    BatchKey,
    Dealing,
    aggregate_dealings,
    combine_shares,
    verify_share,
)
from sealbatch.venue.auth import verify_signed
from sealbatch.venue.committee import (
    ANSWER_TYPE,
    COMPLAINT_TYPE,
    DEALING_TYPE,
    KEY_SHARE_TYPE,
    SEAL_TYPE,
    Committee,
    check_dealing_shape,
)
from sealbatch.venue.errors import BadRequest, Conflict, NotFound
from sealbatch.venue.schemas import AnswerIn, ComplaintIn, DealingIn, KeyShareIn, hexb

__all__ = [
    "ANSWERS_LEAD",
    "COMPLAINTS_LEAD",
    "DEALINGS_LEAD",
    "MAX_LEAD",
    "AnswerOutcome",
    "AnswerRecord",
    "ComplaintRecord",
    "DealingRecord",
    "KeyBook",
    "ReleasedShare",
    "Seal",
    "ShareOutcome",
    "round_deadlines",
    "withheld_faults",
]

#: How many batches ahead of the one collecting a dealing may be for.
MAX_LEAD = 16
#: A dealing for batch ``b`` is taken while the batch collecting is at most ``b - 3``.
DEALINGS_LEAD = 3
#: A complaint about a dealing for ``b`` is taken while the batch collecting is at most ``b - 2``.
COMPLAINTS_LEAD = 2
#: An answer to a complaint for ``b`` is taken while the batch collecting is at most ``b - 1``.
ANSWERS_LEAD = 1


def _h(b: bytes) -> str:
    return "0x" + b.hex()


def _too_late(batch_id: int, first: int, rule: str) -> str:
    """The error of a write for ``batch_id`` that had to be for batch ``first`` or a later
    one (``rule``: the phase that closed)."""
    return f"batch_id: expected a batch at least {first} ({rule}), got {batch_id}"


@dataclass(frozen=True)
class DealingRecord:
    """A dealing the venue took: who dealt, the commitments, the encrypted shares."""

    batch_id: int
    dealer: int
    keyper: Address
    commitments: tuple[bytes, ...]
    shares: tuple[bytes, ...]
    signature: bytes
    at_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "dealer": self.dealer,
            "keyper": self.keyper,
            "commitments": [_h(c) for c in self.commitments],
            "shares": [_h(s) for s in self.shares],
            "signature": _h(self.signature),
            "at_ms": self.at_ms,
        }


@dataclass(frozen=True)
class ComplaintRecord:
    """Keyper ``index``'s signed complaint against dealer ``dealer``'s share to it."""

    batch_id: int
    index: int
    dealer: int
    keyper: Address
    signature: bytes
    at_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "index": self.index,
            "dealer": self.dealer,
            "keyper": self.keyper,
            "signature": _h(self.signature),
            "at_ms": self.at_ms,
        }


@dataclass(frozen=True)
class AnswerRecord:
    """Dealer ``dealer``'s signed answer to keyper ``index``'s complaint: the share in
    the clear, and whether it verifies against the dealer's commitments."""

    batch_id: int
    dealer: int
    index: int
    keyper: Address
    share: int
    signature: bytes
    at_ms: int
    valid: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "dealer": self.dealer,
            "index": self.index,
            "keyper": self.keyper,
            "share": _h(self.share.to_bytes(32, "big")),
            "signature": _h(self.signature),
            "at_ms": self.at_ms,
            "valid": self.valid,
        }


@dataclass(frozen=True)
class AnswerOutcome:
    """An answer's fate: taken (valid: the complaint is void) or refused as bad (recorded:
    the dealer is disqualified; the caller logs it and then answers ``error``)."""

    record: AnswerRecord
    error: BadRequest | None


def round_deadlines(open_ms: int, commit_ms: int) -> dict[str, int]:
    """When a batch's dealing round closes, phase by phase (each before ``open_ms``,
    the batch's commit window opening): what ``GET /v1/keypers/rounds/{b}`` and
    threshold.json carry."""
    return {
        "dealings_until_ms": open_ms - (DEALINGS_LEAD - 1) * commit_ms,
        "complaints_until_ms": open_ms - (COMPLAINTS_LEAD - 1) * commit_ms,
        "answers_until_ms": open_ms - (ANSWERS_LEAD - 1) * commit_ms,
    }


@dataclass(frozen=True)
class Seal:
    """The operator's signed, sealed commitment root of a batch (EIP-712 ``BatchSeal``)."""

    batch_id: int
    commitment_root: bytes
    commitments: int
    operator: Address
    signature: bytes
    sealed_ms: int

    def message(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "batchId": self.batch_id,
            "commitmentRoot": self.commitment_root,
            "commitments": self.commitments,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "commitment_root": _h(self.commitment_root),
            "commitments": self.commitments,
            "operator": self.operator,
            "signature": _h(self.signature),
            "sealed_ms": self.sealed_ms,
        }


@dataclass(frozen=True)
class ReleasedShare:
    """A keyper's released share as the venue took it."""

    index: int
    keyper: Address
    share: int
    signature: bytes
    at_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "keyper": self.keyper,
            "share": _h(self.share.to_bytes(32, "big")),
            "signature": _h(self.signature),
            "at_ms": self.at_ms,
        }


@dataclass(frozen=True)
class ShareOutcome:
    """A released share's fate: taken (maybe early) or refused as bad (recorded either way)."""

    batch_id: int
    index: int
    error: BadRequest | None
    early: bool
    combined: bool


@dataclass
class KeyBook:
    """Dealings, batch keys, seals, shares and faults, per batch; see the module docstring."""

    committee: Committee
    domain: Eip712Domain
    dealings: dict[int, dict[int, DealingRecord]] = field(default_factory=dict)
    #: batch -> (dealer, complaining keyper) -> the complaint
    complaints: dict[int, dict[tuple[int, int], ComplaintRecord]] = field(default_factory=dict)
    #: batch -> (dealer, complaining keyper) -> the dealer's answer (valid or not)
    answers: dict[int, dict[tuple[int, int], AnswerRecord]] = field(default_factory=dict)
    keys: dict[int, BatchKey] = field(default_factory=dict)
    seals: dict[int, Seal] = field(default_factory=dict)
    shares: dict[int, dict[int, ReleasedShare]] = field(default_factory=dict)
    secrets: dict[int, int] = field(default_factory=dict)
    #: batch -> faults recorded against keypers (bad shares, early releases; the
    #: withheld shares are added when the batch clears, :func:`withheld_faults`)
    faults: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: batch -> commitment -> (ciphertext, the trader's signature over it)
    ciphertexts: dict[int, dict[bytes, tuple[bytes, bytes]]] = field(default_factory=dict)
    #: seals made since the operator last took them (to publish on the stream)
    seals_out: list[Seal] = field(default_factory=list)

    # ------------------------------------------------------------ checks

    def _member_signed(self, index: int, address: str, what: str = "") -> None:
        """Raise BadRequest unless ``address`` is committee member ``index``'s (``what``:
        its role, named in the error)."""
        member = self.committee.member(index)
        if address.lower() != member.address.lower():
            role = f" ({what})" if what else ""
            raise BadRequest(
                f"keyper: expected keyper {index}'s address {member.address}{role}, got {address}"
            )

    def _signer(
        self, struct: StructType, body: DealingIn | ComplaintIn | AnswerIn | KeyShareIn
    ) -> Address:
        """The keyper who signed ``body`` as ``struct`` (BadSignature: nobody it names)."""
        return verify_signed(self.domain, struct, body.message(), "keyper", hexb(body.signature))

    # ------------------------------------------------------------ dealings

    def deal(self, body: DealingIn, now_ms: int, collecting: int) -> DealingRecord:
        """Take a keyper's signed dealing for a batch that has not opened yet.

        Raises:
            BadSignature: not signed by the named keyper.
            BadRequest: not a committee member's, wrong index, wrong shape.
            Conflict: ``dealing_late`` (the batch is fewer than
                :data:`DEALINGS_LEAD` batches ahead: its complaint round has begun),
                ``dealing_early`` (more than :data:`MAX_LEAD` ahead),
                ``duplicate_dealing``.
        """
        self._member_signed(body.dealer, body.keyper)
        commitments = [hexb(c) for c in body.commitments]
        shares = [hexb(s) for s in body.shares]
        check_dealing_shape(self.committee, commitments, shares)
        signer = self._signer(DEALING_TYPE, body)
        b = body.batch_id
        if b < collecting + DEALINGS_LEAD:
            rule = f"dealings close {DEALINGS_LEAD} batches ahead, before the complaint round"
            raise Conflict(_too_late(b, collecting + DEALINGS_LEAD, rule), "dealing_late")
        if b > collecting + MAX_LEAD:
            raise Conflict(
                f"batch_id: expected at most {collecting + MAX_LEAD}, got {b}", "dealing_early"
            )
        if body.dealer in self.dealings.get(b, {}):
            raise Conflict(f"keyper {body.dealer} already dealt for batch {b}", "duplicate_dealing")
        record = DealingRecord(
            b, body.dealer, signer, tuple(commitments), tuple(shares), hexb(body.signature), now_ms
        )
        self.dealings.setdefault(b, {})[body.dealer] = record
        return record

    def key(self, batch_id: int, collecting: int) -> BatchKey | None:
        """The batch key of ``batch_id`` once final (its commit window opened), if it
        had at least ``t`` qualified dealers; None otherwise. Complaints and answers
        end before the window opens, so the key never changes once it exists."""
        if batch_id > collecting:
            return None
        key = self.keys.get(batch_id)
        if key is not None:
            return key
        dealt = self.dealings.get(batch_id, {})
        out = self.disqualified(batch_id, final=True)
        qualified = [d for i, d in sorted(dealt.items()) if i not in out]
        if len(qualified) < self.committee.threshold:
            return None
        key = aggregate_dealings(
            [Dealing(batch_id, d.dealer, d.commitments, ()) for d in qualified],
            self.committee.threshold,
            self.committee.size,
        )
        self.keys[batch_id] = key
        return key

    def key_view(self, batch_id: int, collecting: int) -> dict[str, Any]:
        """``GET /v1/batches/{id}/key``: the key, its dealers and their dealings.

        Raises:
            NotFound: the batch has not opened, or had fewer than ``t`` dealers.
        """
        key = self.key(batch_id, collecting)
        if key is None:
            raise NotFound(
                f"batch {batch_id}: expected a batch open or past with at least "
                f"{self.committee.threshold} dealings, got none final",
                "no_batch_key",
            )
        seal = self.seals.get(batch_id)
        return {
            **batch_key_json(key),
            **self.round_json(batch_id),
            "seal": None if seal is None else seal.to_json(),
        }

    def round_json(self, batch_id: int) -> dict[str, Any]:
        """The batch's dealing round: every dealing, complaint and answer taken, and the
        dealers disqualified so far (final once the batch opened)."""
        return {
            "dealings": [d.to_json() for _, d in sorted(self.dealings.get(batch_id, {}).items())],
            "complaints": [
                c.to_json() for _, c in sorted(self.complaints.get(batch_id, {}).items())
            ],
            "answers": [a.to_json() for _, a in sorted(self.answers.get(batch_id, {}).items())],
            "disqualified": [
                {"dealer": i, "reason": why}
                for i, why in sorted(self.disqualified(batch_id, final=True).items())
            ],
        }

    def round_view(
        self, batch_id: int, collecting: int, open_ms: int, commit_ms: int
    ) -> dict[str, Any]:
        """``GET /v1/keypers/rounds/{id}``: the round of a batch at any time, with its
        phase (``dealing``, ``complaints``, ``answers`` or ``closed``) and deadlines."""
        ahead = batch_id - collecting
        if ahead >= DEALINGS_LEAD:
            phase = "dealing"
        elif ahead >= COMPLAINTS_LEAD:
            phase = "complaints"
        elif ahead >= ANSWERS_LEAD:
            phase = "answers"
        else:
            phase = "closed"
        view = self.round_json(batch_id)
        if phase != "closed":
            # before the batch opens an unanswered complaint may still be answered
            view["disqualified"] = [
                {"dealer": i, "reason": why}
                for i, why in sorted(self.disqualified(batch_id, final=False).items())
            ]
        return {
            "batch_id": batch_id,
            "collecting": collecting,
            "phase": phase,
            **round_deadlines(open_ms, commit_ms),
            **view,
        }

    def disqualified(self, batch_id: int, final: bool) -> dict[int, str]:
        """Dealers left out of the batch's qualified set, with why: ``bad_answer`` (it
        answered a complaint with a share that does not verify) or, once the round is
        over (``final``), ``unanswered_complaint``."""
        out: dict[int, str] = {}
        answers = self.answers.get(batch_id, {})
        for pair, a in sorted(answers.items()):
            if not a.valid:
                out.setdefault(pair[0], "bad_answer")
        if final:
            for pair in sorted(self.complaints.get(batch_id, {})):
                if pair not in answers:
                    out.setdefault(pair[0], "unanswered_complaint")
        return dict(sorted(out.items()))

    # ------------------------------------------------------------ complaints

    def complain(self, body: ComplaintIn, now_ms: int, collecting: int) -> ComplaintRecord:
        """Take keyper ``index``'s signed complaint against dealer ``dealer``'s share to it.

        Raises:
            BadRequest: not a committee member's index or address, or a complaint
                against itself.
            BadSignature: not signed by the complaining keyper.
            Conflict: ``complaint_late`` (fewer than :data:`COMPLAINTS_LEAD` batches
                ahead), ``duplicate_complaint``.
            NotFound: ``no_dealing`` (the dealer did not deal for the batch).
        """
        self._member_signed(body.index, body.keyper, "the complainer")
        self.committee.member(body.dealer)
        if body.dealer == body.index:
            raise BadRequest(f"dealer: expected another keyper than {body.index}, got itself")
        signer = self._signer(COMPLAINT_TYPE, body)
        b = body.batch_id
        if b < collecting + COMPLAINTS_LEAD:
            rule = f"complaints close {COMPLAINTS_LEAD} batches ahead"
            raise Conflict(_too_late(b, collecting + COMPLAINTS_LEAD, rule), "complaint_late")
        if body.dealer not in self.dealings.get(b, {}):
            raise NotFound(f"batch {b}: keyper {body.dealer} did not deal for it", "no_dealing")
        pair = (body.dealer, body.index)
        if pair in self.complaints.get(b, {}):
            raise Conflict(
                f"keyper {body.index} already complained about dealer {body.dealer} for batch {b}",
                "duplicate_complaint",
            )
        record = ComplaintRecord(b, body.index, body.dealer, signer, hexb(body.signature), now_ms)
        self.complaints.setdefault(b, {})[pair] = record
        return record

    def answer(self, body: AnswerIn, now_ms: int, collecting: int) -> AnswerOutcome:
        """Take dealer ``dealer``'s signed answer to keyper ``index``'s complaint.

        A share that verifies against the dealer's commitments voids the complaint
        (the complainer uses it); one that does not is recorded and disqualifies the
        dealer (returned with its error: the caller logs it, then answers the error).

        Raises:
            BadRequest: not a committee member's index or address.
            BadSignature: not signed by the dealer.
            Conflict: ``answer_late`` (fewer than :data:`ANSWERS_LEAD` batches ahead:
                the batch opened), ``duplicate_answer``.
            NotFound: ``no_complaint`` (nobody complained about that share).
        """
        self._member_signed(body.dealer, body.keyper, "the dealer")
        self.committee.member(body.index)
        signer = self._signer(ANSWER_TYPE, body)
        b = body.batch_id
        if b < collecting + ANSWERS_LEAD:
            rule = "answers close when the batch opens"
            raise Conflict(_too_late(b, collecting + ANSWERS_LEAD, rule), "answer_late")
        pair = (body.dealer, body.index)
        if pair not in self.complaints.get(b, {}):
            raise NotFound(
                f"batch {b}: expected a complaint of keyper {body.index} about dealer "
                f"{body.dealer}, got none",
                "no_complaint",
            )
        if pair in self.answers.get(b, {}):
            raise Conflict(
                f"dealer {body.dealer} already answered keyper {body.index} for batch {b}",
                "duplicate_answer",
            )
        share = int.from_bytes(hexb(body.share), "big")
        error: BadRequest | None = None
        try:
            verify_share(self.dealings[b][body.dealer].commitments, body.index, share)
        except BadShare as exc:
            error = BadRequest(
                f"bad_answer: dealer {body.dealer}'s share to keyper {body.index} for batch "
                f"{b} does not verify against its commitments ({exc}); dealer disqualified"
            )
        record = AnswerRecord(
            b, body.dealer, body.index, signer, share, hexb(body.signature), now_ms, error is None
        )
        self.answers.setdefault(b, {})[pair] = record
        return AnswerOutcome(record, error)

    # ------------------------------------------------------------ seals

    def seal(
        self, batch_id: int, root: bytes, commitments: int, operator_key: bytes, at_ms: int
    ) -> Seal:
        """Sign and keep the seal of ``batch_id`` (its commitments are final)."""
        from sealbatch.crypto.eip712 import address_of

        operator = address_of(operator_key)
        seal = Seal(batch_id, root, commitments, operator, b"", at_ms)
        sig = sign_digest(operator_key, signing_digest(self.domain, SEAL_TYPE, seal.message()))
        seal = Seal(batch_id, root, commitments, operator, sig, at_ms)
        self.seals[batch_id] = seal
        self.seals_out.append(seal)
        return seal

    # ------------------------------------------------------------ shares

    def release(self, body: KeyShareIn, now_ms: int, collecting: int) -> ShareOutcome:
        """Take a keyper's released share; a bad or early one is recorded against it.

        Returns:
            The outcome; ``error`` set when the share was refused as bad (the
            refusal is recorded: the caller logs it and then answers the error).

        Raises:
            BadSignature: not signed by the named keyper (nothing is recorded:
                nobody can be blamed for a message its keyper did not sign).
            BadRequest: not a committee member's index or address.
            NotFound: the batch has no key.
            Conflict: ``duplicate_share``, or ``batch_opened`` (the batch's secret is
                already combined, so another share changes nothing).
        """
        self._member_signed(body.index, body.keyper)
        signer = self._signer(KEY_SHARE_TYPE, body)
        b = body.batch_id
        key = self.key(b, collecting)
        if key is None:
            raise NotFound(f"batch {b} has no batch key (yet)", "no_batch_key")
        if body.index in self.shares.get(b, {}):
            raise Conflict(
                f"keyper {body.index} already released its share of batch {b}", "duplicate_share"
            )
        if b in self.secrets:
            raise Conflict(f"batch {b}: its secret is already combined", "batch_opened")
        share = int.from_bytes(hexb(body.share), "big")
        try:
            key.verify_share(body.index, share)
        except BadShare as exc:
            faults = self.faults.setdefault(b, [])
            if any(f["kind"] == "bad_share" and f["index"] == body.index for f in faults):
                # One bad share is the whole evidence against its keyper for this
                # batch: recording each repeat would let a keyper grow the batch's
                # faults (memory, threshold.json) at its write rate until it clears.
                err = BadRequest(
                    f"bad_share: {exc} (a bad share of keyper {body.index} for batch {b} "
                    "is recorded already; this one is not)"
                )
                return ShareOutcome(b, body.index, err, False, False)
            faults.append(
                {
                    "kind": "bad_share",
                    "index": body.index,
                    "keyper": signer,
                    "share": body.share.lower(),
                    "signature": body.signature.lower(),
                    "at_ms": now_ms,
                    "detail": str(exc),
                }
            )
            return ShareOutcome(b, body.index, BadRequest(f"bad_share: {exc}"), False, False)
        seal = self.seals.get(b)
        early = seal is None
        if early:
            self.faults.setdefault(b, []).append(
                {
                    "kind": "early_release",
                    "index": body.index,
                    "keyper": signer,
                    "share": body.share.lower(),
                    "signature": body.signature.lower(),
                    "at_ms": now_ms,
                    "detail": f"a valid share of batch {b} released at {now_ms}, before the "
                    "batch's seal",
                }
            )
        taken = self.shares.setdefault(b, {})
        taken[body.index] = ReleasedShare(body.index, signer, share, hexb(body.signature), now_ms)
        combined = False
        if len(taken) >= key.threshold:
            self.secrets[b] = combine_shares(key, {i: s.share for i, s in taken.items()})
            combined = True
        return ShareOutcome(b, body.index, None, early, combined)

    def forget(self, batch_ids: Sequence[int]) -> None:
        """Drop everything kept about ``batch_ids`` (cleared and published)."""
        for b in batch_ids:
            for d in self._per_batch():
                d.pop(b, None)

    def forget_through(self, last: int) -> None:
        """Drop every batch up to ``last`` (the venue cleared or skipped them)."""
        old = {b for d in self._per_batch() for b in d if b <= last}
        self.forget(sorted(old))

    def _per_batch(self) -> tuple[dict[int, Any], ...]:
        """Every dict keyed by batch id: what :meth:`forget` drops (a new per-batch
        dict must be listed here, or it grows forever)."""
        return (
            self.dealings,
            self.complaints,
            self.answers,
            self.keys,
            self.seals,
            self.shares,
            self.secrets,
            self.faults,
            self.ciphertexts,
        )


def withheld_faults(
    committee: Committee, batch_id: int, shares: Mapping[int, ReleasedShare], deadline_ms: int
) -> list[dict[str, Any]]:
    """The ``withheld`` faults of a batch that cleared without its secret: one per keyper
    whose valid share the venue did not hold by ``deadline_ms`` (the end of the key wait),
    by index. A keyper that sent only a bad share gave no valid one either (its
    ``bad_share`` fault stays beside). Nothing is signed: the evidence is the absence
    of the keyper's signed share from the batch's published shares, which anyone checks
    (docs/threshold.md, "Liveness")."""
    return [
        {
            "kind": "withheld",
            "index": m.index,
            "keyper": m.address,
            "share": None,
            "signature": None,
            "at_ms": deadline_ms,
            "detail": f"no valid share of batch {batch_id} by {deadline_ms}, the end of the "
            f"key wait: fewer than {committee.threshold} were released",
        }
        for m in committee.members
        if m.index not in shares
    ]


def batch_key_json(key: BatchKey) -> dict[str, Any]:
    """A batch key as the API and the batch folder publish it."""
    return {
        "batch_id": key.batch_id,
        "threshold": key.threshold,
        "size": key.size,
        "dealers": list(key.dealers),
        "commitments": [_h(c) for c in key.commitments],
        "public_key": _h(key.public_key),
    }
