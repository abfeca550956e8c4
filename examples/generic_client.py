"""A client written from docs/signing.md and docs/api.md alone: no sealbatch imports.

It signs with ``eth_account`` (and the ``eth_abi``/``eth_utils`` it installs),
talks HTTP with ``httpx`` and computes the Poseidon2 order commitment with the
standalone ``poseidon2_babybear.py`` beside it. Against a venue (``--url``,
or by default a ``sealbatch serve`` it starts on 127.0.0.1 and stops), it
deposits for two traders, posts development oracle prices, commits a buy and
a sell to one batch, checks the operator's receipts, reveals both in the
reveal window and waits until both orders are filled. Then a block trade
through a sealed RFQ: the buyer asks for quotes with its side hidden, the
seller commits a sealed two-way quote (a Keccak quote commitment), reveals it
in the RFQ's reveal phase, the buyer accepts it in the accept phase, and the
block settles in the batch collecting at that moment, whose clearing price two
small auction orders set::

    .venv/bin/python examples/generic_client.py [--url http://127.0.0.1:8000]

The oracle keys are the development venue's public ones (docs/signing.md,
"Oracle price report"); a venue with configured sources refuses them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parent))
from poseidon2_babybear import order_commitment

# ----------------------------------------------------------- EIP-712 types
# The type strings of docs/signing.md, as eth_account's "types" entries.

DOMAIN_FIELDS = [
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
]
TYPES = {
    "Deposit": [
        ("trader", "address"), ("amount", "uint256"), ("nonce", "uint64"), ("expiry", "uint64"),
    ],
    "Commit": [
        ("trader", "address"), ("batchId", "uint64"), ("market", "string"),
        ("commitment", "bytes32"), ("nonce", "uint64"), ("marginLock", "uint256"),
        ("bond", "uint256"), ("expiry", "uint64"),
    ],
    "Receipt": [
        ("batchId", "uint64"), ("sequence", "uint64"), ("commitment", "bytes32"),
        ("receivedAt", "uint64"),
    ],
    "AccountRead": [("account", "address"), ("expiry", "uint64")],
    "Rfq": [
        ("requester", "address"), ("market", "string"), ("size", "uint64"), ("side", "string"),
        ("windowMs", "uint64"), ("nonce", "uint64"), ("expiry", "uint64"),
    ],
    "QuoteCommit": [
        ("maker", "address"), ("rfqId", "bytes32"), ("commitment", "bytes32"),
        ("nonce", "uint64"), ("expiry", "uint64"),
    ],
    "QuoteReveal": [
        ("maker", "address"), ("rfqId", "bytes32"), ("commitment", "bytes32"),
        ("bid", "uint64"), ("ask", "uint64"), ("salt", "bytes32"), ("nonce", "uint64"),
        ("expiry", "uint64"),
    ],
    "Accept": [
        ("requester", "address"), ("rfqId", "bytes32"), ("commitment", "bytes32"),
        ("side", "string"), ("nonce", "uint64"), ("expiry", "uint64"),
    ],
    "Reveal": [
        ("trader", "address"), ("commitment", "bytes32"), ("market", "string"),
        ("side", "string"), ("limitPrice", "uint64"), ("quantity", "uint64"),
        ("timeInForce", "string"), ("reduceOnly", "bool"), ("clientId", "uint64"),
        ("salt", "bytes32"), ("nonce", "uint64"), ("expiry", "uint64"),
    ],
}  # fmt: skip

REPORT_TAG = keccak(b"sealbatch.PriceReport.v1")
QUOTE_TAG = keccak(b"sealbatch.Quote.v1")
MARKET = "BTC-PERP"


def typed_data(domain: dict[str, Any], primary: str, message: dict[str, Any]) -> Any:
    """The EIP-712 signable of ``message`` (what eth_signTypedData_v4 signs)."""
    fields = {"EIP712Domain": DOMAIN_FIELDS, primary: TYPES[primary]}
    return encode_typed_data(
        full_message={
            "types": {k: [{"name": n, "type": t} for n, t in v] for k, v in fields.items()},
            "primaryType": primary,
            "domain": domain,
            "message": message,
        }
    )


def sign(key: bytes, domain: dict[str, Any], primary: str, message: dict[str, Any]) -> str:
    """A 65-byte EIP-712 signature as 0x-hex."""
    return "0x" + Account.sign_message(typed_data(domain, primary, message), key).signature.hex()


def typed_digest(domain: dict[str, Any], primary: str, message: dict[str, Any]) -> bytes:
    """The EIP-712 digest of ``message`` (an RFQ's id is its request's digest)."""
    signable = typed_data(domain, primary, message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def quote_commitment(rfq_id: bytes, maker: str, bid: int, ask: int, salt: bytes) -> bytes:
    """keccak(abi.encode(QUOTE_TAG, rfqId, maker, bid, ask, salt)): a sealed two-way quote."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "address", "uint64", "uint64", "bytes32"],
            [QUOTE_TAG, rfq_id, maker, bid, ask, salt],
        )
    )


def order_fields(order: dict[str, Any]) -> dict[str, Any]:
    """The JSON order as the Reveal's EIP-712 fields (a market order's limitPrice is 0)."""
    return {
        "market": order["market"],
        "side": order["side"],
        "limitPrice": order.get("limit_price") or 0,
        "quantity": order["quantity"],
        "timeInForce": order.get("time_in_force", "ioc"),
        "reduceOnly": order.get("reduce_only", False),
        "clientId": order.get("client_id", 0),
    }


# ------------------------------------------------------------------- client


class Trader:
    """One key, a nonce counter and the venue's domain."""

    def __init__(self, http: httpx.Client, key: bytes, info: dict[str, Any]) -> None:
        self.http, self.key, self.info = http, key, info
        self.address = Account.from_key(key).address
        self._nonce = time.time_ns() // 1000  # microseconds: never repeats for this key

    def nonce(self) -> int:
        self._nonce += 1
        return self._nonce

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(path, json=body)
        if r.status_code not in (200, 201):  # 201 Created for a new RFQ
            raise SystemExit(f"POST {path}: expected 200 or 201, got {r.status_code} {r.text}")
        out: dict[str, Any] = r.json()
        return out

    def deposit(self, amount: int) -> dict[str, Any]:
        nonce, expiry = self.nonce(), now_ms(self.http) + 60_000
        msg = {"trader": self.address, "amount": amount, "nonce": nonce, "expiry": expiry}
        body = {"trader": self.address, "amount": amount, "nonce": nonce, "expiry_ms": expiry}
        return self.post(
            "/v1/deposits",
            {**body, "signature": sign(self.key, self.info["domain"], "Deposit", msg)},
        )

    def commit(self, order: dict[str, Any], batch_id: int, bond: int) -> dict[str, Any]:
        """Commit to ``order`` in ``batch_id``; returns the state needed to reveal."""
        salt = secrets.token_bytes(32)
        commitment = order_commitment(order, salt, self.address, batch_id)
        nonce, expiry = self.nonce(), now_ms(self.http) + 60_000
        msg = {
            "trader": self.address, "batchId": batch_id, "market": order["market"],
            "commitment": commitment, "nonce": nonce, "marginLock": 0, "bond": bond,
            "expiry": expiry,
        }  # fmt: skip
        body = {
            "trader": self.address, "batch_id": batch_id, "market": order["market"],
            "commitment": "0x" + commitment.hex(), "nonce": nonce, "margin_lock": 0,
            "bond": bond, "expiry_ms": expiry,
            "signature": sign(self.key, self.info["domain"], "Commit", msg),
        }  # fmt: skip
        receipt = self.post("/v1/commitments", body)
        check_receipt(receipt, commitment, self.info)
        return {"order": order, "salt": salt, "commitment": commitment, "receipt": receipt}

    def reveal(self, sealed: dict[str, Any]) -> dict[str, Any]:
        nonce, expiry = self.nonce(), now_ms(self.http) + 60_000
        msg = {
            "trader": self.address, "commitment": sealed["commitment"],
            **order_fields(sealed["order"]), "salt": sealed["salt"],
            "nonce": nonce, "expiry": expiry,
        }  # fmt: skip
        body = {
            "trader": self.address, "commitment": "0x" + sealed["commitment"].hex(),
            "order": sealed["order"], "salt": "0x" + sealed["salt"].hex(), "nonce": nonce,
            "expiry_ms": expiry, "signature": sign(self.key, self.info["domain"], "Reveal", msg),
        }  # fmt: skip
        return self.post("/v1/reveals", body)

    def request_rfq(self, market: str, size: int, window_ms: int) -> dict[str, Any]:
        """Ask for quotes on ``size`` lots with the side hidden; returns the RFQ."""
        nonce, expiry = self.nonce(), now_ms(self.http) + 60_000
        msg = {
            "requester": self.address, "market": market, "size": size,
            "side": "hidden", "windowMs": window_ms, "nonce": nonce, "expiry": expiry,
        }  # fmt: skip
        body = {
            "requester": self.address, "market": market, "size": size, "side": "hidden",
            "window_ms": window_ms, "nonce": nonce, "expiry_ms": expiry,
            "signature": sign(self.key, self.info["domain"], "Rfq", msg),
        }  # fmt: skip
        rfq = self.post("/v1/rfqs", body)
        rfq_id = typed_digest(self.info["domain"], "Rfq", msg)
        if rfq["rfq_id"] != "0x" + rfq_id.hex():
            raise SystemExit(f"rfq_id: expected the request's digest 0x{rfq_id.hex()}, got {rfq}")
        return rfq

    def commit_quote(self, rfq: dict[str, Any], bid: int, ask: int) -> dict[str, Any]:
        """Post a sealed two-way quote; returns the state needed to reveal it."""
        rfq_id, salt = bytes.fromhex(rfq["rfq_id"][2:]), secrets.token_bytes(32)
        commitment = quote_commitment(rfq_id, self.address, bid, ask, salt)
        nonce, expiry = self.nonce(), now_ms(self.http) + 60_000
        msg = {
            "maker": self.address, "rfqId": rfq_id, "commitment": commitment,
            "nonce": nonce, "expiry": expiry,
        }  # fmt: skip
        body = {
            "maker": self.address, "rfq_id": rfq["rfq_id"], "commitment": "0x" + commitment.hex(),
            "nonce": nonce, "expiry_ms": expiry,
            "signature": sign(self.key, self.info["domain"], "QuoteCommit", msg),
        }  # fmt: skip
        self.post(f"/v1/rfqs/{rfq['rfq_id']}/quotes", body)
        return {"rfq_id": rfq_id, "bid": bid, "ask": ask, "salt": salt, "commitment": commitment}

    def reveal_quote(self, quote: dict[str, Any]) -> dict[str, Any]:
        nonce, expiry = self.nonce(), now_ms(self.http) + 60_000
        msg = {
            "maker": self.address, "rfqId": quote["rfq_id"], "commitment": quote["commitment"],
            "bid": quote["bid"], "ask": quote["ask"], "salt": quote["salt"], "nonce": nonce,
            "expiry": expiry,
        }  # fmt: skip
        body = {
            "maker": self.address, "rfq_id": "0x" + quote["rfq_id"].hex(),
            "commitment": "0x" + quote["commitment"].hex(), "bid": quote["bid"],
            "ask": quote["ask"], "salt": "0x" + quote["salt"].hex(), "nonce": nonce,
            "expiry_ms": expiry,
            "signature": sign(self.key, self.info["domain"], "QuoteReveal", msg),
        }  # fmt: skip
        return self.post(f"/v1/rfqs/0x{quote['rfq_id'].hex()}/reveals", body)

    def accept(self, rfq_id: str, commitment: str, side: str) -> dict[str, Any]:
        """Accept the quote ``commitment`` for ``side`` ("buy" = 1, "sell" = 2 here)."""
        nonce, expiry = self.nonce(), now_ms(self.http) + 60_000
        msg = {
            "requester": self.address, "rfqId": bytes.fromhex(rfq_id[2:]),
            "commitment": bytes.fromhex(commitment[2:]), "side": side,
            "nonce": nonce, "expiry": expiry,
        }  # fmt: skip
        body = {
            "requester": self.address, "rfq_id": rfq_id, "commitment": commitment,
            "side": side, "nonce": nonce, "expiry_ms": expiry,
            "signature": sign(self.key, self.info["domain"], "Accept", msg),
        }  # fmt: skip
        return self.post(f"/v1/rfqs/{rfq_id}/accept", body)


def check_receipt(receipt: dict[str, Any], commitment: bytes, info: dict[str, Any]) -> None:
    """Recover the receipt's signer and compare it with /v1/info's operator."""
    msg = {
        "batchId": receipt["batch_id"],
        "sequence": receipt["sequence"],
        "commitment": commitment,
        "receivedAt": receipt["received_at_ms"],
    }
    signer = Account.recover_message(
        typed_data(info["domain"], "Receipt", msg), signature=receipt["operator_signature"]
    )
    if signer != info["operator"] or receipt["commitment"] != "0x" + commitment.hex():
        raise SystemExit(f"receipt: expected one signed by {info['operator']}, got {signer}")


def post_oracle_price(http: httpx.Client, key: bytes, market: str, price: int) -> None:
    """Sign the raw report digest (no EIP-191 prefix) and post it."""
    source = Account.from_key(key).address
    stamp = now_ms(http)
    digest = keccak(
        REPORT_TAG
        + abi_encode(
            ["bytes32", "uint64", "uint64", "address"],
            [keccak(market.encode()), price, stamp, source],
        )
    )
    signature = Account.unsafe_sign_hash(digest, key).signature
    body = {
        "market": market,
        "price": price,
        "timestamp_ms": stamp,
        "source": source,
        "signature": "0x" + signature.hex(),
    }
    r = http.post("/v1/oracle/reports", json=body)
    if r.status_code != 200:
        raise SystemExit(f"oracle report: expected 200, got {r.status_code} {r.text}")


def now_ms(http: httpx.Client) -> int:
    """The venue's clock (its batch windows follow it, not ours)."""
    return int(http.get("/v1/info").json()["now_ms"])


def wait_until(http: httpx.Client, t_ms: int) -> None:
    while (left := t_ms - now_ms(http)) > 0:
        time.sleep(min(left, 200) / 1000)


def read_headers(trader: Trader) -> dict[str, str]:
    """A signed read of the trader's own data (AccountRead), valid for a minute."""
    expiry = now_ms(trader.http) + 60_000
    msg = {"account": trader.address, "expiry": expiry}
    return {
        "Sealbatch-Account": trader.address,
        "Sealbatch-Expiry": str(expiry),
        "Sealbatch-Signature": sign(trader.key, trader.info["domain"], "AccountRead", msg),
    }


def wait_filled(trader: Trader, commitment: bytes, timeout_s: float = 30) -> dict[str, Any]:
    http = trader.http
    headers = read_headers(trader)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = http.get(f"/v1/orders/0x{commitment.hex()}", headers=headers)
        if r.status_code != 200:
            raise SystemExit(f"GET /v1/orders: expected 200, got {r.status_code} {r.text}")
        fate: dict[str, Any] = r.json()
        if fate["status"] not in ("committed", "revealed"):
            return fate
        time.sleep(0.1)
    raise SystemExit(f"order 0x{commitment.hex()}: expected it to clear within {timeout_s} s")


def trade(url: str) -> int:
    """Deposit, oracle prices, commit a crossing buy and sell, reveal, wait for the fills."""
    with httpx.Client(base_url=url, timeout=10) as http:
        info = http.get("/v1/info").json()
        print(f"venue {url}: domain {info['domain']}, operator {info['operator']}")
        buyer, seller = (
            Trader(http, keccak(b"generic client trader" + bytes([i])), info) for i in range(2)
        )
        for t in (buyer, seller):
            t.deposit(500_000_000_000)  # 500 000 USDC at 6 decimals: enough for a block
        for i in range(4):  # the development oracle's public keys
            post_oracle_price(http, keccak(b"sealbatch dev oracle" + bytes([i])), MARKET, 650_000)

        sched = info["schedule"]
        genesis, c_ms, r_ms = (
            sched["genesis_ms"],
            sched["commit_window_ms"],
            sched["reveal_window_ms"],
        )
        now = now_ms(http)
        batch = (now - genesis) // c_ms
        if genesis + (batch + 1) * c_ms - now < c_ms // 2:  # too close to the window's end
            batch += 1
            wait_until(http, genesis + batch * c_ms)
        bond = info["min_bond"]
        buy = {"market": MARKET, "side": "buy", "limit_price": 650_100, "quantity": 5}
        sell = {"market": MARKET, "side": "sell", "limit_price": 649_900, "quantity": 5}
        sealed = [buyer.commit(buy, batch, bond), seller.commit(sell, batch, bond)]
        print(f"committed to batch {batch}: receipts {[s['receipt']['sequence'] for s in sealed]}")

        wait_until(http, genesis + (batch + 1) * c_ms)  # the reveal window opens
        for t, s in zip((buyer, seller), sealed, strict=True):
            t.reveal(s)
        wait_until(http, genesis + (batch + 1) * c_ms + r_ms)  # the batch clears
        for name, t, s in zip(("buyer", "seller"), (buyer, seller), sealed, strict=True):
            fate = wait_filled(t, s["commitment"])
            print(f"{name}: {fate['status']} {fate['filled']} lots ({fate['reason']})")
            if fate["status"] != "filled":
                raise SystemExit(f"{name}: expected filled, got {fate}")
        record = http.get(f"/v1/batches/{batch}").json()
        print(f"batch {batch} {record['status']} at {record['markets'][MARKET]['price']}")
        block_trade(http, info, requester=buyer, maker=seller)
    return 0


def block_trade(http: httpx.Client, info: dict[str, Any], requester: Trader, maker: Trader) -> None:
    """An RFQ for a block, timed so that the whole window lies in one batch's commit window.

    Phases of a window W opened at t0: quotes commit in [t0, t0 + W/2), reveal in
    [t0 + W/2, t0 + 3W/4), the requester accepts in [t0 + 3W/4, t0 + W); the
    block settles in the batch collecting at accept time, at the quote price,
    if it lies within the band around that batch's clearing price.
    """
    sched = info["schedule"]
    genesis, c_ms = sched["genesis_ms"], sched["commit_window_ms"]
    window = max(info["rfq"]["min_window_ms"], (c_ms * 2) // 3)
    size = http.get(f"/v1/markets/{MARKET}").json()["block_min_lots"]
    batch = (now_ms(http) - genesis) // c_ms + 1
    start = genesis + batch * c_ms
    wait_until(http, start + 20)
    # Two small auction orders set the batch's clearing price (the block's band).
    small = [
        requester.commit({"market": MARKET, "side": "buy", "limit_price": 650_100,
                          "quantity": 2}, batch, info["min_bond"]),
        maker.commit({"market": MARKET, "side": "sell", "limit_price": 649_900,
                      "quantity": 2}, batch, info["min_bond"]),
    ]  # fmt: skip
    rfq = requester.request_rfq(MARKET, size, window)
    quote = maker.commit_quote(rfq, bid=649_900, ask=650_200)
    print(f"RFQ {rfq['rfq_id'][:18]}…: {size} lots, side hidden, quote sealed")
    wait_until(http, rfq["quote_close_ms"])
    maker.reveal_quote(quote)
    wait_until(http, rfq["reveal_close_ms"])
    acc = requester.accept(rfq["rfq_id"], "0x" + quote["commitment"].hex(), "buy")
    if acc["batch_id"] != batch:
        raise SystemExit(f"accept: expected it to land in batch {batch}, got {acc}")
    print(f"accepted: buy {acc['quantity']} at {acc['price']}, settles in batch {batch}")
    wait_until(http, start + c_ms)  # batch's reveal window opens
    for t, s in zip((requester, maker), small, strict=True):
        t.reveal(s)
    for t, s in zip((requester, maker), small, strict=True):
        wait_filled(t, s["commitment"])
    record = http.get(f"/v1/batches/{batch}").json()
    block = record["blocks"][0]
    why = f" ({block['reason']})" if block["reason"] else ""  # a reason only when refused
    print(f"block in batch {batch}: {block['status']} at {block['price']}{why}")
    if block["status"] != "filled":
        raise SystemExit(f"block: expected filled, got {block}")


@contextlib.contextmanager
def local_venue() -> Iterator[str]:
    """``sealbatch serve`` on a free 127.0.0.1 port with a fresh database; stopped on exit."""
    tmp = tempfile.mkdtemp(prefix="generic-client-")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("sealbatch", path=str(Path(sys.executable).parent)) or "sealbatch"
    argv = [exe, "serve", "--port", str(port), "--db", f"sqlite:///{tmp}/venue.db"]
    proc = subprocess.Popen([*argv, "--commit-ms", "1500", "--reveal-ms", "300"], env=os.environ)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"sealbatch serve: expected it to start, got exit {proc.poll()}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", help="a running venue (default: start a local one)")
    args = ap.parse_args()
    if args.url:
        return trade(args.url)
    with local_venue() as url:
        return trade(url)


if __name__ == "__main__":
    sys.exit(main())
