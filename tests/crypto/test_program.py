"""The flattened constraint program agrees with the node-by-node reference evaluators."""

from __future__ import annotations

import random

import pytest

from sealbatch.crypto.air import Air, col, periodic, pub
from sealbatch.crypto.airs import batch_shape, get_air
from sealbatch.crypto.composition import composition_at, composition_at_reference
from sealbatch.crypto.expr import challenge, degrees, max_offsets
from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.crypto.program import Program


def _rand_ext(rng: random.Random) -> Fp4:
    return Fp4(tuple(rng.randrange(P) for _ in range(4)))


def _airs() -> list[Air]:
    out = []
    for name in ("fibonacci", "range_check", "wide", "poseidon2"):
        entry = get_air(name)
        _trace, pubs = entry.generate(16)
        out.append(entry.build(16, pubs))
    _trace, pubs = batch_shape.generate(16, wide=4, limbs=5, public_rows=2)
    out.append(batch_shape.build(16, pubs))
    a, b = col(0), col(1)
    out.append(
        Air(
            "mixed",
            16,
            2,
            (
                periodic(0) * (a.next - a**5 + pub(0)),
                -(b - a) * challenge(0) + 7,
                (a * b - 3) ** 2 - b.next,
            ),
            public_inputs=(11,),
            periodic_columns=((1, 0, 3, 0),),
            num_challenges=1,
        )
    )
    return out


@pytest.mark.parametrize("air", _airs(), ids=lambda air: air.name)
def test_program_matches_the_reference_evaluators(air: Air) -> None:
    rng = random.Random(air.name)
    exprs = air.constraint_exprs()
    program = Program.of(exprs, air.constraint_order)
    assert program.degrees() == degrees(exprs, air.constraint_order)
    assert program.max_offsets() == max_offsets(exprs, air.constraint_order)
    frame = {key: _rand_ext(rng) for key in air.frame}
    z = _rand_ext(rng)
    alphas = [_rand_ext(rng) for _ in exprs]
    challenges = [_rand_ext(rng) for _ in range(air.total_challenges)]
    fast = composition_at(air, frame, z, alphas, challenges)
    assert fast == composition_at_reference(air, frame, z, alphas, challenges)
    # and it depends on every frame value: change one, the result changes
    key = program.column_keys[0]
    frame[key] = frame[key] + Fp4.one()
    assert composition_at(air, frame, z, alphas, challenges) != fast
