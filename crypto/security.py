"""Security level of a STARK proof: conjectured bits (ethSTARK) and proven bits (Johnson bound).

Conjectured security (ethSTARK documentation, Section 5.10.1 "Conjectured
security"; the formula winterfell uses)::

    field_bits   = floor(4·log2 p) − log2(B·N)        # challenge space vs LDE domain
    query_bits   = q·log2 B (+ grinding if q·log2 B >= 80)
    conjectured  = min(min(field_bits, query_bits) − 1, 128)

where ``4·log2 p ≈ 123.6`` (degree-4 extension of BabyBear), ``B`` is the
blowup, ``N`` the trace length, ``q`` the number of queries and 128 the
collision resistance of Keccak-256. As in winterfell, grinding counts only
when the queries alone give at least :data:`GRINDING_CONTRIBUTION_FLOOR` bits,
so that a few queries and a large proof of work cannot reach 100 bits.

Proven security follows the list-decoding (Johnson bound) analysis of
DEEP-ALI + FRI (Ben-Sasson, Carmon, Ishai, Kopparty, Saraf, "Proximity Gaps
for Reed–Solomon Codes", FOCS 2020, Thm. 8.3; ethSTARK documentation,
Thm. 2), with ``ρ = 1/B``, multiplicity parameter ``m >= 3``,
``θ = 1 − √ρ·(1 + 1/2m)``, list size ``L = (m + 1/2)/√ρ``, ``|F| = p^4``,
``|D| = B·N``::

    ε_ALI   = L · C / |F|                                  # constraints batched by powers of α
    ε_DEEP  = L · (d·N + N) / (|F| − |D| − N)               # out-of-domain point
    ε_FRI   = (1 + Σ_rounds (f − 1)) · (m + 1/2)^7 / (3 ρ^1.5) · |D|^2 / |F|
    ε_query = (1 − θ)^q · 2^(−grinding)
    proven  = min(max over m of −log2(ε_ALI + ε_DEEP + ε_FRI + ε_query), 128)

(``d`` the largest constraint degree, ``C`` the number of constraints, whose
composition coefficients are the powers ``1, α, …, α^(C−1)`` of one draw,
``f`` the folding factor). It is far
below the conjectured figure at practical query counts, as for every
deployed STARK; both are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sealbatch.crypto.field_scalar import EXT_DEGREE, P
from sealbatch.crypto.options import ProofOptions

__all__ = [
    "COLLISION_BITS",
    "GRINDING_CONTRIBUTION_FLOOR",
    "SecurityReport",
    "conjectured_bits",
    "estimate_security",
    "proven_bits",
]

COLLISION_BITS = 128
"""Keccak-256 collision resistance."""
GRINDING_CONTRIBUTION_FLOOR = 80
"""Query bits below which grinding adds nothing to the conjectured figure (winterfell's value)."""
_EXT_FIELD_BITS = EXT_DEGREE * math.log2(P)


def _fri_rounds(num_rows: int, options: ProofOptions) -> int:
    d, rounds = num_rows, 0
    while d > options.fri_max_remainder and d >= options.folding_factor:
        d //= options.folding_factor
        rounds += 1
    return rounds


def conjectured_bits(options: ProofOptions, num_rows: int) -> int:
    """Conjectured security in bits (ethSTARK formula)."""
    lde_bits = int(math.log2(options.blowup * num_rows))
    field_bits = math.floor(_EXT_FIELD_BITS) - lde_bits
    query_bits = options.num_queries * int(math.log2(options.blowup))
    if query_bits >= GRINDING_CONTRIBUTION_FLOOR:
        query_bits += options.grinding_bits
    return max(0, min(min(field_bits, query_bits) - 1, COLLISION_BITS))


def proven_bits(
    options: ProofOptions, num_rows: int, max_degree: int = 3, num_constraints: int = 1
) -> int:
    """Provable security in bits (Johnson-bound regime), maximised over ``m``."""
    rho = 1.0 / options.blowup
    field = 2.0**_EXT_FIELD_BITS
    domain = float(options.blowup * num_rows)
    rounds = _fri_rounds(num_rows, options)
    best = 0.0
    for m in range(3, 200):
        list_size = (m + 0.5) / math.sqrt(rho)
        eps_ali = list_size * max(num_constraints, 1) / field
        eps_deep = list_size * (max_degree * num_rows + num_rows) / (field - domain - num_rows)
        eps_fri = (
            (1 + rounds * (options.folding_factor - 1))
            * (m + 0.5) ** 7
            / (3 * rho**1.5)
            * domain**2
            / field
        )
        agreement = math.sqrt(rho) * (1 + 1 / (2 * m))
        eps_query = agreement**options.num_queries * 2.0**-options.grinding_bits
        bits = -math.log2(eps_ali + eps_deep + eps_fri + eps_query)
        best = max(best, bits)
    return max(0, min(int(best), COLLISION_BITS))


@dataclass(frozen=True)
class SecurityReport:
    conjectured: int
    proven: int


def estimate_security(
    options: ProofOptions, num_rows: int, max_degree: int = 3, num_constraints: int = 1
) -> SecurityReport:
    """Estimate the conjectured and proven security bits of one proof shape."""
    return SecurityReport(
        conjectured_bits(options, num_rows),
        proven_bits(options, num_rows, max_degree, num_constraints),
    )
