"""Statement 4 in the batch AIR: the staged liquidation orders' ids
(:mod:`sealbatch.settlement.batch_air.liq_orders`, "id").

The batch is test_batch_air_margin's crash: account 0 (long 100 BTC lots) is staged for
liquidation with one sell order. Each forgery republishes the post-state with that order's
id changed (its root and header recomputed, so every other statement holds): the prover
refuses it, naming the rule, and the AIR rejects the trace written anyway
(``refuse=False``): the record's ``(TAG_LIQ_ID, account, market code, id×8)`` has no id
rows to match (the tests check that this interaction is the one left unbalanced), or, for
an id whose words are the digest's plus ``p``, the ``id_high`` constraint. The id rows
themselves are forged too (a prover writing the sponge of another preimage): the pinned
preimage, or the account lookup, refuses them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.commitment import COMMITMENT_DOMAIN, bytes32_elements
from sealbatch.crypto.air import Air, ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import digest_to_bytes, hash_elements
from sealbatch.settlement.batch_air import liq_orders
from sealbatch.settlement.batch_air.air import rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.ledger import AccountKey, LedgerState
from sealbatch.settlement.liquidation import liquidation_id_elements, liquidation_order_id
from tests.settlement.batch_air_helpers import (
    check_all,
    column,
    refused_and_rejected,
    republish,
    statement_of,
)

_BUS = "bus: Σ = −public sum"


def _liq_id_tuples(air: Air, trace: np.ndarray) -> tuple[Counter, Counter]:
    """The ``TAG_LIQ_ID`` tuples the id rows send and the post-state records receive."""

    def col(name: str) -> np.ndarray:
        return trace[column(air, name)]

    block = [col(f"hdr.b{k}") for k in range(8)]
    out = [col(f"hdr.o{k}") for k in range(8)]
    sent = Counter(
        (int(col("hdr.fc0")[r]), int(col("hdr.mcode")[r]), *(int(o[r]) for o in out))
        for r in np.flatnonzero(col("liq.id1"))
    )
    g = col("hdr.r2") * col("hdr.tree") * col("hdr.kind")
    received = Counter(
        (int(col("hdr.acct")[r]), int(col("hdr.mcode")[r]), *(int(b[r]) for b in block))
        for r in np.flatnonzero(g)
    )
    return sent, received


def _with_id(
    post: LedgerState, make: Callable[[LedgerState, AccountKey, str], bytes]
) -> LedgerState:
    """Account 0's liquidation order with the id ``make(post, account, market)``."""
    (lo,) = post.pending_liquidations
    oid = make(post, lo.account, lo.resting.order.market)
    return replace(
        post, pending_liquidations=(replace(lo, resting=replace(lo.resting, order_id=oid)),)
    )


def test_the_staged_orders_id_is_the_rules_and_the_air_recomputes_it(
    margin_honest: tuple[BatchStatement, Air, np.ndarray],
) -> None:
    """The id is the sponge of this batch (the post-state's), the account and the market;
    two id rows hash it and their digest meets the record's id."""
    statement, air, trace = margin_honest
    (lo,) = statement.post.pending_liquidations
    assert lo.resting.order_id == liquidation_order_id(
        statement.post.batch_id, lo.account, "BTC-PERP"
    )
    assert lo.resting.origin_batch == statement.post.batch_id + 1
    check_all(air, trace)
    id0, id1 = trace[column(air, "liq.id0")], trace[column(air, "liq.id1")]
    assert int(id0.sum()) == int(id1.sum()) == 1
    first = int(np.flatnonzero(id0)[0])
    assert int(id1[first + 1]) == 1 and int(trace[column(air, "hdr.on"), first]) == 0
    assert [int(trace[column(air, f"hdr.b{k}"), first]) for k in range(8)] == (
        liquidation_id_elements(statement.post.batch_id, lo.account, "BTC-PERP")[:8]
    )
    sent, received = _liq_id_tuples(air, trace)
    assert sent == received and len(received) == 1
    (tup,) = received
    assert list(tup[2:]) == bytes32_elements(lo.resting.order_id)


def _bit_off(post: LedgerState, account: AccountKey, market: str) -> bytes:
    good = liquidation_order_id(post.batch_id, account, market)
    return bytes([good[0] ^ 1]) + good[1:]


def _another_account(post: LedgerState, account: AccountKey, market: str) -> bytes:
    other = next(k for k in post.accounts if k != account)
    return liquidation_order_id(post.batch_id, other, market)


def _another_market(post: LedgerState, account: AccountKey, market: str) -> bytes:
    return liquidation_order_id(post.batch_id, account, "ETH-PERP")


def _previous_batch(post: LedgerState, account: AccountKey, market: str) -> bytes:
    return liquidation_order_id(post.batch_id - 1, account, market)


def _next_batch(post: LedgerState, account: AccountKey, market: str) -> bytes:
    """The batch the order trades in (its origin batch), not the one that staged it."""
    return liquidation_order_id(post.batch_id + 1, account, market)


def _word_plus_p(post: LedgerState, account: AccountKey, market: str) -> bytes:
    """The honest id with its word 3 raised by p: the same 8 elements (each word mod p),
    but other bytes — the record's ``id_high`` is 3^3."""
    good = bytearray(liquidation_order_id(post.batch_id, account, market))
    word = int.from_bytes(good[12:16], "little") + P
    assert word < 1 << 32
    good[12:16] = word.to_bytes(4, "little")
    return bytes(good)


@pytest.mark.parametrize(
    ("make", "rejected"),
    [
        (_bit_off, _BUS),
        (_another_account, _BUS),
        (_another_market, _BUS),
        (_previous_batch, _BUS),
        (_next_batch, _BUS),
        (_word_plus_p, "liquidation ids: id_high is 0"),
    ],
    ids=[
        "one-bit-off",
        "another-account",
        "another-market",
        "previous-batch",
        "next-batch",
        "nonzero-id-high",
    ],
)
def test_a_forged_liquidation_id_is_caught(
    margin_files: dict[str, str],
    make: Callable[[LedgerState, AccountKey, str], bytes],
    rejected: str,
) -> None:
    forged = statement_of(republish(margin_files, lambda p: _with_id(p, make)))
    (lo,) = forged.post.pending_liquidations
    assert lo.resting.order_id != liquidation_order_id(
        forged.post.batch_id, lo.account, lo.resting.order.market
    )
    refused_and_rejected(forged, "liquidation ids: .* expected the id", rejected)
    air, trace = generate(forged, rows_for(forged), refuse=False)
    sent, received = _liq_id_tuples(air, trace)
    if rejected == _BUS:  # the record's id tuple is the one no id row sends
        assert sent != received
    else:  # the same elements: only the quotients differ
        assert sent == received


def _other_account(post: LedgerState, account: AccountKey) -> AccountKey:
    return next(k for k in post.accounts if k != account)


_ROW_FORGERIES: dict[str, Callable[[LedgerState, int, AccountKey, str], list[int]]] = {
    # this batch's preimage with the previous batch's id
    "previous-batch": lambda post, b, a, m: liquidation_id_elements(b - 1, a, m),
    # the commitments' domain element
    "another-domain": lambda post, b, a, m: [
        COMMITMENT_DOMAIN,
        *liquidation_id_elements(b, a, m)[1:],
    ],
    # another account's key in the second block (the first block the rule's)
    "another-account": lambda post, b, a, m: liquidation_id_elements(b, _other_account(post, a), m),
}


@pytest.mark.parametrize(
    ("name", "rejected"),
    [
        ("previous-batch", "liquidation ids: preimage element 1"),
        ("another-domain", "liquidation ids: preimage element 0"),
        ("another-account", _BUS),
    ],
    ids=["previous-batch", "another-domain", "another-account"],
)
def test_forged_id_rows_are_caught(
    monkeypatch: pytest.MonkeyPatch, margin_files: dict[str, str], name: str, rejected: str
) -> None:
    """The record holds the digest of another preimage, and the prover hashes that
    preimage on the id rows, so the id tuples balance: the pinned first block, or the
    second block's account lookup (account row 0 is not the other account), refuses it."""
    forge = _ROW_FORGERIES[name]

    def make(post: LedgerState, account: AccountKey, market: str) -> bytes:
        return digest_to_bytes(hash_elements(forge(post, post.batch_id, account, market)))

    forged = statement_of(republish(margin_files, lambda p: _with_id(p, make)))
    post = forged.post
    monkeypatch.setattr(liq_orders, "liquidation_id_elements", lambda b, a, m: forge(post, b, a, m))
    air, trace = generate(forged, rows_for(forged), refuse=False)
    sent, received = _liq_id_tuples(air, trace)
    assert sent == received
    with pytest.raises(ConstraintViolation, match=rejected):
        check_all(air, trace)
