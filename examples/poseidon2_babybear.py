"""Poseidon2 over BabyBear and the sealbatch order commitment, standalone.

A plain-Python copy of what docs/signing.md and docs/formats.md
("Commitments") specify, with no sealbatch imports, so that a client in any
language has a short reference to port. The test suite checks it against the
venue's own code (``tests/venue/test_signing_docs.py``).

Permutation: the HorizenLabs BabyBear width-16 Poseidon2 instance
(https://github.com/HorizenLabs/poseidon2, ``poseidon2_instance_babybear.rs``):
p = 15·2^27 + 1, S-box x^7, 8 full rounds (4 before, 4 after) and 13 partial
rounds::

    x <- M_E x
    4 x { x <- M_E S(x + c_r) }                 # S on all 16 elements
    13 x { x_0 <- (x_0 + c_r)^7 ; x <- M_I x }  # S on element 0 only
    4 x { x <- M_E S(x + c_r) }

``M_E`` applies the 4x4 matrix ``M4`` to each block of four elements, then
adds to every element the sum of the four blocks' elements at its position;
``M_I x`` is ``y_i = d_i x_i + sum(x)``.

Sponge: rate 8, capacity 8, overwrite mode; the state starts as zeros with
the message length in element 8; each zero-padded block of 8 overwrites
elements 0-7 and is followed by one permutation; the digest is elements 0-7.
"""

from __future__ import annotations

P = 2013265921  # 15 * 2**27 + 1
M4 = ((5, 7, 1, 3), (4, 6, 1, 1), (1, 3, 5, 7), (1, 1, 4, 6))

INTERNAL_DIAG_M_1 = (
    0x0A632D94, 0x6DB657B7, 0x56FBDC9E, 0x052B3D8A, 0x33745201, 0x5C03108C, 0x0BEBA37B, 0x258C2E8B,
    0x12029F39, 0x694909CE, 0x6D231724, 0x21C3B222, 0x3C0904A5, 0x01D6ACDA, 0x27705C83, 0x5231C802,
)  # fmt: skip

_EXTERNAL_FLAT = (
    0x69CBB6AF, 0x46AD93F9, 0x60A00F4E, 0x6B1297CD, 0x23189AFE, 0x732E7BEF, 0x72C246DE, 0x2C941900,
    0x0557EEDE, 0x1580496F, 0x3A3EA77B, 0x54F3F271, 0x0F49B029, 0x47872FE1, 0x221E2E36, 0x1AB7202E,
    0x487779A6, 0x3851C9D8, 0x38DC17C0, 0x209F8849, 0x268DCEE8, 0x350C48DA, 0x5B9AD32E, 0x0523272B,
    0x3F89055B, 0x01E894B2, 0x13DDEDDE, 0x1B2EF334, 0x7507D8B4, 0x6CEEB94E, 0x52EB6BA2, 0x50642905,
    0x05453F3F, 0x06349EFC, 0x6922787C, 0x04BFFF9C, 0x768C714A, 0x3E9FF21A, 0x15737C9C, 0x2229C807,
    0x0D47F88C, 0x097E0ECC, 0x27EADBA0, 0x2D7D29E4, 0x3502AAA0, 0x0F475FD7, 0x29FBDA49, 0x018AFFFD,
    0x0315B618, 0x6D4497D1, 0x1B171D9E, 0x52861ABD, 0x2E5D0501, 0x3EC8646C, 0x6E5F250A, 0x148AE8E6,
    0x17F5FA4A, 0x3E66D284, 0x0051AA3B, 0x483F7913, 0x2CFE5F15, 0x023427CA, 0x2CC78315, 0x1E36EA47,
    0x7290A80D, 0x6F7E5329, 0x598EC8A8, 0x76A859A0, 0x6559E868, 0x657B83AF, 0x13271D3F, 0x1F876063,
    0x0AEEAE37, 0x706E9CA6, 0x46400CEE, 0x72A05C26, 0x2C589C9E, 0x20BD37A7, 0x6A2D3D10, 0x20523767,
    0x5B8FE9C4, 0x2AA501D6, 0x1E01AC3E, 0x1448BC54, 0x5CE5AD1C, 0x4918A14D, 0x2C46A83F, 0x4FCF6876,
    0x61D8D5C8, 0x6DDF4FF9, 0x11FDA4D3, 0x02933A8F, 0x170EAF81, 0x5A9C314F, 0x49A12590, 0x35EC52A1,
    0x58EB1611, 0x5E481E65, 0x367125C9, 0x0EBA33BA, 0x1FC28DED, 0x066399AD, 0x0CBEC0EA, 0x75FD1AF0,
    0x50F5BF4E, 0x643D5F41, 0x6F4FE718, 0x5B3CBBDE, 0x1E3AFB3E, 0x296FB027, 0x45E1547B, 0x4A8DB2AB,
    0x59986D19, 0x30BCDFA3, 0x1DB63932, 0x1D7C2824, 0x53B33681, 0x0673B747, 0x038A98A3, 0x2C5BCE60,
    0x351979CD, 0x5008FB73, 0x547BCA78, 0x711AF481, 0x3F93BF64, 0x644D987B, 0x3C8BCD87, 0x608758B8,
)  # fmt: skip
# 8 rows of 16: rows 0-3 before the partial rounds, rows 4-7 after.
EXTERNAL_ROUND_CONSTANTS = tuple(_EXTERNAL_FLAT[16 * r : 16 * (r + 1)] for r in range(8))

INTERNAL_ROUND_CONSTANTS = (
    0x5A8053C0, 0x693BE639, 0x3858867D, 0x19334F6B, 0x128F0FD8, 0x4E2B1CCB, 0x61210CE0,
    0x3C318939, 0x0B5B2F22, 0x2EDB11D5, 0x213EFFDF, 0x0CAC4606, 0x241AF16D,
)  # fmt: skip


def _external(x: list[int]) -> list[int]:
    blocks = [[sum(M4[i][j] * x[4 * b + j] for j in range(4)) for i in range(4)] for b in range(4)]
    sums = [sum(blocks[b][i] for b in range(4)) for i in range(4)]
    return [(blocks[b][i] + sums[i]) % P for b in range(4) for i in range(4)]


def permute(state: list[int]) -> list[int]:
    """The Poseidon2 permutation of 16 field elements."""
    x = _external(list(state))
    for rc in EXTERNAL_ROUND_CONSTANTS[:4]:
        x = _external([pow(v + c, 7, P) for v, c in zip(x, rc, strict=True)])
    for c in INTERNAL_ROUND_CONSTANTS:
        x[0] = pow(x[0] + c, 7, P)
        total = sum(x)
        x = [(d * v + total) % P for d, v in zip(INTERNAL_DIAG_M_1, x, strict=True)]
    for rc in EXTERNAL_ROUND_CONSTANTS[4:]:
        x = _external([pow(v + c, 7, P) for v, c in zip(x, rc, strict=True)])
    return x


def hash_elements(message: list[int]) -> list[int]:
    """The sponge digest (8 field elements) of a list of field elements."""
    state = [0] * 16
    state[8] = len(message)
    for start in range(0, max(1, len(message)), 8):
        block = message[start : start + 8]
        state[:8] = block + [0] * (8 - len(block))
        state = permute(state)
    return state[:8]


def limbs(value: int, count: int) -> list[int]:
    """``value`` as ``count`` 24-bit limbs, least significant first."""
    if not 0 <= value < 1 << (24 * count):
        raise ValueError(f"expected 0 to 2^{24 * count} - 1, got {value}")
    return [(value >> (24 * i)) & 0xFFFFFF for i in range(count)]


def market_code(market: str) -> int:
    data = market.encode()
    return hash_elements([0x5EA10004, len(data), *data])[0]


def order_commitment(order: dict, salt: bytes, trader: str, batch_id: int) -> bytes:
    """The 32-byte commitment of a JSON order (docs/signing.md, "The order")."""
    limit = order.get("limit_price")
    flags = (
        int(order["side"] == "buy")
        | int(limit is not None) << 1
        | int(order.get("time_in_force", "ioc") == "gtc") << 2
        | int(bool(order.get("reduce_only", False))) << 3
    )
    preimage = [
        0x5EA10003,
        market_code(order["market"]),
        flags,
        *limbs(limit or 0, 2),
        *limbs(order["quantity"], 2),
        *limbs(order.get("client_id", 0), 3),
        *limbs(int.from_bytes(salt, "big"), 11),
        *limbs(batch_id, 3),
        *limbs(int(trader, 16), 7),
    ]
    return b"".join(e.to_bytes(4, "little") for e in hash_elements(preimage))
