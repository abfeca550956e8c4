"""State roots: exact limb encoding, leaf layout, root sensitivity, account proofs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.batch import RestingOrder
from sealbatch.crypto import poseidon2
from sealbatch.crypto.exceptions import VerificationError
from sealbatch.settlement.errors import SettlementError
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.roots import (
    ACCOUNT_DOMAIN,
    account_leaves,
    account_proof,
    decode_signed,
    encode_signed,
    header_elements,
    state_root,
    verify_account_proof,
)
from tests.settlement.conftest import funded, key


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20))
def test_signed_encoding_round_trips_and_fits_the_field(values: list[int]) -> None:
    enc = encode_signed(np.array(values, dtype=np.int64))
    assert [decode_signed(row) for row in enc] == values
    assert int(enc.max()) < 1 << 24
    for v, row in zip(values, enc.tolist(), strict=True):
        assert row[0] == (1 if v < 0 else 0)


def _state() -> LedgerState:
    s = funded([5_000_000, 7_000_000, 1])
    pos = np.array([[3, -2], [-3, 0], [0, 2]], dtype=np.int64)
    ms = tuple(
        replace(m, mark_price=100 + j, funding_index=-5) for j, m in enumerate(s.market_states)
    )
    return s.with_arrays(positions=pos, market_states=ms, fee_pool=11, insurance_fund=12)


def test_leaf_layout() -> None:
    s = _state()
    leaves = account_leaves(s)
    assert leaves.shape == (3, 14 + 4 * 2)
    row = leaves[0].tolist()
    assert row[0] == ACCOUNT_DOMAIN
    addr = int(key(0).address, 16)
    assert row[1:8] == [(addr >> (24 * k)) & 0xFFFFFF for k in range(7)]
    assert row[8] == 0 and row[9] == 0  # subaccount, portfolio
    assert decode_signed(row[10:14]) == 5_000_000
    assert decode_signed(row[14:18]) == 3 and decode_signed(row[18:22]) == -2
    assert int(leaves.max()) < poseidon2.P


def test_root_matches_an_independent_scalar_recomputation() -> None:
    s = _state()
    leaves = [poseidon2.hash_elements(np.array(r, dtype=np.uint64)) for r in account_leaves(s)]
    level = [*leaves, poseidon2.EMPTY_DIGEST]  # 3 accounts → depth 2
    while len(level) > 1:
        level = [poseidon2.compress(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    header = poseidon2.hash_elements(np.array(header_elements(s), dtype=np.uint64))
    want = poseidon2.digest_to_bytes(poseidon2.compress(level[0], header))
    assert state_root(s) == want


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.with_arrays(collateral=s.collateral + np.array([0, 0, 1])),
        lambda s: s.with_arrays(positions=s.positions * np.array([1, -1])),
        lambda s: s.with_arrays(portfolio=np.array([False, True, False])),
        lambda s: s.with_arrays(fee_pool=s.fee_pool + 1),
        lambda s: s.with_arrays(insurance_fund=s.insurance_fund - 1),
        lambda s: s.with_arrays(socialised_loss=1),
        lambda s: s.with_arrays(batch_id=7),
        lambda s: s.with_arrays(
            market_states=(replace(s.market_states[0], funding_index=-6), s.market_states[1])
        ),
        lambda s: s.with_arrays(
            market_states=(s.market_states[0], replace(s.market_states[1], protective=True))
        ),
    ],
)
def test_root_binds_every_field(change: object) -> None:
    s = _state()
    assert state_root(change(s)) != state_root(s)  # type: ignore[operator]


def test_account_proof_verifies_and_tampering_fails() -> None:
    s = _state()
    root = state_root(s)
    for i in range(3):
        proof = account_proof(s, key(i))
        verify_account_proof(root, proof)
    proof = account_proof(s, key(1))
    assert proof.collateral == 7_000_000 and proof.positions() == [-3, 0]
    leaf = list(proof.leaf)
    leaf[13] += 1  # claim more collateral
    with pytest.raises(VerificationError):
        verify_account_proof(root, replace(proof, leaf=tuple(leaf)))
    with pytest.raises(VerificationError):
        verify_account_proof(root, replace(proof, index=0))


def test_empty_ledger_has_a_root() -> None:
    from sealbatch.settlement.ledger import empty_state
    from sealbatch.settlement.params import DEFAULT_CONFIG

    assert len(state_root(empty_state(DEFAULT_CONFIG))) == 32


def _with_pending(s: LedgerState) -> LedgerState:
    from sealbatch.auction.batch import RestingOrder
    from sealbatch.auction.orders import Order, Side, TimeInForce
    from sealbatch.settlement.ledger import LiquidationOrder

    liq = LiquidationOrder(
        key(1), RestingOrder(b"\xaa" * 32, key(1).address, Order("BTC-PERP", Side.BUY, 110, 3), 8)
    )
    rest = RestingOrder(
        b"\x07" * 32, key(0).address, Order("ETH-PERP", Side.SELL, 99, 4, TimeInForce.GTC), 6
    )
    return replace(s, pending_liquidations=(liq,), resting_orders=(rest,))


def test_pending_order_record_layout() -> None:
    from sealbatch.auction.commitment import bytes32_elements, market_code
    from sealbatch.settlement.roots import (
        PENDING_DOMAIN,
        PENDING_ORDER_SIZE,
        pending_elements,
        pending_order_elements,
        pending_orders,
    )

    s = _with_pending(_state())
    (liq, sub_l, is_l), (rest, sub_r, is_r) = pending_orders(s)
    assert (is_l, is_r) == (True, False) and sub_l == key(1).subaccount and sub_r == 0
    rec = pending_order_elements(liq, sub_l, is_l)
    assert len(rec) == PENDING_ORDER_SIZE == 24
    assert rec[:5] == [1, market_code("BTC-PERP"), 0b0011, 110, 3]  # buy, has limit
    # origin batch in two 24-bit limbs; 0xaaaaaaaa = p + 0x32aaaaa9: each word's quotient 1
    assert rec[5:7] == [8, 0] and rec[7] == sum(3**i for i in range(8))
    addr = int(key(1).address, 16)
    assert rec[8:15] == [(addr >> (24 * k)) & 0xFFFFFF for k in range(7)] and rec[15] == sub_l
    assert rec[16:] == bytes32_elements(b"\xaa" * 32) == [0xAAAAAAAA - poseidon2.P] * 8
    rec = pending_order_elements(rest, sub_r, is_r)
    assert rec[0] == 0 and rec[2] == 0b0110 and rec[7] == 0  # sell, has limit, GTC
    assert max(rec) < poseidon2.P
    # the digest's preimage: a count block, then the records in root order, whole blocks
    pre = pending_elements(s)
    assert pre[:8] == [PENDING_DOMAIN, 1, 1, 0, 0, 0, 0, 0]
    assert pre[8:] == pending_order_elements(liq, sub_l, True) + rec


def test_header_layout_puts_the_pending_digest_in_its_last_block() -> None:
    from sealbatch.settlement.roots import (
        HEADER_FIELDS,
        header_blocks,
        market_field,
        pending_digest,
    )

    s = _with_pending(_state())
    h = header_elements(s)
    m = len(s.market_states)
    assert len(h) == 8 * header_blocks(m)
    assert h[-8:] == [int(x) for x in pending_digest(s)]
    assert h[HEADER_FIELDS["n"] + 1] == s.size and h[HEADER_FIELDS["depth"]] == 2
    ms = s.market_states[1]
    assert h[market_field(1, "mark") + 1] == ms.mark_price & 0xFFFFFF
    assert h[market_field(1, "flagged")] == int(ms.flagged)


def test_pending_order_out_of_bounds_is_refused() -> None:
    from sealbatch.auction.orders import Order, Side
    from sealbatch.settlement.roots import pending_order_elements

    rest = RestingOrder(b"\x07" * 32, key(0).address, Order("ETH-PERP", Side.SELL, 99, 4), 1 << 48)
    with pytest.raises(SettlementError, match="2\\^48"):
        pending_order_elements(rest)


@pytest.mark.parametrize(
    "tamper",
    [
        "drop_liquidation",
        "shrink_liquidation",
        "move_liquidation_limit",
        "add_liquidation",
        "drop_rest",
        "grow_rest",
        "rest_to_other_trader",
        "swap_kinds",
    ],
)
def test_root_binds_every_pending_order(tamper: str) -> None:
    """An operator who drops, adds or alters a pending order changes the state root."""
    from sealbatch.auction.batch import RestingOrder
    from sealbatch.settlement.ledger import LiquidationOrder

    s = _with_pending(_state())
    (lo,), (r,) = s.pending_liquidations, s.resting_orders
    o = lo.resting.order
    changed = {
        "drop_liquidation": replace(s, pending_liquidations=()),
        "shrink_liquidation": replace(
            s,
            pending_liquidations=(
                LiquidationOrder(lo.account, replace(lo.resting, order=o.with_quantity(2))),
            ),
        ),
        "move_liquidation_limit": replace(
            s,
            pending_liquidations=(
                LiquidationOrder(
                    lo.account, replace(lo.resting, order=replace(o, limit_price=109))
                ),
            ),
        ),
        "add_liquidation": replace(
            s,
            pending_liquidations=(
                lo,
                LiquidationOrder(key(2), RestingOrder(b"\xbb" * 32, key(2).address, o, 8)),
            ),
        ),
        "drop_rest": replace(s, resting_orders=()),
        "grow_rest": replace(s, resting_orders=(replace(r, order=r.order.with_quantity(5)),)),
        "rest_to_other_trader": replace(s, resting_orders=(replace(r, trader=key(2).address),)),
        "swap_kinds": replace(
            s,
            pending_liquidations=(LiquidationOrder(key(0), r),),
            resting_orders=(lo.resting,),
        ),
    }[tamper]
    assert state_root(changed) != state_root(s) != state_root(_state())
    assert header_elements(changed) != header_elements(s)


# ---- the configuration digest (settlement/config_digest.py, docs/formats.md)

#: docs/formats.md "The configuration digest": the embedded defaults' digest, as written by
#: this module's encoding when the header block was introduced (a change of the encoding or
#: of the defaults must show here and on the page).
DEFAULT_CONFIG_DIGEST = "0x0455015e8438cc76b1d20f669da0de5e405912738bf2df16b6b14e3e04b1ce43"


def test_config_digest_is_the_canonical_json_packed_three_bytes_per_element() -> None:
    import json
    from pathlib import Path

    from sealbatch.settlement.config_digest import (
        CONFIG_DOMAIN,
        config_digest,
        config_digest_elements,
        config_to_dict,
    )
    from sealbatch.settlement.params import DEFAULT_CONFIG

    text = json.dumps(config_to_dict(DEFAULT_CONFIG), sort_keys=True, separators=(",", ":"))
    raw = text.encode("ascii")
    elements = config_digest_elements(DEFAULT_CONFIG)
    assert elements[:2] == [CONFIG_DOMAIN, len(raw)] and CONFIG_DOMAIN == 0x5EA10007
    unpacked = b"".join(e.to_bytes(3, "little") for e in elements[2:])
    assert unpacked[: len(raw)] == raw and set(unpacked[len(raw) :]) <= {0}
    digest = config_digest(DEFAULT_CONFIG)
    assert list(digest) == [int(x) for x in poseidon2.hash_elements(elements)]
    as_bytes = "0x" + poseidon2.digest_to_bytes(np.array(digest, dtype=np.uint64)).hex()
    assert as_bytes == DEFAULT_CONFIG_DIGEST
    page = Path(__file__).resolve().parents[2] / "docs" / "formats.md"
    assert f"config_digest_default = {DEFAULT_CONFIG_DIGEST}" in page.read_text()


def _config_variants() -> dict[str, object]:
    """A config differing from the defaults in one term of each kind (market term, tier
    entry, correlation, global, the string-valued ``deleverage`` and ``tick_size``)."""
    from sealbatch.auction.markets import Market
    from sealbatch.settlement.params import (
        DEFAULT_CONFIG,
        DeleverageMode,
        MarginTier,
    )

    c = DEFAULT_CONFIG
    btc = c.markets[0]
    tiers = (MarginTier(btc.tiers[0].max_lots + 1, 1_000, 500), *btc.tiers[1:])
    market = Market(btc.market.market_id, "0.2 USD", btc.market.lot_size)
    return {
        "block_min_lots": replace(c, markets=(replace(btc, market=replace(
            btc.market, block_min_lots=btc.market.block_min_lots + 1)), *c.markets[1:])),
        "shock_bps": replace(c, markets=(replace(btc, shock_bps=1), *c.markets[1:])),
        "tier": replace(c, markets=(replace(btc, tiers=tiers), *c.markets[1:])),
        "tick_size": replace(c, markets=(replace(btc, market=replace(
            market, **{f: getattr(btc.market, f) for f in ("contract_multiplier",)})),
            *c.markets[1:])),
        "correlation": replace(c, correlation_bps=((10_000, 7_999), (7_999, 10_000))),
        "forfeit_bond": replace(c, forfeit_bond=1),
        "deleverage": replace(c, deleverage=DeleverageMode.SOCIALISE),
    }  # fmt: skip


@pytest.mark.parametrize("term", sorted(_config_variants()))
def test_root_binds_every_kind_of_config_term(term: str) -> None:
    from sealbatch.settlement.config_digest import config_digest
    from sealbatch.settlement.ledger import empty_state
    from sealbatch.settlement.params import DEFAULT_CONFIG

    other = _config_variants()[term]
    assert other != DEFAULT_CONFIG
    a, b = empty_state(DEFAULT_CONFIG), empty_state(other)  # type: ignore[arg-type]
    assert b.config_digest == config_digest(other)  # type: ignore[arg-type]
    assert a.config_digest != b.config_digest and state_root(a) != state_root(b)


def test_header_holds_the_config_digest_before_the_pending_digest() -> None:
    from sealbatch.settlement.roots import config_digest_at, header_blocks

    s = _state()
    h = header_elements(s)
    m = len(s.market_states)
    at = config_digest_at(m)
    assert at == len(h) - 16 == 8 * (header_blocks(m) - 2)
    assert h[at : at + 8] == list(s.config_digest)
    other = replace(s, config_digest=(1, 2, 3, 4, 5, 6, 7, 8))
    assert state_root(other) != state_root(s)


@pytest.mark.parametrize(
    "digest", [(), (0,) * 7, (poseidon2.P,) + (0,) * 7, (True,) + (0,) * 7], ids=str
)
def test_a_state_without_a_config_digest_is_refused(digest: tuple[int, ...]) -> None:
    with pytest.raises(SettlementError, match="config_digest: expected 8 field elements"):
        replace(_state(), config_digest=digest)
