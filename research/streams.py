"""Common random numbers: one ``SeedSequence`` per agent and per stream.

Every random draw of a run comes from a generator keyed by (agent name,
stream name) under the run's seed, so two mechanisms run with the same seed
see the same fundamental path, the same arrival times and the same private
values, and changing one agent's parameters leaves every other stream alone.
The key is spawned from the root ``SeedSequence`` as a child identified by a
stable hash of the names (NumPy's ``spawn_key`` mechanism), not by spawn order.
"""

from __future__ import annotations

import numpy as np

from sealbatch.crypto.keccak import keccak256

__all__ = ["Streams"]


class Streams:
    """Random generators of one run, keyed by agent and stream name."""

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
        self.seed = seed
        self.root = np.random.SeedSequence(seed)

    def sequence(self, agent: str, stream: str) -> np.random.SeedSequence:
        """The child SeedSequence of (agent, stream)."""
        digest = keccak256(f"{agent}/{stream}".encode())
        key = (int.from_bytes(digest[:4], "big"), int.from_bytes(digest[4:8], "big"))
        return np.random.SeedSequence(self.root.entropy, spawn_key=key)

    def rng(self, agent: str, stream: str) -> np.random.Generator:
        """A PCG64 generator for (agent, stream)."""
        return np.random.Generator(np.random.PCG64(self.sequence(agent, stream)))

    def poisson_times(self, agent: str, stream: str, rate_hz: float, horizon_ns: int) -> np.ndarray:
        """Arrival times (int64 ns, sorted) of a Poisson process on ``[0, horizon)``."""
        if rate_hz <= 0:
            return np.zeros(0, np.int64)
        g = self.rng(agent, stream)
        n = int(g.poisson(rate_hz * horizon_ns / 1e9))
        return np.sort(g.integers(0, horizon_ns, size=n, dtype=np.int64))
