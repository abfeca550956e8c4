"""Threshold-encrypted orders: decryption of a batch, share release and combination.

Builds one batch of ``--orders`` orders (default 10 000) from many traders,
each encrypted to the batch key of a ``--threshold``-of-``--keypers``
committee (docs/threshold.md), then times on one core:

1. the committee's dealing for one batch (every keyper's polynomial and
   commitments) and the aggregation into the batch key;
2. share release and combination: verifying ``t`` released shares against the
   commitments and combining them into the batch secret;
3. decryption of every ciphertext (ECDH, HKDF, AES-GCM, parse);
4. the commitment check of every decrypted order (one vectorised Poseidon2 hash);
5. all of 3 and 4 again through ``open_ciphertexts`` (what the venue calls),
   and the added latency of a batch: 2 + that, what the close of a batch waits
   for once the keypers' shares are in (network time to the keypers excluded).

Run: ``.venv/bin/python bench/threshold.py [--orders N] [--threshold T]
[--keypers N] [--json]``; ``--json`` prints one object: ``decrypt_10k_s`` (step 3
scaled to 10 000 orders), ``check_10k_s``, ``open_10k_s`` (3 + 4),
``deal_s``, ``combine_s``, ``added_latency_s``, ``orders``, ``threshold``, ``keypers``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sealbatch.auction.commitment import compute_commitments
from sealbatch.auction.encrypted_orders import (
    _decrypt_one,
    encrypt_order,
    open_ciphertexts,
)
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.threshold import CURVE_ORDER, aggregate_dealings, combine_shares, deal

BATCH = 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--threshold", type=int, default=3)
    parser.add_argument("--keypers", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    t, n = args.threshold, args.keypers

    seeds = [os.urandom(32) for _ in range(n)]
    start = time.perf_counter()
    dealings = [deal(seeds[i], i + 1, BATCH, t, n) for i in range(n)]
    key = aggregate_dealings(dealings, t, n)
    deal_s = time.perf_counter() - start
    shares = {j: sum(d.shares[j - 1] for d in dealings) % CURVE_ORDER for j in range(1, n + 1)}

    traders = ["0x" + (i + 1).to_bytes(20, "big").hex() for i in range(500)]
    orders, salts, owners = [], [], []
    for i in range(args.orders):
        orders.append(
            Order(
                "BTC-PERP" if i % 2 else "ETH-PERP",
                Side.BUY if i % 3 else Side.SELL,
                None if i % 17 == 0 else 600_000 + i,
                1 + i % 50,
                TimeInForce.IOC,
                False,
                i,
            )
        )
        salts.append(os.urandom(32))
        owners.append(traders[i % len(traders)])
    commitments = compute_commitments(orders, salts, owners, BATCH)
    items = [
        (encrypt_order(key.public_key, o, s, tr, BATCH), tr, c)
        for o, s, tr, c in zip(orders, salts, owners, commitments, strict=True)
    ]

    start = time.perf_counter()
    secret = combine_shares(key, {j: shares[j] for j in range(1, t + 1)})
    combine_s = time.perf_counter() - start

    start = time.perf_counter()
    decrypted = [_decrypt_one(secret, key.public_key, c, tr, BATCH, m) for c, tr, m in items]
    decrypt_s = time.perf_counter() - start
    if not all(isinstance(d, tuple) for d in decrypted):
        raise SystemExit("expected every honest ciphertext to decrypt")

    start = time.perf_counter()
    parsed = [d for d in decrypted if isinstance(d, tuple)]
    compute_commitments([d[0] for d in parsed], [d[1] for d in parsed], owners, BATCH)
    check_s = time.perf_counter() - start

    start = time.perf_counter()
    opened = open_ciphertexts(secret, key.public_key, BATCH, items)
    open_s = time.perf_counter() - start
    if any(o.forfeited for o in opened):
        raise SystemExit("expected every honest ciphertext to open to its commitment")

    scale = 10_000 / args.orders
    out = {
        "orders": args.orders,
        "threshold": t,
        "keypers": n,
        "deal_s": round(deal_s, 4),
        "combine_s": round(combine_s, 4),
        "decrypt_10k_s": round(decrypt_s * scale, 3),
        "check_10k_s": round(check_s * scale, 3),
        "open_10k_s": round(open_s * scale, 3),
        "added_latency_s": round(combine_s + open_s, 3),
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.orders} orders, {t}-of-{n} keypers, one core")
    print(f"deal + aggregate one batch key (all {n} dealers): {deal_s * 1e3:.1f} ms")
    print(f"verify {t} shares + combine: {combine_s * 1e3:.2f} ms")
    print(f"decrypt (ECDH, HKDF, AES-GCM, parse), per 10k: {out['decrypt_10k_s']:.3f} s")
    print(f"commitment check (Poseidon2, vectorised), per 10k: {out['check_10k_s']:.3f} s")
    print(f"open (decrypt + check), per 10k: {out['open_10k_s']:.3f} s")
    print(f"added batch latency once shares are in: {out['added_latency_s']:.3f} s")


if __name__ == "__main__":
    main()
