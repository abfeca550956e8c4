"""``sealbatch demo``: the whole pipeline on the embedded defaults."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on the embedded defaults",
        description="Seeded traders sign, commit and reveal sealed orders over several batches "
        "in two markets; each batch clears at one uniform price per market.",
    )
    p.add_argument("--seed", type=int, default=2026, help="demo seed (default 2026)")
    p.add_argument("--batches", type=int, default=4, help="number of batches (default 4)")
    p.set_defaults(func=run)


def _short(b: bytes) -> str:
    return "0x" + b.hex()[:10] + "…"


def run(args: argparse.Namespace) -> int:
    from venue.demo import DemoConfig, demo_traders, run_demo

    if args.batches < 1:
        print(f"sealbatch demo: error: --batches: expected at least 1, got {args.batches}")
        return 2
    config = DemoConfig(seed=args.seed, batches=args.batches)
    names = {t.address: t.name for t in demo_traders(config.seed, config.traders)}
    print(
        f"sealbatch demo: {config.traders} traders, {len(config.markets)} markets, "
        f"{config.batches} batches, seed {config.seed}"
    )
    for b in run_demo(config):
        r = b.result
        print()
        print(f"batch {r.batch_id}  seed 0x{r.seed.hex()}")
        print(
            f"  commitments {b.commitments}  orders {len(r.orders)}  "
            f"forfeited {len(r.forfeited)}  GTC carried into the next batch {len(r.carried)}"
        )
        for market_id in sorted(r.markets):
            m = r.markets[market_id]
            price = "no trade" if m.price is None else f"{m.price}"
            print(
                f"  {market_id:<9} price {price:>8}  volume {m.volume:>4}  demand "
                f"{m.buy_volume:>4}  supply {m.sell_volume:>4}  imbalance {m.imbalance:>4}  "
                f"fills {len(m.fills)} (reference {m.reference_price})"
            )
            for f in m.fills:
                print(
                    f"      {names.get(f.trader, f.trader):<6} {f.side.value:<4} "
                    f"{f.quantity:>3} @ {f.price}  order {_short(f.order_id)}"
                )
        for who, why in b.rejected_commits:
            print(f"  rejected commit  {who}: {why}")
        for who, why in b.rejected_reveals:
            print(f"  rejected reveal  {who}: {why[:110]}")
        for lost in r.forfeited:
            print(
                f"  forfeited        {names.get(lost.trader, lost.trader)}: commitment "
                f"{_short(lost.commitment)} in {lost.market}, "
                f"bond {lost.bond} to the insurance fund"
            )
    return 0
