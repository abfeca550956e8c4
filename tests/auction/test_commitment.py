"""Poseidon2 commitments, the commitment root and tie-break keys.

Known-answer vectors: docs/formats.md ("Commitments …"), a ``text`` block of
``name = value`` lines. They were produced by ``auction/commitment.py`` when
the encoding was written; this test checks them three ways: against the code,
against a preimage rebuilt here by hand from the documented table (plain
integer arithmetic), and against the vectorised ``crypto/poseidon2.py`` hash,
which ``tests/crypto/test_poseidon2.py`` checks against the HorizenLabs
reference implementation's published outputs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.bounds import MAX_BOND
from sealbatch.auction.commit_reveal import Commit, CommitBook, Reveal, SignedCommit
from sealbatch.auction.commitment import (
    COMMITMENT_PREIMAGE_SIZE,
    COMMITMENT_TREE_DEPTH,
    EMPTY_SUBTREES,
    MARKET_DOMAIN,
    bytes32_elements,
    commitment_leaf,
    commitment_leaves,
    commitment_preimage,
    commitment_root,
    compute_commitment,
    compute_commitments,
    digest_preimages,
    is_commitment_digest,
    market_code,
    tiebreak_key,
    tiebreak_keys,
)
from sealbatch.auction.errors import BadCommitment, DuplicateCommitment, RevealMismatch
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto import poseidon2 as p2
from sealbatch.crypto.eip712 import Address
from tests.auction.conftest import ALICE, BOB, DOMAIN, IN_COMMIT, IN_REVEAL

REFS: dict[str, int | None] = {"BTC-PERP": 650_000, "ETH-PERP": 3_000}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "formats.md"
IOC = TimeInForce.IOC
ORDER_1 = Order("BTC-PERP", Side.BUY, 650_000, 25, TimeInForce.GTC, False, 42)
SALT_1 = bytes(range(32))
TRADER_1 = Address("0x" + "5a" * 20)
ORDER_2 = Order("ETH-PERP", Side.SELL, None, 3, TimeInForce.IOC, True, (1 << 64) - 1)
SALT_2 = b"\xff" * 32
TRADER_2 = Address("0x" + "00" * 19 + "01")


def documented_vectors() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Commitments") : text.index("## The state root")]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block is not None, "docs/formats.md: expected the known-answer block"
    out = {}
    for line in block.group(1).splitlines():
        if line and not line.startswith("#"):
            name, value = (part.strip() for part in line.split("=", 1))
            out[name] = value
    return out


def hand_preimage(
    market: bytes,
    flags: int,
    price: int,
    quantity: int,
    client_id: int,
    salt: bytes,
    batch: int,
    trader: bytes,
) -> list[int]:
    """The documented table, written out independently of auction/commitment.py."""

    def limbs(v: int, n: int) -> list[int]:
        return [(v >> (24 * i)) % (1 << 24) for i in range(n)]

    code = int(p2.hash_elements([MARKET_DOMAIN, len(market), *market])[0])
    return [
        0x5EA10003,
        code,
        flags,
        *limbs(price, 2),
        *limbs(quantity, 2),
        *limbs(client_id, 3),
        *limbs(int.from_bytes(salt, "big"), 11),
        *limbs(batch, 3),
        *limbs(int.from_bytes(trader, "big"), 7),
    ]


def le_bytes(elements: object) -> bytes:
    return b"".join(int(e).to_bytes(4, "little") for e in np.asarray(elements).tolist())


def test_known_answers_match_docs_code_and_hand_construction() -> None:
    docs = documented_vectors()
    hand_1 = hand_preimage(b"BTC-PERP", 0b0111, 650_000, 25, 42, SALT_1, 7, b"\x5a" * 20)
    trader_2 = b"\x00" * 19 + b"\x01"
    hand_2 = hand_preimage(b"ETH-PERP", 0b1000, 0, 3, (1 << 64) - 1, SALT_2, 0, trader_2)
    for hand, (order, salt, trader, batch), n in (
        (hand_1, (ORDER_1, SALT_1, TRADER_1, 7), "1"),
        (hand_2, (ORDER_2, SALT_2, TRADER_2, 0), "2"),
    ):
        assert len(hand) == COMMITMENT_PREIMAGE_SIZE
        assert [int(v) for v in docs[f"preimage_{n}"].split()] == hand
        assert commitment_preimage(order, salt, trader, batch) == hand
        commitment = compute_commitment(order, salt, trader, batch)
        assert commitment == le_bytes(p2.hash_elements(hand))
        assert "0x" + commitment.hex() == docs[f"commitment_{n}"]
    c1 = compute_commitment(ORDER_1, SALT_1, TRADER_1, 7)
    c2 = compute_commitment(ORDER_2, SALT_2, TRADER_2, 0)
    t1, t2, b1, b2 = TRADER_1, TRADER_2, 1_000_000, (1 << 30) - 1
    m1, m2 = ORDER_1.market, ORDER_2.market
    for c, m, t, b, n in ((c1, m1, t1, b1, "1"), (c2, m2, t2, b2, "2")):
        # the leaf by hand: compress(compress(commitment, [market code, 0×7]),
        # [trader limbs, bond]), the market code from its documented value
        code = {"BTC-PERP": 1001042996, "ETH-PERP": 75687854}[m]
        head = p2.compress(p2.digest_from_bytes(c), np.array([code] + [0] * 7, dtype=np.uint64))
        right = [(int(t, 16) >> (24 * i)) % (1 << 24) for i in range(7)] + [b]
        hand = p2.compress(head, np.array(right, dtype=np.uint64))
        assert commitment_leaf(c, m, t, b) == le_bytes(hand)
        assert "0x" + commitment_leaf(c, m, t, b).hex() == docs[f"leaf_{n}"]
    root_12 = commitment_root([c1, c2], [m1, m2], [t1, t2], [b1, b2])
    assert "0x" + commitment_root([], [], [], []).hex() == docs["root_empty"]
    assert "0x" + commitment_root([c1], [m1], [t1], [b1]).hex() == docs["root_1"]
    assert "0x" + root_12.hex() == docs["root_12"]
    assert "0x" + tiebreak_key(root_12, c1).hex() == docs["key_1"]
    assert "0x" + tiebreak_key(root_12, c2).hex() == docs["key_2"]
    assert market_code("BTC-PERP") == 1001042996 and market_code("ETH-PERP") == 75687854


def test_commitment_root_is_a_full_tree_with_empty_leaves() -> None:
    """The fixed-depth root equals a padded tree of height 6 lifted by the constants."""
    rng = np.random.default_rng(3)
    commitments = [le_bytes(rng.integers(1, p2.P, 8)) for _ in range(40)]
    for n in (1, 2, 3, 16, 17, 40):
        markets = ["BTC-PERP" if i % 3 else "ETH-PERP" for i in range(n)]
        traders = [TRADER_1 if i % 2 else TRADER_2 for i in range(n)]
        bonds = [1000 * i for i in range(n)]
        leaves = np.zeros((64, 8), dtype=np.uint64)
        leaves[:n] = np.stack(
            [p2.digest_from_bytes(commitment_leaf(c, m, t, b))
             for c, m, t, b in zip(commitments[:n], markets, traders, bonds, strict=True)]
        )  # fmt: skip
        node = p2.merkle_root(leaves)
        for h in range(6, COMMITMENT_TREE_DEPTH):
            node = p2.compress(node, np.array(EMPTY_SUBTREES[h], dtype=np.uint64))
        assert commitment_root(commitments[:n], markets, traders, bonds) == le_bytes(node)
        assert commitment_leaves(commitments[:n], markets, traders, bonds).tolist() == (
            leaves[:n].tolist()
        )
        # another market, trader or bond in any leaf is another root
        relabelled = [*markets[:-1], "SOL-PERP"]
        assert commitment_root(commitments[:n], relabelled, traders, bonds) != le_bytes(node)
        if n > 1:
            moved = [*bonds[:-1], bonds[-1] + 1]
            assert commitment_root(commitments[:n], markets, traders, moved) != le_bytes(node)
            swapped = [traders[1], traders[0], *traders[2:]]
            assert commitment_root(commitments[:n], markets, swapped, bonds) != le_bytes(node)
    zeros = np.zeros(8, dtype=np.uint64)
    assert EMPTY_SUBTREES[1] == tuple(p2.compress(zeros, zeros).tolist())


# --- binding: any one input changed changes the commitment --------------------

Inputs = tuple[Order, bytes, Address, int]


@pytest.mark.parametrize(
    "change",
    [
        lambda o, s, t, b: (dataclasses.replace(o, market="ETH-PERP"), s, t, b),
        lambda o, s, t, b: (dataclasses.replace(o, side=Side.SELL), s, t, b),
        lambda o, s, t, b: (dataclasses.replace(o, limit_price=650_001), s, t, b),
        lambda o, s, t, b: (dataclasses.replace(o, limit_price=None, time_in_force=IOC), s, t, b),
        lambda o, s, t, b: (o.with_quantity(26), s, t, b),
        lambda o, s, t, b: (dataclasses.replace(o, time_in_force=TimeInForce.IOC), s, t, b),
        lambda o, s, t, b: (dataclasses.replace(o, reduce_only=True), s, t, b),
        lambda o, s, t, b: (dataclasses.replace(o, client_id=43), s, t, b),
        lambda o, s, t, b: (o, s[:-1] + b"\x20", t, b),
        lambda o, s, t, b: (o, b"\x01" + s[1:], t, b),
        lambda o, s, t, b: (o, s, Address("0x" + "5a" * 19 + "5b"), b),
        lambda o, s, t, b: (o, s, Address("0x5b" + "5a" * 19), b),
        lambda o, s, t, b: (o, s, t, b + 1),
        lambda o, s, t, b: (o, s, t, b + (1 << 24)),
    ],
    ids=[
        "market", "side", "limit", "market-order", "quantity", "tif", "reduce-only",
        "client-id", "salt-last", "salt-first", "trader-low", "trader-high", "batch",
        "batch-high-limb",
    ],
)  # fmt: skip
def test_commitment_binds_every_input(change: Callable[..., Inputs]) -> None:
    base: Inputs = (ORDER_1, SALT_1, TRADER_1, 7)
    assert compute_commitment(*base) != compute_commitment(*change(*base))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(Side),
    st.none() | st.integers(1, (1 << 30) - 1),
    st.integers(1, (1 << 22) - 1),
    st.integers(0, (1 << 64) - 1),
    st.binary(min_size=32, max_size=32),
    st.integers(0, (1 << 64) - 1),
    st.binary(min_size=20, max_size=20),
)
def test_commitment_matches_the_hand_preimage(
    side: Side, limit: int | None, qty: int, client_id: int, salt: bytes, batch: int, who: bytes
) -> None:
    order = Order("BTC-PERP", side, limit, qty, client_id=client_id)
    flags = int(side is Side.BUY) | int(limit is not None) << 1
    hand = hand_preimage(b"BTC-PERP", flags, limit or 0, qty, client_id, salt, batch, who)
    trader = Address("0x" + who.hex())
    assert compute_commitment(order, salt, trader, batch) == le_bytes(p2.hash_elements(hand))
    assert is_commitment_digest(compute_commitment(order, salt, trader, batch))


@pytest.mark.parametrize("n", [1, 3, 4, 9])  # one at a time up to 3, one numpy hash above
def test_vectorised_commitments_equal_one_at_a_time(n: int) -> None:
    orders = [ORDER_1, ORDER_2, *(ORDER_1.with_quantity(q) for q in range(1, n - 1))][:n]
    salts = [SALT_1, SALT_2, *(bytes([i]) * 32 for i in range(n - 2))][:n]
    traders = [TRADER_1, TRADER_2, *([TRADER_2] * (n - 2))][:n]
    many = compute_commitments(orders, salts, traders, 9)
    assert len(set(many)) == n
    assert many == [
        compute_commitment(o, s, t, 9) for o, s, t in zip(orders, salts, traders, strict=True)
    ]
    assert compute_commitments([], [], [], 9) == []
    with pytest.raises(ValueError, match="one salt and trader per order"):
        compute_commitments(orders, salts[:-1], traders, 9)


def test_digest_preimages_refuses_a_preimage_of_the_wrong_length() -> None:
    good = commitment_preimage(ORDER_1, SALT_1, TRADER_1, 9)
    for rows in ([good[:-1]], [good] * 3 + [[*good, 0]]):
        with pytest.raises(ValueError, match="expected preimages of 31 elements, got"):
            digest_preimages(rows)


@pytest.mark.parametrize(
    ("salt", "trader", "batch", "match"),
    [
        (bytes(31), TRADER_1, 1, "salt"),
        (bytes(33), TRADER_1, 1, "salt"),
        ("00" * 32, TRADER_1, 1, "salt"),
        (bytes(32), "0x1234", 1, "trader"),
        (bytes(32), "0x" + "zz" * 20, 1, "trader"),
        (bytes(32), TRADER_1, -1, "batch_id"),
        (bytes(32), TRADER_1, 1 << 64, "batch_id"),
        (bytes(32), TRADER_1, True, "batch_id"),
    ],
)
def test_commitment_rejects_malformed_inputs(
    salt: object, trader: str, batch: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        compute_commitment(ORDER_1, salt, trader, batch)  # type: ignore[arg-type]


@pytest.mark.parametrize("bond", [-1, MAX_BOND + 1, 1 << 62, True, 1.0])
def test_a_leaf_takes_a_bond_below_2_30_only(bond: object) -> None:
    """The bond is one field element of the leaf: 2^30 or more (or not an int) is refused."""
    good = compute_commitment(ORDER_1, SALT_1, TRADER_1, 7)
    assert commitment_leaf(good, "BTC-PERP", TRADER_1, MAX_BOND)
    with pytest.raises(ValueError, match="bond"):
        commitment_leaf(good, "BTC-PERP", TRADER_1, bond)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bond"):
        commitment_root([good], ["BTC-PERP"], [TRADER_1], [bond])  # type: ignore[list-item]


@pytest.mark.parametrize("market", ["", None, 7])
def test_a_leaf_takes_a_market_id_only(market: object) -> None:
    good = compute_commitment(ORDER_1, SALT_1, TRADER_1, 7)
    with pytest.raises(ValueError, match="market"):
        commitment_leaf(good, market, TRADER_1, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="market"):
        commitment_root([good], [market], [TRADER_1], [5])  # type: ignore[list-item]


def test_is_commitment_digest() -> None:
    good = compute_commitment(ORDER_1, SALT_1, TRADER_1, 7)
    assert is_commitment_digest(good)
    assert not is_commitment_digest(bytes(32))  # the empty leaf
    assert not is_commitment_digest(good[:31])
    assert not is_commitment_digest(b"\xff" * 4 + good[4:])  # element >= p
    assert not is_commitment_digest(p2.P.to_bytes(4, "little") + good[4:])
    assert is_commitment_digest((p2.P - 1).to_bytes(4, "little") + good[4:])


def test_bytes32_elements_is_the_digest_for_digests() -> None:
    good = compute_commitment(ORDER_1, SALT_1, TRADER_1, 7)
    assert bytes32_elements(good) == p2.digest_from_bytes(good).tolist()
    # 2^32 - 1 = 2p + 268435453: reduced, not refused
    assert bytes32_elements(b"\xff" * 32) == [((1 << 32) - 1) % p2.P] * 8
    with pytest.raises(ValueError, match="32 bytes"):
        bytes32_elements(bytes(31))


def test_tiebreak_keys_vectorised_equal_scalar() -> None:
    seed = commitment_root(
        [compute_commitment(ORDER_1, SALT_1, TRADER_1, 7)], ["BTC-PERP"], [TRADER_1], [5]
    )
    ids = [bytes([i]) * 32 for i in range(5)]
    assert tiebreak_keys(seed, ids) == [tiebreak_key(seed, i) for i in ids]
    assert tiebreak_keys(seed, []) == []


# --- the attacks: copying or replaying someone else's commitment -------------


BookFactory = Callable[..., CommitBook]


def test_copied_commitment_cannot_be_revealed_by_the_copier(make_book: BookFactory) -> None:
    """Bob copies Alice's commitment hash and signs it as his own: when Alice
    reveals, Bob learns her order and salt, but the hash binds Alice, so Bob's
    reveal with them is refused and his copy forfeits its bond."""
    book = make_book(references=REFS)
    signed_a, reveal_a = ALICE.sealed(ORDER_1, nonce=1)
    book.commit(signed_a, IN_COMMIT)
    copy = Commit(BOB.address, 7, ORDER_1.market, signed_a.commit.commitment, 1, bond=5)
    with pytest.raises(DuplicateCommitment, match="already taken"):
        book.commit(SignedCommit.sign(copy, BOB.key, DOMAIN), IN_COMMIT)
    # In another book (or with the same hash re-signed by Bob elsewhere) the
    # reveal of Alice's order and salt does not match Bob's trader.
    other = make_book(references=REFS)
    other.commit(SignedCommit.sign(copy, BOB.key, DOMAIN), IN_COMMIT)
    with pytest.raises(RevealMismatch):
        other.reveal(reveal_a, IN_REVEAL)
    sealed = other.close(IN_REVEAL + 10_000)
    assert [f.trader for f in sealed.forfeited] == [BOB.address] and not sealed.revealed


def test_commitment_from_another_batch_cannot_be_revealed(make_book: BookFactory) -> None:
    """A commitment made for batch 6, re-signed for batch 7, does not reveal in 7."""
    book = make_book(batch_id=7, references=REFS)
    salt = bytes(range(32))
    stale = compute_commitment(ORDER_1, salt, ALICE.address, 6)
    commit = Commit(ALICE.address, 7, ORDER_1.market, stale, 3)
    book.commit(SignedCommit.sign(commit, ALICE.key, DOMAIN), IN_COMMIT)
    with pytest.raises(RevealMismatch, match="expected the order and salt to hash"):
        book.reveal(Reveal(stale, ORDER_1, salt), IN_REVEAL)


@pytest.mark.parametrize("which", ["salt", "order"])
def test_reveal_with_wrong_salt_or_order_is_refused(
    make_book: Callable[..., CommitBook], which: str
) -> None:
    book = make_book(references=REFS)
    signed, reveal = ALICE.sealed(ORDER_1, nonce=1, salt=SALT_1)
    book.commit(signed, IN_COMMIT)
    bad = (
        Reveal(reveal.commitment, ORDER_1, SALT_2)
        if which == "salt"
        else Reveal(reveal.commitment, ORDER_1.with_quantity(24), SALT_1)
    )
    with pytest.raises(RevealMismatch):
        book.reveal(bad, IN_REVEAL)
    assert book.reveal(reveal, IN_REVEAL).order == ORDER_1  # nothing changed


@pytest.mark.parametrize(
    "commitment",
    [bytes(32), b"\xff" * 32, p2.P.to_bytes(4, "little") + bytes(28)],
    ids=["zero", "all-ff", "element-equal-to-p"],
)
def test_book_refuses_a_commitment_that_is_not_a_digest(
    make_book: Callable[..., CommitBook], commitment: bytes
) -> None:
    book = make_book(references=REFS)
    commit = Commit(ALICE.address, 7, "BTC-PERP", commitment, 1)
    with pytest.raises(BadCommitment, match="expected a Poseidon2 digest"):
        book.commit(SignedCommit.sign(commit, ALICE.key, DOMAIN), IN_COMMIT)
    assert book.close(IN_REVEAL + 10_000).receipts == ()
