"""The Fiat–Shamir transcript of a proof: what is absorbed before each challenge, the
statement bound before the first one, and the tag that follows the format version."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sealbatch.crypto.airs import get_air
from sealbatch.crypto.channel import VERSION_TAG, Channel
from sealbatch.crypto.field_scalar import Fp4
from sealbatch.crypto.proof import FORMAT_VERSION
from sealbatch.crypto.prover import prove
from sealbatch.crypto.verifier import verify
from tests.crypto.helpers import FAST


class _Recorder:
    """Wraps Channel's methods to log absorbs and draws (prover and verifier alike)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log: list[tuple[Any, ...]] = []
        rec = self
        absorb, draw_ext, positions = Channel.absorb, Channel.draw_ext, Channel.draw_positions
        grind, check_pow = Channel.grind, Channel.check_pow

        def _absorb(self: Channel, data: bytes) -> None:
            rec.log.append(("absorb", bytes(data)))
            absorb(self, data)

        def _draw_ext(self: Channel) -> Fp4:
            if rec.log and rec.log[-1][0] == "draw":
                rec.log[-1] = ("draw", rec.log[-1][1] + 1)
            else:
                rec.log.append(("draw", 1))
            return draw_ext(self)

        def _positions(self: Channel, count: int, size: int) -> list[int]:
            rec.log.append(("positions", count, size))
            return positions(self, count, size)

        def _grind(self: Channel, bits: int) -> int:
            rec.log.append(("pow", bits))
            return grind(self, bits)

        def _check_pow(self: Channel, nonce: int, bits: int) -> bool:
            rec.log.append(("pow", bits))
            return check_pow(self, nonce, bits)

        monkeypatch.setattr(Channel, "absorb", _absorb)
        monkeypatch.setattr(Channel, "draw_ext", _draw_ext)
        monkeypatch.setattr(Channel, "draw_positions", _positions)
        monkeypatch.setattr(Channel, "grind", _grind)
        monkeypatch.setattr(Channel, "check_pow", _check_pow)
        # the prover searches with the compiled search (crypto/keccak_jit.py) first
        import sealbatch.crypto.prover as prover_module

        compiled = prover_module.grind

        def _compiled(state: bytes, bits: int) -> int | None:
            nonce = compiled(state, bits)
            if nonce is not None:  # else the channel's own search runs, and logs
                rec.log.append(("pow", bits))
            return nonce

        monkeypatch.setattr(prover_module, "grind", _compiled)

    def take(self) -> list[tuple[Any, ...]]:
        out, self.log = self.log, []
        return out


def _ext_bytes(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype=">u4").tobytes()


@pytest.mark.parametrize("name", ["fibonacci", "range_check"])
def test_transcript_order_is_the_protocol(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commitment is absorbed before the challenges that depend on it; prover = verifier."""
    entry = get_air(name)
    trace, pubs = entry.generate(16)
    air = entry.build(16, pubs)
    rec = _Recorder(monkeypatch)
    proof = prove(air, trace, FAST)
    prover_log = rec.take()
    verify(proof.to_bytes(), min_security_bits=0)
    verifier_log = rec.take()
    assert prover_log == verifier_log

    expected: list[tuple[Any, ...]] = [("absorb", proof.main_root)]
    if air.num_aux_columns:
        expected += [("draw", air.num_challenges), ("absorb", proof.aux_root)]
    width = air.num_composition_columns()
    deep = len(air.frame) + width
    expected += [
        ("draw", 1),  # α, whose powers batch the constraints, after the last trace commitment
        ("absorb", proof.composition_root),
        ("draw", 1),  # z, after the composition root
        ("absorb", _ext_bytes(proof.ood_frame) + _ext_bytes(proof.ood_composition)),
        ("draw", deep),  # DEEP coefficients, after the OOD values
    ]
    for root in proof.fri.roots:
        expected += [("absorb", root), ("draw", 1)]  # each beta after its layer root
    expected += [
        ("absorb", _ext_bytes(proof.fri.remainder)),  # final polynomial before grinding
        ("pow", FAST.grinding_bits),
        ("absorb", proof.pow_nonce.to_bytes(8, "big")),
        ("positions", FAST.num_queries, FAST.blowup * 16),  # queries after the nonce
    ]
    assert verifier_log == expected


def test_constraint_coefficients_are_powers_of_one_draw() -> None:
    """Step 4: ``[1, α, α², …]`` from one extension draw, the next draw unaffected."""
    a, b = Channel(b"seed"), Channel(b"seed")
    powers = a.draw_powers(5)
    alpha = b.draw_ext()
    assert powers[0] == Fp4.one() and powers[1] == alpha
    assert all(powers[k + 1] == powers[k] * alpha for k in range(4))
    assert len(set(p.c for p in powers)) == 5
    assert a.draw_ext() == b.draw_ext()


def _first_challenge(
    name: str = "fibonacci",
    rows: int = 16,
    options: bytes = FAST.to_bytes(),
    pubs: tuple[int, ...] = (1, 1, 5),
) -> Fp4:
    return Channel.for_statement(name, rows, options, pubs).draw_ext()


def test_statement_is_bound_before_the_first_challenge() -> None:
    """Version, AIR name, trace length, every option byte and every public input."""
    base = _first_challenge()
    assert Channel(VERSION_TAG).draw_ext() != base
    assert _first_challenge(name="fibonaccj") != base
    assert _first_challenge(rows=32) != base
    for i in range(len(FAST.to_bytes())):
        opts = bytearray(FAST.to_bytes())
        opts[i] ^= 1
        assert _first_challenge(options=bytes(opts)) != base, f"option byte {i}"
    for i in range(3):
        pubs = [1, 1, 5]
        pubs[i] += 1
        assert _first_challenge(pubs=tuple(pubs)) != base, f"public input {i}"
    # Length-prefixed: moving a value between fields gives another transcript.
    assert _first_challenge(pubs=(1, 1, 5, 0)) != base
    assert (
        Channel.for_statement("ab", 16, b"c", ()).state
        != Channel.for_statement("a", 16, b"bc", ()).state
    )


def test_transcript_tag_follows_the_format_version() -> None:
    """A new proof format must get a new transcript tag, so that no two versions share one."""
    assert VERSION_TAG.endswith(f"-v{FORMAT_VERSION}".encode())
