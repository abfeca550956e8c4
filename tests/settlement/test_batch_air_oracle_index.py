"""The post-state's index bound to the oracle round (``batch_air/headers.py`` pins, public
inputs 8–11 of each market: index price, index time ×2, oracle flag).

The verifier derives those inputs from the published round and the pre-state
(:func:`~sealbatch.settlement.batch_air.statement.index_inputs`; Exchange.sol from the
round it checks), never from the post-state: a post header whose index, index time or
flag is not the round's reading is refused by the prover and rejected by the AIR
(``refuse=False``), naming the pin."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air.air import rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import (
    PUBLIC_HEADER,
    PUBLIC_PER_MARKET,
    BatchStatement,
    index_inputs,
    statement_from_files,
)
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.oracle import OracleRound, read_index
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.transition import apply_batch
from tests.settlement.batch_air_helpers import (
    BTC,
    ETH,
    check_all,
    crossing_batch,
    refused_and_rejected,
)
from tests.settlement.conftest import ORACLE, funded, oracle_round

ROUND_MS = 1_000


def _publish(rnd: OracleRound, forge: dict[str, dict[str, int | bool]] | None = None) -> str:
    """A small two-market batch settled under ``rnd``; ``forge[market]`` overrides fields of
    that market's post state (what a dishonest operator publishes), the post root following."""
    batch = crossing_batch()
    state = funded([10**12] * 6)
    post, _ = apply_batch(state, batch, rnd, DEFAULT_CONFIG, ORACLE)
    post = _forged(post, forge or {})
    return BatchPublication(batch, rnd, state, post).files(DEFAULT_CONFIG, ORACLE)  # type: ignore[return-value]


def _forged(post: LedgerState, forge: dict[str, dict[str, int | bool]]) -> LedgerState:
    states = tuple(replace(ms, **forge.get(ms.market, {})) for ms in post.market_states)  # type: ignore[arg-type]
    return replace(post, market_states=states)


def _inputs(st: BatchStatement, j: int) -> tuple[int, ...]:
    at = PUBLIC_HEADER + PUBLIC_PER_MARKET * j + 8
    return tuple(st.public_inputs[at : at + 4])


def _refused_and_rejected(forged: BatchStatement, name: str) -> None:
    refused_and_rejected(forged, name, name)


@pytest.fixture(scope="module")
def trusted() -> OracleRound:
    return oracle_round(1, ROUND_MS, {BTC: 650_000, ETH: 350_000})


@pytest.fixture(scope="module")
def flagged_eth() -> OracleRound:
    """Only the cex family reports ETH: one family of the two the index needs."""
    return oracle_round(1, ROUND_MS, {BTC: 650_000, ETH: 350_000}, {(ETH, "dex"): None})


def test_the_public_index_is_the_rounds_reading(
    trusted: OracleRound, flagged_eth: OracleRound
) -> None:
    """An unflagged market: the reading's index at the round's time; a flagged one: the
    pre-state's (here none yet: 0 at 0) with the flag; the honest trace holds every pin."""
    st = statement_from_files(_publish(trusted))
    assert _inputs(st, 0) == (650_000, ROUND_MS, 0, 0)
    assert _inputs(st, 1) == (350_000, ROUND_MS, 0, 0)
    st = statement_from_files(_publish(flagged_eth))
    assert read_index(flagged_eth, ORACLE, (ETH,))[ETH].flagged
    assert _inputs(st, 1) == (0, 0, 0, 1)
    assert [list(_inputs(st, j)) for j in range(2)] == index_inputs(flagged_eth, ORACLE, st.pre)
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)


@pytest.mark.parametrize(
    ("forge", "name"),
    [
        ({BTC: {"index_price": 650_001}}, "post index 0 is the oracle's"),
        ({BTC: {"index_time_ms": ROUND_MS - 1}}, "post index time 0 is the oracle's, limb 0"),
        ({BTC: {"flagged": True}}, "post oracle flag 0 is the oracle's"),
    ],
    ids=["index", "time", "flag"],
)
def test_a_post_index_that_is_not_the_rounds_is_caught(
    trusted: OracleRound, forge: dict[str, dict[str, int | bool]], name: str
) -> None:
    """The operator publishes a post state whose BTC index (or its time, or its flag) is
    not what the signed round gives, with a post root to match: the verifier's public
    reading still comes from the round, and the pin refuses the header."""
    _refused_and_rejected(statement_from_files(_publish(trusted, forge)), name)


def test_a_flagged_markets_index_must_be_carried_over(flagged_eth: OracleRound) -> None:
    """ETH is flagged (one family): the operator takes the lone family's price as the index
    anyway, clearing the flag. Both the index and the flag pins refuse it."""
    forge: dict[str, dict[str, int | bool]] = {
        ETH: {"index_price": 350_000, "index_time_ms": ROUND_MS, "flagged": False}
    }
    st = statement_from_files(_publish(flagged_eth, forge))
    _refused_and_rejected(st, "post index 1 is the oracle's")


@pytest.mark.parametrize(
    ("offset", "name"),
    [
        (8, "post index 0 is the oracle's"),
        (10, "post index time 0 is the oracle's, limb 1"),
        (11, "post oracle flag 0 is the oracle's"),
    ],
    ids=["index", "time", "flag"],
)
def test_a_public_reading_that_is_not_the_post_headers_is_caught(
    trusted: OracleRound, offset: int, name: str
) -> None:
    """The other way round: the honest post state against a public reading one off (what
    the contract would derive from another round)."""
    st = statement_from_files(_publish(trusted))
    public = list(st.public_inputs)
    at = PUBLIC_HEADER + PUBLIC_PER_MARKET * 0 + offset
    public[at] = (public[at] + 1) % P
    _refused_and_rejected(replace(st, public_inputs=tuple(public)), name)
