"""The accounts section: one row per account, before and after the batch.

Row ``r`` holds account ``r`` of the post-state (the state tree's leaf
order; an account opened by a deposit in this batch has no pre-state and
its pre values are zero). What its constraints prove (statement numbers of
DESIGN.md, "The batch statement"):

* **6, roots** — the row hashes its pre- and post-state leaf exactly as
  :func:`sealbatch.settlement.roots.account_leaves` lays it out (Poseidon2
  sponge blocks sent to the permutation service) and sends each leaf to the
  tree section as node ``(tree, level 0, index r)``; rows past the account
  count send the all-zero padding leaf, up to ``2^depth``
  (:mod:`sealbatch.settlement.batch_air.tree` hashes up to the roots);
* **3, collateral and positions** — per market
  ``P1 = P0 + net + adjust_p`` and, in 12-bit digits with range-checked
  carries,

      C1 − C0 = deposit − withdrawal − Σ_m P0_m × ΔF_m
                − Σ_m net_m × price_m × multiplier_m − fees − penalty + adjust

  where ``net_m`` and ``fees`` are received from the fills section (the sum
  of this account's fills, each fee proved there), ``penalty`` is the
  liquidation penalty :mod:`.penalties` proves on the row, ``deposit`` and
  ``withdrawal`` are the digit sums of the account's transfers, received from
  the inputs digest's rows (:mod:`.inputs_digest`) — a forfeit's charge is a
  withdrawal digit sum too, received from the outputs digest's forfeit rows
  (:mod:`.digests`) —, and ``ΔF_m``, prices and
  multipliers are public; ``adjust`` and ``adjust_p`` (deficit cover, ADL,
  socialised loss) come from the adjustments table and are zero on a row
  that receives none (the program does not depend on whether the batch has
  adjustments);
* **5, conservation** — an accumulator of 7 digits sums ``C1 − C0`` down
  the rows from ``2^80`` and must end at ``2^80 + deposits − withdrawals −
  Δ fee pool − Δ insurance fund`` (public): Σ collateral + fee pool +
  insurance fund changes by exactly deposits − withdrawals.

Bounds (why nothing wraps): every digit is range-checked to 12 bits, every
sign is a bit; a digit position of the collateral identity sums at most
``6·2^12`` of single digits, ``2^24`` of fee digit sums (at most 2^12 fills
an account) and ``4·m`` products of two digits (``< 2^24`` each), so with
``m <= 4`` markets and carries below 2^17 each position stays below
``2^29.6 < p/2``. The deposit and withdrawal digit sums add at most
``2^30`` in absolute value (at most 2^18 transfers of 12-bit digits,
:mod:`.inputs_digest`; an RFQ block, four input rows, adds one digit of its
price transfer to its buyer's and one to its seller's sums, at two different
positions, :mod:`.fills`), and the forfeits' charges less than ``2^26`` (fewer than
2^14 forfeits of three 12-bit digits, :mod:`.digests`), so a position stays below
``2^29.6 + 2^30 + 2^26 < p``: an identity that holds mod p holds over the integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sealbatch.crypto import poseidon2
from sealbatch.crypto.expr import Column, Expr, const, pub, shift_rows
from sealbatch.settlement.batch_air.framework import TAG_ACCOUNT_ADDR
from sealbatch.settlement.batch_air.limbs import (
    AMOUNT_DIGITS,
    DIGIT,
    carries,
    carry_columns,
    carry_equations,
    digits_of,
    signed_expr,
    split_signed,
    to_field,
)
from sealbatch.settlement.batch_air.penalties import (
    AccountPenaltyColumns,
    account_penalty_section,
    account_penalty_trace,
    position_terms,
)
from sealbatch.settlement.batch_air.pools import CoverColumns, cover_columns, cover_trace
from sealbatch.settlement.batch_air.section import (
    TAG_ACCOUNT_FILLS,
    TAG_ADJUST,
    TAG_NODE,
    TAG_TRANSFERS,
    Section,
    prefix_columns,
)
from sealbatch.settlement.batch_air.settle_witness import (
    DerivedIndex,
    SettleStatement,
    SettleWitness,
)
from sealbatch.settlement.roots import ACCOUNT_DOMAIN

__all__ = ["ACC_DIGITS", "ACC_OFFSET", "AccountColumns", "account_section", "account_trace"]

#: The conservation accumulator: 7 digits (84 bits), starting at 2^80 so that every
#: partial sum of collateral changes stays non-negative.
ACC_DIGITS = 7
ACC_OFFSET = 1 << 80
#: Digits of a public per-market constant (price × multiplier < 2^40, |ΔF| < 2^60).
CONST_DIGITS = 5
_SMALL_CARRY = 1 << 11  # accumulator carries are tiny: carry + 2^11 is one 12-bit digit
_POSITION_DIGITS = 2  # |position| < 2^22: two digits; the leaf's upper limbs are 0


@dataclass(frozen=True)
class Signed:
    """A signed amount's columns: a sign bit and its magnitude's digits."""

    sign: Column
    digits: tuple[Column, ...]

    def value_digit(self, k: int) -> Expr:
        """The signed contribution at digit position ``k`` (degree 2)."""
        return signed_expr(self.sign, self.digits[k])

    def limb(self, k: int) -> Expr:
        """The state root's 24-bit limb ``k``: two digits (0 past the digits held)."""
        lo = 2 * k
        if lo >= len(self.digits):
            return const(0)
        if lo + 1 >= len(self.digits):
            return self.digits[lo]
        return self.digits[lo] + DIGIT * self.digits[lo + 1]

    def magnitude(self) -> Expr:
        """The magnitude as one field element (only for values below 2^24)."""
        out: Expr = const(0)
        for k, d in enumerate(self.digits):
            out = out + (DIGIT**k) * d
        return out

    def leaf(self) -> list[Expr]:
        """``[sign, l0, l1, l2]`` as :func:`sealbatch.settlement.roots.encode_signed`."""
        return [self.sign, self.limb(0), self.limb(1), self.limb(2)]


@dataclass(frozen=True)
class AccountColumns:
    """The section's columns (for trace generation)."""

    live: tuple[Column, Column]
    tree: tuple[Column, Column]
    identity: tuple[Column, ...]  # addr × 7, subaccount, portfolio
    collateral: tuple[Signed, Signed]
    positions: tuple[tuple[Signed, ...], tuple[Signed, ...]]
    has_fills: Column
    net: tuple[Column, ...]
    net_digits: tuple[Signed, ...]
    fee_sums: tuple[Column, ...]
    deposit: tuple[Column, ...]
    withdrawal: tuple[Column, ...]
    transfers: Column
    has_adjust: Column
    adjust: Signed
    adjust_positions: tuple[Column, ...]
    carries: tuple[Column, ...]
    leaf_blocks: tuple[tuple[tuple[Column, ...], ...], ...]  # [tree][block] → 16 outputs
    acc: tuple[Column, ...]
    acc_carries: tuple[Column, ...]
    pen_due: tuple[Column, ...]
    penalty: AccountPenaltyColumns
    cover: CoverColumns

    def paid(self, k: int) -> Expr:
        """Digit ``k`` of the deficit cover the insurance fund pays the account."""
        return self.cover.paid(k, self.penalty.capped, self.penalty.equity)


def _signed(sec: Section, name: str, digits: int) -> Signed:
    sign = sec.one(f"{name}.sign")
    sec.boolean(sign, f"{name}.sign")
    return Signed(sign, tuple(sec.digits(name, digits)))


def leaf_length(markets: int) -> int:
    return 14 + 4 * markets


def _blocks(markets: int) -> int:
    return -(-leaf_length(markets) // 8)


def account_section(sec: Section, st: SettleStatement, ix: DerivedIndex) -> AccountColumns:
    """Allocate the accounts section's columns and add its constraints.

    The statement's values are read from the public inputs at ``ix`` (the account counts,
    the derived digits of each market's constants and of the conservation target), so the
    constraints depend on the statement's shape only.
    """
    m = len(st.markets)
    live = (
        sec.prefix("acct.live_pre", pub(ix.n(0))),
        sec.prefix("acct.live_post", pub(ix.n(1))),
    )
    tree = (
        sec.prefix("acct.in_tree_pre", 1 << st.depth_pre),
        sec.prefix("acct.in_tree_post", 1 << st.depth_post),
    )
    sec.transition(live[0] * (1 - live[1]), "statement 6: an account before is an account after")
    for t in (0, 1):
        sec.transition(live[t] * (1 - tree[t]), "statement 6: every account is a leaf")
    identity = (*sec.alloc("acct.address", 7), sec.one("acct.sub"), sec.one("acct.portfolio"))
    # S8 order binding: each revealed order's trader looks its account row up here (its
    # address limbs and subaccount); ``orders`` counts them (commitment_hash.py).
    orders = sec.one("acct.orders")
    sec.transition(orders * (1 - live[1]), "S8 order binding: orders only on accounts")
    sec.bus.receive(TAG_ACCOUNT_ADDR, [sec.row, *identity[:8]], orders, "S8 order binding: address")
    coll = (_signed(sec, "acct.c_pre", AMOUNT_DIGITS), _signed(sec, "acct.c_post", AMOUNT_DIGITS))
    pos = tuple(
        tuple(_signed(sec, f"acct.p{t}[{j}]", _POSITION_DIGITS) for j in range(m)) for t in (0, 1)
    )
    for t, when in ((0, "pre"), (1, "post")):
        off = 1 - live[t]
        for v in (coll[t], *pos[t]):
            for c in (v.sign, *v.digits):
                sec.transition(off * c, f"statement 6: no {when} account, zero {when} values")

    # ---- fills, received as one sum per account from the fills section
    has_fills = sec.one("acct.has_fills")
    sec.boolean(has_fills, "acct.has_fills")
    sec.transition(has_fills * (1 - live[1]), "statement 3: fills only for accounts")
    net = tuple(sec.alloc("acct.net", m))
    net_digits = tuple(_signed(sec, f"acct.net[{j}]", 2) for j in range(m))
    fee_sums = tuple(sec.alloc("acct.fees", AMOUNT_DIGITS))
    due = tuple(sec.alloc("acct.pen_due", AMOUNT_DIGITS))
    for j in range(m):
        sec.transition(
            net[j] - signed_expr(net_digits[j].sign, net_digits[j].magnitude()),
            f"statement 3: net lots [{j}] in digits",
        )
    for c in (*net, *fee_sums, *due):
        sec.transition((1 - has_fills) * c, "statement 3: no fills, no lots and no fees")
    sec.bus.receive(
        TAG_ACCOUNT_FILLS, [sec.row, *net, *fee_sums, *due], has_fills, "account's fills"
    )

    # ---- transfers: each deposit and withdrawal of the inputs digest (inputs_digest.py),
    # looks its account up by address (``transfers`` counts; each forfeit, the outputs
    # digest's forfeit rows, looks its trader up in waivers.py) and sends the 12-bit
    # digits of its amount with multiplicity (a forfeit's charge as a withdrawal): digit
    # k of a deposit as (account, k), of a withdrawal or a forfeit's charge as
    # (account, 6 + k). The row receives
    # (account, k) ``deposit[k]`` times, so deposit[k] is the sum of digit k over the
    # account's deposits: below 2^30 (at most 2^18 transfers, digits from the digest's
    # preimage; the forfeits add less than 2^26), so the sum does not wrap (docs/stark.md).
    transfers = sec.one("acct.transfers")
    sec.transition(transfers * (1 - live[1]), "statement 3: transfers only to accounts")
    sec.bus.receive(
        TAG_ACCOUNT_ADDR, [sec.row, *identity[:8]], transfers, "statement 3: transfer address"
    )
    deposit = tuple(sec.alloc("acct.deposit", AMOUNT_DIGITS))
    withdrawal = tuple(sec.alloc("acct.withdrawal", AMOUNT_DIGITS))
    for base, sums, what in ((0, deposit, "deposits"), (AMOUNT_DIGITS, withdrawal, "withdrawals")):
        for k, total in enumerate(sums):
            sec.bus.receive(
                TAG_TRANSFERS, [sec.row, const(base + k)], total, f"statement 3: {what} digit {k}"
            )
    # ---- adjustments: a verifier table, received at most once
    # Its digits come from the table (each below 2^12 by construction) or are zero: no
    # range check of their own.
    adjust_sign = sec.one("acct.adjust.sign")
    sec.boolean(adjust_sign, "acct.adjust.sign")
    adjust = Signed(adjust_sign, tuple(sec.alloc("acct.adjust", AMOUNT_DIGITS)))
    adjust_p = tuple(sec.alloc("acct.adjust_p", m))
    has_adjust = sec.one("acct.has_adjust")
    for flag, values, tag, what in (
        (has_adjust, (adjust.sign, *adjust.digits, *adjust_p), TAG_ADJUST, "adjustment"),
    ):
        sec.boolean(flag, f"acct.has_{what}")
        for c in values:
            sec.transition((1 - flag) * c, f"statement 3: no published {what}, none applied")
        sec.bus.receive(tag, [sec.row, *values], flag, f"account's {what}")

    # ---- positions: P1 = P0 + net + adjust_p (one field equation: all below 2^24)
    for j in range(m):
        p0, p1 = pos[0][j], pos[1][j]
        sec.transition(
            signed_expr(p1.sign, p1.magnitude())
            - signed_expr(p0.sign, p0.magnitude())
            - net[j]
            - adjust_p[j],
            f"statement 3: position [{j}] moves by its fills",
        )

    # ---- liquidation penalties: due from the fills, capped by the equity before them;
    # deficit cover: min(deficit, fund) from the running insurance fund (pools.py)
    cover = cover_columns(sec)
    penalty = account_penalty_section(
        sec,
        st,
        ix,
        due,
        [coll[1].value_digit(k) for k in range(AMOUNT_DIGITS)],
        [adjust.value_digit(k) for k in range(AMOUNT_DIGITS)],
        [[pos[0][j].value_digit(a) for a in range(_POSITION_DIGITS)] for j in range(m)],
        [[net_digits[j].value_digit(a) for a in range(2)] for j in range(m)],
        cover,
    )

    # ---- collateral, digit by digit
    terms: list[list[Expr]] = [[] for _ in range(AMOUNT_DIGITS)]
    for k in range(AMOUNT_DIGITS):
        terms[k] += [
            coll[1].value_digit(k),
            -coll[0].value_digit(k),
            -deposit[k],
            withdrawal[k],
            fee_sums[k],
            penalty.charged(k),
            -cover.paid(k, penalty.capped, penalty.equity),
            -adjust.value_digit(k),
        ]
    for j in range(m):
        # price × multiplier and ±|ΔF|, digit by digit, from the public inputs
        df_sign = 1 - 2 * pub(ix.funding_sign(j))
        for a in range(2):
            for b in range(CONST_DIGITS):
                if a + b >= AMOUNT_DIGITS:
                    continue
                pm_b, df_b = pub(ix.price_mult(j) + b), pub(ix.funding(j) + b)
                terms[a + b].append(pm_b * net_digits[j].value_digit(a))
                terms[a + b].append((df_sign * df_b) * pos[0][j].value_digit(a))
    carry_exprs, carry_cols = sec.carries("acct.carry", AMOUNT_DIGITS - 1)
    for k, e in enumerate(carry_equations(terms, carry_exprs)):
        sec.transition(e, f"statement 3: collateral moves by its flows (digit {k})")

    # ---- leaves: the sponge of roots.account_leaves, pre and post
    blocks = _blocks(m)
    leaf_blocks = []
    for t in (0, 1):
        elements: list[Expr] = [const(ACCOUNT_DOMAIN), *identity, *coll[t].leaf()]
        for j in range(m):
            elements += pos[t][j].leaf()
        outs = [tuple(sec.alloc(f"acct.leaf{t}.block{b}", 16)) for b in range(blocks)]
        for b in range(blocks):
            rate: list[Expr] = list(elements[8 * b : 8 * b + 8])
            rate += [const(0)] * (8 - len(rate))
            cap: list[Expr] = (
                [const(len(elements)), *[const(0)] * 7] if b == 0 else list(outs[b - 1][8:])
            )
            sec.perm(rate + cap, outs[b], live[t], f"statement 6: leaf {t} block {b}")
        digest = outs[-1][:8]
        for k, d in enumerate(digest):
            sec.transition((1 - live[t]) * d, f"statement 6: padding leaf {t} is zero [{k}]")
        sec.bus.send(TAG_NODE, [const(t), const(0), sec.row, *digest], tree[t], f"leaf {t}")
        leaf_blocks.append(tuple(outs))

    # ---- conservation: acc = 2^80 + Σ_rows (C1 − C0), ending at the public target
    acc = tuple(sec.digits("acct.acc", ACC_DIGITS))
    acc_c = tuple(sec.alloc("acct.acc_carry", ACC_DIGITS - 1))
    for i, c in enumerate(acc_c):
        sec.range12(c + _SMALL_CARRY, f"acct.acc_carry[{i}]")

    def delta(k: int, nxt: bool) -> Expr:
        if k >= AMOUNT_DIGITS:
            return const(0)
        d1, d0 = coll[1].value_digit(k), coll[0].value_digit(k)
        return shift_rows(d1 - d0) if nxt else d1 - d0

    step: list[list[Expr | int]] = [
        [delta(k, True), acc[k], -acc[k].next] for k in range(ACC_DIGITS)
    ]
    for k, e in enumerate(carry_equations(step, [c.next for c in acc_c])):
        sec.transition(e, f"statement 5: conservation accumulator (digit {k})")
    offset = digits_of([ACC_OFFSET], ACC_DIGITS)[:, 0]
    first: list[list[Expr | int]] = [
        [delta(k, False), int(offset[k]), -acc[k]] for k in range(ACC_DIGITS)
    ]
    for k, e in enumerate(carry_equations(first, list(acc_c))):
        sec.boundary(0, e, f"statement 5: conservation accumulator starts at 2^80 (digit {k})")
    for k in range(ACC_DIGITS):
        sec.boundary(-1, acc[k] - pub(ix.target() + k), f"statement 5: value conserved (digit {k})")

    return AccountColumns(
        live=live,
        tree=tree,
        identity=identity,
        collateral=coll,
        positions=pos,  # type: ignore[arg-type]
        has_fills=has_fills,
        net=net,
        net_digits=net_digits,
        fee_sums=fee_sums,
        deposit=deposit,
        withdrawal=withdrawal,
        transfers=transfers,
        has_adjust=has_adjust,
        adjust=adjust,
        adjust_positions=adjust_p,
        carries=tuple(carry_cols),
        leaf_blocks=tuple(leaf_blocks),
        acc=acc,
        acc_carries=acc_c,
        pen_due=due,
        penalty=penalty,
        cover=cover,
    )


def _const_digits(value: int) -> list[int]:
    if not 0 <= value < 1 << (12 * CONST_DIGITS):
        raise ValueError(f"expected a market constant below 2^60, got {value}")
    return [int(d) for d in digits_of([value], CONST_DIGITS)[:, 0]]


# --------------------------------------------------------------------------
# Trace generation (prover side)
# --------------------------------------------------------------------------


def _put_signed(
    main: np.ndarray, s: Signed, values: np.ndarray | list[int], n: int
) -> tuple[np.ndarray, np.ndarray]:
    sign, digits = split_signed(values, len(s.digits))
    main[s.sign.index, :n] = sign
    for k, c in enumerate(s.digits):
        main[c.index, :n] = digits[k]
    return sign, digits


def account_trace(
    main: np.ndarray,
    cols: AccountColumns,
    st: SettleStatement,
    sw: SettleWitness,
    fee_sums: np.ndarray,
    perm_inputs: list[np.ndarray],
    due_sums: np.ndarray | None = None,
    *,
    refuse: bool = True,
) -> None:
    """Write the section's honest values into ``main`` (``(C, N)`` uint64, zero-filled).

    Args:
        fee_sums: ``(6, n)`` per-account sums of the fee digits of its fills.
        due_sums: ``(6, n)`` per-account sums of the liquidation penalty digits of its
            fills (none: zeros).
        refuse: ``False`` writes a liquidation penalty that breaks its rule
            (:func:`~sealbatch.settlement.batch_air.penalties.account_penalty_trace`).
        perm_inputs: receives the ``(k, 16)`` permutation inputs this section sends
            (for the permutation service's rows).
    """
    num_rows = main.shape[1]
    n, m = st.n_post, len(st.markets)
    for flag, count in zip(
        (*cols.live, *cols.tree),
        (st.n_pre, st.n_post, 1 << st.depth_pre, 1 << st.depth_post),
        strict=True,
    ):
        on, counter = prefix_columns(count, num_rows)
        main[flag.index], main[flag.index + 1] = on, counter
    for k in range(7):
        main[cols.identity[k].index, :n] = sw.address_limbs[:, k]
    main[cols.identity[7].index, :n] = sw.subaccount
    main[cols.identity[8].index, :n] = sw.portfolio
    c_digits = []
    for t, values in ((0, sw.collateral_pre), (1, sw.collateral_post)):
        c_digits.append(_put_signed(main, cols.collateral[t], list(values), n))
    p_signed = []
    for t, arr in ((0, sw.positions_pre), (1, sw.positions_post)):
        p_signed.append([_put_signed(main, cols.positions[t][j], arr[:, j], n) for j in range(m)])
    net = sw.positions_post - sw.positions_pre - sw.adjust_positions
    has = np.zeros(n, dtype=bool)
    for fill in sw.fills:
        has[fill.account] = True
    main[cols.has_fills.index, :n] = has
    net_signed = []
    for j in range(m):
        main[cols.net[j].index, :n] = to_field(net[:, j])
        net_signed.append(_put_signed(main, cols.net_digits[j], net[:, j], n))
    for k in range(len(cols.fee_sums)):
        main[cols.fee_sums[k].index, :n] = fee_sums[k, :n]
    if due_sums is None:
        due_sums = np.zeros((AMOUNT_DIGITS, n), dtype=np.int64)
    for k in range(AMOUNT_DIGITS):
        main[cols.pen_due[k].index, :n] = due_sums[k, :n]
    flows = []
    moved = sw.block_transfer_digits()  # the RFQ blocks' price transfers, received and paid
    for cs, d in (
        (cols.deposit, (sw.deposit_digits + moved[:, :AMOUNT_DIGITS]).T),
        (
            cols.withdrawal,
            (sw.withdrawal_digits + sw.forfeit_digit_sums() + moved[:, AMOUNT_DIGITS:]).T,
        ),
    ):
        for k, column in enumerate(cs):
            main[column.index, :n] = d[k]
        flows.append(np.asarray(d, dtype=np.int64))
    for r, *_ in sw.adjust_rows():
        main[cols.has_adjust.index, r] = 1
    adj_sign, adj_digits = _put_signed(main, cols.adjust, list(sw.adjust), n)
    for j in range(m):
        main[cols.adjust_positions[j].index, :n] = to_field(sw.adjust_positions[:, j])

    def sval(sign: np.ndarray, digits: np.ndarray) -> np.ndarray:
        return (1 - 2 * sign.astype(np.int64))[None, :] * digits.astype(np.int64)

    c0 = sval(*c_digits[0])
    c1 = sval(*c_digits[1])
    adj = sval(adj_sign, adj_digits)
    pterms, pvalues = position_terms(st, sw.positions_pre, net)
    charged = list(sw.penalties) or [0] * n
    cover = list(sw.cover) or [0] * n
    mid = [
        int(c) + p - int(a) - v
        for c, p, a, v in zip(sw.collateral_post, charged, sw.adjust, cover, strict=True)
    ]
    equity = [c + v for c, v in zip(mid, pvalues, strict=True)]
    flagged = [j for j in range(m) if st.margins and st.margins[j].flagged]
    doubtful = [bool(any(sw.positions_post[r, j] != 0 for j in flagged)) for r in range(n)]
    fund, fund_capped = cover_trace(
        main,
        cols.cover,
        equity=equity,
        doubtful=doubtful,
        cover=cover,
        insurance_post=st.insurance_post,
        fund_start=st.insurance_pre + sum(sw.forfeits) + sum(charged),
        refuse=refuse,
    )
    covered = main[cols.cover.covered.index, :n].astype(np.int64)
    short = np.array(
        [int(e < 0) * fc for e, fc in zip(equity, fund_capped, strict=True)], dtype=np.int64
    )
    e_abs = digits_of([abs(e) for e in equity], AMOUNT_DIGITS).astype(np.int64)
    f_dig = digits_of(fund, AMOUNT_DIGITS).astype(np.int64)
    cover_terms = covered[None, :] * (short[None, :] * f_dig + (1 - short)[None, :] * e_abs)
    pen_terms = account_penalty_trace(
        main,
        cols.penalty,
        st,
        due_sums.astype(np.int64),
        charged,
        equity,
        pterms,
        c1,
        adj,
        fund=fund,
        fund_capped=fund_capped,
        cover_terms=cover_terms,
        refuse=refuse,
    )
    sums = c1 - c0 - flows[0] + flows[1] + fee_sums[:, :n].astype(np.int64)
    sums += pen_terms
    sums -= cover_terms
    sums -= adj
    for j, mt in enumerate(st.markets):
        pm = _const_digits(mt.price * mt.multiplier)
        df_sign = -1 if mt.delta_funding < 0 else 1
        df = _const_digits(abs(mt.delta_funding))
        nd = sval(*net_signed[j])
        p0 = sval(*p_signed[0][j])
        for a in range(2):
            for b in range(CONST_DIGITS):
                if a + b < AMOUNT_DIGITS:
                    sums[a + b] += pm[b] * nd[a] + df_sign * df[b] * p0[a]
    try:
        carry = carries(sums)
    except ValueError as exc:
        raise ValueError(f"statement 3: collateral does not move by its flows: {exc}") from None
    lo, hi = carry_columns(carry)
    for k in range(carry.shape[0]):
        main[cols.carries[2 * k].index, :n] = lo[k]
        main[cols.carries[2 * k + 1].index, :n] = hi[k]
    # rows past n: all zero, carries 0 → their offset columns
    zlo, zhi = carry_columns(np.zeros(1, np.int64))
    for k in range(carry.shape[0]):
        main[cols.carries[2 * k].index, n:] = zlo[0]
        main[cols.carries[2 * k + 1].index, n:] = zhi[0]

    # leaves
    blocks = _blocks(m)
    live_counts = (st.n_pre, st.n_post)
    for t in (0, 1):
        rows = live_counts[t]
        elements = np.zeros((rows, leaf_length(m)), dtype=np.uint64)
        elements[:, 0] = ACCOUNT_DOMAIN
        for k in range(9):
            elements[:, 1 + k] = main[cols.identity[k].index, :rows]
        enc = [cols.collateral[t]] + [cols.positions[t][j] for j in range(m)]
        for i, s in enumerate(enc):
            base = 10 + 4 * i
            elements[:, base] = main[s.sign.index, :rows]
            for k in range(3):
                lo_i, hi_i = 2 * k, 2 * k + 1
                v = np.zeros(rows, dtype=np.uint64)
                if lo_i < len(s.digits):
                    v += main[s.digits[lo_i].index, :rows]
                if hi_i < len(s.digits):
                    v += main[s.digits[hi_i].index, :rows] << np.uint64(12)
                elements[:, base + 1 + k] = v
        state = np.zeros((rows, 16), dtype=np.uint64)
        state[:, 8] = leaf_length(m)
        for b in range(blocks):
            chunk = elements[:, 8 * b : 8 * b + 8]
            state[:, :8] = 0
            state[:, : chunk.shape[1]] = chunk
            perm_inputs.append(state.copy())
            out = poseidon2.permute(state) if rows else state.copy()
            for i, c in enumerate(cols.leaf_blocks[t][b]):
                main[c.index, :rows] = out[:, i]
            state = out.copy()

    # conservation accumulator
    delta = np.zeros((ACC_DIGITS, num_rows), dtype=np.int64)
    delta[:AMOUNT_DIGITS, :n] = c1 - c0
    totals = [0] * num_rows
    running = ACC_OFFSET
    d_int = [
        int(v1) - int(v0) for v0, v1 in zip(sw.collateral_pre, sw.collateral_post, strict=True)
    ]
    for r in range(num_rows):
        running += d_int[r] if r < n else 0
        totals[r] = running
    acc = digits_of(totals, ACC_DIGITS).astype(np.int64)
    prev = np.empty_like(acc)
    prev[:, 1:] = acc[:, :-1]
    prev[:, 0] = digits_of([ACC_OFFSET], ACC_DIGITS)[:, 0].astype(np.int64)
    acc_carry = carries(delta + prev - acc)
    for k in range(ACC_DIGITS):
        main[cols.acc[k].index] = acc[k].astype(np.uint64)
    for k in range(ACC_DIGITS - 1):
        main[cols.acc_carries[k].index] = to_field(acc_carry[k])
