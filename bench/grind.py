"""Benchmark: the prover's proof-of-work search, compiled against the channel's own.

For ``--seeds`` transcript states, finds the smallest nonce with ``--bits`` leading
zero bits twice — with :func:`sealbatch.crypto.keccak_jit.grind` (a compiled loop over
pycryptodome's C Keccak) and with :meth:`sealbatch.crypto.channel.Channel.grind` (the
same C Keccak called row by row from Python in batches of 4 096) — checks that both
find the same nonce, and prints the nonces tried per second of each and their ratio.
The first compiled search (which compiles the loop) is not timed.

Run: ``.venv/bin/python bench/grind.py [--bits 22] [--seeds 4] [--json]``
(``--json`` prints ``{"bits", "nonces", "compiled_s", "channel_s",
"compiled_per_s", "channel_per_s", "ratio"}``).
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import json
import os
import sys
import time

# Run as a script, this file's directory comes first on sys.path: drop it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from sealbatch.crypto.channel import Channel
from sealbatch.crypto.keccak_jit import grind


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--bits", type=int, default=22, help="leading zero bits (default 22)")
    p.add_argument("--seeds", type=int, default=4, help="transcript states (default 4)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not 1 <= args.bits <= 28 or args.seeds < 1:
        p.error("expected 1 <= --bits <= 28 and --seeds >= 1")
    if grind(Channel(b"warm-up").state, 4) is None:
        print("the compiled search is not available here", file=sys.stderr)
        return 1
    compiled_s = channel_s = 0.0
    nonces = 0
    for i in range(args.seeds):
        channel = Channel(f"bench-grind-{i}".encode())
        t = time.process_time()
        fast = grind(channel.state, args.bits)
        compiled_s += time.process_time() - t
        t = time.process_time()
        slow = channel.grind(args.bits)
        channel_s += time.process_time() - t
        if fast != slow:
            print(f"seed {i}: compiled {fast}, channel {slow}", file=sys.stderr)
            return 1
        nonces += slow + 1
    compiled_s, channel_s = max(compiled_s, 1e-9), max(channel_s, 1e-9)  # a clock tick
    out = {
        "bits": args.bits,
        "nonces": nonces,
        "compiled_s": round(compiled_s, 3),
        "channel_s": round(channel_s, 3),
        "compiled_per_s": round(nonces / compiled_s),
        "channel_per_s": round(nonces / channel_s),
        "ratio": round(channel_s / compiled_s, 2),
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>15}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
