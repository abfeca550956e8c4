"""The embedded development oracle: four sources in two families, public keys.

Its keys are public by design (like the default operator key): anyone can
sign its reports. Configure real sources for anything of value.
"""

from __future__ import annotations

from sealbatch.crypto.eip712 import address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.oracle import OracleConfig, OracleSource

__all__ = ["DEV_ORACLE_FAMILIES", "dev_oracle_config", "dev_oracle_keys"]

#: Families of the embedded development oracle's four sources (two each).
DEV_ORACLE_FAMILIES = ("alpha", "alpha", "beta", "beta")


def dev_oracle_keys() -> list[bytes]:
    """Keys of the embedded development oracle: ``keccak("sealbatch dev oracle", i)``."""
    return [keccak256(b"sealbatch dev oracle", bytes([i])) for i in range(4)]


def dev_oracle_config() -> OracleConfig:
    """The development oracle's sources (default staleness and divergence rules)."""
    return OracleConfig(
        tuple(
            OracleSource(address_of(k), f)
            for k, f in zip(dev_oracle_keys(), DEV_ORACLE_FAMILIES, strict=True)
        )
    )
