"""The circuit breaker in the batch AIR (``batch_air/breaker.py``): each market's post-state
protective flag and calm counter are ``update_breaker``'s (``transition.py`` step 8) on the
pre-state header, the pre- and post-state trusted indexes, the oracle flag and the breaker
terms,
and the liquidation slice cap is the one that flag picks (``liq_orders.py``,
``liq_slice.py``).

An operator who states protective mode freely could liquidate a trader in larger slices
than the rule allows (a calm market stated protective has the smaller cap, a protective one
stated calm the larger) or shield one. Each forgery publishes a batch whose every file
agrees with the forged post-state; the prover refuses it and the AIR rejects its trace,
naming the constraint.

DEFAULT_CONFIG's terms: ``breaker_bps`` 1 000 (an index move beyond 10 % of the previous
trusted index trips), ``calm_batches`` 3, slice caps 1 000 and 250 lots (the slice tests use
20 and 5). A print moves the mark by at most ``mark_step_bps`` (10) of the index a batch;
neither the mark nor the print is an input of the breaker.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import ConstraintViolation
from sealbatch.settlement.batch_air.air import rows_for
from sealbatch.settlement.batch_air.breaker import breaker_rule
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.config_digest import config_digest
from sealbatch.settlement.ledger import LedgerState, MarketState
from sealbatch.settlement.liquidation import update_breaker
from sealbatch.settlement.params import DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch, reference_prices
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    MarketEdit,
    btc_batch,
    btc_book,
    btc_config,
    btc_state,
    check_all,
    committed_batch,
    crash_inputs,
    marked_state,
    proved,
    refused_and_rejected,
    rejected_by_deployed,
    republish,
    statement_of,
    with_btc,
)
from tests.settlement.batch_air_helpers import PRICES as INDEX
from tests.settlement.conftest import ORACLE, funded, oracle_round

MARK = 650_000  # BTC-PERP's index and mark before the batch: 10 % of it is 65 000 ticks


def _pre(**btc: int | bool) -> LedgerState:
    """Funded accounts; BTC-PERP indexed, marked and last traded at MARK, its state further
    set by ``btc``."""
    fields = {"last_price": MARK, "mark_price": MARK, "index_price": MARK, **btc}
    return with_btc(funded([10**12] * 6), **fields)


def _index(btc: int) -> dict[str, int]:
    """An oracle round with BTC-PERP's index at ``btc`` (ETH-PERP's unchanged)."""
    return {**INDEX, BTC: btc}


def _batch(
    pre: LedgerState,
    price: int | None,
    oracle: Mapping[str, int] = INDEX,
    edit: MarketEdit | None = None,
    config: SettlementConfig = DEFAULT_CONFIG,
) -> BatchStatement:
    """One batch over ``pre`` in which BTC-PERP clears at ``price`` (None: no trade);
    ``edit`` forges the post-state's BTC-PERP market state, published consistently."""
    return btc_batch(pre, btc_book(price) if price else [], oracle, edit, config)


_REFUSED = "breaker: market BTC-PERP's post-state \\(protective, calm\\)"
_FLAG = "breaker: market 0's protective flag is the rule's"
_CALM = "breaker: market 0's calm counter is the rule's"


def _refused_and_rejected(forged: BatchStatement, rejected: str) -> None:
    refused_and_rejected(forged, _REFUSED, rejected, ValueError)


def test_the_rule_matches_update_breaker() -> None:
    """The section's rule is the transition's, on 2 000 random states and indexes near the
    threshold (both sides), with and without a previous index or a flag; the mark and the
    last price play no part."""
    rng = random.Random(7)
    risk = DEFAULT_CONFIG.markets[0]
    for _ in range(2_000):
        bb, calm_batches = rng.choice([1, 7, 1_000, 10_000]), rng.randint(1, 5)
        risk = replace(risk, breaker_bps=bb, calm_batches=calm_batches)
        index = rng.choice([0, 1, 99, 650_000, (1 << 28) - 1])
        edge = index * bb // 10_000
        new_index = rng.choice([index + edge, index + edge + 1, index - edge, index - edge - 1])
        new_index = max(1, new_index)
        mark, last = rng.choice([0, 1, index, 2 * index]), rng.choice([0, 1, index, 2 * index])
        protective, calm = rng.random() < 0.5, rng.randint(0, calm_batches)
        flagged = rng.random() < 0.2
        ms = MarketState(
            BTC, index_price=index, mark_price=mark, last_price=last, protective=protective,
            calm=calm,
        )  # fmt: skip
        after, _ = update_breaker(ms, risk, new_index, flagged)
        got = breaker_rule(protective, calm, index, new_index, flagged, bb, calm_batches)
        assert got == (after.protective, after.calm)


# A print at the top of the band (10 % above the mark) after one near its bottom: the last
# price moves by 22 % (the rule before marks tripped on it), the mark by 0.1 %.
_HIGH, _LOW = 715_000, 584_999
# Where the marks and the indexes disagree about the threshold. The index one tick beyond
# 10 % with a print at the band's bottom (585 000): the premium steps down 715 ticks, the
# marks move 9.89 % (the rule on marks kept calm). The index one tick under 10 % with a
# pre-state premium of −650 (mark 649 350) and no trade: the premium steps back to 0, the
# marks move 10.11 % (the rule on marks tripped).
_UNDER = _pre(premium=-650, mark_price=MARK - 650)


@pytest.mark.parametrize(
    ("pre", "price", "oracle", "want"),
    [
        (_pre(), MARK + 100, INDEX, (False, 0)),
        (_pre(), None, _index(715_000), (False, 0)),
        (_pre(), None, _index(715_001), (True, 0)),
        (_pre(), None, _index(585_000), (False, 0)),
        (_pre(), None, _index(584_999), (True, 0)),
        (_pre(last_price=_LOW), _HIGH, INDEX, (False, 0)),
        (_pre(), None, {ETH: 350_000}, (True, 0)),
        (_pre(protective=True, calm=2), None, _index(715_001), (True, 0)),
        (_pre(protective=True), MARK, INDEX, (True, 1)),
        (_pre(protective=True, calm=1), None, INDEX, (True, 2)),
        (_pre(protective=True, calm=2), MARK, INDEX, (False, 0)),
        (_pre(index_price=0), None, _index(715_001), (False, 0)),
        (_pre(), 585_000, _index(715_001), (True, 0)),
        (_UNDER, None, _index(714_999), (False, 0)),
    ],
    ids=[
        "calm", "up at the threshold", "up one tick beyond", "down at the threshold",
        "down one tick beyond", "a print off the last print", "flagged", "tripped again",
        "first calm batch", "second without a trade", "released", "first index",
        "index beyond, marks within", "index within, marks beyond",
    ],
)  # fmt: skip
def test_the_honest_breaker_is_proved(
    pre: LedgerState, price: int | None, oracle: Mapping[str, int], want: tuple[bool, int]
) -> None:
    """An index move exactly at 10 % is no trip, one tick beyond is (up and down), whatever
    the marks did; a print 22 % off the last print is calm; a flagged oracle trips; a
    protective market counts calm batches (a batch without a trade is calm) and is released
    at the third; a market's first trusted index never trips: the honest trace satisfies
    the AIR."""
    st = _batch(pre, price, oracle)
    assert (btc_state(st).protective, btc_state(st).calm) == want
    proved(st)


@pytest.mark.parametrize(
    ("pre", "price", "oracle", "forged", "rejected"),
    [
        # protective stated without a move (the threshold move is none)
        (_pre(), MARK + 100, INDEX, (True, 0), _FLAG),
        (_pre(), None, _index(715_000), (True, 0), _FLAG),
        # protective stated on a print 22 % off the last print (the marks moved 0.1 %)
        (_pre(last_price=_LOW), _HIGH, INDEX, (True, 0), _FLAG),
        # the rule on marks: a trip where the indexes moved one tick under 10 % (the marks
        # 10.11 %), none where they moved one tick beyond (the marks 9.89 %, a print)
        (_UNDER, None, _index(714_999), (True, 0), _FLAG),
        (_pre(), 585_000, _index(715_001), (False, 0), _FLAG),
        # a trip on a market's first trusted index
        (_pre(index_price=0), None, _index(715_001), (True, 0), _FLAG),
        # a mark move (one tick beyond the threshold) not stated
        (_pre(), None, _index(715_001), (False, 0), _FLAG),
        (_pre(), None, _index(584_999), (False, 0), _FLAG),
        # a flagged market not protective
        (_pre(), None, {ETH: 350_000}, (False, 0), _FLAG),
        # the calm counter off by one (either way)
        (_pre(protective=True), MARK, INDEX, (True, 2), _CALM),
        (_pre(protective=True), MARK, INDEX, (True, 0), _CALM),
        # a trip that does not reset the counter
        (_pre(protective=True, calm=1), None, _index(715_001), (True, 2), _CALM),
        # released one batch early (after two calm batches) / late (still protective at three)
        (_pre(protective=True, calm=1), MARK, INDEX, (False, 0), _FLAG),
        (_pre(protective=True, calm=2), MARK, INDEX, (True, 3), _FLAG),
        # a calm market that counts
        (_pre(), MARK, INDEX, (False, 1), _CALM),
    ],
    ids=[
        "protective without a move", "protective at the threshold", "protective on a print",
        "marks beyond, index within", "marks within, index beyond", "trip on a first index",
        "move up not stated", "move down not stated", "flagged not protective",
        "calm one more", "calm one less", "trip without reset", "released early",
        "released late", "calm market counting",
    ],
)  # fmt: skip
def test_a_forged_breaker_state_is_refused_and_rejected(
    pre: LedgerState,
    price: int | None,
    oracle: Mapping[str, int],
    forged: tuple[bool, int],
    rejected: str,
) -> None:
    protective, calm = forged
    st = _batch(pre, price, oracle, lambda ms: replace(ms, protective=protective, calm=calm))
    _refused_and_rejected(st, rejected)


def test_a_move_witnessed_as_none_is_rejected() -> None:
    """A move not stated, with the move bit cleared in the trace: the slack ``T − D`` is
    then negative, a residue above 2^30 that its three range-checked digits cannot hold,
    so the slack's identity fails whatever digits the forger writes."""
    forged = _batch(_pre(), None, _index(715_001), lambda ms: replace(ms, protective=False))
    rows = rows_for(forged)
    air, trace = generate(forged, rows, refuse=False)
    mv = air.column_names.index("brk.mv")
    assert int(trace[mv, 0]) == 1
    trace = trace.copy()
    trace[mv, 0] = 0
    with pytest.raises(ConstraintViolation, match="breaker: market 0's move beyond the threshold"):
        check_all(air, trace)


def test_the_breaker_terms_are_part_of_the_program() -> None:
    """The operator settles BTC-PERP with breaker_bps 2 000 (its published config says so):
    a 10 % index move is then calm. The deployed program holds the exchange's 1 000 bps, under
    which the same statement is refused and its trace rejected."""
    forged = _batch(_pre(), None, _index(715_001), config=btc_config(breaker_bps=2_000))
    assert not btc_state(forged).protective and forged.breaker_terms[0] == (2_000, 3)
    proved(forged)
    deployed = replace(forged, breaker_terms=((1_000, 3), (1_000, 3)))
    _refused_and_rejected(deployed, _FLAG)
    # the operator's own trace, under its 2 000 bps, against the program of the deployed 1 000
    rejected_by_deployed(forged, deployed, "breaker: market 0's threshold")


def test_an_index_move_trips_and_calm_batches_release() -> None:
    """A genuine move: the oracle index steps from 650 000 to 715 100 (10.02 %), the mark
    follows it and the breaker trips; three calm batches at the new index (each with a
    1-lot print at the mark) release it. Each batch goes through the transition and is
    proved."""
    state = replace(_pre(), config_digest=config_digest(DEFAULT_CONFIG))
    seen = []
    for b in range(1, 5):
        mark = state.market_state(BTC).mark_price
        batch = committed_batch(b, btc_book(mark) if b > 1 else [], reference_prices(state))
        rnd = oracle_round(b, 1_000 * b, _index(715_100))
        post, _ = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
        st = statement_of(BatchPublication(batch, rnd, state, post).files(DEFAULT_CONFIG, ORACLE))
        proved(st)
        ms = post.market_state(BTC)
        seen.append((ms.mark_price, ms.protective, ms.calm))
        state = post
    assert seen == [
        (715_100, True, 0),
        (715_100, True, 1),
        (715_100, True, 2),
        (715_100, False, 0),
    ]


# --------------------------------------------------------------------------
# The slice cap the proved flag picks. The 8 % crash (batch_air_helpers.crash_inputs)
# takes account 0 (long 100 BTC lots, 700 M of equity) below maintenance; with slice caps
# of 20 lots (calm) and 5 (protective) its shortfall is clamped at the cap either way.
# --------------------------------------------------------------------------


def _crash(protective: bool) -> dict[str, str]:
    pre = marked_state(
        [700_000_000, 10**12, 10**12, 10**12], np.array([[100, 0], [-100, 0], [0, 0], [0, 0]])
    )
    config = btc_config(max_liquidation_lots=20, protective_liquidation_lots=5)
    # the ledger runs under these slice caps: its root commits to their digest
    pre = replace(with_btc(pre, protective=protective), config_digest=config_digest(config))
    batch, rnd = crash_inputs()
    post, _ = apply_batch(pre, batch, rnd, config, ORACLE)
    return BatchPublication(batch, rnd, pre, post).files(config, ORACLE)


@pytest.fixture(scope="module")
def calm_crash() -> dict[str, str]:
    return _crash(False)


@pytest.fixture(scope="module")
def protective_crash() -> dict[str, str]:
    return _crash(True)


def _with_slice(lots: int, **btc: int | bool) -> Callable[[LedgerState], LedgerState]:
    """The post-state with account 0's BTC liquidation order for ``lots`` (and BTC-PERP's
    market state set by ``btc``)."""

    def change(post: LedgerState) -> LedgerState:
        (lo,) = post.pending_liquidations
        order = replace(lo.resting.order, quantity=lots)
        ms = tuple(replace(m, **btc) if m.market == BTC else m for m in post.market_states)
        return replace(
            post,
            pending_liquidations=(replace(lo, resting=replace(lo.resting, order=order)),),
            market_states=ms,
        )

    return change


def _slice(st: BatchStatement) -> int:
    (lo,) = st.post.pending_liquidations
    return lo.resting.order.quantity


def test_the_slice_cap_follows_the_proved_flag(
    calm_crash: dict[str, str], protective_crash: dict[str, str]
) -> None:
    """Calm: the slice is clamped at 20 lots; protective (a calm batch, the first of three):
    at 5. Both are proved."""
    calm, protective = statement_of(calm_crash), statement_of(protective_crash)
    assert (_slice(calm), btc_state(calm).protective) == (20, False)
    assert (_slice(protective), btc_state(protective).protective, btc_state(protective).calm) == (
        5,
        True,
        1,
    )
    proved(calm)
    proved(protective)


def test_a_protective_cap_in_a_calm_market_is_refused_and_rejected(
    calm_crash: dict[str, str],
) -> None:
    """5 lots (the protective cap) in a calm market: no longer a clamped slice, and the
    shortfall has not run out."""
    forged = statement_of(republish(calm_crash, _with_slice(5)))
    refused_and_rejected(
        forged,
        "account row 0 in BTC-PERP: expected a slice of 20 lots .*got 5",
        "liquidation slice: the shortfall runs out",
    )


def test_the_calm_cap_in_a_protective_market_is_refused_and_rejected(
    protective_crash: dict[str, str],
) -> None:
    """20 lots (the calm cap) in a protective market: above the cap the proved flag picks."""
    forged = statement_of(republish(protective_crash, _with_slice(20)))
    refused_and_rejected(
        forged,
        "a quantity between 1 and min\\(\\|position\\| 100, cap 5\\)",
        "liquidation orders: quantity in market 0 at most the cap",
    )


def test_a_protective_market_stated_calm_for_a_larger_slice_is_refused_and_rejected(
    protective_crash: dict[str, str],
) -> None:
    """The consistent lie: the market stated calm (so the cap read is 20) and the slice 20:
    the breaker rule catches the flag."""
    change = _with_slice(20, protective=False, calm=0)
    forged = statement_of(republish(protective_crash, change))
    refused_and_rejected(forged, _REFUSED, _FLAG, ValueError)


def test_a_calm_market_stated_protective_for_a_smaller_slice_is_refused_and_rejected(
    calm_crash: dict[str, str],
) -> None:
    """The other way round: the market stated protective (cap 5) to shield the trader."""
    forged = statement_of(republish(calm_crash, _with_slice(5, protective=True, calm=0)))
    refused_and_rejected(forged, _REFUSED, _FLAG, ValueError)


def test_the_flags_are_per_market() -> None:
    """ETH-PERP stays calm while BTC-PERP trips."""
    st = _batch(_pre(), None, _index(715_001))
    assert [(m.protective, m.calm) for m in st.post.market_states] == [(True, 0), (False, 0)]
    proved(st)
