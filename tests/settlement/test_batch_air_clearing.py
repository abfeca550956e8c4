"""The batch AIR's clearing section: the honest trace holds, and each forgery is caught
by the statement named in the test — refused by the prover (the trace generator
names the statement), and rejected by the AIR when the prover skips that refusal
(``refuse=False``: the constraint named after the statement, or the bus when a
range check's limb leaves the table)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any
from unittest import mock

import numpy as np
import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import Air, ArrayEvaluator, ConstraintViolation, evaluate
from sealbatch.crypto.field_scalar import Fp4, P
from sealbatch.settlement.batch_air import statement as statement_module
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.framework import Layout
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement, OrderRow
from sealbatch.settlement.errors import BatchStatementError
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    check_all,
    refused_and_rejected,
    small_batch_files,
    statement_of,
    with_output_blocks,
)
from tests.settlement.conftest import TRADERS

# The fixture's orders (tests/settlement/batch_air_helpers.py), by index:
# BTC at 650 000: 0 buy 650 010 ×5 (fills 5), 1 buy 650 000 ×4 (2), 2 buy 650 000 ×6 (3),
#   3 sell 649 990 ×7 (7), 4 market sell ×3 (3), 5 sell 650 050 ×2 (0)
# ETH at 350 010: 6 market buy ×2 (2), 7 sell 350 000 ×1 (1), 8 sell 350 010 ×4 (1)


@pytest.fixture(scope="module")
def statement() -> BatchStatement:
    return statement_of(small_batch_files())


def _forge(statement: BatchStatement, **changes: dict[str, Any]) -> BatchStatement:
    orders = list(statement.orders)
    for key, change in changes.items():
        i = int(key.removeprefix("o"))
        orders[i] = replace(orders[i], **change)
    return replace(statement, orders=tuple(orders))


#: The mark rule (marks.py) reads each market's public clearing price as well: a forged
#: price may trip its pin of that price before the bus reports the clearing's mismatch.
_PRICE_PIN = r"|marks: market \d's clearing price"


def _refused_and_rejected(forged: BatchStatement, refused: str, rejected: str) -> None:
    """The prover refuses ``forged`` naming ``refused``; skipping that, the AIR rejects the
    trace with a violation matching ``rejected`` (or the mark rule's pin of the price)."""
    refused_and_rejected(forged, refused, f"(?:{rejected}){_PRICE_PIN}")


def test_honest_trace_satisfies_every_constraint(statement: BatchStatement) -> None:
    air, trace = generate(statement, rows_for(statement))
    check_all(air, trace)
    assert air.num_rows == 4096
    assert sum(statement.order_counts) == len(statement.orders) == 9


# ---- S1: uniform price


def test_rows_at_another_price_are_rejected_by_s1_uniform_price(
    statement: BatchStatement,
) -> None:
    """The prover clears BTC at 650 001 in its trace: the market table lookup (TAG_MARKET,
    the public price) fails."""
    other = replace(statement, prices=(statement.prices[0] + 1, statement.prices[1]))
    air = build_with_layout(rows_for(statement), statement)[0]
    _, trace = generate(other, rows_for(other), refuse=False)
    with pytest.raises(ConstraintViolation, match="bus" + _PRICE_PIN):
        check_all(air, trace)


# ---- S1: limit and quantity; a limb out of range


def test_fill_beyond_its_limit_is_caught_by_s1_limit(statement: BatchStatement) -> None:
    """Order 0 buys up to 650 010 and fills at 650 000: lower its limit below the price.
    The AIR side writes the negative distance as limbs summing to it mod p; the top limb
    then leaves its 6 bits and the range table (the bus) refuses it — unless S7 sees
    first that the book no longer fills its eligible short side."""
    forged = _forge(statement, o0={"limit": statement.prices[0] - 1})
    _refused_and_rejected(forged, "S1 limit", "bus|S7")


def _limit_slack_plus_p(statement: BatchStatement) -> tuple[Air, Layout, np.ndarray, list[int]]:
    """The honest trace with order 0's limit slack (its first non-zero row) rewritten as
    limbs summing to slack + p, the range table's counts moved from the old limbs to the
    new ones but for the new top limb (returned last), whose lookups nothing pays for."""
    air, layout = build_with_layout(rows_for(statement), statement)
    _, trace = generate(statement, rows_for(statement))
    check = next(c for c in layout.range_checks if c.name == "limit_slack")
    values = [
        sum(int(trace[i, r]) << (12 * k) for k, i in enumerate(check.limbs))
        for r in range(air.num_rows)
    ]
    row = next(r for r, v in enumerate(values) if v > 0)
    forged = values[row] + P
    new = [(forged >> 12 * k) & 4095 for k in range(len(check.limbs) - 1)]
    new.append(forged >> 12 * (len(check.limbs) - 1))
    trace = trace.copy()
    mult = trace[layout.range_mult]
    for k, i in enumerate(check.limbs):
        old = int(trace[i, row])
        mult[old] -= 1
        if k < len(check.limbs) - 1:
            mult[new[k]] += 1
        trace[i, row] = new[k]
    mult[old << 6] -= 1  # the old top limb's shifted lookup
    return air, layout, trace, new


def test_a_limb_out_of_range_is_rejected_by_the_range_table(statement: BatchStatement) -> None:
    """Order 0's limit slack (10 ticks) rewritten as limbs summing to 10 + p: every row
    constraint holds in the field, the table counts are adjusted, and only the range
    table (the bus) refuses the top limb, which left its 6 bits."""
    air, layout, trace, new = _limit_slack_plus_p(statement)
    assert new[-1] >= 1 << 6  # the new one's shifted lookup is outside the table
    trace[layout.range_mult][new[-1]] += 1
    air.check_trace(trace)  # the main trace's constraints all hold
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def test_a_forged_range_table_entry_cannot_pay_for_an_out_of_range_limb(
    statement: BatchStatement,
) -> None:
    """The same forged limb (order 0's limit slack + p), now "paid for" by the table: the
    prover writes the new top limb into the range table column at a row whose entry no
    lookup uses, so the bus balances — and the table's own constraints (it steps by 0 or 1
    from 0 to 4095) reject the trace."""
    air, layout, trace, new = _limit_slack_plus_p(statement)
    mult = trace[layout.range_mult]
    table = trace[layout.column("range", "table")]
    spare = next(r for r in range(1, 4095) if mult[r] == 0 and r != new[-1])
    table[spare] = new[-1]  # the forged entry pays for the top limb …
    mult[spare] = 1
    spare2 = next(r for r in range(spare + 1, 4095) if mult[r] == 0)
    table[spare2] = (new[-1] << 6) % P  # … and for its shifted lookup
    mult[spare2] = 1
    assert _bus_balances(air, trace)  # the lookups alone no longer catch it
    with pytest.raises(ConstraintViolation, match="range table steps by 0 or 1"):
        air.check_trace(trace)


def _bus_balances(air: Air, trace: np.ndarray) -> bool:
    """Whether the bus's final sum is zero for ``trace`` (aux built honestly from it)."""
    rng = random.Random(3)
    drawn = [Fp4.of(tuple(rng.randrange(P) for _ in range(4))) for _ in range(air.num_challenges)]
    challenges = air.challenge_values(drawn)
    aux = air.build_aux(trace, challenges)
    end = next(b for b in air.boundaries if b.name.startswith("bus: Σ"))

    def column(segment: str, index: int, offset: int) -> np.ndarray:
        return trace[index, -1:] if segment == "main" else aux[index][:, -1:]

    ev = ArrayEvaluator(column, lambda i: np.zeros(1, np.uint64), air.public_inputs, challenges)
    (value,) = evaluate([end.expr], ev)
    return not np.any(np.asarray(value) % P)


def test_fill_beyond_its_quantity_is_caught_by_s1_quantity(statement: BatchStatement) -> None:
    # order 6 (ETH market buy, 2 lots) fills 3; order 8 sells one more to stay balanced
    forged = _forge(statement, o6={"fill": 3}, o8={"fill": 2})
    _refused_and_rejected(forged, "S1 quantity", "bus|S7 short side")


# ---- S2: bought = sold


def test_bought_not_sold_is_caught_by_s2(statement: BatchStatement) -> None:
    forged = _forge(statement, o3={"fill": 6})  # a BTC sell one lot short
    _refused_and_rejected(forged, "S2 bought = sold", "S2 bought = sold")


# ---- S7: fair clearing


def test_a_price_executing_less_is_caught_by_s7_volume_maximal(
    statement: BatchStatement,
) -> None:
    """ETH published at 350 000 with a valid allocation there (1 lot) when 350 010
    executes 2: only the volume check at the limit level 350 010 refuses it."""
    low = 350_000
    forged = _forge(
        replace(statement, prices=(statement.prices[0], low)),
        o6={"fill": 1, "fill_price": low},
        o7={"fill": 1, "fill_price": low},
        o8={"fill": 0, "fill_price": 0},
    )
    _refused_and_rejected(forged, "S7 volume maximal", "bus")


def test_skipping_a_better_bid_is_caught_by_s7_price_priority(
    statement: BatchStatement,
) -> None:
    """The 650 010 bid gets 4 of 5 lots and the 650 000 level one more: same volume,
    both sides balanced, but a better order was not filled first."""
    forged = _forge(statement, o0={"fill": 4}, o1={"fill": 3})
    _refused_and_rejected(forged, "S7 price priority", "S7 price priority")


def test_a_level_split_in_two_is_rejected_by_s7_levels(statement: BatchStatement) -> None:
    """Ending a price level early would undercount demand at that level: refused."""
    air, layout = build_with_layout(rows_for(statement), statement)
    _, trace = generate(statement, rows_for(statement))
    limit = trace[layout.column("book", "limit")]
    row = int(np.flatnonzero((limit[:-1] == limit[1:]) & (limit[:-1] == 650_000))[0])
    trace = trace.copy()
    trace[layout.column("book", "lend"), row] = 1
    with pytest.raises(ConstraintViolation, match="S7 levels"):
        air.check_trace(trace)


def test_a_market_boundary_hidden_inside_a_market_is_rejected_by_s7_sorted(
    statement: BatchStatement,
) -> None:
    air, layout = build_with_layout(rows_for(statement), statement)
    _, trace = generate(statement, rows_for(statement))
    trace = trace.copy()
    trace[layout.column("book", "chg"), 0] = 1  # rows 0 and 1 are both BTC
    with pytest.raises(ConstraintViolation, match="S7 sorted"):
        air.check_trace(trace)


# ---- the rows are the published orders


def test_an_order_left_out_is_caught_by_s8_completeness_and_the_order_table(
    statement: BatchStatement,
) -> None:
    """The trace drops the unfilled BTC sell: its commitment has no leaf (the prover
    refuses, S8), and the verifier's order table and commitment root still hold it."""
    fewer = replace(statement, orders=statement.orders[:5] + statement.orders[6:])
    with pytest.raises(BatchStatementError, match="S8 completeness"):
        generate(fewer, rows_for(fewer))
    air = build_with_layout(rows_for(statement), statement)[0]
    _, trace = generate(fewer, rows_for(fewer), refuse=False)
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


@pytest.fixture(scope="module")
def forfeit_statement() -> BatchStatement:
    """The default book with two unrevealed commitments at receipt numbers 1 and 4."""
    return statement_of(small_batch_files(forfeit_at=(1, 4)))


def test_forfeits_and_reveals_hash_to_the_commitment_root(
    forfeit_statement: BatchStatement,
) -> None:
    assert [leaf[0] for leaf in forfeit_statement.forfeit_leaves] == [1, 4]
    assert sorted(o.sequence for o in forfeit_statement.orders if o.revealed) == [
        0, 2, 3, 5, 6, 7, 8, 9, 10
    ]  # fmt: skip
    air, trace = generate(forfeit_statement, rows_for(forfeit_statement))
    check_all(air, trace)


def test_a_commitment_neither_revealed_nor_forfeited_is_caught_by_s8_completeness(
    forfeit_statement: BatchStatement,
) -> None:
    """The operator hides a forfeit (drops it from result.json): the root does not
    come out of what is left."""
    hidden = replace(forfeit_statement, forfeit_leaves=forfeit_statement.forfeit_leaves[1:])
    _refused_and_rejected(hidden, "S8 completeness", "bus")


def _republished(files: dict[str, str], forfeit: int, **changes: object) -> BatchStatement:
    """The statement of ``files`` whose result.json lists forfeit ``forfeit`` with
    ``changes`` (what an operator publishes to charge a forfeit to someone else, or
    less): the verifier derives the outputs digest and the leaves from it."""
    doc = json.loads(files["result.json"])
    doc["forfeited"][forfeit].update(changes)
    # the verifier also recomputes the seed from the published leaves (and refuses a
    # changed forfeit there); the AIR must refuse it on its own, so that check is left out
    with mock.patch.object(statement_module, "_check_seed"):
        return statement_of({**files, "result.json": json.dumps(doc)})


@pytest.mark.parametrize(
    "changes",
    [{"bond": 999}, {"bond": 1001}, {"trader": TRADERS[5]}],
    ids=["smaller-bond", "larger-bond", "other-trader"],
)
def test_a_forfeit_record_other_than_its_leaf_is_refused(changes: dict[str, object]) -> None:
    """The operator publishes a forfeit with another bond (1 000 was signed) or charges
    it to another trader: the prover refuses it (S8 completeness: the leaf its record
    sends is not the leaf under the root)."""
    files = small_batch_files(forfeit_at=(1, 4))
    forged = _republished(files, 0, **changes)
    with pytest.raises(BatchStatementError, match="S8 completeness"):
        generate(forged, rows_for(forged))
    doc = json.loads(files["result.json"])
    doc["forfeited"][0].update(changes)
    with pytest.raises(BatchStatementError, match=r"result\.json seed: published"):
        statement_of({**files, "result.json": json.dumps(doc)})


@pytest.mark.parametrize(
    ("block", "element", "value"),
    [(1, 2, 999), (1, 3, 1), (1, 4, 1), (2, 0, 5)],
    ids=["bond-limb-0", "bond-limb-1", "bond-limb-2", "trader-limb"],
)
def test_a_forfeit_record_other_than_its_leaf_is_caught_on_the_commitment_tree_bus(
    forfeit_statement: BatchStatement, block: int, element: int, value: int
) -> None:
    """Only the outputs digest's forfeit record differs (its bond or trader; the public
    digest hashes the forged record, the settlement is untouched): the leaf's right
    half the record sends is not the one under the root, so the tree's bus is
    unbalanced (S8 completeness); a forged bond also breaks the forfeit's charge
    (statement 3, the charge's limbs are the honest bond's), which may be caught first."""
    blocks = [list(b) for b in forfeit_statement.output_blocks]
    start = 1 + 2 * forfeit_statement.output_fills  # the first forfeit's first block
    blocks[start + block][element] = value
    forged = with_output_blocks(forfeit_statement, [tuple(b) for b in blocks])
    leaves = list(forfeit_statement.forfeit_leaves)
    seq = blocks[start + 1][0]
    first = next(i for i, leaf in enumerate(leaves) if leaf[0] == seq)
    bond = sum(int(v) << (24 * k) for k, v in enumerate(blocks[start + 1][2:5])) % P
    leaves[first] = (seq, *blocks[start], blocks[start + 2][7], *blocks[start + 2][:7], bond)
    forged = replace(forged, forfeit_leaves=tuple(leaves))
    _refused_and_rejected(forged, "S8 completeness", r"bus|odig: (charge|fdiff)")


def test_a_forfeit_bond_beyond_one_leaf_element_is_refused_by_the_verifier() -> None:
    """bond + p would give the same leaf element: the verifier refuses a forfeited
    commitment's bond of 2^30 or more before any proof is checked."""
    files = small_batch_files(forfeit_at=(1, 4))
    with pytest.raises(BatchStatementError, match="bond"):
        _republished(files, 0, bond=1000 + P)


@pytest.mark.parametrize("bond", [0, 499, 10**6])
def test_a_revealed_order_leaf_with_another_bond_is_caught_by_s8_completeness(
    forfeit_statement: BatchStatement, bond: int
) -> None:
    """Order 0 was committed with a bond of 500: its leaf with another bond (orders.csv's
    bond column forged) does not hash to the commitment root."""
    _refused_and_rejected(_forge(forfeit_statement, o0={"bond": bond}), "S8 completeness", "bus")


def test_a_revealed_order_leaf_with_another_trader_is_caught(
    forfeit_statement: BatchStatement,
) -> None:
    """The leaf's trader is the one its commitment hashes: another is refused (the
    commitment hash names it) and rejected (the leaf and the hash disagree on the bus)."""
    forged = _forge(forfeit_statement, o0={"trader": TRADERS[5]})
    rows = rows_for(forged)
    with pytest.raises(BatchStatementError, match="S8"):
        generate(forged, rows)
    air, trace = generate(forged, rows, refuse=False)
    with pytest.raises(ConstraintViolation, match="bus"):
        check_all(air, trace)


def test_a_revealed_order_moved_to_another_receipt_slot_is_caught_by_s8(
    statement: BatchStatement,
) -> None:
    a, b = statement.orders[0].sequence, statement.orders[1].sequence
    swapped = _forge(statement, o0={"sequence": b}, o1={"sequence": a})
    _refused_and_rejected(swapped, "S8 completeness", "bus")


# ---- S7: pro rata at the margin


def test_rationing_not_pro_rata_is_caught_by_s7_pro_rata(statement: BatchStatement) -> None:
    """The 650 000 level (4 + 6 lots) shares 5 lots as 2 + 3; the forger gives 3 + 2."""
    forged = _forge(statement, o1={"fill": 3}, o2={"fill": 2})
    _refused_and_rejected(forged, "S7 pro rata", "bus|S7 pro rata")


@pytest.fixture(scope="module")
def leftover_statement() -> BatchStatement:
    """BTC: a 5-lot sell against three 650 000 bids of 3, 3 and 4 lots: floors 1, 1, 2 and
    one leftover lot for a remainder of 5 (the 3-lot bids; the 4-lot bid's is 0)."""
    t = TRADERS
    orders = [
        (t[0], Order(BTC, Side.BUY, 650_000, 3)),
        (t[1], Order(BTC, Side.BUY, 650_000, 3)),
        (t[2], Order(BTC, Side.BUY, 650_000, 4)),
        (t[3], Order(BTC, Side.SELL, 650_000, 5)),
        (t[4], Order(ETH, Side.BUY, 350_000, 1)),
        (t[5], Order(ETH, Side.SELL, 350_000, 1)),
    ]
    return statement_of(small_batch_files(orders))


def test_the_leftover_lot_goes_to_a_largest_remainder(leftover_statement: BatchStatement) -> None:
    fills = [o.fill for o in leftover_statement.orders[:3]]
    assert sorted(fills) == [1, 2, 2] and fills[2] == 2
    air, trace = generate(leftover_statement, rows_for(leftover_statement))
    check_all(air, trace)


def test_a_leftover_lot_past_a_larger_remainder_is_caught_by_s7_largest_remainder(
    leftover_statement: BatchStatement,
) -> None:
    winner = next(i for i, o in enumerate(leftover_statement.orders[:2]) if o.fill == 2)
    forged = _forge(leftover_statement, **{f"o{winner}": {"fill": 1}, "o2": {"fill": 3}})
    _refused_and_rejected(forged, "S7 largest remainder", "bus")


@pytest.mark.parametrize("seed", range(6))
def test_random_honest_books_satisfy_the_air(seed: int) -> None:
    """Books cleared by auction/ (ties at the margin, market orders, gaps) all prove."""
    rng = random.Random(seed)
    orders = []
    for market, mid in ((BTC, 650_000), (ETH, 350_000)):
        for _ in range(rng.randrange(3, 25)):
            side = rng.choice((Side.BUY, Side.SELL))
            limit = None if rng.random() < 0.15 else mid + rng.randrange(-6, 7)
            orders.append(
                (rng.choice(TRADERS[:20]), Order(market, side, limit, rng.randrange(1, 9)))
            )
    refs = {BTC: rng.choice((650_000, 650_003)), ETH: rng.choice((350_000, 349_998))}
    st = statement_of(small_batch_files(orders, refs))
    air, trace = generate(st, rows_for(st))
    check_all(air, trace, seed)


# ---- S7: the price rule's tie-breaks


@pytest.fixture(scope="module")
def tie_statement() -> BatchStatement:
    """BTC: 5 lots offered at 649 990, bids of 5 at 650 010 and 2 at 650 000. Every price
    from 649 990 to 650 010 executes 5; up to 650 000 the imbalance is 2, above it 0;
    the reference 650 000 then picks 650 001. ETH: a bid below an offer, no trade."""
    t = TRADERS
    orders = [
        (t[0], Order(BTC, Side.SELL, 649_990, 5)),
        (t[1], Order(BTC, Side.BUY, 650_010, 5)),
        (t[2], Order(BTC, Side.BUY, 650_000, 2)),
        (t[3], Order(ETH, Side.BUY, 350_000, 1)),
        (t[4], Order(ETH, Side.SELL, 350_010, 1)),
    ]
    return statement_of(small_batch_files(orders))


def _at_price(st: BatchStatement, market: int, price: int) -> BatchStatement:
    prices = tuple(price if j == market else p for j, p in enumerate(st.prices))
    orders = tuple(
        replace(o, fill_price=price) if o.market == market and o.fill else o for o in st.orders
    )
    return replace(st, prices=prices, orders=orders)


def test_the_tie_statement_clears_at_the_least_imbalanced_price_nearest_the_reference(
    tie_statement: BatchStatement,
) -> None:
    assert tie_statement.prices == (650_001, 0)
    air, trace = generate(tie_statement, rows_for(tie_statement))
    check_all(air, trace)


def test_a_more_imbalanced_price_is_caught_by_s7_least_imbalance(
    tie_statement: BatchStatement,
) -> None:
    forged = _at_price(tie_statement, 0, 650_000)  # same fills, imbalance 2 instead of 0
    _refused_and_rejected(forged, "S7 least imbalance", "bus")


def test_a_price_further_from_the_reference_is_caught_by_s7_reference(
    tie_statement: BatchStatement,
) -> None:
    forged = _at_price(tie_statement, 0, 650_002)  # optimal too, but 650 001 is nearer
    _refused_and_rejected(forged, "S7 reference", "bus")


def test_a_price_without_volume_is_caught_by_s7_no_volume_no_price(
    tie_statement: BatchStatement,
) -> None:
    """(The reference rule also sees that 350 004 is as good: either refuses it.)"""
    forged = _at_price(tie_statement, 1, 350_005)
    _refused_and_rejected(forged, "S7 reference|S7 no volume, no price", "bus")
    no_ref = replace(forged, references=(forged.references[0], 0))
    _refused_and_rejected(no_ref, "S7 no volume, no price", "bus")


def test_a_market_split_in_two_runs_is_rejected_by_s7_sorted(
    statement: BatchStatement, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BTC's rows split around ETH's where BTC's running net is zero (so S2 holds at every
    market change): each run's demand and supply would be partial, so volume maximality
    could be hidden; the market index may never decrease."""
    from sealbatch.settlement.batch_air import clearing

    honest = clearing._book_order

    def split(orders: list[OrderRow]) -> list[OrderRow]:
        rows = honest(orders)
        btc = [o for o in rows if o.market == 0]
        eth = [o for o in rows if o.market == 1]
        return btc[:5] + eth + btc[5:]  # BTC nets to zero after its 5th row

    monkeypatch.setattr(clearing, "_book_order", split)
    with pytest.raises(BatchStatementError, match="S7 sorted"):
        generate(statement, rows_for(statement))
    air, trace = generate(statement, rows_for(statement), refuse=False)
    with pytest.raises(ConstraintViolation, match=r"bus|S7"):
        check_all(air, trace)
