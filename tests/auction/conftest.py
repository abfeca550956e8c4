"""Shared fixtures of the auction tests: keys, a domain, a commit book factory."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from sealbatch.auction.commit_reveal import (
    BatchWindows,
    Commit,
    CommitBook,
    NonceRegistry,
    Reveal,
    SignedCommit,
    compute_commitment,
)
from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.auction.orders import Order
from sealbatch.crypto.eip712 import Address, Eip712Domain, address_of

DOMAIN = Eip712Domain(
    name="sealbatch", version="1", chain_id=31337, verifying_contract=Address("0x" + "ab" * 20)
)
OPERATOR_KEY = bytes.fromhex("11" * 32)
WINDOWS = BatchWindows(commit_open_ms=1_000, commit_close_ms=2_000, reveal_close_ms=2_300)
IN_COMMIT = 1_500
IN_REVEAL = 2_100
AFTER = 2_300


@dataclass(frozen=True)
class Trader:
    key: bytes

    @property
    def address(self) -> Address:
        return address_of(self.key)

    def sealed(
        self,
        order: Order,
        nonce: int,
        batch_id: int = 7,
        *,
        salt: bytes | None = None,
        market: str | None = None,
        bond: int = 0,
        expiry_ms: int = (1 << 64) - 1,
        domain: Eip712Domain = DOMAIN,
    ) -> tuple[SignedCommit, Reveal]:
        """A signed commitment to ``order`` and the matching reveal."""
        salt = salt if salt is not None else os.urandom(32)
        commitment = compute_commitment(order, salt, self.address, batch_id)
        commit = Commit(
            self.address,
            batch_id,
            market if market is not None else order.market,
            commitment,
            nonce,
            bond=bond,
            expiry_ms=expiry_ms,
        )
        return SignedCommit.sign(commit, self.key, domain), Reveal(commitment, order, salt)


ALICE = Trader(bytes.fromhex("a1" * 32))
BOB = Trader(bytes.fromhex("b0" * 32))
CAROL = Trader(bytes.fromhex("c0" * 32))


@pytest.fixture
def make_book() -> Callable[..., CommitBook]:
    def make(
        batch_id: int = 7,
        references: dict[str, int | None] | None = None,
        nonces: NonceRegistry | None = None,
        reveal_check: Callable[[Address, Order], None] | None = None,
    ) -> CommitBook:
        return CommitBook(
            batch_id,
            DEFAULT_MARKETS,
            DOMAIN,
            OPERATOR_KEY,
            WINDOWS,
            references=references or {"BTC-PERP": 50_000, "ETH-PERP": 3_000},
            nonces=nonces if nonces is not None else NonceRegistry(),
            reveal_check=reveal_check,
        )

    return make
