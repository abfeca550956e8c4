"""The settlement AIR: an honest batch satisfies every constraint; each forgery of the
settlement statements (DESIGN.md "The batch statement", 3, 5 and 6) is refused by the
prover or breaks a constraint that names the statement it enforces."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.air import ConstraintViolation
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air import settle_air
from sealbatch.settlement.batch_air.limbs import DIGIT
from sealbatch.settlement.batch_air.settle_witness import (
    SettleStatement,
    settle_inputs,
)
from sealbatch.settlement.blocks import BlockTrade
from sealbatch.settlement.ledger import LedgerState
from sealbatch.settlement.params import SettlementConfig, default_config
from sealbatch.settlement.roots import state_root
from sealbatch.settlement.transition import BatchWitness, apply_batch
from tests.settlement.batch_air_helpers import (
    PRICES,
    SETTLE_CHALLENGES,
    SETTLE_ROWS,
    check_settle,
    column,
    settle_trace,
)
from tests.settlement.conftest import ORACLE, TRADERS, funded, key, make_batch, oracle_round


def _config() -> SettlementConfig:
    cfg = default_config()
    # funding steps every batch, so the second batch moves collateral by position × ΔF
    return replace(cfg, markets=tuple(replace(m, funding_interval_batches=1) for m in cfg.markets))


@pytest.fixture(scope="module")
def batch() -> tuple[BatchWitness, SettlementConfig]:
    """Two batches; the second has fills in both markets, funding on the positions the
    first opened, a forfeit, deposits (one opening an account) and a withdrawal."""
    cfg = _config()
    state = funded([10**10] * 6, cfg)
    witness = None
    for b in (1, 2):
        orders = [
            (TRADERS[0], Order("BTC-PERP", Side.BUY, 651_000, 7)),
            (TRADERS[1], Order("BTC-PERP", Side.SELL, 649_000, 4)),
            (TRADERS[2], Order("BTC-PERP", Side.SELL, 649_500, 3)),
            (TRADERS[3], Order("ETH-PERP", Side.BUY, 351_000, 5)),
            (TRADERS[0], Order("ETH-PERP", Side.SELL, 349_000, 5)),
        ]
        result = make_batch(b, orders, cfg, forfeits=[(TRADERS[4], "ETH-PERP", 10**6)], pre=state)
        prices = {m: p + 500 * b for m, p in PRICES.items()}
        state, witness = apply_batch(
            state,
            result,
            oracle_round(b, 1_000 * b, prices),
            cfg,
            ORACLE,
            deposits=[(key(5 + b), 5_000_000), (key(1), 7)],
            withdrawals=[(key(5), 1_000)],
        )
    assert witness is not None
    return witness, cfg


def _forged_post(w: BatchWitness, post: LedgerState) -> BatchWitness:
    """The witness of an operator who publishes ``post`` as the batch's outcome."""
    return replace(w, post=post, post_root=state_root(post))


def _caught_against_the_replay(w: BatchWitness, cfg: SettlementConfig, post: LedgerState) -> None:
    """The operator's trace for a published ``post`` is checked against the verifier's
    tables (from its replay of the batch: no adjustment explains ``post``): the account
    whose change no flow explains needs an adjustment the adjustments table does not
    send (statement 3's collateral or position identity holds only with it)."""
    _, replayed = settle_inputs(w, cfg)
    st, sw = settle_inputs(_forged_post(w, post), cfg)
    assert sw.adjust_rows() and not replayed.adjust_rows()
    main, _ = settle_air.generate(st, sw, SETTLE_ROWS)
    air = settle_air.build(SETTLE_ROWS, settle_air.public_inputs(st, replayed))
    air.check_trace(main)  # the identities hold with the operator's adjustment ...
    challenges = air.challenge_values(SETTLE_CHALLENGES)
    with pytest.raises(ConstraintViolation, match="bus: Σ = −public sum"):  # ... not sent
        air.check_trace(main, air.build_aux(main, challenges), challenges)
    # without the adjustment, statement 3's identity itself fails
    bare = replace(sw, adjust=(0,) * len(sw.adjust), adjust_positions=0 * sw.adjust_positions)
    with pytest.raises((ConstraintViolation, ValueError), match=r"statement 3|carr"):
        main, _ = settle_air.generate(st, bare, SETTLE_ROWS, refuse=False)
        air.check_trace(main)


def test_honest_batch_satisfies_the_settlement_air(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    w, cfg = batch
    st, sw = settle_inputs(w, cfg)
    # the batch exercises what the AIR proves
    assert st.n_post == st.n_pre + 1 and not st.has_adjustments
    assert all(m.delta_funding != 0 for m in st.markets) and np.any(sw.positions_pre != 0)
    assert any(sw.forfeits) and any(sw.withdrawals) and len(sw.fills) >= 4
    air, main = settle_trace(st, sw)
    check_settle(air, main)


def test_statement_round_trips_through_field_elements(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    w, cfg = batch
    st, _ = settle_inputs(w, cfg)
    again, used = SettleStatement.from_elements(st.to_elements())
    assert again == st and used == len(st.to_elements())


def test_collateral_moved_by_the_wrong_amount_is_caught_by_statement_3(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """The operator publishes a post-state moving 1,000 units from one trader to
    another (value conserved, roots consistent with what it publishes)."""
    w, cfg = batch
    c = w.post.collateral.copy()
    c[0] += 1_000
    c[3] -= 1_000
    _caught_against_the_replay(w, cfg, w.post.with_arrays(collateral=c))


def test_a_wrong_fee_is_refused_and_caught_by_statement_3(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    w, cfg = batch
    st, sw = settle_inputs(w, cfg)
    cheap = replace(sw.fills[0], fee=sw.fills[0].fee - 1)
    forged = replace(sw, fills=(cheap, *sw.fills[1:]))
    with pytest.raises(ValueError, match="statement 3"):
        settle_air.generate(st, forged, SETTLE_ROWS)
    # a prover writing the trace by hand: one fee digit lowered on the first fill row
    air, main = settle_trace(st, sw)
    main[column(air, "fill.fee[0]"), 0] -= 1
    with pytest.raises(ConstraintViolation, match="statement 3: fee rounded up"):
        check_settle(air, main)


def test_a_wrong_funding_payment_is_caught_by_statement_3(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """Trader 0 (long BTC before the batch) is published as not having paid funding."""
    w, cfg = batch
    j = w.pre.markets.index("BTC-PERP")
    row = w.post.row(key(0))
    payment = int(w.pre.positions[row, j]) * w.funding["BTC-PERP"].delta_index
    assert payment != 0
    c = w.post.collateral.copy()
    c[row] += payment
    insurance = w.post.insurance_fund - payment  # keeps Σ value as it was
    _caught_against_the_replay(w, cfg, w.post.with_arrays(collateral=c, insurance_fund=insurance))


def test_a_position_moved_without_a_fill_is_caught_by_statement_3(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    w, cfg = batch
    p = w.post.positions.copy()
    p[0, 0] += 1
    p[1, 0] -= 1
    _caught_against_the_replay(w, cfg, w.post.with_arrays(positions=p))


def test_fills_other_than_the_published_ones_are_caught(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """A trace that settles a fill on another account than the published fill names:
    the fill tuples it receives are not the ones the verifier sends, so the bus fails."""
    w, cfg = batch
    st, sw = settle_inputs(w, cfg)
    _, main = settle_trace(st, sw)
    moved = replace(sw.fills[0], account=(sw.fills[0].account + 1) % st.n_post)
    published = settle_air.public_inputs(st, replace(sw, fills=(moved, *sw.fills[1:])))
    air = settle_air.build(SETTLE_ROWS, published)
    air.check_trace(main)
    challenges = air.challenge_values(SETTLE_CHALLENGES)
    with pytest.raises(ConstraintViolation, match="bus: Σ = −public sum"):
        air.check_trace(main, air.build_aux(main, challenges), challenges)


def test_value_created_is_caught_by_statement_5(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """The published post-state grows the fee pool by 10^6 that no account paid: the
    prover refuses, and a trace of the honest batch fails the forged statement's
    conservation (or the fee pool's own check)."""
    w, cfg = batch
    st, sw = settle_inputs(_forged_post(w, replace(w.post, fee_pool=w.post.fee_pool + 10**6)), cfg)
    with pytest.raises(ValueError, match="statement 5: expected the fee pool to move"):
        settle_air.generate(st, sw, SETTLE_ROWS)
    honest_st, honest_sw = settle_inputs(w, cfg)
    _, main = settle_trace(honest_st, honest_sw)
    air = settle_air.build(SETTLE_ROWS, settle_air.public_inputs(st, sw))
    with pytest.raises(ConstraintViolation, match="statement 5"):
        check_settle(air, main)


def test_a_wrong_post_root_is_caught_by_statement_6(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """An honest trace proved against the root of a published post-state that credits
    trader 2 with 5 units more."""
    w, cfg = batch
    st, sw = settle_inputs(w, cfg)
    c = w.post.collateral.copy()
    c[2] += 5
    other = state_root(w.post.with_arrays(collateral=c))
    from sealbatch.crypto import poseidon2

    forged = replace(st, post_root=tuple(int(x) for x in poseidon2.digest_from_bytes(other)))
    main, _ = settle_air.generate(st, sw, SETTLE_ROWS)
    air = settle_air.build(SETTLE_ROWS, settle_air.public_inputs(forged, sw))
    with pytest.raises(ConstraintViolation, match="statement 6: state root 1"):
        check_settle(air, main)


def test_a_wrong_pre_state_is_caught_by_statement_6(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """The prover settles from a pre-state that gave trader 1 10^6 more collateral
    (and the post-state accordingly): every flow adds up, but the pre-root does not."""
    w, cfg = batch
    honest, _ = settle_inputs(w, cfg)
    pre_c = w.pre.collateral.copy()
    pre_c[1] += 10**6
    post_c = w.post.collateral.copy()
    post_c[1] += 10**6
    forged = replace(
        w,
        pre=w.pre.with_arrays(collateral=pre_c),
        post=w.post.with_arrays(collateral=post_c),
        post_root=state_root(w.post.with_arrays(collateral=post_c)),
    )
    st, sw = settle_inputs(forged, cfg)
    st = replace(st, pre_root=honest.pre_root, fee_pool_pre=honest.fee_pool_pre)
    air, main = settle_trace(st, sw)
    with pytest.raises(ConstraintViolation, match="statement 6: state root 0"):
        check_settle(air, main)


def test_a_limb_out_of_range_is_caught_by_the_range_check(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """An account's post collateral written with a digit of 2^12 + d and the next digit
    one lower (and the carries of its two digit identities one higher): the same
    integer, the same leaf, every polynomial constraint holds — only the 12-bit range
    check (a lookup on the bus) refuses it. A digit of p − 1 (a wrapped −1) is refused
    the same way."""
    w, cfg = batch
    st, sw = settle_inputs(w, cfg)
    air, main = settle_trace(st, sw)
    lo, hi = column(air, "acct.c_post[0]"), column(air, "acct.c_post[1]")
    row = next(r for r in range(st.n_post) if main[hi, r] > 0)
    assert main[column(air, "acct.c_post.sign"), row] == 0
    main[lo, row] += DIGIT
    main[hi, row] -= 1

    def shift(name: str, by: int) -> None:  # a carry is a field element (−1 is p − 1)
        main[column(air, name), row] = (int(main[column(air, name), row]) + by) % P

    shift("acct.carry[0][0]", 1)  # the collateral identity's carry
    shift("acct.acc_carry[0]", 1)  # the conservation accumulator's
    shift("health.index.d_carry[0][0]", 1)  # the health section's equity identity
    shift("pen.e_carry[0][0]", -1)  # the equity before penalties
    air.check_trace(main)  # every polynomial constraint still holds
    challenges = air.challenge_values(SETTLE_CHALLENGES)
    with pytest.raises(ConstraintViolation, match="bus: Σ = −public sum"):
        air.check_trace(main, air.build_aux(main, challenges), challenges)
    main[lo, row] = P - 1
    with pytest.raises(ConstraintViolation):
        check_settle(air, main)


def test_a_forfeit_not_charged_is_caught_by_statement_3(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """The trace leaves out the forfeited bond the published flows charge (its withdrawal
    digit sums without the charge's digits, the account's collateral explained by an
    adjustment the verifier's table does not send)."""
    w, cfg = batch
    st, sw = settle_inputs(w, cfg)
    public = settle_air.public_inputs(st, sw)
    assert sw.forfeit_digit_sums().any()
    spared = replace(
        sw,
        forfeit_digits=np.zeros_like(sw.forfeit_digit_sums()),
        adjust=tuple(a - f for a, f in zip(sw.adjust, sw.forfeits, strict=True)),
    )
    main, _ = settle_air.generate(st, spared, SETTLE_ROWS)
    with pytest.raises(ConstraintViolation, match=r"statement 3|bus"):
        check_settle(settle_air.build(SETTLE_ROWS, public), main)


@pytest.mark.slow
def test_settlement_proof_verifies_and_binds_its_statement(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """A real STARK of the honest batch verifies; the same proof against a statement
    with another post-state root is rejected."""
    from sealbatch.crypto import poseidon2
    from sealbatch.crypto.exceptions import VerificationError
    from sealbatch.crypto.proof import StarkProof
    from sealbatch.crypto.prover import prove
    from sealbatch.crypto.verifier import verify_proof

    w, cfg = batch
    st, sw = settle_inputs(w, cfg)
    air, main = settle_trace(st, sw)
    data = prove(air, main).to_bytes()
    report = verify_proof(air, StarkProof.from_bytes(data))
    assert report.conjectured >= 100
    c = w.post.collateral.copy()
    c[0] += 1
    other = poseidon2.digest_from_bytes(state_root(w.post.with_arrays(collateral=c)))
    forged = replace(st, post_root=tuple(int(x) for x in other))
    proof = StarkProof.from_bytes(data)
    with pytest.raises(VerificationError):
        verify_proof(
            settle_air.build(SETTLE_ROWS, settle_air.public_inputs(forged, sw)),
            replace(proof, public_inputs=settle_air.public_inputs(forged, sw)),
        )


@pytest.fixture(scope="module")
def block_batch() -> tuple[BatchWitness, SettlementConfig]:
    """A batch with an RFQ block beside the auction (its fills and price transfer are
    settled like fills and transfers, not as adjustments)."""
    cfg = _config()
    state = funded([10**10] * 4, cfg)
    orders = [
        (TRADERS[0], Order("BTC-PERP", Side.BUY, 650_500, 4)),
        (TRADERS[1], Order("BTC-PERP", Side.SELL, 649_500, 4)),
    ]
    result = make_batch(1, orders, cfg)
    block = BlockTrade(bytes(range(32)), "BTC-PERP", TRADERS[2], TRADERS[3], 651_000, 6, 1)
    _, witness = apply_batch(
        state, result, oracle_round(1, 1_000, PRICES), cfg, ORACLE, blocks=[block]
    )
    assert witness.blocks
    return witness, cfg


def test_a_batch_with_a_block_satisfies_the_settlement_air(
    block_batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    w, cfg = block_batch
    st, sw = settle_inputs(w, cfg)
    assert not st.has_adjustments and not any(sw.adjust) and not np.any(sw.adjust_positions)
    blocks = [f for f in sw.fills if f.block_price]
    assert len(blocks) == 2 and {f.transfer for f in blocks} == {-6_000, 6_000}
    assert sw.block_digits.any()
    air, main = settle_trace(st, sw)
    check_settle(air, main)


def test_an_adjustment_other_than_the_replayed_one_is_caught_by_the_adjust_table(
    block_batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """In a batch with a block, the operator publishes a post-state that moves 1,000 units
    more from the block's buyer to its seller: the trace's adjustments are not the ones
    the verifier's replay publishes (statement 3, its adjustments table: none)."""
    w, cfg = block_batch
    _, honest_sw = settle_inputs(w, cfg)
    c = w.post.collateral.copy()
    c[w.post.row(key(2))] -= 1_000
    c[w.post.row(key(3))] += 1_000
    st, sw = settle_inputs(_forged_post(w, w.post.with_arrays(collateral=c)), cfg)
    main, _ = settle_air.generate(st, sw, SETTLE_ROWS)
    air = settle_air.build(SETTLE_ROWS, settle_air.public_inputs(st, honest_sw))
    air.check_trace(main)  # every polynomial constraint holds ...
    challenges = air.challenge_values(SETTLE_CHALLENGES)
    with pytest.raises(ConstraintViolation, match="bus: Σ = −public sum"):  # ... not the bus
        air.check_trace(main, air.build_aux(main, challenges), challenges)
    assert honest_sw.adjust_rows() != sw.adjust_rows()


def test_a_deposit_credited_to_another_account_is_caught_by_the_transfers_table(
    batch: tuple[BatchWitness, SettlementConfig],
) -> None:
    """The operator credits trader 1's deposit of 7 to trader 2 (its published post-state
    says so; value is conserved): the trace's transfers are not the published ones."""
    w, cfg = batch
    _, honest_sw = settle_inputs(w, cfg)
    c = w.post.collateral.copy()
    c[w.post.row(key(1))] -= 7
    c[w.post.row(key(2))] += 7
    forged = replace(
        _forged_post(w, w.post.with_arrays(collateral=c)),
        deposits=tuple((key(2) if k == key(1) else k, a) for k, a in w.deposits),
    )
    st, sw = settle_inputs(forged, cfg)
    assert not any(sw.adjust)  # the forged flows explain every account's change
    main, _ = settle_air.generate(st, sw, SETTLE_ROWS)
    air = settle_air.build(SETTLE_ROWS, settle_air.public_inputs(st, honest_sw))
    air.check_trace(main)
    challenges = air.challenge_values(SETTLE_CHALLENGES)
    with pytest.raises(ConstraintViolation, match="bus: Σ = −public sum"):
        air.check_trace(main, air.build_aux(main, challenges), challenges)
