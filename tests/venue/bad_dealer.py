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

from sealbatch.crypto.threshold import CURVE_ORDER
from sealbatch.venue.committee import Committee, KeyperKey, load_committee, load_key
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

    def dealt_shares(self, batch_id: int) -> list[int]:
        """The honest dealing's shares, the victim's off by one (encrypted and signed by
        the keyper's own dealing code)."""
        shares = super().dealt_shares(batch_id)
        shares[self.victim - 1] = self.bad_share(batch_id)
        return shares

    def answer_share(self, batch_id: int, index: int) -> int | None:
        """``none``: no answer; ``wrong``: the share it dealt (the victim's does not
        verify); ``valid``: the true share ``f(index)``."""
        if self.answers == "none":
            return None
        if self.answers == "wrong":
            return self.dealt_shares(batch_id)[index - 1]
        return super().answer_share(batch_id, index)


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
