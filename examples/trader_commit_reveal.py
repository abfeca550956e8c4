"""A trader's session: deposit, sealed orders with automatic reveal, fates, account.

Runs against ``--url`` or, by default, starts a local venue (``sealbatch serve``
on 127.0.0.1 with a fresh SQLite database) and stops it at the end::

    .venv/bin/python examples/trader_commit_reveal.py [--url http://127.0.0.1:8000]

The oracle prices come from the venue's embedded development oracle keys
(public, for local use only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.dev_oracle import dev_oracle_keys
from sealbatch.venue.client import LocalVenue, VenueClient


@contextlib.contextmanager
def venue(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with LocalVenue(commit_ms=600, reveal_ms=250) as local:
        yield local


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="a running venue (default: start a local one)")
    args = ap.parse_args()
    with venue(args.url) as url:
        # Keys of the example's traders (deterministic, for the example only).
        keys = [keccak256(b"example trader", bytes([i])) for i in range(3)]
        me, other, third = (VenueClient(url, k) for k in keys)
        print(
            f"venue {url}: operator {me.info()['operator']}, "
            f"batches of {me.info()['schedule']['commit_window_ms']} ms"
        )

        # Oracle: the development sources report the BTC index (two families).
        for k in dev_oracle_keys():
            VenueClient(url, k).post_oracle_price("BTC-PERP", 650_000)

        for c in (me, other, third):
            c.deposit(50_000_000_000)  # 50 000 USDC, 6 decimals
        print(f"deposited; my account: {me.account()['pending_deposits']} pending")

        # Sealed orders: commit now, reveal automatically when the window opens.
        mine = me.submit(Order("BTC-PERP", Side.BUY, 650_100, 8))
        theirs = other.submit(Order("BTC-PERP", Side.SELL, 649_900, 5))
        low = third.submit(Order("BTC-PERP", Side.BUY, 640_000, 2))
        print(
            f"committed to batch {mine.batch_id}: receipt seq {mine.receipt['sequence']}, "
            f"signed by {mine.receipt['operator']}"
        )
        for p in (mine, theirs, low):
            p.wait()
        batch = me.wait_cleared(mine.batch_id)
        m = batch["markets"]["BTC-PERP"]
        print(
            f"batch {batch['batch_id']} {batch['status']}: price {m['price']}, "
            f"volume {m['volume']}, demand/supply curve at {m['curves']['prices']}"
        )
        for name, client, p in (("me", me, mine), ("other", other, theirs), ("third", third, low)):
            fate = client.order(p.commitment)
            print(
                f"  {name}: {fate['status']} ({fate['reason']}): {fate['detail'] or ''} "
                f"filled {fate['filled']}"
            )
        acct = me.account()
        print(
            "my account:",
            json.dumps(
                {
                    k: acct[k]
                    for k in (
                        "collateral",
                        "positions",
                        "equity",
                        "initial_margin",
                        "maintenance_margin",
                        "liquidation_prices",
                    )
                }
            ),
        )
        me.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
