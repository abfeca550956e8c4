"""The Keccak Fiat-Shamir channel: determinism, binding, unbiased draws, proof of work."""

from __future__ import annotations

import pytest

from sealbatch.crypto.channel import VERSION_TAG, Channel, leading_zero_bits
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.keccak import keccak256


def _channel(**kw: object) -> Channel:
    args = {"air_name": "fib", "num_rows": 8, "options": b"\x03\x00\x1e", "public_inputs": (1, 2)}
    args.update(kw)
    return Channel.for_statement(**args)  # type: ignore[arg-type]


def test_initial_state_is_documented() -> None:
    c = _channel()
    seed = (
        VERSION_TAG
        + (3).to_bytes(2, "big")
        + b"fib"
        + (8).to_bytes(8, "big")
        + (3).to_bytes(2, "big")
        + b"\x03\x00\x1e"
        + (2).to_bytes(4, "big")
        + (1).to_bytes(4, "big")
        + (2).to_bytes(4, "big")
    )
    assert c.state == keccak256(seed)


@pytest.mark.parametrize(
    "change",
    [
        {"air_name": "fic"},
        {"num_rows": 16},
        {"options": b"\x03\x00\x1f"},
        {"public_inputs": (1, 3)},
        {"public_inputs": (1, 2, 0)},
    ],
)
def test_statement_binds_every_field(change: dict[str, object]) -> None:
    assert _channel(**change).draw_ext() != _channel().draw_ext()


def test_draws_are_deterministic_and_depend_on_absorbed_data() -> None:
    a, b = _channel(), _channel()
    assert a.draw_exts(3) == b.draw_exts(3)
    a.absorb(b"root")
    b.absorb(b"root!")
    assert a.draw_ext() != b.draw_ext()


def test_draw_ext_is_one_hash_of_four_64_bit_words_mod_p() -> None:
    c = _channel()
    c.absorb(b"x")
    c._word()  # a word draw leaves the pool half-used; the extension draw takes the next hash
    digest = keccak256(c.state, (1).to_bytes(8, "big"))
    expected = tuple(int.from_bytes(digest[8 * k : 8 * k + 8], "big") % P for k in range(4))
    assert c.draw_ext().c == expected
    after = keccak256(c.state, (2).to_bytes(8, "big"))
    assert c._word() == int.from_bytes(after[:4], "big")  # a fresh hash after it


def test_draws_are_in_range() -> None:
    c = _channel()
    values = [v for e in c.draw_exts(500) for v in e.c]
    assert all(0 <= v < P for v in values)
    assert len(set(values)) == len(values)
    pos = c.draw_positions(500, 1 << 10)
    assert all(0 <= p < 1024 for p in pos)
    with pytest.raises(ValueError, match="power-of-two"):
        c.draw_positions(1, 1000)


def test_proof_of_work() -> None:
    c = _channel()
    nonce = c.grind(10)
    assert c.check_pow(nonce, 10)
    assert leading_zero_bits(c.pow_digest(nonce)) >= 10
    # the smallest such nonce: every earlier one fails
    assert not any(c.check_pow(k, 10) for k in range(nonce))
    assert c.check_pow(123, 0) and c.grind(0) == 0
    before = c.state
    c.absorb_nonce(nonce)
    assert c.state == keccak256(before, nonce.to_bytes(8, "big"))


def test_leading_zero_bits() -> None:
    assert leading_zero_bits(bytes(32)) == 256
    assert leading_zero_bits(b"\x00\x01" + bytes(30)) == 15
    assert leading_zero_bits(b"\x80" + bytes(31)) == 0
