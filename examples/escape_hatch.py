"""The escape hatch: the operator stops, and every account still leaves with its equity.

A venue runs in this process on an L1 (the embedded py-evm chain, or ``--l1 URL``: a
development node such as anvil). Two traders deposit through the exchange contract and
trade; the venue proves and anchors each batch. Then the operator stops. Alice asks the
contract for a forced withdrawal; nobody serves it; once its deadline has passed anyone
(here bob) freezes the exchange, and every account of the last anchored state withdraws
exactly its equity (collateral + positions at the last anchored marks) with a Poseidon2
Merkle proof of its leaf under the contract's root, read from the batch's published
``post_state.json``::

    .venv/bin/python examples/escape_hatch.py [--l1 http://127.0.0.1:8545]

Exits 0 when every account got exactly its equity, 1 otherwise (saying why).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _l1_venue import FORCED_DELAY_S, ExampleFailed, l1_venue

from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.anchor import ContractReverted
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.roots import account_proof
from sealbatch.settlement.snapshot import config_from_dict, state_from_dict

DEPOSIT = 50_000_000_000  # 50 000 USDC (6 decimals)


def equity(state: LedgerState, row: int, multipliers: list[int]) -> int:
    """collateral + Σ position × mark × multiplier (base units), as the contract pays it."""
    value = int(state.collateral[row])
    for m, ms in enumerate(state.market_states):
        value += int(state.positions[row, m]) * ms.mark_price * multipliers[m]
    return value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--l1", metavar="URL", help="a development node (default: embedded py-evm)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sealbatch-escape-") as published:
        return run(args.l1, Path(published))


def run(url: str | None, published: Path) -> int:
    """The example, the venue publishing into ``published`` (the files outlive it)."""
    try:
        with l1_venue(url, {"alice": DEPOSIT, "bob": DEPOSIT}, published) as v:
            alice, bob = v.traders["alice"], v.traders["bob"]
            mine = alice.submit(Order("BTC-PERP", Side.BUY, 650_100, 4))
            theirs = bob.submit(Order("BTC-PERP", Side.SELL, 649_900, 4))
            for p in (mine, theirs):
                p.wait()
            v.wait_anchored(mine.batch_id)
            print(f"batch {mine.batch_id} (the trade) anchored")
            chain, ex = v.chain, v.exchange
            addresses = dict(v.addresses)
        print("the operator stopped: no batch will be anchored any more")

        last = ex.next_batch_id() - 1
        doc = json.loads((published / f"batch-{last}" / "post_state.json").read_text())
        config = config_from_dict(doc["config"])
        state = state_from_dict(doc, config)
        if "0x" + ex.state_root().hex() != doc["state_root"]:
            raise ExampleFailed("expected the contract's root to be the last batch's post-root")

        ex.request_forced_withdrawal(addresses["alice"], 1_000_000)
        index = ex.queue_length() - 1
        try:
            ex.freeze(index, sender=addresses["bob"])
            raise ExampleFailed("expected a freeze before the deadline to be refused")
        except ContractReverted as exc:
            print(f"freeze before the deadline refused: {exc.error}")
        chain.advance_time(FORCED_DELAY_S + 1)
        ex.freeze(index, sender=addresses["bob"])
        print(f"forced withdrawal {index} unserved past its deadline: the exchange is frozen")

        multipliers = [m.multiplier for m in config.markets]
        held = ex.balance(ex.address)
        paid = 0
        for row, key in enumerate(state.accounts):
            owed = equity(state, row, multipliers)
            before = ex.balance(key.address)
            receipt = ex.escape(account_proof(state, key), sender=addresses["bob"])
            got = ex.balance(key.address) - before
            print(f"{key.address} escaped with {got} (equity {owed}; {receipt.gas_used} gas)")
            if got != max(owed, 0):
                raise ExampleFailed(f"expected {key.address} paid its equity {owed}, got {got}")
            paid += got
        left = ex.balance(ex.address)
        print(f"the contract held {held}, paid {paid}, keeps {left} (fee pool and insurance fund)")
        if left != held - paid or left != state.fee_pool + state.insurance_fund:
            raise ExampleFailed("expected the contract to keep exactly the fee pool and fund")
    except ExampleFailed as exc:
        print(f"escape_hatch: failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
