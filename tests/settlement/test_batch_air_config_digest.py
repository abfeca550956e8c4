"""The configuration is carried (``batch_air/headers.py``, ``_declare_config``): the
post-state header's config digest block is the pre-state header's, element by element.
The digest is no public input: the verifier recomputes each root from its state file, its
``config`` included. Each forgery states roots that match the forged states (as a prover
choosing its own post-state would), is refused by the prover and rejected by the AIR
(``refuse=False``), naming the constraint."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.poseidon2 import digest_from_bytes, hash_elements
from sealbatch.settlement.batch_air.air import rows_for
from sealbatch.settlement.batch_air.prover import generate
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.config_digest import config_digest
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.params import DEFAULT_CONFIG
from sealbatch.settlement.publication import BatchPublication
from sealbatch.settlement.roots import (
    config_digest_at,
    header_blocks,
    header_elements,
    state_root,
)
from sealbatch.venue.demo import DemoConfig, demo_oracle, demo_settlement_config, run_demo
from tests.settlement.batch_air_helpers import (
    check_all,
    column,
    refused_and_rejected,
    statement_of,
    with_public,
)

#: Public inputs 3–10: the pre-state root, 11–18: the post-state root (8 elements each).
_PRE_ROOT, _POST_ROOT = 3, 11


@pytest.fixture(scope="module")
def statement() -> BatchStatement:
    """The demo's first batch (a batch with fills, under the demo's own rules)."""
    config = DemoConfig()
    settle, (oracle, _) = demo_settlement_config(config), demo_oracle(config.seed)
    b = next(iter(run_demo(config)))
    files = BatchPublication(b.result, b.oracle_round, b.pre_state, b.post_state).files(
        settle, oracle
    )
    return statement_of(files)


def _root_elements(state: LedgerState) -> list[int]:
    return [int(x) for x in digest_from_bytes(state_root(state))]


def _with_digest(st: BatchStatement, which: str, digest: tuple[int, ...]) -> BatchStatement:
    """``st`` whose ``which`` state carries ``digest``, with the public root to match."""
    state = replace(getattr(st, which), config_digest=digest)
    t, at = (0, _PRE_ROOT) if which == "pre" else (1, _POST_ROOT)
    headers = list(st.settle_witness.headers)
    headers[t] = tuple(int(x) for x in hash_elements(header_elements(state)))
    sw = replace(st.settle_witness, headers=(headers[0], headers[1]))
    forged = replace(st, **{which: state, "settle_witness": sw})
    return with_public(forged, at, _root_elements(state))


#: The bus's closing constraint: the config digest tuple sent is not the one received.
_UNBALANCED = r"bus: Σ = −public sum"


def _only_the_config_rows_differ(forged: BatchStatement) -> None:
    """The forged trace's two config digest rows hold different blocks (the unmatched
    send and receive), and every other row of both headers holds its honest values."""
    air, trace = generate(forged, rows_for(forged), refuse=False)
    h = header_blocks(len(forged.markets))
    blocks = [column(air, f"hdr.b{k}") for k in range(8)]
    pre, post = trace[blocks, h - 2], trace[blocks, 2 * h - 2]
    assert pre.tolist() != post.tolist()
    assert pre.tolist() == list(forged.pre.config_digest)
    assert post.tolist() == list(forged.post.config_digest)


def test_the_config_digest_rows_carry_the_digest(statement: BatchStatement) -> None:
    st = statement
    assert st.pre.config_digest == st.post.config_digest != config_digest(DEFAULT_CONFIG)
    air, trace = generate(st, rows_for(st))
    check_all(air, trace)
    h = header_blocks(len(st.markets))
    cfg = trace[column(air, "hdr.cfg")]
    assert np.flatnonzero(cfg).tolist() == [h - 2, 2 * h - 2]
    assert config_digest_at(len(st.markets)) == 8 * (h - 2)
    blocks = [column(air, f"hdr.b{k}") for k in range(8)]
    for r in (h - 2, 2 * h - 2):
        assert [int(trace[c, r]) for c in blocks] == list(st.pre.config_digest)


@pytest.mark.parametrize("which", ["post", "pre"])
@pytest.mark.parametrize("element", [0, 7])
def test_a_state_under_other_rules_is_caught(
    statement: BatchStatement, which: str, element: int
) -> None:
    """The prover states a post-state (or starts from a pre-state) whose config digest
    differs in one element: the config digest tuple the pre header sends is not the one
    the post header receives."""
    digest = list(statement.pre.config_digest)
    digest[element] = (digest[element] + 1) % (15 * 2**27 + 1)
    forged = _with_digest(statement, which, tuple(digest))
    refused_and_rejected(forged, "config digest: expected the post-state's", _UNBALANCED)
    _only_the_config_rows_differ(forged)


def test_the_digest_of_other_rules_is_caught(statement: BatchStatement) -> None:
    """The post-state under the embedded defaults' rules instead of the demo's."""
    forged = _with_digest(statement, "post", config_digest(DEFAULT_CONFIG))
    refused_and_rejected(forged, "config digest", _UNBALANCED)
    _only_the_config_rows_differ(forged)


@pytest.mark.parametrize("row", ["moved", "dropped"])
def test_the_config_digest_row_is_pinned(statement: BatchStatement, row: str) -> None:
    """The prover moves the post header's config row selector to another row of the
    header (or drops it): the selector must be the row before each header's last."""
    st = statement
    air, trace = generate(st, rows_for(st))
    h = header_blocks(len(st.markets))
    forged = trace.copy()
    c = column(air, "hdr.cfg")
    forged[c, 2 * h - 2] = 0
    if row == "moved":
        forged[c, 2 * h - 3] = 1
    with pytest.raises(ConstraintViolation, match="cfg is a header's config digest row"):
        check_all(air, forged)
