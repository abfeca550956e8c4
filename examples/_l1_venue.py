"""Shared set-up of the L1 examples: a venue on a chain, its traders funded on L1.

Not an example by itself: ``l1_deposit_trade_withdraw.py`` and ``escape_hatch.py`` use it.
The venue runs in this process (the embedded py-evm chain lives here), proves every batch
and anchors it on the exchange contract it deploys at its first start.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.anchor import Chain
from sealbatch.settlement.anchor_exchange import ExchangeContract, attach_exchange
from sealbatch.settlement.dev_oracle import dev_oracle_keys
from sealbatch.venue.app import create_app
from sealbatch.venue.client import VenueClient
from sealbatch.venue.errors import ApiError
from sealbatch.venue.l1 import dev_account
from sealbatch.venue.local_venue import ThreadVenue
from sealbatch.venue.settings import Settings

T = TypeVar("T")

#: Seconds the examples give a batch to be proved and anchored (a batch proof takes
#: about 15 s of CPU on a quiet machine; much more on a loaded one).
ANCHOR_TIMEOUT_S = 1_800.0
#: Seconds an unserved forced withdrawal waits before anyone may freeze the exchange.
FORCED_DELAY_S = 120


class ExampleFailed(Exception):
    """The example did not reach its goal (the message says where)."""


@dataclass
class L1Venue:
    """The running venue, its chain and exchange, and the example's traders."""

    url: str
    chain: Chain
    exchange: ExchangeContract
    service: Any
    publish_dir: Path
    traders: dict[str, VenueClient]
    addresses: dict[str, str]

    def on_chain(self, call: Callable[[], T]) -> T:
        """Run ``call`` while the venue's L1 stage is not using the chain (the embedded
        chain is not thread-safe)."""
        with self.service.l1.chain_lock:
            return call()

    def status(self, batch_id: int) -> str:
        answer: str = self.traders["alice"].batch(batch_id)["status"]
        return answer

    def wait_anchored(self, batch_id: int) -> dict[str, Any]:
        """Wait until batch ``batch_id`` is anchored; its record.

        Raises:
            ExampleFailed: the venue reports its anchoring refused, or time runs out.
        """
        deadline = time.monotonic() + ANCHOR_TIMEOUT_S
        while time.monotonic() < deadline:
            record = self.traders["alice"].batch(batch_id)
            if record["status"] == "anchored":
                return record
            if record["status"] == "failed":
                raise ExampleFailed(f"batch {batch_id} failed: {record}")
            failure = self.service.l1.failure
            if failure is not None and failure.batch_id == batch_id and failure.attempts >= 2:
                raise ExampleFailed(
                    f"batch {batch_id}: the exchange refused it ({failure.error}): {failure.detail}"
                )
            time.sleep(0.5)
        raise ExampleFailed(
            f"batch {batch_id}: expected it anchored, still {self.status(batch_id)}"
        )

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise ExampleFailed(f"expected {what} within {timeout:.0f} s")
            time.sleep(0.2)


def post_price(source: VenueClient, market: str, price: int) -> None:
    """Post an oracle report; again if the venue's clock had not reached its time yet."""
    for _ in range(50):
        try:
            source.post_oracle_price(market, price)
            return
        except ApiError as exc:
            if "timestamp_ms" not in str(exc):
                raise
            time.sleep(0.05)
    raise ExampleFailed("expected the venue to take an oracle report")


@contextlib.contextmanager
def l1_venue(
    url: str | None, deposits: dict[str, int], publish_dir: Path | None = None
) -> Iterator[L1Venue]:
    """A venue on ``url`` (a JSON-RPC development node such as anvil; None: the embedded
    chain) whose traders deposited ``deposits`` (name → base units) through the exchange
    contract, the deposits credited and the oracle priced. It publishes every batch into
    ``publish_dir`` (default: a folder removed with the venue's database)."""
    chain = Chain(url)
    with tempfile.TemporaryDirectory(prefix="sealbatch-l1-example-") as tmp:
        published = publish_dir or Path(tmp) / "published"
        settings = Settings(
            db_url=f"sqlite:///{tmp}/venue.db",
            l1_url=url or "embedded",
            l1_poll_ms=200,
            l1_retry_ms=500,
            l1_max_depth=1,  # two traders: the account tree keeps depth 1
            l1_forced_delay_s=FORCED_DELAY_S,
            commit_window_ms=800,
            reveal_window_ms=300,
            prove=True,
            publish_dir=str(published),
        )
        app = create_app(settings, chain=chain)
        with ThreadVenue(app) as venue_url:
            service = app.state.service
            info = VenueClient(venue_url, keccak256(b"reader")).info()
            exchange = attach_exchange(chain, info["exchange_contract"])
            traders: dict[str, VenueClient] = {}
            addresses: dict[str, str] = {}
            for i, name in enumerate(deposits):
                key = keccak256(b"l1 example trader", bytes([i]))
                traders[name] = VenueClient(venue_url, key)
                with service.l1.chain_lock:
                    addresses[name] = dev_account(chain, key)
            v = L1Venue(venue_url, chain, exchange, service, published, traders, addresses)
            print(
                f"venue {venue_url}: exchange {exchange.address} on chain {chain.w3.eth.chain_id}"
            )
            for k in dev_oracle_keys():
                post_price(VenueClient(venue_url, k), "BTC-PERP", 650_000)
            for name, amount in deposits.items():
                who = addresses[name]

                def deposit(who: str = who, amount: int = amount) -> int:
                    exchange.mint(who, amount)
                    return exchange.deposit(who, amount).gas_used

                gas = v.on_chain(deposit)
                print(f"{name} deposited {amount} on L1 ({gas} gas)")
            for name, amount in deposits.items():
                client = traders[name]
                v.wait_for(
                    f"{name}'s deposit credited",
                    lambda c=client, a=amount: int(c.account()["collateral"]) == a,
                    ANCHOR_TIMEOUT_S,
                )
            yield v
