"""A keyper that deals one keyper a bad share: the attacker of the complaint tests.

:class:`BadDealer` is a real :class:`~sealbatch.venue.keyper.Keyper` except for
two things it does on purpose: its dealing hands keyper ``victim`` the share
``f(victim) + 1`` (encrypted and signed as usual, so only the victim can tell),
and it answers a complaint as ``answers`` says (``none``: never; ``valid``: with
the true share; ``wrong``: with the share it dealt). Run as a script it is one
keyper process (the arguments of ``sealbatch keyper run`` plus ``--victim`` and
``--answers``), for tests/venue/test_keyper_processes.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from sealbatch.crypto.eip712 import sign_digest, signing_digest
from sealbatch.crypto.threshold import CURVE_ORDER, deal
from sealbatch.venue.committee import (
    DEALING_TYPE,
    Committee,
    KeyperKey,
    dealing_hash,
    encrypt_share,
    load_committee,
    load_key,
)
from sealbatch.venue.keyper import Keyper


class BadDealer(Keyper):
    """A keyper whose dealing gives keyper ``victim`` a share off by one."""

    def __init__(
        self,
        key: KeyperKey,
        committee: Committee,
        venue_url: str,
        victim: int,
        answers: str = "none",
        lead: int = 6,
    ) -> None:
        super().__init__(key, committee, venue_url, lead)
        if answers not in ("none", "valid", "wrong"):
            raise ValueError(f"answers: expected none, valid or wrong, got {answers!r}")
        committee.member(victim)
        self.victim = victim
        self.answers = answers

    def bad_share(self, batch_id: int) -> int:
        """What it deals the victim: ``f(victim) + 1``."""
        return (self.dealt_share(batch_id, self.victim) + 1) % CURVE_ORDER

    async def dealing_body(self, batch_id: int) -> dict[str, Any]:
        c = self.committee
        d = deal(self.key.seed, self.key.index, batch_id, c.threshold, c.size)
        values_in = list(d.shares)
        values_in[self.victim - 1] = self.bad_share(batch_id)
        shares = [
            encrypt_share(m.public_key, batch_id, self.key.index, m.index, values_in[m.index - 1])
            for m in c.members
        ]
        values = {
            "keyper": self.key.address,
            "batchId": batch_id,
            "dealer": self.key.index,
            "dealingHash": dealing_hash(batch_id, self.key.index, d.commitments, shares),
        }
        sig = sign_digest(
            self.key.secret, signing_digest(await self.domain(), DEALING_TYPE, values)
        )
        return {
            "keyper": self.key.address,
            "batch_id": batch_id,
            "dealer": self.key.index,
            "commitments": ["0x" + x.hex() for x in d.commitments],
            "shares": ["0x" + x.hex() for x in shares],
            "signature": "0x" + sig.hex(),
        }

    async def check_round(self, batch_id: int, collecting: int) -> None:
        if self.answers == "none":
            return
        if self.answers == "wrong":
            # answer with the share it dealt, which does not verify
            r = await self.http.get(f"/v1/keypers/rounds/{batch_id}")
            r.raise_for_status()
            for c in r.json()["complaints"]:
                if int(c["dealer"]) == self.key.index:
                    index = int(c["index"])
                    share = self.bad_share(batch_id) if index == self.victim else 1
                    body = await self.answer_body(batch_id, index, share)
                    await self.http.post("/v1/keypers/answers", json=body)
            return
        await super().check_round(batch_id, collecting)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--key", required=True)
    p.add_argument("--committee", required=True)
    p.add_argument("--venue", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--lifetime", type=float, default=None)
    p.add_argument("--lead", type=int, default=6)
    p.add_argument("--victim", type=int, required=True)
    p.add_argument("--answers", default="none")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    keyper = BadDealer(
        load_key(args.key),
        load_committee(args.committee),
        args.venue,
        args.victim,
        args.answers,
        args.lead,
    )
    asyncio.run(keyper.run("127.0.0.1", args.port, args.lifetime))


if __name__ == "__main__":
    main()
