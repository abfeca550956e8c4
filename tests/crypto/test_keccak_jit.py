"""The compiled proof-of-work search (crypto/keccak_jit.py) finds the channel's nonce,
refuses bad arguments, and leaves proofs unchanged (with or without it)."""

from __future__ import annotations

import pytest

from sealbatch.crypto import keccak_jit
from sealbatch.crypto import prover as prover_module
from sealbatch.crypto.airs import fibonacci
from sealbatch.crypto.channel import Channel
from sealbatch.crypto.options import ProofOptions
from sealbatch.crypto.prover import prove
from sealbatch.crypto.verifier import verify


@pytest.mark.parametrize("bits", [0, 1, 3, 7, 8, 9, 12, 15, 16, 17])
@pytest.mark.parametrize("seed", [b"a", b"sealbatch", bytes(range(40))])
def test_the_nonce_is_the_channels(seed: bytes, bits: int) -> None:
    channel = Channel(seed)
    nonce = keccak_jit.grind(channel.state, bits)
    assert nonce == channel.grind(bits)
    assert channel.check_pow(nonce, bits)
    if nonce:  # the smallest: the one before does not do
        assert not channel.check_pow(nonce - 1, bits)


@pytest.mark.parametrize(
    ("state", "bits", "match"),
    [
        (b"\x00" * 31, 8, "32-byte channel state, got 31"),
        (b"\x00" * 32, 33, "grinding bits <= 32, got 33"),
        (b"\x00" * 32, -1, "grinding bits <= 32, got -1"),
    ],
)
def test_bad_arguments_are_refused(state: bytes, bits: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        keccak_jit.grind(state, bits)


def test_without_the_compiled_search_the_prover_grinds_on_the_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same proof either way: the nonce is a function of the transcript alone."""
    trace, pubs = fibonacci.generate(64)
    air = fibonacci.build(64, pubs)
    options = ProofOptions(blowup=8, num_queries=20, folding_factor=8, grinding_bits=10)
    fast = prove(air, trace, options).to_bytes()
    called: list[int] = []

    def unavailable(state: bytes, bits: int) -> None:
        called.append(bits)
        return None

    monkeypatch.setattr(prover_module, "grind", unavailable)
    assert prove(air, trace, options).to_bytes() == fast
    assert called == [10]
    verify(fast, min_security_bits=0)
