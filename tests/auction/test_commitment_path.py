"""A commitment's inclusion proof under the commitment root: every receipt's path
hashes to the root, and no path shows a leaf the tree does not hold."""

from __future__ import annotations

import random

import pytest

from sealbatch.auction.commitment import (
    COMMITMENT_TREE_DEPTH,
    EMPTY_SUBTREES,
    commitment_path,
    commitment_root,
    receipt_order,
    verify_commitment_path,
)
from sealbatch.crypto import poseidon2 as p2
from sealbatch.crypto.eip712 import Address

TRADERS = [Address("0x" + f"{i:02x}" * 20) for i in range(1, 5)]
MARKETS = ["BTC-PERP", "ETH-PERP", "SOL-PERP"]

Batch = tuple[list[bytes], list[str], list[str], list[int]]


def _batch(n: int, seed: int) -> Batch:
    rnd = random.Random(seed)
    commitments = [
        p2.digest_to_bytes(p2.hash_rows([[rnd.randrange(p2.P) for _ in range(4)]])[0])
        for _ in range(n)
    ]
    markets = [rnd.choice(MARKETS) for _ in range(n)]
    traders = [rnd.choice(TRADERS) for _ in range(n)]
    bonds = [rnd.randrange(1 << 30) for _ in range(n)]
    return commitments, markets, traders, bonds


@pytest.mark.parametrize("n", [1, 2, 3, 8, 37, 300])
def test_every_receipts_path_hashes_to_the_root(n: int) -> None:
    c, m, t, b = _batch(n, n)
    root = commitment_root(c, m, t, b)
    for i in sorted({0, n // 2, n - 1}):
        path = commitment_path(c, m, t, b, i)
        assert len(path) == COMMITMENT_TREE_DEPTH
        assert verify_commitment_path(root, c[i], m[i], t[i], b[i], i, path)
    # above the last commitment, the siblings are the empty subtrees' constants
    top = commitment_path(c, m, t, b, n - 1)[-1]
    assert top == p2.digest_to_bytes(EMPTY_SUBTREES[COMMITMENT_TREE_DEPTH - 1])


def test_no_path_shows_another_leaf() -> None:
    """What an operator would try: a receipt's path with another market, trader, bond,
    commitment or position, or a tampered sibling, does not hash to the root."""
    c, m, t, b = _batch(9, 1)
    root = commitment_root(c, m, t, b)
    i = 4
    path = commitment_path(c, m, t, b, i)
    assert verify_commitment_path(root, c[i], m[i], t[i], b[i], i, path)
    other_market = next(x for x in MARKETS if x != m[i])
    assert not verify_commitment_path(root, c[i], other_market, t[i], b[i], i, path)
    other_trader = next(x for x in TRADERS if x != t[i])
    assert not verify_commitment_path(root, c[i], m[i], other_trader, b[i], i, path)
    assert not verify_commitment_path(root, c[i], m[i], t[i], b[i] + 1, i, path)
    assert not verify_commitment_path(root, c[i + 1], m[i], t[i], b[i], i, path)
    assert not verify_commitment_path(root, c[i], m[i], t[i], b[i], i + 1, path)
    tampered = list(path)
    tampered[3] = bytes([tampered[3][0] ^ 1]) + tampered[3][1:]
    assert not verify_commitment_path(root, c[i], m[i], t[i], b[i], i, tampered)
    assert not verify_commitment_path(root, c[i], m[i], t[i], b[i], i, path[:-1])
    outside = 1 << COMMITMENT_TREE_DEPTH
    assert not verify_commitment_path(root, c[i], m[i], t[i], b[i], outside, path)
    # a commitment left out of the tree has no path to its root
    shorter = commitment_root(*([x for j, x in enumerate(v) if j != i] for v in (c, m, t, b)))
    assert not verify_commitment_path(shorter, c[i], m[i], t[i], b[i], i, path)


@pytest.mark.parametrize("index", [-1, 3, True, "0"])
def test_a_receipt_number_outside_the_batch_is_named(index: object) -> None:
    c, m, t, b = _batch(3, 2)
    with pytest.raises(ValueError, match="index: expected a receipt number in"):
        commitment_path(c, m, t, b, index)  # type: ignore[arg-type]


def test_receipt_order_puts_forfeits_at_their_numbers() -> None:
    c, m, t, b = _batch(4, 3)
    revealed = [(c[0], m[0], t[0], b[0]), (c[2], m[2], t[2], b[2])]
    forfeited = [(3, c[3], m[3], t[3], b[3]), (1, c[1], m[1], t[1], b[1])]
    assert receipt_order(revealed, forfeited) == list(zip(c, m, t, b, strict=True))
    with pytest.raises(ValueError, match="forfeit sequence 4: expected a free slot"):
        receipt_order(revealed, [(4, c[3], m[3], t[3], b[3]), (1, c[1], m[1], t[1], b[1])])
    with pytest.raises(ValueError, match="forfeit sequence 1: expected a free slot"):
        receipt_order(revealed, [(1, c[3], m[3], t[3], b[3]), (1, c[1], m[1], t[1], b[1])])
