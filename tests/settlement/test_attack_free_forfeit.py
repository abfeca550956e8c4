"""Issue 10 attack 4: withholding a reveal was free for a leveraged long (its
collateral is negative, its equity positive, and a forfeit took "at most the
positive collateral"). Now the whole bond goes, equity or not."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sealbatch.settlement.ledger import LedgerState, equity, total_value
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.transition import apply_batch
from tests.settlement.conftest import ORACLE, TRADERS, funded, make_batch, oracle_round

MARKS = {"BTC-PERP": 650_000, "ETH-PERP": 350_000}


def _leveraged_long() -> LedgerState:
    """Trader 0: +1 BTC lot at 650 000 × 100 bought on credit, collateral
    −55 000 000, equity 65 000 000 − 55 000 000 = 10 000 000."""
    state = funded([1_000_000, 10**10])
    ms = tuple(replace(m, mark_price=MARKS[m.market]) for m in state.market_states)
    return state.with_arrays(
        collateral=np.array([-55_000_000, 10**10 + 55_000_000], dtype=np.int64),
        positions=np.array([[1, 0], [-1, 0]], dtype=np.int64),
        market_states=ms,
        batch_id=0,
    )


def test_a_leveraged_long_pays_its_bond_from_equity() -> None:
    state = _leveraged_long()
    assert int(state.collateral[0]) < 0 < int(equity(state, DEFAULT_CONFIG)[0])
    bond = 3_000_000
    batch = make_batch(1, [], forfeits=[(TRADERS[0], "BTC-PERP", bond)] * 3, pre=state)
    post, w = apply_batch(state, batch, oracle_round(1, 1_000, MARKS), DEFAULT_CONFIG, ORACLE)
    assert [a for _, a in w.forfeits] == [bond, bond, bond]
    assert int(post.collateral[0]) == -55_000_000 - 3 * bond
    assert post.insurance_fund - state.insurance_fund == 3 * bond
    assert total_value(post) == total_value(state)


def test_every_forfeit_is_paid_in_full_even_beyond_the_equity() -> None:
    """Eleven forfeits of 1 000 000 against an equity of 10 000 000: all eleven are paid
    (no equity cap, so the charge is a function of the bond alone); the account is left
    with negative equity, which the insurance fund (which received the bonds) covers,
    and no value is created or lost."""
    state = _leveraged_long()
    batch = make_batch(1, [], forfeits=[(TRADERS[0], "BTC-PERP", 1_000_000)] * 11, pre=state)
    post, w = apply_batch(state, batch, oracle_round(1, 1_000, MARKS), DEFAULT_CONFIG, ORACLE)
    assert [a for _, a in w.forfeits] == [1_000_000] * 11
    assert int(equity(state, DEFAULT_CONFIG)[0]) - 11_000_000 < 0
    assert w.deficits
    assert total_value(post) == total_value(state)
