"""The venue's side of the keyper committee: dealings, batch keys, seals, released shares.

:class:`KeyBook` is part of the venue's deterministic state
(:class:`~sealbatch.venue.state_machine.VenueStateMachine` holds one when the
venue runs with a committee). Every input is a logged write (a dealing, a
released share) or a function of the log (the seal, made when a batch's commit
window has closed), so replaying the log rebuilds it exactly.

The rules (docs/threshold.md):

* a dealing for batch ``b`` is taken only before ``b``'s commit window opens,
  and at most :data:`MAX_LEAD` batches ahead; once the window opens the set of
  dealers is final and the batch key is their sum (it exists only with at
  least ``t`` dealers);
* a released share must carry its keyper's signature; one that does not verify
  against the batch key is refused and recorded against its keyper
  (``bad_share``); a valid share taken before the batch's seal is recorded as
  evidence of an early release (``early_release``) against its keyper;
* with ``t`` valid shares the batch secret is combined and checked against the
  batch key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sealbatch.crypto.eip712 import Address, Eip712Domain, sign_digest, signing_digest
from sealbatch.crypto.threshold import (
    BadShare,
    BatchKey,
    Dealing,
    aggregate_dealings,
    combine_shares,
)
from sealbatch.venue.auth import verify_signed
from sealbatch.venue.committee import (
    DEALING_TYPE,
    KEY_SHARE_TYPE,
    SEAL_TYPE,
    Committee,
    check_dealing_shape,
)
from sealbatch.venue.errors import BadRequest, Conflict, NotFound
from sealbatch.venue.schemas import DealingIn, KeyShareIn, hexb

__all__ = ["MAX_LEAD", "DealingRecord", "KeyBook", "ReleasedShare", "Seal", "ShareOutcome"]

#: How many batches ahead of the one collecting a dealing may be for.
MAX_LEAD = 16


def _h(b: bytes) -> str:
    return "0x" + b.hex()


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
            "share": "0x" + self.share.to_bytes(32, "big").hex(),
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
    keys: dict[int, BatchKey] = field(default_factory=dict)
    seals: dict[int, Seal] = field(default_factory=dict)
    shares: dict[int, dict[int, ReleasedShare]] = field(default_factory=dict)
    secrets: dict[int, int] = field(default_factory=dict)
    #: batch -> faults recorded against keypers (bad shares, early releases)
    faults: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: batch -> commitment -> (ciphertext, the trader's signature over it)
    ciphertexts: dict[int, dict[bytes, tuple[bytes, bytes]]] = field(default_factory=dict)
    #: seals made since the operator last took them (to publish on the stream)
    seals_out: list[Seal] = field(default_factory=list)

    # ------------------------------------------------------------ dealings

    def deal(self, body: DealingIn, now_ms: int, collecting: int) -> DealingRecord:
        """Take a keyper's signed dealing for a batch that has not opened yet.

        Raises:
            BadSignature: not signed by the named keyper.
            BadRequest: not a committee member's, wrong index, wrong shape.
            Conflict: ``dealing_late`` (the batch opened already),
                ``dealing_early`` (more than :data:`MAX_LEAD` ahead),
                ``duplicate_dealing``.
        """
        member = self.committee.member(body.dealer)
        if body.keyper.lower() != member.address.lower():
            raise BadRequest(
                f"keyper: expected keyper {body.dealer}'s address {member.address}, "
                f"got {body.keyper}"
            )
        commitments = [hexb(c) for c in body.commitments]
        shares = [hexb(s) for s in body.shares]
        check_dealing_shape(self.committee, commitments, shares)
        signer = verify_signed(
            self.domain, DEALING_TYPE, body.message(), "keyper", hexb(body.signature)
        )
        b = body.batch_id
        if b <= collecting:
            raise Conflict(
                f"batch_id: expected a batch after {collecting} (collecting now: its key is "
                f"final), got {b}",
                "dealing_late",
            )
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
        had at least ``t`` dealers; None otherwise."""
        if batch_id > collecting:
            return None
        key = self.keys.get(batch_id)
        if key is not None:
            return key
        dealt = self.dealings.get(batch_id, {})
        if len(dealt) < self.committee.threshold:
            return None
        key = aggregate_dealings(
            [Dealing(batch_id, d.dealer, d.commitments, ()) for _, d in sorted(dealt.items())],
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
            "dealings": [d.to_json() for _, d in sorted(self.dealings[batch_id].items())],
            "seal": None if seal is None else seal.to_json(),
        }

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
        member = self.committee.member(body.index)
        if body.keyper.lower() != member.address.lower():
            raise BadRequest(
                f"keyper: expected keyper {body.index}'s address {member.address}, "
                f"got {body.keyper}"
            )
        signer = verify_signed(
            self.domain, KEY_SHARE_TYPE, body.message(), "keyper", hexb(body.signature)
        )
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
            self.faults.setdefault(b, []).append(
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
            for d in (
                self.dealings,
                self.keys,
                self.seals,
                self.shares,
                self.secrets,
                self.faults,
                self.ciphertexts,
            ):
                d.pop(b, None)

    def forget_through(self, last: int) -> None:
        """Drop every batch up to ``last`` (the venue cleared or skipped them)."""
        old = {
            b
            for d in (
                self.dealings,
                self.keys,
                self.seals,
                self.shares,
                self.secrets,
                self.faults,
                self.ciphertexts,
            )
            for b in d
            if b <= last
        }
        self.forget(sorted(old))


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
