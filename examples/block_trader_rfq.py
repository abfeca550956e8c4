"""A block trade through a sealed RFQ: request, sealed quotes, reveal, accept, settle.

Runs against ``--url`` or starts a local venue (``sealbatch serve`` on
127.0.0.1, fresh SQLite) and stops it at the end::

    .venv/bin/python examples/block_trader_rfq.py [--url http://127.0.0.1:8000]

The requester hides its side; two makers post sealed two-way quotes in the
first half of the window and reveal them in the third quarter (a revealed
quote is firm: no last look); the requester accepts the best ask in the last
quarter, and the block settles in the batch collecting at that moment, at the
quote price, which must lie within the band around that batch's clearing
price (two small auction traders provide the clearing price here).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.keccak import keccak256
from sealbatch.venue.client import LocalVenue, VenueClient


@contextlib.contextmanager
def venue(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with LocalVenue(commit_ms=3_000, reveal_ms=2_000) as local:
        yield local


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="a running venue (default: start a local one)")
    args = ap.parse_args()
    with venue(args.url) as url:
        names = ("fund", "maker-a", "maker-b", "buyer", "seller")
        c = {n: VenueClient(url, keccak256(b"example block", n.encode())) for n in names}
        for client in c.values():
            client.deposit(500_000_000_000)  # 500 000 USDC

        size = 10_000  # lots: the BTC-PERP block minimum
        rfq = c["fund"].request_rfq("BTC-PERP", size, side="hidden", window_ms=4_000)
        rid = rfq["rfq_id"]
        print(
            f"RFQ {rid[:18]}…: {size} lots, side hidden, "
            f"window {rfq['close_ms'] - rfq['opened_ms']} ms"
        )
        print(f"  makers see {len(c['maker-a'].open_rfqs())} open RFQ(s)")
        qa = c["maker-a"].quote(rid, 649_800, 650_300)
        qb = c["maker-b"].quote(rid, 649_900, 650_200)
        # Each side waits for its phase by the venue's clock and retries a send
        # that reaches the venue a moment early.
        c["maker-a"].reveal_quote_when_open(qa, rfq)
        c["maker-b"].reveal_quote_when_open(qb, rfq)
        acc = c["fund"].accept_best_when_open(rfq, "buy")
        quotes = c["fund"].rfq(rid)["quotes"]
        print("  revealed quotes:", [(q["maker"][:8], q["bid"], q["ask"]) for q in quotes])
        print(
            f"  accepted: buy {acc['quantity']} at {acc['price']} from {acc['seller'][:8]}…, "
            f"settles in batch {acc['batch_id']}"
        )

        # Auction flow in the same batch sets its clearing price.
        pb = c["buyer"].commit(Order("BTC-PERP", Side.BUY, 650_100, 3), batch_id=acc["batch_id"])
        ps = c["seller"].commit(Order("BTC-PERP", Side.SELL, 650_100, 3), batch_id=acc["batch_id"])
        c["buyer"].reveal_when_open(pb)
        c["seller"].reveal_when_open(ps)
        rec = c["fund"].wait_cleared(acc["batch_id"])
        block = rec["blocks"][0]
        print(
            f"batch {rec['batch_id']} {rec['status']}: clearing price "
            f"{rec['markets']['BTC-PERP']['price']}, block {block['status']} "
            f"(band {block.get('band')})"
        )
        for adj in rec["settlement"]["block_adjustments"] if rec["settlement"] else []:
            print(f"  block price adjustment: buyer pays seller {adj['buyer_pays_seller']}")
        acct = c["fund"].account()
        print(
            f"fund: position {acct['positions']['BTC-PERP']} lots, "
            f"collateral {acct['collateral']}, equity {acct['equity']}"
        )
        for client in c.values():
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
