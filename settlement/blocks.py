"""Block trades (RFQ) inside the batch transition.

A block accepted for a batch settles as two fills at the batch's clearing
price plus a zero-sum collateral transfer of ``(block price − clearing
price) × lots × multiplier`` from buyer to seller: economically a trade at
the block price, with the fills inside the batch's fee, funding and margin
steps like any other. :func:`settle_blocks` is step 2 of
:func:`sealbatch.settlement.transition.apply_batch`, after deposits, so the
pre-state root it hashes is the ledger as the previous batch left it.

A block fails, and changes nothing, when its market did not trade in the
batch (``no_clearing_price``) or when either side has no account after the
batch's deposits (``no_account``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sealbatch.auction.batch import BatchResult, Fill
from sealbatch.auction.bounds import MAX_LOTS, MAX_PRICE, bound_message, within
from sealbatch.auction.orders import Side
from sealbatch.crypto.eip712 import Address
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.ledger import INT64_SAFE, AccountKey, LedgerState
from sealbatch.settlement.params import SettlementConfig

__all__ = [
    "BLOCK_NO_ACCOUNT",
    "BLOCK_NO_CLEARING_PRICE",
    "BlockTrade",
    "SettledBlock",
    "block_fills",
    "settle_blocks",
]

#: Why a block failed: its market did not trade in the batch.
BLOCK_NO_CLEARING_PRICE = "no_clearing_price"
#: Why a block failed: a side has no account, even after the batch's deposits.
BLOCK_NO_ACCOUNT = "no_account"


@dataclass(frozen=True)
class BlockTrade:
    """A block to settle: ``buyer`` buys ``quantity`` lots from ``seller`` at ``price``.

    Attributes:
        block_id: the RFQ's id (32 bytes); the block's fills derive their ids from it.
        market: the market id.
        buyer, seller: the two sides (subaccount 0 of each).
        price: the block price in ticks.
        quantity: lots, positive.
        batch_id: the batch the block settles in.
    """

    block_id: bytes
    market: str
    buyer: Address
    seller: Address
    price: int
    quantity: int
    batch_id: int


@dataclass(frozen=True)
class SettledBlock:
    """A block as settled: the clearing price its fills took and the transfer."""

    block_id: bytes
    clearing_price: int
    block_price: int
    buyer_pays_seller: int

    def to_dict(self) -> dict[str, object]:
        return {
            "rfq_id": "0x" + self.block_id.hex(),
            "buyer_pays_seller": self.buyer_pays_seller,
            "clearing_price": self.clearing_price,
            "block_price": self.block_price,
        }


def block_fills(block: BlockTrade, clearing_price: int) -> tuple[Fill, Fill]:
    """The buy and sell fills a block settles as, at the batch's clearing price."""
    buy_id = keccak256(b"sealbatch.block", block.block_id, b"buy")
    sell_id = keccak256(b"sealbatch.block", block.block_id, b"sell")
    return (
        Fill(buy_id, block.buyer, block.market, Side.BUY, clearing_price, block.quantity),
        Fill(sell_id, block.seller, block.market, Side.SELL, clearing_price, block.quantity),
    )


def _check_block(block: object, batch_id: int) -> BlockTrade:
    if not isinstance(block, BlockTrade):
        raise SettlementError(f"block: expected a BlockTrade, got {type(block).__name__}")
    if block.batch_id != batch_id:
        raise SettlementError(
            f"block batch_id: expected {batch_id}, got {block.batch_id} "
            f"for 0x{block.block_id.hex()}"
        )
    for name, value, high, unit in (
        ("price", block.price, MAX_PRICE, "ticks"),
        ("quantity", block.quantity, MAX_LOTS, "lots"),
    ):
        if not within(value, 1, high):
            raise SettlementError(bound_message(f"block {name}", value, 1, high, unit))
    return block


def settle_blocks(
    state: LedgerState,
    batch: BatchResult,
    blocks: Sequence[BlockTrade],
    config: SettlementConfig,
) -> tuple[LedgerState, tuple[Fill, ...], tuple[SettledBlock, ...], Mapping[bytes, str]]:
    """Move each block's price difference from buyer to seller; return its fills.

    Args:
        state: the ledger after the batch's deposits.
        batch: the auction's result (the clearing price of each market).
        blocks: the blocks accepted for this batch, in acceptance order.
        config: settlement rules (the contract multiplier).

    Returns:
        The ledger with the transfers, the blocks' fills (at the clearing
        price, settled with the batch's fills), the settled blocks, and the
        failed ones (block id → reason).

    Raises:
        SettlementError: a block of another batch, a malformed block, or a
            transfer leaving a collateral at or beyond 2^62.
    """
    collateral = [int(c) for c in state.collateral]
    fills: list[Fill] = []
    settled: list[SettledBlock] = []
    failed: dict[bytes, str] = {}
    for raw in blocks:
        block = _check_block(raw, batch.batch_id)
        mr = batch.markets.get(block.market)
        if mr is None or mr.price is None:
            failed[block.block_id] = BLOCK_NO_CLEARING_PRICE
            continue
        buyer, seller = AccountKey(block.buyer, 0), AccountKey(block.seller, 0)
        if not (state.has(buyer) and state.has(seller)):
            failed[block.block_id] = BLOCK_NO_ACCOUNT
            continue
        amount = (block.price - mr.price) * block.quantity * config.risk(block.market).multiplier
        collateral[state.row(buyer)] -= amount
        collateral[state.row(seller)] += amount
        fills.extend(block_fills(block, mr.price))
        settled.append(SettledBlock(block.block_id, mr.price, block.price, amount))
    if settled:
        for row, c in enumerate(collateral):
            if abs(c) >= INT64_SAFE:
                k = state.accounts[row]
                raise SettlementError(
                    f"collateral: expected below 2^62 in absolute value after the blocks of "
                    f"batch {batch.batch_id}, got {c} for {k.address}/{k.subaccount}"
                )
        state = state.with_arrays(collateral=collateral)
    return state, tuple(fills), tuple(settled), failed
