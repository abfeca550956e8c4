"""Fixtures for the Solidity side: one embedded chain (py-evm) per test session, and an
anvil node per module that asks for one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sealbatch.settlement.anchor import Chain

from .anvil import anvil_binary, running_anvil


@pytest.fixture(scope="session")
def chain() -> Chain:
    """The embedded chain (eth-tester on py-evm, Prague rules), shared by the session."""
    return Chain()


@pytest.fixture(scope="module")
def anvil_chain() -> Iterator[Chain]:
    """A local anvil node (Prague rules, 127.0.0.1) for the module's marked tests; skips
    them where anvil is not installed."""
    if anvil_binary() is None:
        pytest.skip("anvil is not installed (make installs contracts/node_modules)")
    with running_anvil() as url:
        yield Chain(url)
