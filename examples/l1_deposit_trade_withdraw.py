"""Deposit on L1, trade on the venue, withdraw on L1: every batch proved and anchored.

A venue runs in this process on an L1 (the embedded py-evm chain, or ``--l1 URL``: a
development node such as anvil) and deploys its exchange contract. Two traders deposit
collateral through the contract; the venue credits the deposits from the contract's
events; they trade one sealed order each; alice asks the venue for a withdrawal; each of
these batches is proved and anchored on the contract (its root moves only on a verified
batch proof), and alice collects the withdrawal from the contract::

    .venv/bin/python examples/l1_deposit_trade_withdraw.py [--l1 http://127.0.0.1:8545]

Exits 0 when alice holds her withdrawal on L1, 1 otherwise (saying why).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _l1_venue import ExampleFailed, l1_venue

from sealbatch.auction.orders import Order, Side

DEPOSIT = 50_000_000_000  # 50 000 USDC (6 decimals)
WITHDRAWAL = 1_000_000_000  # 1 000 USDC


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--l1", metavar="URL", help="a development node (default: embedded py-evm)")
    args = ap.parse_args()
    try:
        with l1_venue(args.l1, {"alice": DEPOSIT, "bob": DEPOSIT}) as v:
            alice, bob = v.traders["alice"], v.traders["bob"]
            mine = alice.submit(Order("BTC-PERP", Side.BUY, 650_100, 5))
            theirs = bob.submit(Order("BTC-PERP", Side.SELL, 649_900, 5))
            for p in (mine, theirs):
                p.wait()
            batch = alice.wait_cleared(mine.batch_id)
            m = batch["markets"]["BTC-PERP"]
            print(f"batch {mine.batch_id}: BTC-PERP cleared at {m['price']}, volume {m['volume']}")
            record = v.wait_anchored(mine.batch_id)
            anchor = record["anchor"]
            print(
                f"batch {mine.batch_id} anchored: tx {anchor['tx']}, block {anchor['block']}, "
                f"{anchor['gas_used']} gas, root {anchor['post_root']}"
            )
            if anchor["post_root"] != record["settlement"]["post_root"]:
                raise ExampleFailed("expected the contract's root to be the batch's post-root")
            position = alice.account()["positions"]
            print(f"alice's positions after the trade: {position}")

            alice.withdraw(WITHDRAWAL)
            addr = v.addresses["alice"]
            v.wait_for(
                "the withdrawal's batch anchored",
                lambda: v.on_chain(lambda: v.exchange.withdrawable(addr)) == WITHDRAWAL,
                3_600,
            )
            before = v.on_chain(lambda: v.exchange.balance(addr))
            receipt = v.on_chain(lambda: v.exchange.withdraw(addr, WITHDRAWAL))
            after = v.on_chain(lambda: v.exchange.balance(addr))
            print(f"alice withdrew {after - before} on L1 ({receipt.gas_used} gas)")
            if after - before != WITHDRAWAL:
                raise ExampleFailed(f"expected {WITHDRAWAL} paid out, got {after - before}")
            print(f"{v.service.l1.anchored} batches anchored on L1, in order, none skipped")
    except ExampleFailed as exc:
        print(f"l1_deposit_trade_withdraw: failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
