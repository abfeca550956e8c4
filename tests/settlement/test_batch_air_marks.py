"""The mark-price rule in the batch AIR (``batch_air/marks.py``): each market's post-state
mark, premium and last price are the rule's (``transition.py`` step 8, ``update_mark``) on
the headers, the clearing price and the mark terms. An operator who states another mark
(to stage a healthy trader for liquidation, say) publishes a batch whose every file agrees
with the forged post-state; the prover refuses it and the AIR rejects its trace, naming
the constraint."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.marks import mark_rule
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.ledger import LedgerState, MarketState
from sealbatch.settlement.params import DEFAULT_CONFIG, SettlementConfig
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    check_all,
    committed_batch,
    proved,
    refused_and_rejected,
    statement_of,
)
from tests.settlement.conftest import ORACLE, TRADERS, funded, oracle_round

Edit = Callable[[MarketState], MarketState]
INDEX = {BTC: 650_000, ETH: 350_000}


def _orders(price: int) -> list[tuple[Address, Order]]:
    """A BTC book that clears 5 lots at ``price``; ETH does not trade."""
    return [
        (TRADERS[0], Order(BTC, Side.BUY, price, 5)),
        (TRADERS[1], Order(BTC, Side.SELL, price, 5)),
    ]


def _batch(
    pre: LedgerState,
    orders: Sequence[tuple[Address, Order]],
    oracle: Mapping[str, int],
    edit: Edit | None = None,
    config: SettlementConfig = DEFAULT_CONFIG,
) -> BatchStatement:
    """One batch over ``pre`` (references: its marks, else the index); ``edit`` forges the
    post-state's BTC-PERP market state, published consistently."""
    refs = {ms.market: ms.mark_price or INDEX[ms.market] for ms in pre.market_states}
    batch = committed_batch(1, orders, refs)
    rnd = oracle_round(1, 1_000, oracle)
    post, _ = apply_batch(pre, batch, rnd, config, ORACLE)
    if edit is not None:
        post = post.with_arrays(
            market_states=tuple(edit(ms) if ms.market == BTC else ms for ms in post.market_states)
        )
    return statement_of(BatchPublication(batch, rnd, pre, post).files(config, ORACLE))


def _pre(**btc: int | bool) -> LedgerState:
    """Funded accounts; BTC-PERP's market state given by ``btc``."""
    state = funded([10**12] * 6)
    ms = tuple(replace(m, **btc) if m.market == BTC else m for m in state.market_states)
    return state.with_arrays(market_states=ms)


def _band_pre() -> LedgerState:
    """BTC-PERP with a trusted index 650 000 and a premium of 3 200 (band 3 250)."""
    return _pre(
        index_price=650_000, index_time_ms=500, premium=3_200, mark_price=653_200,
        last_price=653_200,
    )  # fmt: skip


def _btc(st: BatchStatement) -> MarketState:
    return st.post.market_states[st.markets.index(BTC)]


def _refused_and_rejected(forged: BatchStatement, rejected: str) -> None:
    refused_and_rejected(forged, "marks: market BTC-PERP's post-state", rejected, ValueError)


_TRUSTED_MARK = "marks: market 0's mark is max\\(1, index \\+ premium\\) \\(trusted index\\)"
_STEP = "marks: market 0's premium moved by at most the step \\(side\\)"
_BAND = "marks: market 0's premium within the band \\(side\\)"
_UNTRUSTED_MARK = "marks: market 0's mark unchanged, or the last price before a first index"
_LAST = "marks: market 0's last price is the clearing price or unchanged"


def test_the_rule_matches_update_mark() -> None:
    """The section's rule is the transition's on the post-state's index."""
    from sealbatch.settlement.oracle import update_mark

    for premium, price in ((0, None), (3_200, 655_000), (-3_000, 640_000), (10, 650_300)):
        want = update_mark(650_000, premium, price, 50, 10)
        got = mark_rule(650_000, True, premium, 1, 1, price or 0, 10, 50)
        assert got[:2] == want


@pytest.mark.parametrize(
    ("pre", "orders", "oracle", "want"),
    [
        (_pre, _orders(652_000), INDEX, (650_650, 650, 652_000)),
        (_pre, _orders(648_000), INDEX, (649_350, -650, 648_000)),
        (_pre, _orders(650_300), INDEX, (650_300, 300, 650_300)),
        (_band_pre, _orders(655_000), INDEX, (653_250, 3_250, 655_000)),
        (_pre, _orders(650_000), {ETH: 350_000}, (650_000, 0, 650_000)),
        (_band_pre, [], {ETH: 350_000}, (653_200, 3_200, 653_200)),
    ],
    ids=["step", "step down", "within the step", "band", "never trusted", "flagged"],
)
def test_the_honest_marks_are_proved(
    pre: Callable[[], LedgerState],
    orders: list[tuple[Address, Order]],
    oracle: Mapping[str, int],
    want: tuple[int, int, int],
) -> None:
    """The premium held by the step (up or down), within it, held by the band, a first
    price without a trusted index (the mark is the last clearing price), a flagged market
    (mark and premium kept): the honest trace satisfies the AIR."""
    st = _batch(pre(), orders, oracle)
    ms = _btc(st)
    assert (ms.mark_price, ms.premium, ms.last_price) == want
    proved(st)


@pytest.mark.parametrize("delta", [1, -1])
def test_a_mark_off_by_one_is_caught(delta: int) -> None:
    forged = _batch(
        _pre(), _orders(652_000), INDEX, lambda ms: replace(ms, mark_price=ms.mark_price + delta)
    )
    _refused_and_rejected(forged, _TRUSTED_MARK)


def test_a_premium_moved_beyond_the_step_is_caught() -> None:
    """The clearing price is 2 000 above the index, the step 650: the operator moves the
    premium (and the mark) all the way to the sample, claiming the step does not bind."""
    forged = _batch(
        _pre(),
        _orders(652_000),
        INDEX,
        lambda ms: replace(ms, premium=2_000, mark_price=652_000),
    )
    _refused_and_rejected(forged, _STEP)


def test_a_premium_one_beyond_the_step_is_caught() -> None:
    """A premium of 651 is no side of the step clamp: not the step (650), not the sample."""
    forged = _batch(
        _pre(),
        _orders(652_000),
        INDEX,
        lambda ms: replace(ms, premium=651, mark_price=650_651),
    )
    _refused_and_rejected(forged, "marks: market 0's premium is the clamped sample")


def test_a_premium_outside_the_band_is_caught() -> None:
    """The premium moves from 3 200 toward 5 000 by the step to 3 850, beyond the band of
    3 250: the operator keeps 3 850 (and its mark)."""
    forged = _batch(
        _band_pre(),
        _orders(655_000),
        INDEX,
        lambda ms: replace(ms, premium=3_850, mark_price=653_850),
    )
    _refused_and_rejected(forged, _BAND)


def test_the_never_trusted_branch_under_a_trusted_index_is_caught() -> None:
    """A trusted index this batch: the mark is the index plus the premium, not the last
    clearing price."""
    forged = _batch(_pre(), _orders(652_000), INDEX, lambda ms: replace(ms, mark_price=652_000))
    _refused_and_rejected(forged, _TRUSTED_MARK)


def test_the_kept_mark_of_a_market_never_trusted_is_caught() -> None:
    """No trusted index ever: the mark is the last clearing price, not the old mark."""
    pre = _pre(mark_price=640_000, last_price=640_000)
    honest = _batch(pre, _orders(641_000), {ETH: 350_000})
    assert _btc(honest).mark_price == 641_000
    proved(honest)
    forged = _batch(
        pre, _orders(641_000), {ETH: 350_000}, lambda ms: replace(ms, mark_price=640_000)
    )
    _refused_and_rejected(forged, _UNTRUSTED_MARK)


def test_a_flagged_market_marked_to_its_clearing_price_is_caught() -> None:
    """Flagged after a trusted index: the mark stays, even though the market traded."""
    pre = _band_pre()
    honest = _batch(pre, _orders(654_000), {ETH: 350_000})
    assert _btc(honest).mark_price == 653_200
    forged = _batch(
        pre, _orders(654_000), {ETH: 350_000}, lambda ms: replace(ms, mark_price=654_000)
    )
    _refused_and_rejected(forged, _UNTRUSTED_MARK)


def test_a_mark_of_zero_is_caught() -> None:
    forged = _batch(_pre(), _orders(652_000), INDEX, lambda ms: replace(ms, mark_price=0))
    _refused_and_rejected(forged, _TRUSTED_MARK)


def test_a_mark_floored_at_one_above_it_is_caught() -> None:
    """The operator marks BTC-PERP at 1, claiming ``index + premium < 1``."""
    forged = _batch(_pre(), _orders(652_000), INDEX, lambda ms: replace(ms, mark_price=1))
    _refused_and_rejected(forged, "marks: market 0's mark at least 1 \\(side\\)")


def test_a_last_price_changed_without_a_trade_is_caught() -> None:
    """BTC-PERP does not trade: its last price stays 653 200 (the mark does not read it)."""
    forged = _batch(_band_pre(), [], INDEX, lambda ms: replace(ms, last_price=650_000))
    _refused_and_rejected(forged, _LAST)


def test_a_wrong_step_term_is_caught() -> None:
    """The operator settles BTC-PERP with a step of 11 bps (its published config says so);
    the deployed program holds the exchange's 10 bps: the premium is 650, not 715."""
    j = DEFAULT_CONFIG.column(BTC)
    markets = list(DEFAULT_CONFIG.markets)
    markets[j] = replace(markets[j], mark_step_bps=11)
    loose = replace(DEFAULT_CONFIG, markets=tuple(markets))
    forged = _batch(_pre(), _orders(652_000), INDEX, config=loose)
    assert _btc(forged).premium == 715 and forged.mark_terms[0] == (11, 50)
    deployed = replace(forged, mark_terms=((10, 50), (10, 50)))
    _refused_and_rejected(deployed, "marks: market 0's premium is the clamped sample")
    # the operator's own trace, under its 11 bps, against the program of the deployed 10
    rows = rows_for(forged)
    air, _ = build_with_layout(rows, deployed)
    _, trace = generate(forged, rows)
    with pytest.raises(ConstraintViolation, match="marks: market 0's step = ⌊index·bps/10 000⌋"):
        check_all(air, trace)
