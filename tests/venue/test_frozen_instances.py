"""frozen_instance: the hot paths' frozen dataclasses built without ``__init__`` are
the constructor's values (equal, same hash, same fields in the same order, same
pickle, still frozen)."""

from __future__ import annotations

import dataclasses
import pickle
import random

import pytest

from sealbatch.auction.commit_reveal import Commit, Receipt, SignedCommit
from sealbatch.auction.frozen import frozen_instance
from sealbatch.venue.schemas import CommitIn


def _same(made: object, plain: object) -> None:
    assert type(made) is type(plain)
    assert made == plain and hash(made) == hash(plain)
    assert list(made.__dict__.items()) == list(plain.__dict__.items())  # order included
    assert pickle.dumps(made) == pickle.dumps(plain)
    field = dataclasses.fields(plain)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, field, None)


@pytest.mark.parametrize("seed", range(5))
def test_a_receipt_of_is_the_constructors(seed: int) -> None:
    rng = random.Random(seed)
    args = (
        rng.randrange(1 << 64),
        rng.randrange(1 << 20),
        rng.randbytes(32),
        rng.randrange(1 << 64),
        rng.choice([b"", rng.randbytes(65)]),
    )
    _same(Receipt.of(*args), Receipt(*args))


@pytest.mark.parametrize("seed", range(5))
def test_a_commitments_domain_form_is_the_constructors(seed: int) -> None:
    rng = random.Random(seed)
    body = CommitIn(
        trader="0x" + rng.randbytes(20).hex(),
        batch_id=rng.randrange(1 << 64),
        market=rng.choice(["BTC-PERP", "ETH-PERP"]),
        commitment="0x" + rng.randbytes(32).hex(),
        nonce=rng.randrange(1 << 64),
        margin_lock=rng.randrange(10**12),
        bond=rng.randrange(10**9),
        expiry_ms=rng.randrange(1 << 64),
        signature="0x" + rng.randbytes(65).hex(),
    )
    made = body.to_domain()
    commit = Commit(
        body.trader,  # type: ignore[arg-type]
        body.batch_id,
        body.market,
        bytes.fromhex(body.commitment[2:]),
        body.nonce,
        body.margin_lock,
        body.bond,
        body.expiry_ms,
    )
    _same(made.commit, commit)
    _same(made, SignedCommit(commit, bytes.fromhex(body.signature[2:])))


def test_values_in_another_order_are_not_the_constructors() -> None:
    plain = Receipt(1, 2, b"\x03" * 32, 4, b"")
    shuffled = frozen_instance(Receipt, dict(reversed(list(plain.__dict__.items()))))
    assert shuffled == plain  # equality reads the fields ...
    assert pickle.dumps(shuffled) != pickle.dumps(plain)  # ... a pickle the dictionary
