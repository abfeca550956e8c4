"""Vectorised BabyBear (crypto.field) against the scalar reference (crypto.field_scalar)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.crypto import field
from sealbatch.crypto.field_scalar import (
    GENERATOR,
    TWO_ADICITY,
    Fp4,
    P,
    W,
    fp_inv,
    fp_pow,
    root_of_unity,
)

elements = st.integers(min_value=0, max_value=P - 1)
edge = [0, 1, 2, P - 2, P - 1, (P - 1) // 2, 1 << 30]


def _arr(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


# ------------------------------------------------------- known values


def test_modulus_and_two_adicity() -> None:
    assert P == 2013265921 == 15 * 2**27 + 1
    assert (P - 1) % 2**TWO_ADICITY == 0 and ((P - 1) >> TWO_ADICITY) % 2 == 1


def test_generator_generates_the_multiplicative_group() -> None:
    # p - 1 = 2^27 · 3 · 5: a generator has no power (p-1)/q equal to 1.
    for q in (2, 3, 5):
        assert pow(GENERATOR, (P - 1) // q, P) != 1


def test_two_adic_root_matches_plonky3() -> None:
    # Plonky3 baby-bear TWO_ADIC_GENERATORS[27] = 0x1a427a41.
    w = root_of_unity(27)
    assert w == 0x1A427A41
    assert pow(w, 2**26, P) == P - 1 and pow(w, 2**27, P) == 1
    assert field.root_of_unity(3) == pow(w, 2**24, P)


def test_extension_polynomial_is_irreducible() -> None:
    # x^4 - W is irreducible over F_p when 4 | p - 1 and W is not a square.
    assert pow(W, (P - 1) // 2, P) == P - 1


def test_known_inverses() -> None:
    assert fp_inv(2) == (P + 1) // 2
    assert int(field.inv(_arr([2]))[0]) == (P + 1) // 2
    with pytest.raises(ZeroDivisionError):
        field.inv(_arr([1, 0]))
    with pytest.raises(ZeroDivisionError):
        field.batch_inv(_arr([3, 0, 5]))
    with pytest.raises(ZeroDivisionError):
        Fp4.zero().inverse()


def test_x_to_the_fourth_is_eleven() -> None:
    x = Fp4((0, 1, 0, 0))
    assert x**4 == Fp4.of(W)
    xv = field.ext_scalar(x)
    assert field.ext_to_fp4(field.ext_pow(xv, 4)) == [Fp4.of(11)]


# --------------------------------------- vectorised against reference


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(elements, elements), min_size=1, max_size=40))
def test_base_ops_match_reference(pairs: list[tuple[int, int]]) -> None:
    pairs = pairs + [(a, b) for a in edge for b in edge]
    a = _arr([x for x, _ in pairs])
    b = _arr([y for _, y in pairs])
    assert field.add(a, b).tolist() == [(x + y) % P for x, y in pairs]
    assert field.sub(a, b).tolist() == [(x - y) % P for x, y in pairs]
    assert field.mul(a, b).tolist() == [x * y % P for x, y in pairs]
    assert field.neg(a).tolist() == [(-x) % P for x, _ in pairs]
    assert field.pow(a, 12345).tolist() == [fp_pow(x, 12345) for x, _ in pairs]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, P - 1), min_size=1, max_size=70))
def test_inverses_match_reference(values: list[int]) -> None:
    a = _arr(values)
    expected = [fp_inv(v) for v in values]
    assert field.inv(a).tolist() == expected
    assert field.batch_inv(a).tolist() == expected
    assert field.pow(a, -3).tolist() == [fp_pow(v, -3) for v in values]


fp4s = st.tuples(elements, elements, elements, elements).map(Fp4)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(fp4s, fp4s), min_size=1, max_size=20))
def test_extension_ops_match_reference(pairs: list[tuple[Fp4, Fp4]]) -> None:
    pairs = [*pairs, (Fp4((P - 1,) * 4), Fp4((P - 1,) * 4))]  # the lazy-reduction worst case
    a = field.ext_from_fp4([x for x, _ in pairs])
    b = field.ext_from_fp4([y for _, y in pairs])
    assert field.ext_to_fp4(field.ext_add(a, b)) == [x + y for x, y in pairs]
    assert field.ext_to_fp4(field.ext_sub(a, b)) == [x - y for x, y in pairs]
    assert field.ext_to_fp4(field.ext_mul(a, b)) == [x * y for x, y in pairs]
    assert field.ext_to_fp4(field.ext_neg(a)) == [-x for x, _ in pairs]
    assert field.ext_to_fp4(field.ext_pow(a, 77)) == [x**77 for x, _ in pairs]
    base = b[0]
    assert field.ext_to_fp4(field.ext_mul_base(a, base)) == [
        x * y.c[0] for (x, _), y in zip(pairs, field.ext_to_fp4(b), strict=True)
    ]


@settings(max_examples=30, deadline=None)
@given(st.lists(fp4s.filter(lambda v: v != Fp4.zero()), min_size=1, max_size=20))
def test_extension_inverse_matches_reference(values: list[Fp4]) -> None:
    a = field.ext_from_fp4(values)
    expected = [v.inverse() for v in values]
    assert field.ext_to_fp4(field.ext_inv(a)) == expected
    assert field.ext_to_fp4(field.ext_batch_inv(a)) == expected
    for v, w in zip(values, expected, strict=True):
        assert v * w == Fp4.one()


def test_field_axioms_on_reference() -> None:
    rng = np.random.default_rng(7)
    vals = [Fp4(tuple(int(x) for x in rng.integers(0, P, 4))) for _ in range(3)]
    a, b, c = vals
    assert a * (b + c) == a * b + a * c
    assert (a * b) * c == a * (b * c)
    assert a / b * b == a


@pytest.mark.parametrize("n", [1, 2, 3, 5, 64, 1000, 4097])
def test_batch_inv_sizes(n: int) -> None:
    rng = np.random.default_rng(n)
    a = field.random_elements(rng, n)
    a[a == 0] = 1
    assert np.all(field.mul(field.batch_inv(a), a) == 1)
    a2 = a.reshape(1, n)
    assert field.batch_inv(a2).shape == (1, n)


def test_powers_and_bytes() -> None:
    g = root_of_unity(4)
    assert field.powers(g, 20, start=3).tolist() == [3 * pow(g, i, P) % P for i in range(20)]
    a = _arr([0, 1, P - 1, 123456789])
    data = field.to_bytes(a)
    assert data[:8] == bytes(4) + b"\x00\x00\x00\x01"
    assert field.from_bytes(data).tolist() == a.tolist()
    with pytest.raises(ValueError):
        field.from_bytes((P).to_bytes(4, "big"))
    assert field.as_field([-1, P, 5]).tolist() == [P - 1, 0, 5]
