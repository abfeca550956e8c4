"""The pro-rata tie-break (statement S7): the leftover lots among orders whose
remainder ties at the threshold go to the smallest Poseidon2 tie-break keys.

:func:`sealbatch.auction.allocation.pro_rata` hands the leftover lots of a
market's marginal level to the largest remainders ``q·R mod Q``; orders whose
remainder equals the threshold compete by their key
``compress(seed, order id) = P(seed ‖ id)[0:8] + seed`` (the seed is the
commitment root, public inputs 19–26), compared as the 8-tuple of canonical
elements, the smallest first (:func:`sealbatch.auction.commitment.tiebreak_key`).
:mod:`.prorata` finds the tied book rows (``rem = T``, an is-zero gadget) and
each sends ``(TAG_TIE, market, bonus, id×8)``.

**Key rows** (``tk``) sit in the commitment tree's section (``ctree``) right
after its node rows, so they reuse its permutation columns: ``l`` is the seed
(constrained to the public inputs), ``r`` the order id (received with the
tuple), ``o`` the permutation's output, and the key is ``o[0:8] + l``, as a
tree node is. One key row per tied order (the tuple is received once per row),
one permutation each.

**Sorted by (market, key)**: each key row compares the 9-tuple
``x = (market, key×8)`` with the next key row's, lexicographically: a
position ``e`` (four bits, ``0 … 9``; 9: equal tuples) such that the elements
before it are equal and, unless ``e = 9``, ``x_e < x'_e`` as integers. The
comparison of two field elements needs their integer values: ``x_e`` is written
``2^24·ha + la`` (``ha < 2^7``, ``la < 2^24``, so the integer is ``x_e`` or
``x_e + p``, never less), ``x'_e`` the same way and canonical (``hb ≤ 120`` and
``hb = 120`` only with ``lb = 0``: at most ``p − 1 = 120·2^24``), and
``ha < hb``, or ``ha = hb`` and ``la < lb`` (a 24-bit range check of the
difference minus one). So the key rows of one market are consecutive and their
keys rise (markets rise too), and **within a market a row without a bonus is
never followed by one with a bonus**: every tied order that won a leftover lot
has a smaller key than every tied order that did not — exactly the allocation
of :func:`~sealbatch.auction.allocation.pro_rata` (equal tuples, the same
commitment revealed twice, are the same order and either may win).

**Account keys** (``ak`` rows, after the key rows; statement 6): each account of
the post-state sends its key ``(TAG_ACCOUNT_KEY, address×7, subaccount)`` from its
row in the accounts section, and one ``ak`` row receives it as ``x_1 … x_8``
(``o[k] + l[k]``: no permutation runs there) with ``x_0`` the constant
``ACCOUNTS_MARKET`` above every market index, so the same comparison sorts them
after the key rows, **strictly** (``e = 9`` is refused between two ``ak`` rows):
no two accounts of the state tree share an (address, subaccount), so an operator
cannot split a trader's account in two (and the pre-state's accounts, a prefix of
the post-state's rows with the same keys, are distinct too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.air import Column, Expr, const, pub
from sealbatch.crypto.field_scalar import P
from sealbatch.settlement.batch_air.framework import (
    TAG_ACCOUNT_KEY,
    TAG_RANGE,
    AirBuilder,
    TraceBuilder,
)

__all__ = ["ACCOUNTS_MARKET", "TAG_TIE", "declare", "generate", "send_account_keys"]

#: Bus tag of a tied marginal order ``(market, bonus, id×8)``, book row → key row.
TAG_TIE = 53
#: The first element of an account key row's tuple: above every market index.
ACCOUNTS_MARKET = 1 << 20
SECTION = "ctree"
_SEED = 19  # public inputs 19–26: the commitment root, the tie-break seed
_LOW_BITS = 24
_HIGH = (P - 1) >> _LOW_BITS  # 120: p − 1 = 120·2^24
_HIGH_BITS = 7
_POSITIONS = 10  # 0: the market, 1 … 8: the key's elements, 9: equal tuples

I64 = npt.NDArray[np.int64]


def _selector(bits: Sequence[Column], j: int) -> Expr:
    """``[e = j]`` for ``e = Σ bits_k·2^k`` (degree 4)."""
    out: Expr = const(1)
    for k, bit in enumerate(bits):
        out = out * (bit if (j >> k) & 1 else 1 - bit)
    return out


def _small(b: AirBuilder, value: Expr, name: str) -> None:
    """``value ∈ [0, 2^7)``: the value and the value shifted left by 5 both in the table."""
    b.bus.send(TAG_RANGE, [value], 1, f"S7 tie-break: {name} < 2^12")
    b.bus.send(TAG_RANGE, [(1 << (12 - _HIGH_BITS)) * value], 1, f"S7 tie-break: {name} < 2^7")


def declare(
    b: AirBuilder,
    on: Column,
    left: Sequence[Column],
    right: Sequence[Column],
    out: Sequence[Column],
) -> Column:
    """Add the key rows' columns and constraints to the commitment tree's section.

    Args:
        b: the builder.
        on: the tree's node-row flag.
        left, right, out: the section's permutation input halves and output.

    Returns:
        The key-row flag ``tk`` (the section's permutation runs where ``on + tk``; the
        account key rows ``ak`` follow the key rows and run none).
    """

    def c(name: str) -> Column:
        return b.column(SECTION, name)

    tk, mkt, bonus = c("tk"), c("tk_mkt"), c("tk_bonus")
    bits = [c(f"tk_e{i}") for i in range(4)]
    cmp, ha, hb, top, f = c("tk_cmp"), c("tk_ha"), c("tk_hb"), c("tk_top"), c("tk_f")
    b.boolean(tk, "S7 tie-break: tk")
    b.constrain(on * tk, "S7 tie-break: a key row is not a node row")
    b.constrain(tk.next * (1 - on - tk), "S7 tie-break: key rows follow the node rows")
    for k in range(8):
        b.constrain(tk * (left[k] - pub(_SEED + k)), "S7 tie-break: the seed is the root")
    b.bus.receive(TAG_TIE, [mkt, bonus, *right], tk, "S7 tie-break: a tied order's key row")
    ak = c("ak")
    b.boolean(ak, "accounts: ak")
    b.constrain(ak * (on + tk), "accounts: a key row is not a node or tie-break row")
    b.constrain(ak.next * (1 - on - tk - ak), "accounts: account key rows follow the key rows")
    b.constrain(ak * (mkt - ACCOUNTS_MARKET), "accounts: an account key row's market")
    key = [out[k] + left[k] for k in range(8)]
    b.bus.receive(TAG_ACCOUNT_KEY, key, ak, "accounts: an account's key, sorted")

    for i, bit in enumerate(bits):
        b.boolean(bit, f"S7 tie-break: position bit {i}")
    b.constrain(bits[3] * bits[1], "S7 tie-break: position ≤ 9")
    b.constrain(bits[3] * bits[2], "S7 tie-break: position ≤ 9 (bit 2)")
    sel = [_selector(bits, j) for j in range(_POSITIONS)]
    x: list[Expr] = [mkt, *(out[k] + left[k] for k in range(8))]
    xn: list[Expr] = [mkt.next, *(out[k].next + left[k].next for k in range(8))]
    pair = (tk + ak) * (tk.next + ak.next)
    b.constrain(cmp - pair * (1 - sel[9]), "S7 tie-break: compare with the next key row")
    for i in range(_POSITIONS - 1):
        later: Expr = sel[i + 1]
        for s in sel[i + 2 :]:
            later = later + s
        b.constrain(
            pair * later * (xn[i] - x[i]), f"S7 tie-break: sorted, equal before the difference {i}"
        )
    b.constrain(ak * ak.next * sel[9], "accounts: no two accounts share a key")
    b.constrain(
        pair * (1 - sel[0]) * (1 - bonus) * bonus.next,
        "S7 tie-break: a leftover lot goes to the smaller key",
    )
    a: Expr = sel[0] * x[0]
    an: Expr = sel[0] * xn[0]
    for i in range(1, _POSITIONS - 1):
        a = a + sel[i] * x[i]
        an = an + sel[i] * xn[i]
    low_a = cmp * (a - (1 << _LOW_BITS) * ha)
    low_b = cmp * (an - (1 << _LOW_BITS) * hb)
    b.range_check(SECTION, "tk_la", low_a, _LOW_BITS)
    b.range_check(SECTION, "tk_lb", low_b, _LOW_BITS)
    b.boolean(top, "S7 tie-break: top")
    b.boolean(f, "S7 tie-break: f")
    _small(b, ha, "ha")
    _small(b, hb, "hb")
    _small(b, _HIGH - 1 - hb + top, "hb ≤ 120")
    b.constrain(top * (hb - _HIGH), "S7 tie-break: canonical (top)")
    b.constrain(top * low_b, "S7 tie-break: canonical (p − 1 at most)")
    b.constrain(cmp * (1 - f) * (hb - ha), "S7 tie-break: high parts equal unless they decide")
    b.range_check(
        SECTION,
        "tk_less",
        f * cmp * (hb - ha - 1) + (1 - f) * (low_b - low_a - cmp),
        _LOW_BITS,
    )
    return tk


def send_account_keys(b: AirBuilder) -> None:
    """Each post-state account row of the accounts section (``acct``, declared by then)
    sends its key ``(TAG_ACCOUNT_KEY, address×7, subaccount)`` to its ``ak`` row."""
    names = [*(f"acct.address[{k}]" for k in range(7)), "acct.sub"]
    key = [b.existing(name) for name in names]
    live = b.existing("acct.live_post")
    b.bus.send(TAG_ACCOUNT_KEY, key, live, "accounts: an account's key")


def generate(
    tb: TraceBuilder,
    seed: Sequence[int],
    start: int,
    markets: I64,
    ids: I64,
    ration: dict[str, I64],
    accounts: I64,
    *,
    refuse: bool = True,
) -> None:
    """Write the key rows, then the account key rows, from row ``start`` of the section
    (prover side).

    Args:
        tb: the trace (the tree's node rows already written).
        seed: the commitment root's 8 elements.
        start: the first row after the tree's node rows.
        markets: each book row's market index.
        ids: each book row's order id, ``(n, 8)``.
        ration: :func:`.prorata.rationing` of the book rows.
        accounts: each post-state account's key ``(address×7, subaccount)``, ``(a, 8)``.
        refuse: raise when a leftover lot went by the wrong key, or two accounts share
            a key.

    Raises:
        ValueError: more rows than the trace holds, or (with ``refuse``) a tied order
            without a leftover lot has a smaller key than one with (S7 tie-break), or two
            accounts share a key (accounts).
    """
    n = tb.num_rows
    tied = np.flatnonzero(ration["tie"])
    t, a_count = len(tied), accounts.shape[0]
    if start + t + a_count > n:
        raise ValueError(f"expected at most {n - start} key rows, got {t + a_count}")
    zeros = np.zeros(n, np.int64)
    full = {name: zeros.copy() for name in ("tk", "ak", "tk_mkt", "tk_bonus", "tk_cmp")}
    full |= {name: zeros.copy() for name in ("tk_ha", "tk_hb", "tk_top", "tk_f")}
    full |= {f"tk_e{i}": zeros.copy() for i in range(4)}
    low_a, low_b, less = zeros.copy(), zeros.copy(), zeros.copy()
    x: list[tuple[int, ...]] = []
    if t:
        seeds = np.tile(np.array(seed, np.uint64), (t, 1))
        right = ids[tied].astype(np.uint64)
        outs = tb.permute(np.hstack([seeds, right]))
        keys = (outs[:, :8] + seeds) % np.uint64(P)
        tuples = [
            (int(markets[r]), *(int(v) for v in keys[i]), -int(ration["bonus"][r]))
            for i, r in enumerate(tied)
        ]
        order = sorted(range(t), key=tuples.__getitem__)
        x = [tuples[i][:9] for i in order]
        bonus = [-tuples[i][9] for i in order]
        if refuse and any(
            x[i][0] == x[i + 1][0] and bonus[i] == 0 and bonus[i + 1] == 1 for i in range(t - 1)
        ):
            raise ValueError(
                "S7 tie-break: a leftover lot went to a tied order whose tie-break key is "
                "larger than that of a tied order without one"
            )
        rows = np.arange(start, start + t)
        for k in range(8):
            tb.get(SECTION, f"l{k}")[rows] = np.uint64(seed[k])
            tb.get(SECTION, f"r{k}")[rows] = right[order, k]
        for k in range(16):
            tb.get(SECTION, f"o{k}")[rows] = outs[order, k]
        full["tk"][rows] = 1
        full["tk_mkt"][rows] = [v[0] for v in x]
        full["tk_bonus"][rows] = bonus
    if a_count:
        keyed = sorted(tuple(int(v) % P for v in row) for row in accounts)
        if refuse and len(set(keyed)) < a_count:
            twice = next(k for i, k in enumerate(keyed[1:]) if k == keyed[i])
            raise ValueError(
                f"accounts: no two accounts share a key: expected distinct (address, "
                f"subaccount), got {twice} twice"
            )
        rows = np.arange(start + t, start + t + a_count)
        for k in range(8):
            tb.get(SECTION, f"o{k}")[rows] = [v[k] for v in keyed]
        full["ak"][rows] = 1
        full["tk_mkt"][rows] = ACCOUNTS_MARKET
        x += [(ACCOUNTS_MARKET, *v) for v in keyed]
    for i in range(len(x) - 1):
        r = start + i
        e = next((j for j in range(9) if x[i][j] != x[i + 1][j]), 9)
        for k in range(4):
            full[f"tk_e{k}"][r] = (e >> k) & 1
        if e == 9:
            continue
        a, bb = x[i][e], x[i + 1][e]
        ha, hb = a >> _LOW_BITS, bb >> _LOW_BITS
        la, lb = a & ((1 << _LOW_BITS) - 1), bb & ((1 << _LOW_BITS) - 1)
        full["tk_cmp"][r] = 1
        full["tk_ha"][r], full["tk_hb"][r] = ha, hb
        full["tk_top"][r] = int(hb == _HIGH)
        full["tk_f"][r] = int(ha != hb)
        low_a[r], low_b[r] = la, lb
        less[r] = hb - ha - 1 if ha != hb else lb - la - 1
    for name, values in full.items():
        tb.set(SECTION, name, values)
    tb.set_range(SECTION, "tk_la", low_a, "S7 tie-break (low part)")
    tb.set_range(SECTION, "tk_lb", low_b, "S7 tie-break (low part)")
    tb.set_range(SECTION, "tk_less", less, "S7 tie-break (keys in order)")
    ha_all, hb_all = full["tk_ha"], full["tk_hb"]
    for value in (ha_all, hb_all, _HIGH - 1 - hb_all + full["tk_top"]):
        tb.count_range(value)
        tb.count_range(value << (12 - _HIGH_BITS))
