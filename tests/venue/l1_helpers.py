"""An exchange on the embedded chain for the venue's L1 tests, and traders who can use it."""

from __future__ import annotations

from dataclasses import dataclass

from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.crypto.airs import get_air
from sealbatch.settlement.anchor import Chain, deploy_verifier
from sealbatch.settlement.anchor_exchange import ExchangeContract, deploy_exchange, market_terms
from sealbatch.settlement.clearinghouse import Clearinghouse
from sealbatch.settlement.dev_oracle import dev_oracle_config
from sealbatch.settlement.roots import state_root
from sealbatch.venue.l1 import dev_account
from tests.crypto.helpers import FAST

#: Trader keys whose addresses the embedded chain lets transact (``dev_account``).
L1_KEYS = {name: "0x" + f"{i:02x}" * 32 for i, name in enumerate(["alice", "bob", "carol"], 0x21)}

#: Tokens minted to each trader (6 decimals: 1 000 000 USDC).
MINTED = 10**12

MARKETS = ("BTC-PERP", "ETH-PERP")


@dataclass
class L1:
    """The chain, the exchange the venue attaches to, and the traders' addresses."""

    chain: Chain
    ex: ExchangeContract
    traders: dict[str, str]


def deploy_refusing_exchange(
    chain: Chain, account_capacity: int = 16, first_batch_id: int = 0
) -> ExchangeContract:
    """An exchange for a venue's genesis whose verifier is StarkVerifier.sol deployed for
    the ``fibonacci`` AIR: a real verifier that refuses every batch proof (its header
    names another AIR), so an anchoring through it reverts with ``ProofRejected``. It takes
    deposits from ``account_capacity`` accounts (16: a venue's default ``l1_max_depth``)."""
    air = get_air("fibonacci").build(64, (1, 1, 0))
    verifier = deploy_verifier(chain, air, FAST, min_security_bits=0)
    genesis = Clearinghouse({m: DEFAULT_MARKETS[m] for m in MARKETS})
    return deploy_exchange(
        chain,
        verifier.verifier.address,
        genesis_root=state_root(genesis.state),
        multipliers=[m.multiplier for m in genesis.config.markets],
        markets=MARKETS,
        fee_bps=market_terms(genesis.config)[0],
        margin_tiers=market_terms(genesis.config)[1],
        penalty_bps=market_terms(genesis.config)[2],
        initial_bps=market_terms(genesis.config)[3],
        first_batch_id=first_batch_id,
        oracle=dev_oracle_config(),
        forced_delay_s=600,
        account_capacity=account_capacity,
    )


def l1_with_traders(ex: ExchangeContract) -> L1:
    """Fund every trader of :data:`L1_KEYS` with gas and test tokens."""
    traders = {}
    for name, key in L1_KEYS.items():
        address = dev_account(ex.chain, bytes.fromhex(key[2:]))
        ex.mint(address, MINTED)
        traders[name] = address
    return L1(ex.chain, ex, traders)
