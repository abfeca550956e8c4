"""BabyBear.sol against the Python reference field (crypto/field_scalar.py), on py-evm."""

from __future__ import annotations

import random

import pytest

from sealbatch.crypto.field_scalar import Fp4, P, root_of_unity
from sealbatch.settlement.anchor import Chain


def pack(a: Fp4) -> int:
    """The packed word BabyBear.sol uses: c0 | c1 << 64 | c2 << 128 | c3 << 192."""
    return sum(c << (64 * i) for i, c in enumerate(a.c))


def unpack(word: int) -> Fp4:
    return Fp4(tuple((word >> (64 * i)) & (2**64 - 1) for i in range(4)))  # type: ignore[arg-type]


def rand(rng: random.Random) -> Fp4:
    return Fp4(tuple(rng.randrange(P) for _ in range(4)))  # type: ignore[arg-type]


EDGES = [Fp4.zero(), Fp4.one(), Fp4.of(P - 1), Fp4((P - 1, P - 1, P - 1, P - 1))]


@pytest.fixture(scope="module")
def harness(chain: Chain):  # type: ignore[no-untyped-def]
    return chain.deploy("BabyBearHarness")


def test_arithmetic_matches_reference(chain: Chain, harness) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    values = EDGES + [rand(rng) for _ in range(12)]
    for a, b in zip(values, values[3:] + values[:3], strict=True):
        assert unpack(chain.call(harness, "add", pack(a), pack(b))) == a + b
        assert unpack(chain.call(harness, "sub", pack(a), pack(b))) == a - b
        assert unpack(chain.call(harness, "mul", pack(a), pack(b))) == a * b
        s = b.c[0]
        assert unpack(chain.call(harness, "mulBase", pack(a), s)) == a * Fp4.of(s)
        assert unpack(chain.call(harness, "pow", pack(a), 7)) == a**7
        if a != Fp4.zero():
            inv = unpack(chain.call(harness, "inv", pack(a)))
            assert inv == a.inverse()
            assert inv * a == Fp4.one()


def test_roots_of_unity(chain: Chain, harness) -> None:  # type: ignore[no-untyped-def]
    for log_n in (0, 1, 12, 16, 27):
        assert chain.call(harness, "rootOfUnity", log_n) == root_of_unity(log_n)


@pytest.mark.parametrize(
    ("word", "ok"),
    [
        (0, True),
        (P - 1, True),
        (P, False),
        ((P - 1) << 192, True),
        (P << 64, False),
        (P << 192, False),
        (1 << 250, False),
        ((1 << 63) | 5, False),
    ],
)
def test_canonical_check(chain: Chain, harness, word: int, ok: bool) -> None:  # type: ignore[no-untyped-def]
    assert chain.call(harness, "isCanonical", word) is ok
