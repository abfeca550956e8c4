"""Blocks, deposits and withdrawals settle inside the batch transition: the roots
chain from batch to batch, a block is a trade at its price, a failed block
changes nothing."""

from __future__ import annotations

from itertools import pairwise

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.clearinghouse import Clearinghouse
from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.ledger import AccountKey, total_value
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.transition import apply_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, key, make_batch, oracle_round

PRICES = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}
MULT = DEFAULT_CONFIG.risk("BTC-PERP").multiplier


def _auction(price: int = 650_000) -> list[tuple[str, Order]]:
    """Trader 0 buys one BTC lot from trader 1 at ``price``."""
    return [
        (TRADERS[0], Order("BTC-PERP", Side.BUY, price, 1)),
        (TRADERS[1], Order("BTC-PERP", Side.SELL, price, 1)),
    ]


def _block(batch_id: int, buyer: int, seller: int, price: int, lots: int = 10) -> BlockTrade:
    return BlockTrade(
        bytes([batch_id, buyer, seller]) * 8 + bytes(8),
        "BTC-PERP",
        TRADERS[buyer],
        TRADERS[seller],
        price,
        lots,
        batch_id,
    )


def test_roots_chain_across_batches_with_blocks_deposits_and_withdrawals() -> None:
    state = funded([10**12] * 4)
    posts: list[bytes] = [state_root(state)]
    pres: list[bytes] = []
    steps = [
        # (deposits, blocks, withdrawals) per batch
        ([(key(2), 5 * 10**9)], [_block(1, 2, 3, 651_000)], []),
        ([(key(5), 10**10)], [_block(2, 5, 0, 649_000)], [(key(3), 10**9)]),  # 5 funded now
        ([], [], [(key(2), 10**8), (key(5), 10**8)]),
        ([(key(6), 10**9)], [_block(4, 1, 2, 650_500, 3)], []),
    ]
    for n, (deposits, blocks, withdrawals) in enumerate(steps, 1):
        before = total_value(state)
        state, w = apply_batch(
            state,
            make_batch(n, _auction(), pre=state),
            oracle_round(n, 1_000 * n, PRICES),
            DEFAULT_CONFIG,
            ORACLE,
            deposits=deposits,
            blocks=blocks,
            withdrawals=withdrawals,
        )
        assert not w.failed_blocks
        assert len(w.blocks) == len(blocks)
        assert total_value(state) - before == sum(a for _, a in deposits) - sum(
            a for _, a in withdrawals
        )
        pres.append(w.pre_root)
        posts.append(w.post_root)
        assert w.post_root == state_root(state)
    assert pres == posts[:-1]


def test_a_block_settles_as_a_trade_at_its_price() -> None:
    state = funded([10**12] * 3)
    post, w = apply_batch(
        state,
        make_batch(1, _auction(650_000)),
        oracle_round(1, 1_000, PRICES),
        DEFAULT_CONFIG,
        ORACLE,
        blocks=[_block(1, 2, 1, 651_000, 10)],
    )
    (settled,) = w.blocks
    assert settled.clearing_price == 650_000 and settled.block_price == 651_000
    assert settled.buyer_pays_seller == 1_000 * 10 * MULT
    buyer = post.row(key(2))
    fees = sum(f.fee for f in w.fills if f.account == key(2))
    # the buyer paid the block price for 10 lots, plus its fee
    assert int(state.collateral[buyer]) - int(post.collateral[buyer]) == (
        651_000 * 10 * MULT + fees
    )
    assert int(post.positions[buyer, 0]) == 10


ETH_BLOCK = BlockTrade(bytes(32), "ETH-PERP", TRADERS[0], TRADERS[1], 350_000, 5, 1)


@pytest.mark.parametrize(
    ("block", "reason"),
    [(ETH_BLOCK, "no_clearing_price"), (_block(1, 0, 9, 650_000), "no_account")],
)
def test_a_failed_block_changes_nothing(block: BlockTrade, reason: str) -> None:
    state = funded([10**12] * 2)
    batch = make_batch(1, _auction())
    plain, _ = apply_batch(state, batch, oracle_round(1, 1_000, PRICES), DEFAULT_CONFIG, ORACLE)
    post, w = apply_batch(
        state, batch, oracle_round(1, 1_000, PRICES), DEFAULT_CONFIG, ORACLE, blocks=[block]
    )
    assert w.failed_blocks == {block.block_id: reason}
    assert w.blocks == ()
    assert state_root(post) == state_root(plain)


def test_a_block_of_another_batch_is_refused() -> None:
    state = funded([10**12] * 2)
    with pytest.raises(SettlementError, match="block batch_id: expected 1, got 2"):
        apply_batch(
            state,
            make_batch(1, _auction()),
            oracle_round(1, 1_000, PRICES),
            DEFAULT_CONFIG,
            ORACLE,
            blocks=[_block(2, 0, 1, 650_000)],
        )


def test_a_block_of_a_party_funded_in_its_batch_settles() -> None:
    """The deposit comes first in the transition, so the block finds the account."""
    state = funded([10**12] * 2)
    _, w = apply_batch(
        state,
        make_batch(1, _auction()),
        oracle_round(1, 1_000, PRICES),
        DEFAULT_CONFIG,
        ORACLE,
        deposits=[(AccountKey(TRADERS[7], 0), 10**11)],
        blocks=[_block(1, 7, 0, 650_000)],
    )
    assert not w.failed_blocks and len(w.blocks) == 1


def test_the_clearinghouse_publishes_chained_roots_when_blocks_settle() -> None:
    """The clearinghouse hands blocks, deposits and withdrawals to the transition:
    (before, a block moved collateral ahead of the pre-state hash, so the block's
    batch published a pre-root other than the previous post-root)."""
    from sealbatch.auction.markets import DEFAULT_MARKETS

    house = Clearinghouse(DEFAULT_MARKETS, oracle=ORACLE)
    for t in TRADERS[:3]:
        house.deposit(t, 10**12, 0)
    summaries = []
    for n in range(1, 4):
        blocks = [_block(n, 2, 1, 650_000 + 500 * n)] if n >= 2 else []
        if n == 3:
            house.deposit(TRADERS[4], 10**10, 2_500)
            house.withdraw(TRADERS[0], 10**6, 2_500)
        for report in oracle_round(n, 1_000 * n, PRICES).reports:
            house.oracle_report(report, 1_000 * n)
        outcome = house.settle(make_batch(n, _auction(), pre=house.state), blocks, 1_000 * n)
        assert outcome.summary is not None and outcome.summary["settled"], outcome.summary
        assert not outcome.failed_blocks
        assert len(outcome.summary["block_adjustments"]) == len(blocks)
        summaries.append(outcome.summary)
    for prev, nxt in pairwise(summaries):
        assert nxt["pre_root"] == prev["post_root"]
    assert summaries[-1]["post_root"] == "0x" + state_root(house.state).hex()
