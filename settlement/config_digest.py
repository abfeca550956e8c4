"""The configuration digest: 8 field elements a state root commits to, from genesis on.

A published state file carries its settlement rules as ``config``
(:func:`config_to_dict`); the state root's header holds a Poseidon2 digest of
exactly that object, so no term of it — one the batch used or one it did not —
can be edited in a published state without changing the root, and the batch
AIR proves the post-state carries the pre-state's digest unchanged
(docs/formats.md "The configuration digest").

Encoding (reimplementable from the docs alone):

1. ``text`` = the canonical JSON of :func:`config_to_dict`: keys sorted, no
   whitespace (separators ``,`` and ``:``), every non-ASCII character escaped
   (``\\uXXXX``), integers as decimal numbers — Python's
   ``json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``;
   strings (market ids, tick and lot sizes, ``deleverage``) are JSON strings,
   quoted and escaped, so no two configurations give the same text;
2. its ASCII bytes ``b_0 … b_{L−1}``, zero-padded to a multiple of 3, packed
   three per element little-endian: ``e_i = b_{3i} + 2^8·b_{3i+1} + 2^16·b_{3i+2}``
   (below 2^24 < p);
3. ``config_digest = hash_elements([CONFIG_DOMAIN, L, e_0, e_1, …])``
   (:func:`sealbatch.crypto.poseidon2.hash_elements`, the state tree's sponge).
"""

from __future__ import annotations

import json
from typing import Any

from sealbatch.crypto import poseidon2
from sealbatch.settlement.params import SettlementConfig

__all__ = [
    "CONFIG_DOMAIN",
    "MARKET_FIELDS",
    "RISK_FIELDS",
    "config_digest",
    "config_digest_elements",
    "config_text",
    "config_to_dict",
]

#: First element of the configuration digest's preimage (domain separation).
CONFIG_DOMAIN = 0x5EA1_0007
#: Each market's published auction terms (``config.markets.<id>``).
MARKET_FIELDS = (
    "tick_size",
    "lot_size",
    "contract_multiplier",
    "min_order_lots",
    "max_order_lots",
    "block_min_lots",
    "band_bps",
)
#: Each market's published risk terms (``config.markets.<id>``), besides ``tiers``.
RISK_FIELDS = (
    "fee_bps",
    "funding_interval_batches",
    "funding_cap_bps",
    "shock_bps",
    "liquidation_penalty_bps",
    "max_slippage_bps",
    "max_liquidation_lots",
    "breaker_bps",
    "calm_batches",
    "protective_band_bps",
    "protective_liquidation_lots",
    "mark_band_bps",
    "mark_step_bps",
)


def config_to_dict(config: SettlementConfig) -> dict[str, Any]:
    """Every settlement rule, so that a published batch can be replayed on its own."""
    return {
        "markets": {
            r.market_id: {
                **{f: getattr(r.market, f) for f in MARKET_FIELDS},
                **{f: getattr(r, f) for f in RISK_FIELDS},
                "tiers": [[t.max_lots, t.initial_bps, t.maintenance_bps] for t in r.tiers],
            }
            for r in config.markets
        },
        "correlation_bps": [list(row) for row in config.correlation_bps],
        "portfolio_floor_bps": config.portfolio_floor_bps,
        "portfolio_maintenance_bps": config.portfolio_maintenance_bps,
        "forfeit_bond": config.forfeit_bond,
        "deleverage": config.deleverage.value,
    }


def config_text(config: SettlementConfig) -> bytes:
    """The canonical JSON of :func:`config_to_dict` (module docstring, step 1), as bytes."""
    text = json.dumps(
        config_to_dict(config), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return text.encode("ascii")


def config_digest_elements(config: SettlementConfig) -> list[int]:
    """The digest's preimage ``[CONFIG_DOMAIN, L, e_0, …]`` (module docstring, steps 2–3)."""
    raw = config_text(config)
    padded = raw + b"\x00" * (-len(raw) % 3)
    packed = [int.from_bytes(padded[i : i + 3], "little") for i in range(0, len(padded), 3)]
    return [CONFIG_DOMAIN, len(raw), *packed]


def config_digest(config: SettlementConfig) -> tuple[int, ...]:
    """The 8-element configuration digest a state root commits to (module docstring)."""
    digest = poseidon2.hash_elements(config_digest_elements(config))
    return tuple(int(x) for x in digest)
