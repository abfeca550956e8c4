"""Statement S8, the order binding (settlement/batch_air/commitment_hash.py): the AIR
recomputes each revealed order's commitment from the fields it clears with, and binds
its trader to the account its fills settle on.

Each forgery is what a dishonest operator would publish for profit: a different
limit, quantity, side, market or time in force than the trader committed to, a salt
that does not open the commitment, or one trader's fill settled on another's
account. The published files are made consistent everywhere else (the batch clears
and settles the published orders), and the verifier's own salt check is switched off
(as on L1, where nobody re-hashes the orders): the prover refuses naming S8, and the
AIR (``refuse=False``) rejects the trace on the bus — nothing but the commitment hash
and the account lookup ties those fields to the commitment root (the outputs digest
binds the published fills too, with their accounts).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.settlement.batch_air import statement as statement_module
from sealbatch.settlement.batch_air.air import build_with_layout, rows_for
from sealbatch.settlement.batch_air.commitment_hash import BLOCKS, permutations
from sealbatch.settlement.batch_air.commitments import TAG_CNODE
from sealbatch.settlement.batch_air.framework import (
    TAG_ADJUST,
    TAG_MARKET,
)
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement, statement_from_files
from sealbatch.settlement.errors import BatchStatementError
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    check_all,
    refused_and_rejected,
    small_batch_files,
    with_output_blocks,
)
from tests.settlement.conftest import TRADERS

#: The default batch's order 5 (BTC sell 650 050 × 2) is not filled, so the published
#: batch clears the same whatever its fields: only its commitment can tell.
_PUBLISHED = Order(BTC, Side.SELL, 650_050, 2)


def _refused_and_rejected(forged: BatchStatement, refused: str) -> None:
    refused_and_rejected(forged, refused, "bus")


def _published_unchecked(monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> BatchStatement:
    """The statement of ``files`` without the Python verifier's own commitment check."""
    monkeypatch.setattr(statement_module, "commitment_difference", lambda *args: None)
    return statement_from_files(files)


def test_the_honest_batch_hashes_every_revealed_commitment() -> None:
    st = statement_from_files(small_batch_files())
    assert permutations(st) == BLOCKS * 9
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    # the verifier's tables list no revealed order at all: its fields are its
    # commitment's, its fill the outputs digest's record
    air, layout = build_with_layout(rows_for(st), st)
    tags = {t.tag for t in layout.public_tables if t.rows}
    assert tags <= {TAG_MARKET, TAG_CNODE, TAG_ADJUST}


@pytest.mark.parametrize(
    "committed",
    [
        replace(_PUBLISHED, limit_price=650_100),  # the trader's limit was higher
        replace(_PUBLISHED, quantity=1),  # the trader committed to 1 lot
        replace(_PUBLISHED, side=Side.BUY),  # the trader was buying
        replace(_PUBLISHED, market=ETH),  # in the other market
        replace(_PUBLISHED, time_in_force=TimeInForce.GTC),  # its rest would have carried
        replace(_PUBLISHED, client_id=7),
    ],
    ids=["limit", "quantity", "side", "market", "gtc", "client_id"],
)
def test_a_published_order_that_is_not_the_committed_one_is_caught_by_s8(
    monkeypatch: pytest.MonkeyPatch, committed: Order
) -> None:
    files = small_batch_files(committed={5: committed})
    with pytest.raises(BatchStatementError, match=r"orders\.csv row 6"):
        statement_from_files(files)  # the Python verifier re-hashes the orders itself
    _refused_and_rejected(_published_unchecked(monkeypatch, files), "S8 commitment")


def test_a_salt_that_does_not_open_the_commitment_is_caught_by_s8() -> None:
    st = statement_from_files(small_batch_files())
    orders = list(st.orders)
    orders[0] = replace(orders[0], salt=bytes(32))
    _refused_and_rejected(replace(st, orders=tuple(orders)), "S8 commitment")


def test_a_fill_settled_on_another_account_is_caught_by_the_order_binding() -> None:
    """Two buys of 2 lots at 650 000 both fill 2 lots: swapping their accounts keeps
    every account's fills, fees and balances the same — but the traders the commitments
    bind are not the accounts' (the prover names the order binding)."""
    t = TRADERS
    orders = [
        (t[0], Order(BTC, Side.BUY, 650_000, 2)),
        (t[1], Order(BTC, Side.BUY, 650_000, 2)),
        (t[2], Order(BTC, Side.SELL, 650_000, 4)),
        (t[3], Order(ETH, Side.BUY, 350_000, 1)),
        (t[4], Order(ETH, Side.SELL, 350_000, 1)),
    ]
    st = statement_from_files(small_batch_files(orders))
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    a, b = st.orders[0], st.orders[1]
    assert (a.fill, a.is_buy, a.market) == (b.fill, b.is_buy, b.market) and a.account != b.account
    swapped = (replace(a, account=b.account), replace(b, account=a.account), *st.orders[2:])
    # the publication lists the two fills on the swapped accounts too
    accounts = {a.id_elements(): b.account, b.id_elements(): a.account}
    blocks = list(st.output_blocks)
    for r in range(1, 1 + 2 * st.output_fills, 2):
        if blocks[r] in accounts:
            blocks[r + 1] = (accounts[blocks[r]], *blocks[r + 1][1:])
    forged = with_output_blocks(replace(st, orders=swapped), blocks)
    _refused_and_rejected(forged, "S8 order binding")


def test_the_air_shape_pins_the_hash_rows() -> None:
    """Four rows per revealed order, and every order's hash in the same trace."""
    st = statement_from_files(small_batch_files())
    air, layout = build_with_layout(rows_for(st), st)
    assert air.periodic_columns  # the block selectors are the AIR's, not the prover's
    assert {n.split(".")[0] for n in layout.names} >= {"chash", "book", "acct"}
