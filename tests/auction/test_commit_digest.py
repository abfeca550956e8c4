"""The directly encoded EIP-712 digests of ``Commit`` and ``Receipt`` (the bulk path
hashes every commitment and receipt with them) are the general encoder's bytes, and
whatever the direct encoding does not take goes to the general encoder, which takes
it or refuses it with its own error."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sealbatch.auction.commit_reveal import (
    COMMIT_TYPE,
    RECEIPT_TYPE,
    Commit,
    commit_digest,
    receipt_digest,
)
from sealbatch.crypto.eip712 import Eip712Domain, signing_digest

DOMAIN = Eip712Domain("sealbatch", "1", 31337, "0x" + "00" * 19 + "01")
OTHER = Eip712Domain("sealbatch", "2", 1, "0x" + "ab" * 20)

_U64 = (1 << 64) - 1
_U256 = (1 << 256) - 1


def _commit_message(fields: tuple[Any, ...]) -> dict[str, Any]:
    trader, batch_id, market, commitment, nonce, margin_lock, bond, expiry = fields
    return {
        "trader": trader,
        "batchId": batch_id,
        "market": market,
        "commitment": commitment,
        "nonce": nonce,
        "marginLock": margin_lock,
        "bond": bond,
        "expiry": expiry,
    }


def _random_commit(rng: random.Random) -> tuple[Any, ...]:
    address = rng.randbytes(20).hex()
    spelling = rng.choice(
        [address, address.upper(), "".join(rng.choice([c, c.upper()]) for c in address)]
    )
    edge = [0, 1, _U64]
    return (
        "0x" + spelling,
        rng.choice([*edge, rng.randrange(_U64 + 1)]),
        rng.choice(["BTC-PERP", "ETH-PERP", "", "é-PERP", "x" * 32]),
        rng.randbytes(32),
        rng.choice([*edge, rng.randrange(_U64 + 1)]),
        rng.choice([0, _U256, rng.randrange(_U256 + 1)]),
        rng.choice([0, _U256, rng.randrange(_U256 + 1)]),
        rng.choice([*edge, rng.randrange(_U64 + 1)]),
    )


@pytest.mark.parametrize("domain", [DOMAIN, OTHER])
def test_the_direct_commit_digest_is_the_general_encoders(domain: Eip712Domain) -> None:
    rng = random.Random(16)
    for _ in range(300):
        fields = _random_commit(rng)
        expected = signing_digest(domain, COMMIT_TYPE, _commit_message(fields))
        assert commit_digest(domain, *fields) == expected
        assert Commit(*fields).digest(domain) == expected


@pytest.mark.parametrize(
    "change",
    [
        {0: "0X" + "ab" * 20},  # the other prefix spelling: the general encoder takes it
        {0: bytes(range(20))},  # 20 raw bytes: likewise
        {3: bytearray(32)},  # a bytearray commitment: likewise
    ],
)
def test_spellings_the_direct_path_skips_give_the_general_digest(change: dict[int, Any]) -> None:
    fields = list(_random_commit(random.Random(1)))
    for k, v in change.items():
        fields[k] = v
    expected = signing_digest(DOMAIN, COMMIT_TYPE, _commit_message(tuple(fields)))
    assert commit_digest(DOMAIN, *fields) == expected


@pytest.mark.parametrize(
    ("index", "value", "field"),
    [
        (0, "0x" + "zz" * 20, "trader"),
        (0, "0x" + "ab" * 19, "trader"),
        (0, "0x" + "ab" * 19 + " a", "trader"),  # fromhex would skip the space
        (1, -1, "batchId"),
        (1, 1 << 64, "batchId"),
        (1, True, "batchId"),
        (2, 5, "market"),
        (3, bytes(31), "commitment"),
        (4, 1 << 64, "nonce"),
        (5, 1 << 256, "marginLock"),
        (6, -1, "bond"),
        (7, 1 << 64, "expiry"),
    ],
)
def test_a_malformed_commit_field_is_refused_as_the_general_encoder_refuses_it(
    index: int, value: Any, field: str
) -> None:
    fields = list(_random_commit(random.Random(2)))
    fields[index] = value
    with pytest.raises(ValueError, match=f"'{field}'") as general:
        signing_digest(DOMAIN, COMMIT_TYPE, _commit_message(tuple(fields)))
    with pytest.raises(ValueError) as direct:
        commit_digest(DOMAIN, *fields)
    assert str(direct.value) == str(general.value)


def test_the_direct_receipt_digest_is_the_general_encoders() -> None:
    rng = random.Random(7)
    for _ in range(300):
        batch_id, sequence, at = (rng.choice([0, _U64, rng.randrange(_U64 + 1)]) for _ in range(3))
        commitment = rng.randbytes(32)
        message = {
            "batchId": batch_id,
            "sequence": sequence,
            "commitment": commitment,
            "receivedAt": at,
        }
        expected = signing_digest(DOMAIN, RECEIPT_TYPE, message)
        assert receipt_digest(DOMAIN, batch_id, sequence, commitment, at) == expected


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((-1, 0, bytes(32), 0), "batchId"),
        ((0, 1 << 64, bytes(32), 0), "sequence"),
        ((0, 0, bytes(33), 0), "commitment"),
        ((0, 0, bytes(32), True), "receivedAt"),
    ],
)
def test_a_malformed_receipt_field_is_refused(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        receipt_digest(DOMAIN, *args)
