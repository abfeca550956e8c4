"""The mark-price rule in the batch AIR (``batch_air/marks.py``): each market's post-state
mark, premium and last price are the rule's (``transition.py`` step 8, ``update_mark``) on
the headers, the clearing price and the mark terms. An operator who states another mark
(to stage a healthy trader for liquidation, say) publishes a batch whose every file agrees
with the forged post-state; the prover refuses it and the AIR rejects its trace, naming
the constraint."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import pytest

from sealbatch.auction.orders import Order
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.batch_air.marks import mark_rule
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.ledger import LedgerState
from tests.settlement.batch_air_helpers import (
    ETH,
    btc_batch,
    btc_book,
    btc_config,
    btc_state,
    proved,
    refused_and_rejected,
    rejected_by_deployed,
    with_btc,
)
from tests.settlement.batch_air_helpers import PRICES as INDEX
from tests.settlement.conftest import funded


def _pre(**btc: int | bool) -> LedgerState:
    """Funded accounts; BTC-PERP's market state given by ``btc``."""
    return with_btc(funded([10**12] * 6), **btc)


def _band_pre() -> LedgerState:
    """BTC-PERP with a trusted index 650 000 and a premium of 3 200 (band 3 250)."""
    return _pre(
        index_price=650_000, index_time_ms=500, premium=3_200, mark_price=653_200,
        last_price=653_200,
    )  # fmt: skip


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
        (_pre, btc_book(652_000), INDEX, (650_650, 650, 652_000)),
        (_pre, btc_book(648_000), INDEX, (649_350, -650, 648_000)),
        (_pre, btc_book(650_300), INDEX, (650_300, 300, 650_300)),
        (_band_pre, btc_book(655_000), INDEX, (653_250, 3_250, 655_000)),
        (_pre, btc_book(650_000), {ETH: 350_000}, (650_000, 0, 650_000)),
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
    st = btc_batch(pre(), orders, oracle)
    ms = btc_state(st)
    assert (ms.mark_price, ms.premium, ms.last_price) == want
    proved(st)


@pytest.mark.parametrize("delta", [1, -1])
def test_a_mark_off_by_one_is_caught(delta: int) -> None:
    forged = btc_batch(
        _pre(), btc_book(652_000), INDEX, lambda ms: replace(ms, mark_price=ms.mark_price + delta)
    )
    _refused_and_rejected(forged, _TRUSTED_MARK)


def test_a_premium_moved_beyond_the_step_is_caught() -> None:
    """The clearing price is 2 000 above the index, the step 650: the operator moves the
    premium (and the mark) all the way to the sample, claiming the step does not bind."""
    forged = btc_batch(
        _pre(),
        btc_book(652_000),
        INDEX,
        lambda ms: replace(ms, premium=2_000, mark_price=652_000),
    )
    _refused_and_rejected(forged, _STEP)


def test_a_premium_one_beyond_the_step_is_caught() -> None:
    """A premium of 651 is no side of the step clamp: not the step (650), not the sample."""
    forged = btc_batch(
        _pre(),
        btc_book(652_000),
        INDEX,
        lambda ms: replace(ms, premium=651, mark_price=650_651),
    )
    _refused_and_rejected(forged, "marks: market 0's premium is the clamped sample")


def test_a_premium_outside_the_band_is_caught() -> None:
    """The premium moves from 3 200 toward 5 000 by the step to 3 850, beyond the band of
    3 250: the operator keeps 3 850 (and its mark)."""
    forged = btc_batch(
        _band_pre(),
        btc_book(655_000),
        INDEX,
        lambda ms: replace(ms, premium=3_850, mark_price=653_850),
    )
    _refused_and_rejected(forged, _BAND)


def test_the_never_trusted_branch_under_a_trusted_index_is_caught() -> None:
    """A trusted index this batch: the mark is the index plus the premium, not the last
    clearing price."""
    forged = btc_batch(_pre(), btc_book(652_000), INDEX, lambda ms: replace(ms, mark_price=652_000))
    _refused_and_rejected(forged, _TRUSTED_MARK)


def test_the_kept_mark_of_a_market_never_trusted_is_caught() -> None:
    """No trusted index ever: the mark is the last clearing price, not the old mark."""
    pre = _pre(mark_price=640_000, last_price=640_000)
    honest = btc_batch(pre, btc_book(641_000), {ETH: 350_000})
    assert btc_state(honest).mark_price == 641_000
    proved(honest)
    forged = btc_batch(
        pre, btc_book(641_000), {ETH: 350_000}, lambda ms: replace(ms, mark_price=640_000)
    )
    _refused_and_rejected(forged, _UNTRUSTED_MARK)


def test_a_flagged_market_marked_to_its_clearing_price_is_caught() -> None:
    """Flagged after a trusted index: the mark stays, even though the market traded."""
    pre = _band_pre()
    honest = btc_batch(pre, btc_book(654_000), {ETH: 350_000})
    assert btc_state(honest).mark_price == 653_200
    forged = btc_batch(
        pre, btc_book(654_000), {ETH: 350_000}, lambda ms: replace(ms, mark_price=654_000)
    )
    _refused_and_rejected(forged, _UNTRUSTED_MARK)


def test_a_mark_of_zero_is_caught() -> None:
    forged = btc_batch(_pre(), btc_book(652_000), INDEX, lambda ms: replace(ms, mark_price=0))
    _refused_and_rejected(forged, _TRUSTED_MARK)


def test_a_mark_floored_at_one_above_it_is_caught() -> None:
    """The operator marks BTC-PERP at 1, claiming ``index + premium < 1``."""
    forged = btc_batch(_pre(), btc_book(652_000), INDEX, lambda ms: replace(ms, mark_price=1))
    _refused_and_rejected(forged, "marks: market 0's mark at least 1 \\(side\\)")


def test_a_last_price_changed_without_a_trade_is_caught() -> None:
    """BTC-PERP does not trade: its last price stays 653 200 (the mark does not read it)."""
    forged = btc_batch(_band_pre(), [], INDEX, lambda ms: replace(ms, last_price=650_000))
    _refused_and_rejected(forged, _LAST)


def test_a_wrong_step_term_is_caught() -> None:
    """The operator settles BTC-PERP with a step of 11 bps (its published config says so);
    the deployed program holds the exchange's 10 bps: the premium is 650, not 715."""
    forged = btc_batch(_pre(), btc_book(652_000), INDEX, config=btc_config(mark_step_bps=11))
    assert btc_state(forged).premium == 715 and forged.mark_terms[0] == (11, 50)
    deployed = replace(forged, mark_terms=((10, 50), (10, 50)))
    _refused_and_rejected(deployed, "marks: market 0's premium is the clamped sample")
    # the operator's own trace, under its 11 bps, against the program of the deployed 10
    rejected_by_deployed(forged, deployed, "marks: market 0's step = ⌊index·bps/10 000⌋")
