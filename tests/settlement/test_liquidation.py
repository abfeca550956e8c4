"""Liquidation: deterministic order ids, slice sizing, deficit cover, circuit breaker."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sealbatch.auction.orders import Side
from sealbatch.crypto import poseidon2 as p2
from sealbatch.settlement.ledger import AccountKey, MarketState
from sealbatch.settlement.liquidation import (
    cover_deficits,
    liquidation_id_elements,
    liquidation_order_id,
    liquidation_order_ids,
    liquidation_slice_lots,
    plan_liquidations,
    price_band_bps,
    update_breaker,
)
from sealbatch.settlement.params import BPS, DEFAULT_CONFIG, DeleverageMode, default_config
from tests.settlement.conftest import key

DOCS = Path(__file__).resolve().parents[2] / "docs" / "formats.md"
RISK = DEFAULT_CONFIG.risk("BTC-PERP")
MARKS = np.array([650_000, 350_000], dtype=np.int64)


def test_order_ids_are_deterministic_and_distinct() -> None:
    a = liquidation_order_id(5, key(0), "BTC-PERP")
    assert a == liquidation_order_id(5, key(0), "BTC-PERP")
    others = {
        liquidation_order_id(6, key(0), "BTC-PERP"),
        liquidation_order_id(5, key(1), "BTC-PERP"),
        liquidation_order_id(5, key(0, 1), "BTC-PERP"),
        liquidation_order_id(5, key(0), "ETH-PERP"),
    }
    assert a not in others and len(others) == 4


def documented_vectors() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### Liquidation order ids") : text.index("## Batch digests")]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block is not None, "docs/formats.md: expected the liquidation ids' vectors"
    out = {}
    for line in block.group(1).splitlines():
        if line and not line.startswith("#"):
            name, value = (part.strip() for part in line.split("=", 1))
            out[name] = value
    return out


def hand_preimage(batch_id: int, trader: bytes, subaccount: int, market: bytes) -> list[int]:
    """docs/formats.md's preimage, written out independently of liquidation.py."""

    def limbs(v: int, n: int) -> list[int]:
        return [(v >> (24 * i)) % (1 << 24) for i in range(n)]

    code = int(p2.hash_elements([0x5EA10004, len(market), *market])[0])
    return [0x5EA1000A, *limbs(batch_id, 3), code, 0, 0, 0,
            *limbs(int.from_bytes(trader, "big"), 7), subaccount]  # fmt: skip


@pytest.mark.parametrize(
    ("n", "batch_id", "trader", "subaccount", "market"),
    [
        (1, 41, b"\x11" * 20, 2, b"BTC-PERP"),
        (2, 2**64 - 1, bytes(19) + b"\x01", 65535, b"ETH-PERP"),
    ],
    ids=["batch-41", "largest"],
)
def test_order_id_known_answers_match_docs_code_and_hand_construction(
    n: int, batch_id: int, trader: bytes, subaccount: int, market: bytes
) -> None:
    docs = documented_vectors()
    account = AccountKey("0x" + trader.hex(), subaccount)
    hand = hand_preimage(batch_id, trader, subaccount, market)
    assert liquidation_id_elements(batch_id, account, market.decode()) == hand
    assert docs[f"preimage_{n}"] == " ".join(map(str, hand))
    digest = p2.hash_elements(hand)
    want = b"".join(int(e).to_bytes(4, "little") for e in digest.tolist())
    assert liquidation_order_id(batch_id, account, market.decode()) == want
    assert docs[f"id_{n}"] == "0x" + want.hex()
    # every word a field element: the pending record's id_high is 0
    assert all(int.from_bytes(want[i : i + 4], "little") < p2.P for i in range(0, 32, 4))


def test_order_ids_are_hashed_together_as_one_by_one() -> None:
    orders = [(key(0), "BTC-PERP"), (key(1, 3), "ETH-PERP"), (key(0), "ETH-PERP")]
    assert liquidation_order_ids(5, orders) == [liquidation_order_id(5, k, m) for k, m in orders]
    assert liquidation_order_ids(5, []) == []


@pytest.mark.parametrize(
    ("batch_id", "sub"), [(-1, 0), (2**64, 0), (0, 2**16)], ids=["negative", "2^64", "sub"]
)
def test_order_id_refuses_out_of_range_fields(batch_id: int, sub: int) -> None:
    with pytest.raises(ValueError, match="expected"):
        liquidation_order_id(batch_id, AccountKey(key(0).address, sub), "BTC-PERP")


def _plan(
    pos: list[list[int]], eq: list[int], states: tuple[MarketState, ...] | None = None
) -> list:
    from sealbatch.settlement.margin import cross_requirements

    p = np.array(pos, dtype=np.int64)
    req = cross_requirements(p, MARKS, DEFAULT_CONFIG)
    ms = states or tuple(MarketState(m) for m in DEFAULT_CONFIG.market_ids)
    return list(
        plan_liquidations(
            tuple(key(i) for i in range(len(pos))),
            p,
            np.array(eq, dtype=np.int64),
            req.initial,
            req.maintenance,
            MARKS,
            ms,
            DEFAULT_CONFIG,
            9,
        )
    )


def test_slice_restores_initial_margin() -> None:
    # 100 lots long: notional 6 500 000 000, IM 650 000 000, MM 325 000 000; equity 300 000 000
    (lo,) = _plan([[100, 0]], [300_000_000])
    per_lot = 650_000 * 100 * 1_000 // BPS  # initial margin released per lot sold
    assert lo.resting.order.quantity == -(-(650_000_000 - 300_000_000) // per_lot)  # 54
    assert lo.resting.order.side is Side.SELL and lo.resting.order.reduce_only
    assert lo.resting.order.limit_price == 650_000 * (BPS - RISK.max_slippage_bps) // BPS
    assert lo.resting.origin_batch == 9
    # the id names the batch that staged the order (8), not the one it trades in
    assert lo.resting.order_id == liquidation_order_id(8, key(0), "BTC-PERP")


def test_slice_is_capped_per_batch_and_smaller_when_protective() -> None:
    (lo,) = _plan([[-5_000, 0]], [0])
    assert lo.resting.order.quantity == RISK.max_liquidation_lots
    assert lo.resting.order.side is Side.BUY
    assert lo.resting.order.limit_price == 650_000 * (BPS + RISK.max_slippage_bps) // BPS
    prot = (MarketState("BTC-PERP", protective=True), MarketState("ETH-PERP"))
    (lo,) = _plan([[-5_000, 0]], [0], prot)
    assert lo.resting.order.quantity == RISK.protective_liquidation_lots


def test_no_liquidation_of_healthy_accounts_or_on_a_flagged_price() -> None:
    assert _plan([[100, 0]], [400_000_000]) == []
    flagged = (MarketState("BTC-PERP", flagged=True), MarketState("ETH-PERP"))
    assert _plan([[100, 0]], [0], flagged) == []


def test_largest_position_is_liquidated_first() -> None:
    orders = _plan([[10, 1_000]], [1])
    assert orders[0].resting.order.market == "ETH-PERP"


@pytest.mark.parametrize("mode", list(DeleverageMode))
def test_cover_deficits_conserves(mode: DeleverageMode) -> None:
    cfg = default_config(deleverage=mode)
    pos = np.array([[10, 0], [-4, 0], [-6, 0]], dtype=np.int64)
    notional = 650_000 * 100
    coll = np.array(
        [-10 * notional - 1_000_003, 4 * notional + 10**9, 6 * notional + 10**8], dtype=np.int64
    )
    c2, p2, fund, soc, flows = cover_deficits(
        tuple(key(i) for i in range(3)), coll, pos, MARKS, 500_000, cfg
    )
    assert int(c2.sum()) + fund == int(coll.sum()) + 500_000
    assert p2.sum(axis=0).tolist() == [0, 0]
    (flow,) = flows
    assert flow.deficit == 1_000_003 and flow.insurance == 500_000 and fund == 0
    if mode is DeleverageMode.ADL:
        # account 2 is more leveraged (6 lots on 10^8 of margin) and goes first
        assert [(k, q) for k, _, q, _ in flow.deleveraged] == [(key(2), 6), (key(1), 4)]
        assert p2.tolist() == [[0, 0], [0, 0], [0, 0]] and soc == 0
    else:
        # socialised loss closes the bankrupt long at the mark too, charging no one
        assert soc == 500_003 and p2.tolist() == [[0, 0], [0, 0], [0, 0]]
        closed = [(k, q, s) for k, m, q, s in flow.deleveraged if m]
        assert closed == [(key(2), 6, 0), (key(1), 4, 0)]
    eq0 = int(c2[0] + (p2[0] * MARKS * 100).sum())
    assert eq0 == 0


def test_breaker_trips_on_a_large_index_move_and_releases_after_calm() -> None:
    ms = MarketState("BTC-PERP", index_price=100_000, mark_price=100_000, last_price=100_000)
    ms, tripped = update_breaker(ms, RISK, 100_000 + 10_000, False)  # exactly 10 %: not beyond
    assert not tripped and not ms.protective
    ms, tripped = update_breaker(ms, RISK, 100_000 + 10_001, False)
    assert tripped and ms.protective
    assert liquidation_slice_lots(ms, RISK) == RISK.protective_liquidation_lots
    assert price_band_bps(ms, RISK) == RISK.protective_band_bps
    ms = replace(ms, index_price=110_001)
    for _ in range(RISK.calm_batches - 1):
        ms, _ = update_breaker(ms, RISK, 110_001, False)
        assert ms.protective
    ms, _ = update_breaker(ms, RISK, 110_001, False)
    assert not ms.protective and liquidation_slice_lots(ms, RISK) == RISK.max_liquidation_lots


def test_breaker_compares_indexes_not_marks_nor_prints() -> None:
    """The mark and the last print play no part: an index that moved less than
    breaker_bps is calm whatever the mark and the last price, one that moved more trips
    whatever they are, and a market's first trusted index (previous 0) never trips."""
    ms = MarketState("BTC-PERP", index_price=100_000, mark_price=80_000, last_price=50_000)
    ms, tripped = update_breaker(ms, RISK, 100_500, False)
    assert not tripped and not ms.protective
    ms, tripped = update_breaker(MarketState("BTC-PERP", mark_price=50_000), RISK, 100_000, False)
    assert not tripped and not ms.protective
    ms = MarketState("BTC-PERP", index_price=100_000, mark_price=89_999)
    ms, tripped = update_breaker(ms, RISK, 89_999, False)
    assert tripped and ms.protective


def test_breaker_trips_on_a_flagged_oracle() -> None:
    ms, tripped = update_breaker(MarketState("BTC-PERP"), RISK, 0, True)
    assert tripped and ms.protective and ms.flagged
