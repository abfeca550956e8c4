"""Account key uniqueness in the batch AIR (statement 6, :mod:`.tiekeys`): every
post-state account's key (address, subaccount) is received by one row of a strictly
ascending run after the tie-break key rows, so no two accounts of the state tree share
one. Each forgery is refused by the prover and, when it skips that refusal, rejected."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.commitments import TAG_CNODE
from sealbatch.settlement.batch_air.framework import TAG_MARKET
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.batch_air.tiekeys import ACCOUNTS_MARKET
from sealbatch.settlement.errors import BatchStatementError
from tests.settlement.batch_air_helpers import check_all, small_batch_files, statement_of
from tests.settlement.test_batch_air_tiebreak import TIED_ORDERS


@pytest.fixture(scope="module")
def honest() -> BatchStatement:
    """A batch with tied marginal orders: the key rows, then the account key rows."""
    return statement_of(small_batch_files(TIED_ORDERS))


def _col(air: Air, name: str) -> int:
    return air.column_names.index(name)


def _key_rows(air: Air, trace: np.ndarray) -> np.ndarray:
    return np.flatnonzero(trace[_col(air, "ctree.ak")])


def _keys(air: Air, trace: np.ndarray, rows: np.ndarray) -> list[tuple[int, ...]]:
    cols = [_col(air, f"ctree.o{k}") for k in range(8)]
    return [tuple(int(trace[c, r]) for c in cols) for r in rows]


def test_each_account_key_is_on_one_sorted_row(honest: BatchStatement) -> None:
    st = honest
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    rows = _key_rows(air, trace)
    sw = st.settle_witness
    want = sorted(
        (*(int(v) for v in sw.address_limbs[r]), int(sw.subaccount[r]))
        for r in range(len(st.post.accounts))
    )
    assert len(rows) == len(st.post.accounts) >= 6
    assert _keys(air, trace, rows) == want
    # right after the tie-break key rows, with the market above every market index
    tk = np.flatnonzero(trace[_col(air, "ctree.tk")])
    assert len(tk) and rows[0] == tk[-1] + 1
    assert {int(trace[_col(air, "ctree.tk_mkt"), r]) for r in rows} == {ACCOUNTS_MARKET}
    # no verifier table: only the derived ones
    tags = {t.tag for t in build_with_layout(rows_for(st), st)[1].public_tables if t.rows}
    assert tags <= {TAG_MARKET, TAG_CNODE}


def _split(st: BatchStatement) -> BatchStatement:
    """The operator gives account 1 account 0's key: one trader's account split in two
    (a deposit credited to a second row, its collateral apart from its positions)."""
    sw = st.settle_witness
    limbs, sub = sw.address_limbs.copy(), sw.subaccount.copy()
    limbs[1], sub[1] = limbs[0], sub[0]
    return replace(st, settle_witness=replace(sw, address_limbs=limbs, subaccount=sub))


def test_two_accounts_with_one_key_are_caught(honest: BatchStatement) -> None:
    forged = _split(honest)
    with pytest.raises(BatchStatementError, match="accounts: no two accounts share a key"):
        generate(forged, rows_for(forged))
    air, trace = generate(forged, rows_for(forged), refuse=False)
    with pytest.raises(ConstraintViolation, match="accounts: no two accounts share a key"):
        check_all(air, trace)


def test_account_keys_out_of_order_are_caught(honest: BatchStatement) -> None:
    """Two key rows swapped: the run is no longer ascending (the comparison's range check
    or its equal-prefix constraint fails), so a duplicate cannot hide apart."""
    air, honest_trace = generate(honest, rows_for(honest))
    rows = _key_rows(air, honest_trace)
    trace = honest_trace.copy()
    cols = [_col(air, f"ctree.o{k}") for k in range(8)]
    a, b = rows[1], rows[2]
    trace[np.ix_(cols, [a, b])] = trace[np.ix_(cols, [b, a])]
    with pytest.raises(ConstraintViolation):
        check_all(air, trace)


def test_an_account_key_left_out_is_caught(honest: BatchStatement) -> None:
    """The last key row dropped (so a duplicate of it could not be compared): the row
    before it still compares with it, and the account's key is sent and never
    received."""
    air, honest_trace = generate(honest, rows_for(honest))
    rows = _key_rows(air, honest_trace)
    trace = honest_trace.copy()
    trace[_col(air, "ctree.ak"), rows[-1]] = 0
    with pytest.raises(ConstraintViolation, match=r"compare with the next key row|bus"):
        check_all(air, trace)
