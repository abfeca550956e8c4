"""Statement 4 in the batch AIR: the content of the staged liquidation orders
(:mod:`sealbatch.settlement.batch_air.liq_orders`).

The batch is test_batch_air_margin's: an 8 % crash leaves account 0 (long 100 BTC lots)
below maintenance, so the post-state stages one liquidation order for it, a sell. Each
forgery republishes the post-state with one thing of that order changed (its root and
header recomputed, so every other statement holds): the prover refuses it, naming the
rule, and the AIR itself rejects the trace written anyway (``refuse=False``), naming the
constraint or the bus interaction that fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.orders import Side, TimeInForce
from sealbatch.crypto.air import Air
from sealbatch.crypto.solidity import compile_constraints
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.ledger import LedgerState, LiquidationOrder
from sealbatch.settlement.liquidation import _limit
from sealbatch.settlement.params import DEFAULT_CONFIG
from tests.settlement.batch_air_helpers import (
    check_all,
    column,
    refused_and_rejected,
    republish,
    statement_of,
)


def test_the_staged_order_is_received_on_its_accounts_row(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """Account 0's one order (a sell of part of its long, IOC, reduce-only) is received
    on its row in BTC, and no other row or market has one."""
    statement, air, trace = margin_honest
    (lo,) = statement.post.pending_liquidations
    order = lo.resting.order
    assert statement.post.row(lo.account) == 0 and order.market == "BTC-PERP"
    assert order.side is Side.SELL and order.reduce_only
    assert order.time_in_force is TimeInForce.IOC
    assert 1 <= order.quantity <= 100
    check_all(air, trace)
    m = len(statement.markets)
    o = [trace[column(air, f"liq.o{j}")] for j in range(m)]
    assert [int(v.sum()) for v in o] == [1, 0] and int(o[0][0]) == 1
    q = 1 + int(trace[column(air, "liq.a0[0]"), 0]) + 4096 * int(trace[column(air, "liq.a0[1]"), 0])
    assert q == order.quantity
    assert statement.liquidation_slice_caps == ((1_000, 250), (1_000, 250))


def _order(post: LedgerState, **change: object) -> LedgerState:
    """Account 0's liquidation order with ``change`` applied to its order."""
    (lo,) = post.pending_liquidations
    order = replace(lo.resting.order, **change)  # type: ignore[arg-type]
    return replace(
        post, pending_liquidations=(replace(lo, resting=replace(lo.resting, order=order)),)
    )


def _rule_limit(post: LedgerState, side: Side) -> int:
    """liquidation._limit for account 0's order's market on ``side`` (the rule itself)."""
    (lo,) = post.pending_liquidations
    ms = next(m for m in post.market_states if m.market == lo.resting.order.market)
    risk = next(r for r in DEFAULT_CONFIG.markets if r.market_id == ms.market)
    return _limit(ms.mark_price, ms.index_price, side, risk.max_slippage_bps)


def _limit_off(post: LedgerState, delta: int) -> LedgerState:
    (lo,) = post.pending_liquidations
    return _order(post, limit_price=lo.resting.order.limit_price + delta)


def _second(post: LedgerState, market: str, side: Side) -> LedgerState:
    """A second liquidation order for account 0 (its id distinct)."""
    (lo,) = post.pending_liquidations
    order = replace(lo.resting.order, market=market, side=side)
    resting = replace(lo.resting, order=order, order_id=bytes(31) + b"\x01")
    return replace(post, pending_liquidations=(lo, LiquidationOrder(lo.account, resting)))


def _check_forgery(files: dict[str, str], change: Callable[[LedgerState], LedgerState],
                   refused: str, rejected: str) -> None:  # fmt: skip
    refused_and_rejected(statement_of(republish(files, change)), refused, rejected)


_BUY_AT_RULE = "the account's order in market 0"


@pytest.mark.parametrize(
    ("change", "refused", "rejected"),
    [
        (lambda p: _order(p, quantity=101), "quantity between 1 and min", "at most the position"),
        (lambda p: _order(p, side=Side.BUY), "the side that closes", "the limit is the rule's"),
        (
            lambda p: _order(p, side=Side.BUY, limit_price=_rule_limit(p, Side.BUY)),
            "the side that closes",
            "bus: Σ = −public sum",
        ),
        (lambda p: _order(p, time_in_force=TimeInForce.GTC), "reduce-only IOC", "a buy or a sell"),
        (lambda p: _order(p, reduce_only=False), "reduce-only IOC", "a buy or a sell"),
        (lambda p: _order(p, market="ETH-PERP"), "a position", "only for a position"),
        (lambda p: _second(p, "BTC-PERP", Side.SELL), "one order per account", "o0"),
        (lambda p: _limit_off(p, 1), "expected the limit", "the limit is the rule's"),
        (lambda p: _limit_off(p, -1), "expected the limit", "the limit is the rule's"),
        (lambda p: _limit_off(p, -5_000), "expected the limit", "the limit is the rule's"),
    ],
    ids=[
        "beyond-the-position",
        "wrong-side",
        "wrong-side-at-the-buy-limit",
        "gtc",
        "not-reduce-only",
        "unheld-market",
        "two-in-one-market",
        "limit-one-tick-up",
        "limit-one-tick-down",
        "looser-limit",
    ],
)
def test_a_forged_liquidation_order_is_caught(
    margin_files: dict[str, str],
    change: Callable[[LedgerState], LedgerState],
    refused: str,
    rejected: str,
) -> None:
    _check_forgery(margin_files, change, refused, rejected)


def test_a_liquidation_order_above_the_cap_is_caught(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """With a cap below the staged quantity (a configuration whose slice cap is smaller),
    the same order is refused and rejected by the cap's constraint."""
    statement, _, _ = margin_honest
    (lo,) = statement.post.pending_liquidations
    q = lo.resting.order.quantity
    forged = replace(statement, liquidation_slice_caps=((q - 1, q - 1), (1_000, 250)))
    refused_and_rejected(forged, "cap", "at most the cap")


def test_the_liquidation_caps_are_part_of_the_program(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """The caps are constants of the AIR: a deployed verifier pins them."""
    statement, _, _ = margin_honest
    other = dataclasses.replace(statement, liquidation_slice_caps=((999, 250), (1_000, 250)))
    air_a, _ = build_with_layout(rows_for(statement), statement)
    air_o, _ = build_with_layout(rows_for(other), other)
    assert compile_constraints(air_a).code != compile_constraints(air_o).code
