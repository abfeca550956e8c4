"""Fixtures for the Solidity side: one embedded chain (py-evm) per test session."""

from __future__ import annotations

import pytest

from sealbatch.settlement.anchor import Chain


@pytest.fixture(scope="session")
def chain() -> Chain:
    """The embedded chain (eth-tester on py-evm, Prague rules), shared by the session."""
    return Chain()
