"""The bond check of one commitment against the number of GTC rests on the ledger.

Builds a :class:`~sealbatch.settlement.clearinghouse.Clearinghouse` whose ledger
carries ``R`` resting GTC orders (of other traders) for each ``R`` in
``--rests``, then times ``reserve_bond`` (what every commitment's bond check
runs: the trader's room, less the bonds at stake) for ``--checks`` commitments
of traders with nothing resting, with ``time.thread_time`` (CPU of this
thread). Prints ``rests  us_per_check``, or with ``--json`` one object per R.
Run: ``.venv/bin/python bench/bond_room.py --rests 0 1000 10000``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sealbatch.auction.batch import RestingOrder
from sealbatch.auction.markets import DEFAULT_MARKETS
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.clearinghouse import Clearinghouse


def _address(i: int) -> Address:
    return Address("0x" + i.to_bytes(20, "big").hex())


def _per_check(rests: int, checks: int) -> float:
    """CPU microseconds of one ``reserve_bond`` on a ledger with ``rests`` GTC rests."""
    ch = Clearinghouse(DEFAULT_MARKETS)
    traders = [_address(i + 1) for i in range(checks)]
    for t in traders:
        ch.deposit(t, 10**9, 0)
    resting = tuple(
        RestingOrder(
            i.to_bytes(32, "big"),
            _address(10**6 + i),
            Order("BTC-PERP", Side.BUY, 100, 1, TimeInForce.GTC),
            0,
        )
        for i in range(rests)
    )
    ch.state = dataclasses.replace(ch.state, resting_orders=resting)
    ch.reserve_bond(1, traders[0], 1, "warm-up")  # the cached ledger views
    t0 = time.thread_time()
    for t in traders[1:]:
        ch.reserve_bond(1, t, 1_000_000, "a commitment's bond")
    return (time.thread_time() - t0) / (checks - 1) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rests", type=int, nargs="+", default=[0, 1_000, 10_000])
    ap.add_argument("--checks", type=int, default=5_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if any(r < 0 for r in args.rests) or args.checks < 2:
        ap.error("--rests: expected integers >= 0; --checks: at least 2")
    rows = [{"rests": r, "us_per_check": round(_per_check(r, args.checks), 2)} for r in args.rests]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['rests']:>7}  {row['us_per_check']:.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
