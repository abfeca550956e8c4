"""``sealbatch resume --batch N [--url URL]``: resume a venue halted after a failed batch.

Signs the operator's EIP-712 ``Resume`` with ``SEALBATCH_OPERATOR_KEY`` (the
development key when unset, like ``sealbatch serve``) and posts it to
``POST /v1/operator/resume``. Exit 0 resumed, 1 refused by the venue, 2 bad
input or no venue at the URL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "resume",
        help="resume a venue halted after a failed batch (operator-signed)",
        description="Resume a venue that halted after a failed batch: sign the operator's "
        "Resume order with SEALBATCH_OPERATOR_KEY and send it. The batch clock restarts at the "
        "batch collecting now; a batch that fails again halts the venue again.",
    )
    p.add_argument("--batch", type=int, required=True, help="the failed batch (/v1/operator)")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the venue's base URL")
    p.add_argument("--ttl-ms", type=int, default=60_000, help="the order's validity (ms)")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"sealbatch resume: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import httpx

    from sealbatch.crypto.eip712 import Eip712Domain, address_of, sign_digest, signing_digest
    from sealbatch.crypto.exceptions import SignatureError
    from sealbatch.venue.auth import RESUME_TYPE
    from sealbatch.venue.settings import DEFAULT_OPERATOR_KEY

    if args.batch < 0:
        return _fail(f"--batch: expected a batch id >= 0, got {args.batch}")
    if args.batch >= 1 << 64:
        return _fail(f"--batch: expected a batch id below 2^64 (a uint64), got {args.batch}")
    if not 1_000 <= args.ttl_ms <= 3_600_000:
        return _fail(f"--ttl-ms: expected 1000 to 3600000, got {args.ttl_ms}")
    raw = os.environ.get("SEALBATCH_OPERATOR_KEY", DEFAULT_OPERATOR_KEY).removeprefix("0x")
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        key = b""
    if len(key) != 32:
        return _fail("SEALBATCH_OPERATOR_KEY: expected 0x and 64 hex digits")
    try:
        operator = address_of(key)
    except SignatureError as exc:
        return _fail(f"SEALBATCH_OPERATOR_KEY: {exc}")
    try:
        with httpx.Client(base_url=args.url, timeout=30) as client:
            try:
                info = client.get("/v1/info").raise_for_status().json()
                d = info["domain"]
                domain = Eip712Domain(
                    str(d["name"]), str(d["version"]), int(d["chainId"]), d["verifyingContract"]
                )
                venue_operator, now = str(info["operator"]), int(info["now_ms"])
                values = {
                    "operator": operator,
                    "batchId": args.batch,
                    "nonce": now,
                    "expiry": now + args.ttl_ms,
                }
                digest = signing_digest(domain, RESUME_TYPE, values)
            except (ValueError, KeyError, TypeError) as exc:
                # Not a venue (an HTML page, another service's JSON): one line, never a
                # traceback.
                return _fail(
                    f"{args.url}: expected a venue's /v1/info to sign against, got {exc!r}"
                )
            if operator.lower() != venue_operator.lower():
                return _fail(
                    f"SEALBATCH_OPERATOR_KEY: expected the key of the venue's operator "
                    f"{venue_operator}, got the key of {operator}"
                )
            sig = sign_digest(key, digest)
            body = {
                "operator": operator,
                "batch_id": args.batch,
                "nonce": now,
                "expiry_ms": now + args.ttl_ms,
                "signature": "0x" + sig.hex(),
            }
            r = client.post("/v1/operator/resume", json=body)
    except httpx.HTTPError as exc:
        return _fail(f"{args.url}: expected a venue answering, got {exc}")
    if r.status_code != 200:
        print(f"sealbatch resume: refused: {r.status_code} {r.text}", file=sys.stderr)
        return 1
    try:
        out = r.json()
    except ValueError:
        return _fail(f"{args.url}: expected the venue's JSON answer, got {r.text[:200]!r}")
    print(json.dumps(out))
    return 0
