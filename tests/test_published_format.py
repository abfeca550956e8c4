"""An outsider's checker of the published batch folders, written from docs/formats.md alone.

Everything below is re-derived from the page's text: the file and column names, the types and
hex forms, the units' invariants, the state root and the commitment root (the Poseidon2
permutation is the only thing taken from the code: the page names ``crypto/poseidon2.py``'s
HorizenLabs instance; the sponge and ``compress`` on top of it are built here as the page
states them), the oracle's signatures and digest, the forfeits' signatures, and the page's
known-answer vectors, which are parsed out of docs/formats.md itself so the page cannot drift
from what is checked. ``check_proof_and_anchor`` is reused by the proved demo's tests
(tests/venue/test_batch_proof_cli.py), so this module adds no proving run.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys import keys
from eth_utils import keccak, to_checksum_address

from sealbatch.crypto.poseidon2 import P, permute_scalar
from sealbatch.venue.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "formats.md"

FILES = {
    "orders.csv",
    "result.json",
    "oracle.json",
    "transfers.json",
    "pre_state.json",
    "post_state.json",
}
COLUMNS = [
    "order_id", "trader", "market", "side", "limit_price", "quantity", "time_in_force",
    "reduce_only", "origin_batch", "client_id", "salt", "bond",
]  # fmt: skip
#: The keys of an order in the JSON files: orders.csv's first nine columns.
ORDER_KEYS = COLUMNS[:9]
HEX32 = re.compile(r"^0x[0-9a-f]{64}$")
HEX = re.compile(r"^0x(?:[0-9a-f]{2})*$")
DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")

ACCOUNT_DOMAIN, HEADER_DOMAIN = 0x5EA10001, 0x5EA10002
CONFIG_DOMAIN = 0x5EA10007
COMMITMENT_DOMAIN, MARKET_DOMAIN, PENDING_DOMAIN = 0x5EA10003, 0x5EA10004, 0x5EA10005
LIQUIDATION_DOMAIN = 0x5EA1000A
MARKET_FIELDS = [
    "mark_price", "index_price", "last_price", "funding_index", "index_time_ms", "premium",
    "premium_sum", "premium_time", "interval_batches",
]  # fmt: skip
MARKET_FLAGS = ["flagged", "protective", "calm"]
MARKET_KEYS = {"contract_multiplier", *MARKET_FIELDS, *MARKET_FLAGS}
ACCOUNT_KEYS = {
    "address", "subaccount", "portfolio_margin", "collateral", "positions", "equity",
    "initial_requirement", "maintenance_requirement", "liquidating",
}  # fmt: skip
STATE_KEYS = {
    "format", "batch_id", "timestamp_ms", "state_root", "fee_pool", "insurance_fund",
    "socialised_loss", "markets", "accounts", "pending_liquidations", "resting_orders", "config",
}  # fmt: skip
MARKET_RULES = {
    "tick_size", "lot_size", "contract_multiplier", "min_order_lots", "max_order_lots",
    "block_min_lots", "band_bps", "fee_bps", "funding_interval_batches", "funding_cap_bps",
    "shock_bps", "liquidation_penalty_bps", "max_slippage_bps", "max_liquidation_lots",
    "protective_liquidation_lots", "breaker_bps", "calm_batches", "protective_band_bps",
    "mark_band_bps", "mark_step_bps", "tiers",
}  # fmt: skip
GLOBAL_RULES = {
    "correlation_bps", "portfolio_floor_bps", "portfolio_maintenance_bps", "forfeit_bond",
    "deleverage",
}  # fmt: skip
ORACLE_RULES = {
    "sources", "stale_ms", "divergence_bps", "agreement_bps", "family_quorum", "min_families",
    "max_price_age_ms",
}  # fmt: skip


# --- Poseidon2 over BabyBear, as docs/formats.md states it -----------------------------------


def hash_elements(elements: Sequence[int]) -> list[int]:
    """The sponge: rate 8, the message length in the first capacity element (element 8), the
    message zero-padded to whole blocks, each block written over elements 0-7, then permuted;
    the digest is elements 0-7."""
    state = [0] * 16
    state[8] = len(elements)
    padded = list(elements) + [0] * (-len(elements) % 8)
    for i in range(0, len(padded), 8):
        state[:8] = padded[i : i + 8]
        state = permute_scalar(state)
    return state[:8]


def compress(left: Sequence[int], right: Sequence[int]) -> list[int]:
    out = permute_scalar([*left, *right])[:8]
    return [(a + b) % P for a, b in zip(out, left, strict=True)]


def digest_bytes(d: Sequence[int]) -> str:
    return "0x" + b"".join(x.to_bytes(4, "little") for x in d).hex()


def bytes32_elements(hex32: str) -> list[int]:
    raw = bytes.fromhex(hex32[2:])
    assert len(raw) == 32
    return [int.from_bytes(raw[4 * i : 4 * i + 4], "little") % P for i in range(8)]


def limbs(value: int, count: int) -> list[int]:
    assert 0 <= value < 1 << (24 * count), (value, count)
    return [(value >> (24 * i)) & 0xFFFFFF for i in range(count)]


def signed4(v: int) -> list[int]:
    assert abs(v) < 1 << 72, v
    return [1 if v < 0 else 0, *limbs(abs(v), 3)]


def address7(address: str) -> list[int]:
    return limbs(int(address, 16), 7)


def market_code(market: str) -> int:
    raw = market.encode()
    return hash_elements([MARKET_DOMAIN, len(raw), *raw])[0]


def order_flags(side: str, limit: int | None, tif: str, reduce_only: bool) -> int:
    return (side == "buy") | (limit is not None) << 1 | (tif == "gtc") << 2 | reduce_only << 3


def commitment_preimage(order: dict[str, Any], batch_id: int) -> list[int]:
    limit = order["limit_price"]
    return [
        COMMITMENT_DOMAIN,
        market_code(order["market"]),
        order_flags(order["side"], limit, order["time_in_force"], order["reduce_only"]),
        *limbs(limit or 0, 2),
        *limbs(order["quantity"], 2),
        *limbs(order["client_id"], 3),
        *limbs(int(order["salt"], 16), 11),
        *limbs(batch_id, 3),
        *address7(order["trader"]),
    ]


def commitment_leaf(commitment: str, market: str, trader: str, bond: int) -> list[int]:
    assert 0 <= bond < 1 << 30, bond
    inner = compress(bytes32_elements(commitment), [market_code(market)] + [0] * 7)
    return compress(inner, [*address7(trader), bond])


def commitment_root(leaves: dict[int, list[int]], depth: int = 20) -> list[int]:
    empty = [[0] * 8]
    for _ in range(depth):
        empty.append(compress(empty[-1], empty[-1]))
    level = dict(leaves)
    assert all(0 <= i < 1 << depth for i in level)
    for h in range(depth):
        parents: dict[int, list[int]] = {}
        for i in {i >> 1 for i in level}:
            left = level.get(2 * i, empty[h])
            right = level.get(2 * i + 1, empty[h])
            parents[i] = compress(left, right)
        level = parents
    return level.get(0, empty[depth])


def tie_break_key(seed: str, order_id: str) -> list[int]:
    return compress(bytes32_elements(seed), bytes32_elements(order_id))


# --- the known-answer vectors of docs/formats.md ----------------------------------------------


def doc_vectors() -> dict[str, str]:
    text = DOC.read_text()
    block = text.split("**Known-answer vectors.**", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    return dict(re.findall(r"^(\w+) = (.+)$", block, re.M))


def test_known_answer_vectors_match_the_page() -> None:
    v = doc_vectors()
    assert market_code("BTC-PERP") == 1001042996 and market_code("ETH-PERP") == 75687854
    order_1 = {
        "market": "BTC-PERP", "side": "buy", "limit_price": 650000, "quantity": 25,
        "time_in_force": "gtc", "reduce_only": False, "client_id": 42,
        "salt": "0x" + bytes(range(32)).hex(), "trader": "0x" + "5a" * 20,
    }  # fmt: skip
    order_2 = {
        "market": "ETH-PERP", "side": "sell", "limit_price": None, "quantity": 3,
        "time_in_force": "ioc", "reduce_only": True, "client_id": 2**64 - 1,
        "salt": "0x" + "ff" * 32, "trader": "0x" + "00" * 19 + "01",
    }  # fmt: skip
    pre_1, pre_2 = commitment_preimage(order_1, 7), commitment_preimage(order_2, 0)
    assert " ".join(map(str, pre_1)) == v["preimage_1"]
    assert " ".join(map(str, pre_2)) == v["preimage_2"]
    c1, c2 = digest_bytes(hash_elements(pre_1)), digest_bytes(hash_elements(pre_2))
    assert (c1, c2) == (v["commitment_1"], v["commitment_2"])
    leaf_1 = commitment_leaf(c1, "BTC-PERP", order_1["trader"], 1_000_000)
    leaf_2 = commitment_leaf(c2, "ETH-PERP", order_2["trader"], 2**30 - 1)
    assert (digest_bytes(leaf_1), digest_bytes(leaf_2)) == (v["leaf_1"], v["leaf_2"])
    assert digest_bytes(commitment_root({})) == v["root_empty"]
    assert digest_bytes(commitment_root({0: leaf_1})) == v["root_1"]
    root_12 = digest_bytes(commitment_root({0: leaf_1, 1: leaf_2}))
    assert root_12 == v["root_12"]
    for c, name in ((c1, "key_1"), (c2, "key_2")):
        key = tie_break_key(root_12, c)
        assert "0x" + b"".join(x.to_bytes(4, "big") for x in key).hex() == v[name]


# --- reading a folder -------------------------------------------------------------------------


def read_orders(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    orders = []
    for n, row in enumerate(body, 2):
        where = f"{path.name} line {n}"
        assert len(row) == len(header), where
        r = dict(zip(header, row, strict=True))
        assert HEX32.match(r["order_id"]), (where, "order_id", r["order_id"])
        assert r["trader"] == to_checksum_address(r["trader"]), (where, "trader not EIP-55")
        assert r["side"] in ("buy", "sell"), (where, r["side"])
        assert r["time_in_force"] in ("ioc", "gtc"), (where, r["time_in_force"])
        assert r["reduce_only"] in ("true", "false"), (where, r["reduce_only"])
        for col in ("quantity", "origin_batch"):
            assert DECIMAL.match(r[col]), (where, col, r[col])
        assert r["limit_price"] == "" or DECIMAL.match(r["limit_price"]), (where, r["limit_price"])
        revealed = (r["client_id"], r["salt"], r["bond"])
        assert all(revealed) or not any(revealed), (where, "client_id/salt/bond half-filled")
        if all(revealed):
            assert DECIMAL.match(r["client_id"]) and int(r["client_id"]) < 2**64, where
            assert HEX32.match(r["salt"]), (where, "salt", r["salt"])
            assert DECIMAL.match(r["bond"]) and int(r["bond"]) < 2**30, (where, r["bond"])
        limit = int(r["limit_price"]) if r["limit_price"] else None
        assert limit is None or 1 <= limit < 2**30, (where, "limit_price bound")
        assert 1 <= int(r["quantity"]) < 2**22, (where, "quantity bound")
        orders.append(
            {
                "order_id": r["order_id"],
                "trader": r["trader"],
                "market": r["market"],
                "side": r["side"],
                "limit_price": limit,
                "quantity": int(r["quantity"]),
                "time_in_force": r["time_in_force"],
                "reduce_only": r["reduce_only"] == "true",
                "origin_batch": int(r["origin_batch"]),
                "client_id": int(r["client_id"]) if r["client_id"] else None,
                "salt": r["salt"] or None,
                "bond": int(r["bond"]) if r["bond"] else None,
            }
        )
    return header, orders


def load(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"folder": folder}
    out["header"], out["orders"] = read_orders(folder / "orders.csv")
    for name in FILES - {"orders.csv"}:
        out[name.removesuffix(".json")] = json.loads((folder / name).read_text())
    return out


def assert_no_floats(doc: Any, where: str) -> None:
    """'All numbers are exact integers written as JSON numbers ... Nothing is ever a float.'"""
    if isinstance(doc, dict):
        for k, v in doc.items():
            assert_no_floats(v, f"{where}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            assert_no_floats(v, f"{where}[{i}]")
    else:
        assert not isinstance(doc, float), f"{where} is a float: {doc}"


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --- the demo's folders -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("formats")
    # The proofs are checked on the proved demo (tests/venue/test_batch_proof_cli.py).
    assert main(["demo", "--batches", "4", "--no-prove", "--out", str(out)]) == 0
    folders = sorted(out.iterdir(), key=lambda p: int(p.name.removeprefix("batch-")))
    assert folders and all(re.fullmatch(r"batch-\d+", p.name) for p in folders)
    return [load(p) for p in folders]


def test_files_and_numbers(published: list[dict[str, Any]], demo: bool = True) -> None:
    for b in published:
        names = {p.name for p in b["folder"].iterdir()}
        optional = set() if demo else {"proof.bin", "anchor.json", "threshold.json"}
        assert FILES <= names <= FILES | optional, names
        n = int(b["folder"].name.removeprefix("batch-"))
        assert (
            b["result"]["batch_id"] == n == b["oracle"]["round_id"] == b["post_state"]["batch_id"]
        )
        for name in FILES - {"orders.csv"}:
            assert_no_floats(b[name.removesuffix(".json")], name)


def test_batch_ids_chain(published: list[dict[str, Any]], demo: bool = True) -> None:
    ids = [b["result"]["batch_id"] for b in published]
    assert ids == sorted(set(ids)), ids
    if demo:  # a venue skips empty batches
        assert ids == list(range(ids[0], ids[0] + len(ids))), "the demo settles every batch"
    for prev, b in itertools.pairwise(published):
        assert b["pre_state"] == prev["post_state"], b["folder"].name
    first = published[0]["pre_state"]
    assert first["batch_id"] < ids[0]
    for b in published:
        assert b["pre_state"]["timestamp_ms"] < b["oracle"]["timestamp_ms"]
        assert b["post_state"]["timestamp_ms"] == b["oracle"]["timestamp_ms"]


def test_orders_csv(published: list[dict[str, Any]]) -> None:
    for b in published:
        bid = b["result"]["batch_id"]
        assert b["header"] == COLUMNS
        markets = set(b["post_state"]["markets"])
        seen_carried = False
        for o in b["orders"]:
            assert o["market"] in markets, o
            revealed = o["client_id"] is not None
            if revealed:
                assert not seen_carried, "revealed orders come first, then the carried-in ones"
                assert o["origin_batch"] == bid, o
                commitment = digest_bytes(hash_elements(commitment_preimage(o, bid)))
                assert commitment == o["order_id"], ("orders.csv commitments", o)
            else:
                seen_carried = True
                assert o["origin_batch"] <= bid, o
        ids = [o["order_id"] for o in b["orders"]]
        assert len(ids) == len(set(ids)), "an order takes part once"


def liquidation_id(batch_id: int, address: str, subaccount: int, market: str) -> str:
    """docs/formats.md "Liquidation order ids": ``batch_id`` the batch that staged it."""
    preimage = [LIQUIDATION_DOMAIN, *limbs(batch_id, 3), market_code(market), 0, 0, 0]
    return digest_bytes(hash_elements([*preimage, *address7(address), subaccount]))


def test_carried_in_orders_are_the_pre_states_pending_orders(
    published: list[dict[str, Any]],
) -> None:
    for b in published:
        pre = b["pre_state"]
        carried = [o for o in b["orders"] if o["client_id"] is None]
        expected = [*pre["pending_liquidations"], *pre["resting_orders"]]
        assert sorted(o["order_id"] for o in carried) == sorted(o["order_id"] for o in expected)
        by_id = {o["order_id"]: o for o in carried}
        for o in expected:
            row = by_id[o["order_id"]]
            for k in ORDER_KEYS:
                assert o[k] == row[k], (b["folder"].name, o["order_id"], k, o[k], row[k])


def pending_order_keys(o: dict[str, Any], liquidation: bool) -> None:
    keys_ = ORDER_KEYS + (["subaccount"] if liquidation else [])
    assert sorted(o) == sorted(keys_), sorted(set(o) ^ set(keys_))
    assert [k for k in o if k in ORDER_KEYS] == ORDER_KEYS, list(o)
    assert o["side"] in ("buy", "sell") and o["time_in_force"] in ("ioc", "gtc")
    assert isinstance(o["reduce_only"], bool) and is_int(o["quantity"])
    assert o["limit_price"] is None or 1 <= o["limit_price"] < 2**30
    assert 1 <= o["quantity"] < 2**22 and 0 <= o["origin_batch"] < 2**48
    assert HEX32.match(o["order_id"]) and o["trader"] == to_checksum_address(o["trader"])
    if liquidation:
        assert o["reduce_only"], "liquidation orders are reduce-only"
        assert o["order_id"] == liquidation_id(
            o["origin_batch"] - 1, o["trader"], o["subaccount"], o["market"]
        ), ("liquidation order_id", o)


def test_result_json(published: list[dict[str, Any]]) -> None:
    fill_keys = {"order_id", "trader", "market", "side", "price", "quantity"}
    forfeit_keys = {"commitment", "trader", "market", "sequence", "bond", "rfq_id", "signed"}
    for b in published:
        r, orders = b["result"], {o["order_id"]: o for o in b["orders"]}
        assert set(r) == {"batch_id", "seed", "markets", "forfeited", "carried"}, sorted(r)
        assert HEX32.match(r["seed"])
        assert set(r["markets"]) <= set(b["post_state"]["markets"])
        for name, m in r["markets"].items():
            where = f"{b['folder'].name} result.json {name}"
            keys_ = {"reference_price", "price", "volume", "buy_volume", "sell_volume",
                     "imbalance", "orders", "fills"}  # fmt: skip
            assert set(m) == keys_, (where, sorted(m))
            assert m["imbalance"] == abs(m["buy_volume"] - m["sell_volume"]), where
            assert m["orders"] == sum(o["market"] == name for o in b["orders"]), where
            mark = b["pre_state"]["markets"][name]["mark_price"]
            if mark:
                assert m["reference_price"] == mark, (where, "reference_price is the mark")
            bought = sold = 0
            taken: dict[str, int] = defaultdict(int)
            for f in m["fills"]:
                assert set(f) == fill_keys, (where, sorted(f))
                assert f["market"] == name and f["price"] == m["price"], (where, "uniform price", f)
                o = orders[f["order_id"]]
                assert (o["trader"], o["market"], o["side"]) == (f["trader"], name, f["side"]), f
                lim = o["limit_price"]
                if lim is not None:
                    assert (f["price"] <= lim) if f["side"] == "buy" else (f["price"] >= lim), f
                assert f["quantity"] >= 1
                taken[f["order_id"]] += f["quantity"]
                if f["side"] == "buy":
                    bought += f["quantity"]
                else:
                    sold += f["quantity"]
            for oid, q in taken.items():
                assert q <= orders[oid]["quantity"], (where, "filled beyond the order", oid)
            assert bought == sold == m["volume"], (where, "buys = sells = volume", bought, sold)
            if m["price"] is None:
                assert m["volume"] == 0 and not m["fills"], where
            else:
                assert 1 <= m["price"] < 2**30
                assert m["volume"] <= min(m["buy_volume"], m["sell_volume"]), where
        for f in r["forfeited"]:
            assert set(f) == forfeit_keys, sorted(f)
            assert HEX32.match(f["commitment"]) and f["trader"] == to_checksum_address(f["trader"])
            assert f["rfq_id"] is None or HEX32.match(f["rfq_id"]), f["rfq_id"]
            assert is_int(f["sequence"]) and is_int(f["bond"]) and 0 <= f["bond"] < 2**30
        for o in r["carried"]:
            pending_order_keys(o, liquidation=False)
            assert o["time_in_force"] == "gtc", o
            row = orders[o["order_id"]]
            assert (o["market"], o["side"], o["limit_price"]) == (
                row["market"], row["side"], row["limit_price"]
            )  # fmt: skip
            assert 1 <= o["quantity"] <= row["quantity"], o


def test_seed_is_the_commitment_root(published: list[dict[str, Any]]) -> None:
    for b in published:
        r = b["result"]
        leaves: dict[int, list[int]] = {}
        for f in r["forfeited"]:
            if f["rfq_id"] is None:
                assert f["sequence"] not in leaves
                leaves[f["sequence"]] = commitment_leaf(
                    f["commitment"], f["market"], f["trader"], f["bond"]
                )
        free = (i for i in range(2**20) if i not in leaves)
        revealed = [o for o in b["orders"] if o["client_id"] is not None]
        for o, i in zip(revealed, free, strict=False):
            leaves[i] = commitment_leaf(o["order_id"], o["market"], o["trader"], o["bond"])
        assert digest_bytes(commitment_root(leaves)) == r["seed"], b["folder"].name


def recover_typed(signed: dict[str, Any]) -> str:
    body = {k: signed[k] for k in ("types", "primaryType", "domain", "message")}
    sig = bytes.fromhex(signed["signature"][2:])
    assert len(sig) == 65
    return Account.recover_message(encode_typed_data(full_message=body), signature=sig)


def test_forfeit_signatures(published: list[dict[str, Any]], demo: bool = True) -> None:
    domains = []
    count = 0
    for b in published:
        for f in b["result"]["forfeited"]:
            s = f["signed"]
            assert set(s) == {"types", "primaryType", "domain", "message", "signature"}, sorted(s)
            assert recover_typed(s) == f["trader"], f
            msg = s["message"]
            assert msg["commitment"] == f["commitment"]
            if f["rfq_id"] is None:
                assert s["primaryType"] == "Commit"
                assert msg["trader"] == f["trader"] and msg["batchId"] == b["result"]["batch_id"]
                assert msg["market"] == f["market"] and msg["bond"] == f["bond"]
            else:
                assert s["primaryType"] == "QuoteCommit"
                assert msg["maker"] == f["trader"] and msg["rfqId"] == f["rfq_id"]
            domains.append(json.dumps(s["domain"], sort_keys=True))
            count += 1
        assert len(set(domains)) <= 1
    assert count or not demo, "the demo publishes forfeits"


def report_digest(rep: dict[str, Any]) -> bytes:
    body = abi_encode(
        ["bytes32", "uint64", "uint64", "address"],
        [keccak(text=rep["market"]), rep["price"], rep["timestamp_ms"], rep["source"]],
    )
    return keccak(keccak(text="sealbatch.PriceReport.v1") + body)


def recover_digest(digest: bytes, signature: str) -> str:
    sig = bytes.fromhex(signature[2:])
    assert len(sig) == 65
    v = sig[64] - 27 if sig[64] >= 27 else sig[64]
    pub = keys.Signature(
        vrs=(v, int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"))
    )
    return pub.recover_public_key_from_msg_hash(digest).to_checksum_address()


def keccak_merkle_root(leaves: list[bytes]) -> bytes:
    """Leaves hashed as keccak(0x00 ‖ leaf), pairs as keccak(0x01 ‖ left ‖ right); an odd last
    node goes up unchanged; no leaf: 32 zero bytes."""
    if not leaves:
        return bytes(32)
    level = [keccak(b"\x00" + leaf) for leaf in leaves]
    while len(level) > 1:
        nxt = [keccak(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def test_oracle_json(published: list[dict[str, Any]]) -> None:
    for b in published:
        o = b["oracle"]
        assert set(o) == {"round_id", "timestamp_ms", "digest", "reports", "config"}, sorted(o)
        assert set(o["config"]) == ORACLE_RULES, sorted(o["config"])
        sources = {s["address"]: s["family"] for s in o["config"]["sources"]}
        for s in o["config"]["sources"]:
            assert set(s) == {"address", "family"} and s["address"] == to_checksum_address(
                s["address"]
            )
        assert HEX32.match(o["digest"])
        leaves = []
        for rep in o["reports"]:
            assert set(rep) == {"market", "price", "timestamp_ms", "source", "signature"}, sorted(
                rep
            )
            assert rep["source"] in sources and 1 <= rep["price"] < 2**30
            assert HEX.match(rep["signature"]) and len(rep["signature"]) == 2 + 130
            d = report_digest(rep)
            assert recover_digest(d, rep["signature"]) == rep["source"], rep
            leaves.append(keccak(d + bytes.fromhex(rep["signature"][2:])))
        tag = keccak(text="sealbatch.PriceReport.v1")
        digest = keccak(
            tag
            + abi_encode(["uint64", "uint64"], [o["round_id"], o["timestamp_ms"]])
            + keccak_merkle_root(leaves)
        )
        assert "0x" + digest.hex() == o["digest"], (b["folder"].name, "oracle digest")


def test_transfers_json(published: list[dict[str, Any]]) -> None:
    for b in published:
        t = b["transfers"]
        assert set(t) == {"format", "deposits", "blocks", "withdrawals"}, sorted(t)
        assert t["format"] == "sealbatch.transfers.v1"
        for d in t["deposits"]:
            assert set(d) == {"address", "subaccount", "amount"}, sorted(d)
            assert d["address"] == to_checksum_address(d["address"]) and 0 < d["amount"] < 2**62
        for blk in t["blocks"]:
            keys_ = {"block_id", "market", "buyer", "seller", "price", "quantity", "batch_id"}
            assert set(blk) == keys_, sorted(blk)
            assert HEX32.match(blk["block_id"]) and blk["batch_id"] == b["result"]["batch_id"]
            assert 1 <= blk["price"] < 2**30 and 1 <= blk["quantity"] < 2**22
        requests = []
        forced_done = False
        for w in t["withdrawals"]:
            assert set(w) in (
                {"address", "subaccount", "amount"},
                {"address", "subaccount", "amount", "request"},
            )
            assert 0 <= w["amount"] < 2**62
            if "request" in w:
                assert not forced_done, "forced withdrawals come first"
                requests.append(w["request"])
            else:
                forced_done = True
                assert w["amount"] > 0
        assert requests == sorted(set(requests))


def market_elements(m: dict[str, Any]) -> list[int]:
    out: list[int] = []
    for name in MARKET_FIELDS:
        out += signed4(m[name])
    return out + [int(m[f]) for f in MARKET_FLAGS]


def pending_record(o: dict[str, Any], liquidation: bool) -> list[int]:
    words = [
        int.from_bytes(bytes.fromhex(o["order_id"][2:])[4 * i : 4 * i + 4], "little")
        for i in range(8)
    ]
    id_high = sum(3**i * (w // P) for i, w in enumerate(words))
    return [
        int(liquidation),
        market_code(o["market"]),
        order_flags(o["side"], o["limit_price"], o["time_in_force"], o["reduce_only"]),
        o["limit_price"] or 0,
        o["quantity"],
        *limbs(o["origin_batch"], 2),
        id_high,
        *address7(o["trader"]),
        o.get("subaccount", 0),
        *bytes32_elements(o["order_id"]),
    ]


def config_digest(config: dict[str, Any]) -> list[int]:
    """The header's config digest: the canonical JSON text's bytes, three per element."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    padded = text + bytes(-len(text) % 3)
    packed = [int.from_bytes(padded[i : i + 3], "little") for i in range(0, len(padded), 3)]
    return hash_elements([CONFIG_DOMAIN, len(text), *packed])


def state_root(s: dict[str, Any]) -> str:
    markets = sorted(s["markets"])
    leaves = []
    for a in s["accounts"]:
        leaf = [
            ACCOUNT_DOMAIN,
            *address7(a["address"]),
            a["subaccount"],
            int(a["portfolio_margin"]),
        ]
        leaf += signed4(a["collateral"])
        for m in markets:
            leaf += signed4(a["positions"][m])
        assert len(leaf) == 14 + 4 * len(markets)
        leaves.append(hash_elements(leaf))
    n = len(leaves)
    d = max(1, (n - 1).bit_length())
    level = leaves + [[0] * 8] * (2**d - n)
    while len(level) > 1:
        level = [compress(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    liq, rest = s["pending_liquidations"], s["resting_orders"]
    pending = [PENDING_DOMAIN, len(liq), len(rest), 0, 0, 0, 0, 0]
    for o in liq:
        pending += pending_record(o, True)
    for o in rest:
        pending += pending_record(o, False)
    assert len(pending) == 8 + 24 * (len(liq) + len(rest))
    header = [HEADER_DOMAIN, *signed4(s["batch_id"]), *signed4(n), d]
    for k in ("fee_pool", "insurance_fund", "socialised_loss", "timestamp_ms"):
        header += signed4(s[k])
    for m in markets:
        header += market_elements(s["markets"][m])
    blocks = -(-(26 + 39 * len(markets)) // 8) + 2
    assert len(header) == 26 + 39 * len(markets)
    header += [0] * (8 * blocks - 16 - len(header))
    header += config_digest(s["config"]) + hash_elements(pending)
    return digest_bytes(compress(level[0], hash_elements(header)))


def states(published: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{b['folder'].name}/{k}.json", b[k])
        for b in published
        for k in ("pre_state", "post_state")
    ]


def test_state_files(published: list[dict[str, Any]]) -> None:
    for where, s in states(published):
        assert set(s) == STATE_KEYS, (where, sorted(set(s) ^ STATE_KEYS))
        assert s["format"] == "sealbatch.state.v1" and HEX32.match(s["state_root"])
        names = sorted(s["markets"])
        for name, m in s["markets"].items():
            assert set(m) == MARKET_KEYS, (where, name, sorted(set(m) ^ MARKET_KEYS))
            assert isinstance(m["flagged"], bool) and isinstance(m["protective"], bool)
            assert all(is_int(m[k]) for k in [*MARKET_FIELDS, "calm", "contract_multiplier"])
            assert 1 <= m["contract_multiplier"] < 2**10
        rules = s["config"]
        assert set(rules) >= GLOBAL_RULES, (where, sorted(GLOBAL_RULES - set(rules)))
        for a in s["accounts"]:
            assert set(a) == ACCOUNT_KEYS, (where, sorted(set(a) ^ ACCOUNT_KEYS))
            assert (
                a["address"] == to_checksum_address(a["address"]) and 0 <= a["subaccount"] < 2**16
            )
            assert sorted(a["positions"]) == names, (where, a["address"])
            assert abs(a["collateral"]) < 2**62
            assert all(abs(q) < 2**22 for q in a["positions"].values())
            equity = a["collateral"] + sum(
                q * s["markets"][k]["mark_price"] * s["markets"][k]["contract_multiplier"]
                for k, q in a["positions"].items()
            )
            assert a["equity"] == equity, (where, a["address"], "equity", a["equity"], equity)
            assert 0 <= a["maintenance_requirement"] <= a["initial_requirement"], (where, a)
            assert a["liquidating"] == (a["equity"] < a["maintenance_requirement"]), (where, a)
        keys_seen = [(a["address"], a["subaccount"]) for a in s["accounts"]]
        assert len(keys_seen) == len(set(keys_seen))
        for o in s["pending_liquidations"]:
            pending_order_keys(o, liquidation=True)
            # staged by this state's batch (the id's), for the next
            assert o["origin_batch"] == s["batch_id"] + 1, (where, o)
        for o in s["resting_orders"]:
            pending_order_keys(o, liquidation=False)
            assert o["time_in_force"] == "gtc"


def test_market_rules(published: list[dict[str, Any]]) -> None:
    rules = published[-1]["post_state"]["config"]
    markets = published[-1]["post_state"]["markets"]
    assert rules["deleverage"] in ("adl", "socialise")
    assert set(rules) == {"markets", *GLOBAL_RULES}, sorted(rules)
    assert sorted(rules["markets"]) == sorted(markets)
    m = len(markets)
    assert len(rules["correlation_bps"]) == m and all(
        len(row) == m for row in rules["correlation_bps"]
    )
    for name, r in rules["markets"].items():
        assert set(r) == MARKET_RULES, (name, sorted(set(r) ^ MARKET_RULES))
        assert r["contract_multiplier"] == markets[name]["contract_multiplier"]
        for tier in r["tiers"]:
            assert len(tier) == 3 and all(is_int(x) for x in tier)


def test_state_roots_recompute(published: list[dict[str, Any]]) -> None:
    for where, s in states(published):
        assert state_root(s) == s["state_root"], (where, "state_root")


def fee_bps(state: dict[str, Any], market: str) -> int:
    return int(state["config"]["markets"][market]["fee_bps"])


def test_conservation_positions_and_fees(published: list[dict[str, Any]]) -> None:
    for b in published:
        pre, post, t = b["pre_state"], b["post_state"], b["transfers"]

        def total(s: dict[str, Any]) -> int:
            return sum(a["collateral"] for a in s["accounts"]) + s["fee_pool"] + s["insurance_fund"]

        moved = sum(d["amount"] for d in t["deposits"]) - sum(w["amount"] for w in t["withdrawals"])
        assert total(post) - total(pre) == moved, (b["folder"].name, "conservation")
        for s in (pre, post):
            for m in s["markets"]:
                assert sum(a["positions"][m] for a in s["accounts"]) == 0, (b["folder"].name, m)
        fees = 0
        for name, m in b["result"]["markets"].items():
            mult, bps = post["markets"][name]["contract_multiplier"], fee_bps(pre, name)
            for f in m["fills"]:
                fees += -(-(f["quantity"] * f["price"] * mult * bps) // 10_000)
            # an RFQ block: two fills at the clearing price, each with its fee
            for blk in b["transfers"]["blocks"]:
                if blk["market"] == name and m["price"] is not None:
                    fees += 2 * -(-(blk["quantity"] * m["price"] * mult * bps) // 10_000)
        assert post["fee_pool"] - pre["fee_pool"] == fees, (b["folder"].name, "fees")


# --- proof.bin and anchor.json, on the proved demo's folders ----------------------------------


def outputs_digest(b: dict[str, Any]) -> list[int]:
    """The outputs digest of "Batch digests": whole rate-8 blocks, hashed with the sponge."""
    r, post = b["result"], b["post_state"]
    markets = sorted(post["markets"])
    rows = {(a["address"], a["subaccount"]): i for i, a in enumerate(post["accounts"])}
    liquidation = {o["order_id"]: o["subaccount"] for o in b["pre_state"]["pending_liquidations"]}
    fills = [f for name in markets for f in r["markets"][name]["fills"]]
    el = [0x5EA10005, *limbs(r["batch_id"], 3), len(markets), len(fills)]
    el += [len(r["forfeited"]), len(r["carried"])]
    for f in fills:
        account = rows[f["trader"], liquidation.get(f["order_id"], 0)]
        el += bytes32_elements(f["order_id"])
        el += [
            account,
            markets.index(f["market"]),
            int(f["side"] == "buy"),
            f["quantity"],
            f["price"],
            0,
            0,
            0,
        ]
    for f in r["forfeited"]:
        el += bytes32_elements(f["commitment"])
        el += [f["sequence"], int(f["rfq_id"] is not None), *limbs(f["bond"], 3), 0, 0, 0]
        el += [*address7(f["trader"]), market_code(f["market"])]
    for name in markets:
        m = r["markets"][name]
        el += [market_code(name), m["price"] or 0, m["volume"], len(m["fills"]), 0, 0, 0, 0]
    for o in r["carried"]:
        flags = order_flags(o["side"], o["limit_price"], o["time_in_force"], o["reduce_only"])
        el += bytes32_elements(o["order_id"])
        el += [
            market_code(o["market"]),
            flags,
            o["limit_price"] or 0,
            o["quantity"],
            *limbs(o["origin_batch"], 3),
            0,
        ]
    assert len(el) % 8 == 0
    return hash_elements(el)


def digits12(v: int) -> list[int]:
    assert 0 <= v < 1 << 72, v
    return [(v >> (12 * i)) & 0xFFF for i in range(6)]


def inputs_digest(b: dict[str, Any]) -> list[int]:
    """The inputs digest of "Batch digests"."""
    o, t = b["oracle"], b["transfers"]
    el = [0x5EA10006, *limbs(b["result"]["batch_id"], 3), *limbs(o["round_id"], 3), 0]
    el += [*limbs(o["timestamp_ms"], 3), 0, 0, 0, 0, 0, *bytes32_elements(o["digest"])]
    for d in t["deposits"]:
        el += [1, *digits12(d["amount"]), 0, *address7(d["address"]), d["subaccount"]]
    for k in t["blocks"]:
        el += [3, market_code(k["market"]), k["price"], k["quantity"], 0, 0, 0, 0]
        el += [
            *bytes32_elements(k["block_id"]),
            *address7(k["buyer"]),
            0,
            *address7(k["seller"]),
            0,
        ]
    for w in t["withdrawals"]:
        el += [2, *digits12(w["amount"]), 0, *address7(w["address"]), w["subaccount"]]
    return hash_elements(el)


def proof_public_inputs(proof: bytes) -> tuple[str, list[int]]:
    """The AIR name and public inputs of a version-2 proof (docs/stark.md, "Proof format")."""
    assert proof[:8] == b"SBSTARK\x02", proof[:8]
    n = proof[8]
    name = proof[9 : 9 + n].decode()
    pos = 9 + n + 1 + 6  # log2(rows), the options
    count = int.from_bytes(proof[pos : pos + 2], "big")
    pos += 2
    return name, [int.from_bytes(proof[pos + 4 * i : pos + 4 * i + 4], "big") for i in range(count)]


def check_proof_and_anchor(folder: Path) -> None:
    """proof.bin is a sealbatch_batch proof whose public inputs are the folder's (the roots,
    the seed, both batch digests, each market's figures, recomputed here); anchor.json has the
    documented keys and the batch's post-state root. Called by
    tests/venue/test_batch_proof_cli.py on its proved demo."""
    b = load(folder)
    name, pub = proof_public_inputs((folder / "proof.bin").read_bytes())
    assert name == "sealbatch_batch"
    markets = sorted(b["post_state"]["markets"])
    assert pub[0:3] == limbs(b["result"]["batch_id"], 3)
    assert pub[3:11] == bytes32_elements(b["pre_state"]["state_root"]), "pre-state root"
    assert pub[11:19] == bytes32_elements(b["post_state"]["state_root"]), "post-state root"
    assert pub[19:27] == bytes32_elements(b["result"]["seed"]), "commitment root"
    assert pub[27:35] == inputs_digest(b), "inputs digest"
    assert pub[35:43] == outputs_digest(b), "outputs digest"
    revealed = sum(o["client_id"] is not None for o in b["orders"])
    quotes = sum(f["rfq_id"] is not None for f in b["result"]["forfeited"])
    assert pub[43:45] == [len(markets), revealed + len(b["result"]["forfeited"]) - quotes]
    for j, market in enumerate(markets):
        r, post = b["result"]["markets"][market], b["post_state"]["markets"][market]
        expected = [
            r["price"] or 0,
            *signed4(post["funding_index"]),
            post["mark_price"],
            r["orders"],
        ]
        expected += [
            r["reference_price"] or 0,
            post["index_price"],
            *limbs(post["index_time_ms"], 2),
        ]
        assert pub[45 + 12 * j : 57 + 12 * j] == [*expected, int(post["flagged"])], market
    path = folder / "anchor.json"
    if not path.exists():
        return
    anchor = json.loads(path.read_text())
    post = json.loads((folder / "post_state.json").read_text())
    keys_ = {"batch_id", "block", "exchange", "gas_used", "post_root", "seconds", "tx"}
    assert set(anchor) == keys_, sorted(anchor)
    assert anchor["batch_id"] == post["batch_id"] and anchor["post_root"] == post["state_root"]
    assert HEX32.match(anchor["tx"]) and anchor["exchange"] == to_checksum_address(
        anchor["exchange"]
    )
    assert is_int(anchor["block"]) and is_int(anchor["gas_used"]) and 0 < anchor["gas_used"] < 2**24
    assert isinstance(anchor["seconds"], int | float) and anchor["seconds"] > 0
    assert_no_floats({k: v for k, v in anchor.items() if k != "seconds"}, "anchor.json")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def test_requirements_without_portfolio_margin(
    published: list[dict[str, Any]], demo: bool = True
) -> None:
    """An account without portfolio margin needs, per position, its tier's bps of its notional at
    the mark, rounded up: the first tier with max_lots >= |q|."""
    checked = 0
    for where, s in states(published):
        for a in s["accounts"]:
            if a["portfolio_margin"]:
                continue
            need = [0, 0]
            for name, q in a["positions"].items():
                if not q:
                    continue
                rules = s["config"]["markets"][name]
                tier = next(t for t in rules["tiers"] if t[0] >= abs(q))
                notional = (
                    abs(q)
                    * s["markets"][name]["mark_price"]
                    * s["markets"][name]["contract_multiplier"]
                )
                need[0] += ceil_div(notional * tier[1], 10_000)
                need[1] += ceil_div(notional * tier[2], 10_000)
            got = [a["initial_requirement"], a["maintenance_requirement"]]
            assert got == need, (where, a["address"], got, need)
            checked += 1
    assert checked or not demo


def test_collateral_account_by_account(published: list[dict[str, Any]]) -> None:
    """Each account's collateral moves by exactly its deposits and withdrawals, its fills' cash
    (a buy pays quantity x price x multiplier), fees, funding, forfeited bonds, RFQ blocks and
    liquidation penalties; the insurance fund takes the bonds and the penalties."""
    for b in published:
        pre, post, r, t = b["pre_state"], b["post_state"], b["result"], b["transfers"]
        where = b["folder"].name
        delta: dict[tuple[str, int], int] = defaultdict(int)
        for d in t["deposits"]:
            delta[d["address"], d["subaccount"]] += d["amount"]
        for w in t["withdrawals"]:
            delta[w["address"], w["subaccount"]] -= w["amount"]
        liquidation_ids = {o["order_id"]: o["subaccount"] for o in pre["pending_liquidations"]}
        penalty_due: dict[tuple[str, int], int] = defaultdict(int)
        for name, m in r["markets"].items():
            mult = pre["markets"][name]["contract_multiplier"]
            rules = pre["config"]["markets"][name]
            for f in m["fills"]:
                notional = f["quantity"] * f["price"] * mult
                key = (f["trader"], liquidation_ids.get(f["order_id"], 0))
                delta[key] += -notional if f["side"] == "buy" else notional
                delta[key] -= ceil_div(notional * rules["fee_bps"], 10_000)
                if f["order_id"] in liquidation_ids:
                    penalty_due[key] += ceil_div(
                        notional * rules["liquidation_penalty_bps"], 10_000
                    )
            for blk in t["blocks"]:
                if blk["market"] == name and m["price"] is not None:
                    # two fills at the clearing price, each with its fee, and the transfer
                    cash = blk["quantity"] * m["price"] * mult
                    fee = ceil_div(cash * rules["fee_bps"], 10_000)
                    moved = (blk["price"] - m["price"]) * blk["quantity"] * mult
                    delta[blk["buyer"], 0] -= cash + fee + moved
                    delta[blk["seller"], 0] += cash - fee + moved
        for a in pre["accounts"]:
            for name, q in a["positions"].items():
                step = (
                    post["markets"][name]["funding_index"] - pre["markets"][name]["funding_index"]
                )
                delta[a["address"], a["subaccount"]] -= q * step
        accounts = {(a["address"], a["subaccount"]) for a in pre["accounts"]}
        bonds = 0
        for f in r["forfeited"]:
            flagged = {k for k, m in pre["markets"].items() if m["flagged"]}
            holder = next(
                (x for x in pre["accounts"] if (x["address"], x["subaccount"]) == (f["trader"], 0)),
                None,
            )
            waived = f["market"] in flagged or (
                holder is not None and any(holder["positions"][k] for k in flagged)
            )  # the oracle, not the trader, refused the reveal
            if (f["trader"], 0) in accounts and not waived:
                charge = max(f["bond"], pre["config"]["forfeit_bond"])
                delta[f["trader"], 0] -= charge
                bonds += charge
        before = {(a["address"], a["subaccount"]): a["collateral"] for a in pre["accounts"]}
        penalties = 0
        for a in post["accounts"]:
            key = (a["address"], a["subaccount"])
            off = delta[key] - (a["collateral"] - before.get(key, 0))
            if key in penalty_due:  # never beyond the account's remaining equity
                assert 0 <= off <= penalty_due[key], (where, key, "penalty", off, penalty_due[key])
                penalties += off
            else:
                assert off == 0, (where, key, "collateral off by", off)
        if post["socialised_loss"] == pre["socialised_loss"]:
            assert post["insurance_fund"] - pre["insurance_fund"] == bonds + penalties, where


def median(xs: Sequence[int]) -> int:
    """The middle value; of an even count, the midpoint of the two middle values rounded down."""
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) // 2


def oracle_index(oracle: dict[str, Any], market: str) -> int | None:
    """The trusted index of ``market`` from oracle.json as the page states the rules, or None
    when the market is flagged."""
    cfg, now = oracle["config"], oracle["timestamp_ms"]
    family = {src["address"]: src["family"] for src in cfg["sources"]}
    prices: dict[tuple[str, int], set[int]] = defaultdict(set)
    for r in oracle["reports"]:
        fresh = r["timestamp_ms"] <= now and now - r["timestamp_ms"] <= cfg["stale_ms"]
        if r["market"] == market and r["source"] in family and fresh:
            prices[r["source"], r["timestamp_ms"]].add(r["price"])
    newest: dict[str, tuple[int, int]] = {}
    for (src, ts), ps in prices.items():
        if len(ps) == 1 and (src not in newest or ts > newest[src][0]):
            newest[src] = (ts, next(iter(ps)))
    by_family: dict[str, list[int]] = defaultdict(list)
    for src, (_, price) in newest.items():
        by_family[family[src]].append(price)
    counting = []
    for ps in by_family.values():
        mid = median(ps)
        agree = [p for p in ps if abs(p - mid) * 10_000 <= cfg["agreement_bps"] * mid]
        if len(agree) >= cfg["family_quorum"]:
            counting.append(median(agree))
    if len(counting) < cfg["min_families"]:
        return None
    index = median(counting)
    if (max(counting) - min(counting)) * 10_000 > cfg["divergence_bps"] * index:
        return None
    return index


def test_post_state_index_is_the_oracle_reading(published: list[dict[str, Any]]) -> None:
    for b in published:
        pre, post, o = b["pre_state"], b["post_state"], b["oracle"]
        for name, m in post["markets"].items():
            index = oracle_index(o, name)
            if index is None:
                kept = (pre["markets"][name]["index_price"], pre["markets"][name]["index_time_ms"])
                assert (m["index_price"], m["index_time_ms"], m["flagged"]) == (*kept, True), name
            else:
                got = (m["index_price"], m["index_time_ms"], m["flagged"])
                assert got == (index, o["timestamp_ms"], False), (
                    b["folder"].name,
                    name,
                    got,
                    index,
                )


def test_marks(published: list[dict[str, Any]]) -> None:
    """mark = index + premium, |premium| within mark_band_bps of the index, and one batch moves
    the premium by at most mark_step_bps of it."""
    for b in published:
        pre, post = b["pre_state"], b["post_state"]
        for name, m in post["markets"].items():
            rules = post["config"]["markets"][name]
            if not m["index_price"]:
                assert m["premium"] == 0, name
                continue
            where = (b["folder"].name, name)
            assert m["mark_price"] == m["index_price"] + m["premium"], where
            assert abs(m["premium"]) * 10_000 <= rules["mark_band_bps"] * m["index_price"], where
            step = abs(m["premium"] - pre["markets"][name]["premium"])
            assert step * 10_000 <= rules["mark_step_bps"] * m["index_price"], where


def test_liquidation_limits_and_funding_steps(published: list[dict[str, Any]]) -> None:
    """A liquidation order's limit is the tighter of mark and index (when there is one) moved by
    max_slippage_bps: a buy's the lower, rounded down, a sell's the higher, rounded up; a
    market's funding_index moves only in a batch that ends a funding interval."""
    for b in published:
        pre, post = b["pre_state"], b["post_state"]
        for o in post["pending_liquidations"]:
            m, rules = post["markets"][o["market"]], post["config"]["markets"][o["market"]]
            slip = rules["max_slippage_bps"]
            refs = [m["mark_price"]] + ([m["index_price"]] if m["index_price"] else [])
            if o["side"] == "buy":
                limit = min(2**30 - 1, *(r * (10_000 + slip) // 10_000 for r in refs))
            else:
                limit = max(1, *(ceil_div(r * (10_000 - slip), 10_000) for r in refs))
            assert o["limit_price"] == limit, (
                b["folder"].name,
                o["order_id"],
                o["limit_price"],
                limit,
            )
        for name, m in post["markets"].items():
            if m["funding_index"] != pre["markets"][name]["funding_index"]:
                assert m["interval_batches"] == 0 and m["premium_time"] == 0, (
                    b["folder"].name,
                    name,
                )


def test_sealbatch_clear_reclears_each_market(
    published: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """ "sealbatch clear orders.csv --market M --reference P --seed SEED" gives the batch's
    price, volumes and fills (DESIGN.md's `clear --json` keys)."""
    for b in published:
        r = b["result"]
        for name, m in r["markets"].items():
            args = [
                "clear",
                str(b["folder"] / "orders.csv"),
                "--market",
                name,
                "--seed",
                r["seed"],
                "--json",
            ]
            if m["reference_price"] is not None:
                args += ["--reference", str(m["reference_price"])]
            capsys.readouterr()
            assert main(args) == 0
            got = json.loads(capsys.readouterr().out)
            assert set(got) == {
                "price",
                "volume",
                "buy_volume",
                "sell_volume",
                "imbalance",
                "fills",
            }
            for k in ("price", "volume", "buy_volume", "sell_volume", "imbalance"):
                assert got[k] == m[k], (b["folder"].name, name, k)
            assert all(set(f) == {"order_id", "quantity"} for f in got["fills"])
            fills = sorted((f["order_id"], f["quantity"]) for f in got["fills"])
            assert fills == sorted((f["order_id"], f["quantity"]) for f in m["fills"]), (
                b["folder"].name,
                name,
            )


def _first_fill(b: dict[str, Any]) -> dict[str, Any]:
    return next(f for m in b["result"]["markets"].values() for f in m["fills"])


TAMPERS = {
    "collateral": (
        lambda b: b["post_state"]["accounts"][0].__setitem__(
            "collateral", b["post_state"]["accounts"][0]["collateral"] + 1
        ),
        test_state_roots_recompute,
    ),
    "fee pool": (
        lambda b: b["post_state"].__setitem__("fee_pool", b["post_state"]["fee_pool"] + 1),
        test_conservation_positions_and_fees,
    ),
    "fill price": (
        lambda b: _first_fill(b).__setitem__("price", _first_fill(b)["price"] + 1),
        test_result_json,
    ),
    "fill quantity": (
        lambda b: _first_fill(b).__setitem__("quantity", _first_fill(b)["quantity"] + 1),
        test_result_json,
    ),
    "column order": (lambda b: b["header"].reverse(), test_orders_csv),
    "salt": (lambda b: b["orders"][0].__setitem__("salt", "0x" + "00" * 32), test_orders_csv),
    "seed": (
        lambda b: b["result"].__setitem__("seed", "0x" + "11" * 32),
        test_seed_is_the_commitment_root,
    ),
    "oracle price": (
        lambda b: b["oracle"]["reports"][0].__setitem__(
            "price", b["oracle"]["reports"][0]["price"] + 1
        ),
        test_oracle_json,
    ),
    "index": (
        lambda b: next(iter(b["post_state"]["markets"].values())).__setitem__("index_price", 1),
        test_post_state_index_is_the_oracle_reading,
    ),
    "requirement": (
        lambda b: b["post_state"]["accounts"][0].__setitem__("maintenance_requirement", 0),
        test_requirements_without_portfolio_margin,
    ),
}


@pytest.mark.parametrize("what", sorted(TAMPERS))
def test_the_checker_catches_one_change(published: list[dict[str, Any]], what: str) -> None:
    """Each check can fail: one value changed in a copy of a folder, its check refuses it."""
    import copy

    tamper, check = TAMPERS[what]
    check(published)
    changed = copy.deepcopy(published)
    tamper(changed[-1])
    with pytest.raises(AssertionError):
        check(changed)


def check_published(root: Path) -> None:
    """Every check above on the folders of ``root`` (a venue's --publish folder: ids may jump)."""
    folders = sorted(root.glob("batch-*"), key=lambda p: int(p.name.removeprefix("batch-")))
    assert folders, root
    batches = [load(p) for p in folders]
    for check in CHECKS:
        if "demo" in check.__code__.co_varnames[: check.__code__.co_argcount]:
            check(batches, demo=False)  # type: ignore[call-arg]
        else:
            check(batches)


CHECKS = [
    test_files_and_numbers,
    test_batch_ids_chain,
    test_orders_csv,
    test_carried_in_orders_are_the_pre_states_pending_orders,
    test_result_json,
    test_seed_is_the_commitment_root,
    test_forfeit_signatures,
    test_oracle_json,
    test_transfers_json,
    test_state_files,
    test_market_rules,
    test_state_roots_recompute,
    test_conservation_positions_and_fees,
    test_requirements_without_portfolio_margin,
    test_collateral_account_by_account,
    test_post_state_index_is_the_oracle_reading,
    test_marks,
    test_liquidation_limits_and_funding_steps,
]
