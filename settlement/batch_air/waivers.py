"""Statement 3, forfeits: which forfeits are waived, proved in the batch AIR.

The transition (:func:`sealbatch.settlement.transition.forfeit_charge`) waives a forfeit
(charges 0) exactly when the oracle refused the reveal through no fault of the trader's:
its market is halted at the batch's time or flagged (``frozen``: flagged after having
had a trusted index) in the pre-state, or the trader's account (subaccount 0) holds a
non-zero pre-state position in a market flagged in the pre-state. Every fact is proved
here, so ``odig.waived`` is no longer the prover's bit:

* **the pre-state's flags** (section ``waive``, ``oracle<j>``, a column constant down the
  trace per market): ``u_j = flagged_j + 2·ipos_j`` where ``flagged_j`` is the pre-state
  header's oracle flag (read on its row) and ``ipos_j`` is 1 exactly when the pre-state
  header's index price is positive (a limb non-zero: ``ipos = s·inv`` with ``s`` the sum
  of the three 24-bit limbs, ``s·(1 − s·inv) = 0``, ``inv`` in ``hdr.iz``, which no
  other constraint reads on the pre-state header's rows; the flag is a bit and the
  index's sign 0 because the previous batch's proof pinned both in its post-state
  header — the flag to its margin terms' bit, the index not negative — and the first
  pre-state is the exchange's genesis). The two checks, ``u − flagged ∈ {0, 2}`` on the
  flag's row and ``u − 2·ipos ∈ {0, 1}`` on the index's row, leave exactly ``u =
  flagged + 2·ipos``, so ``frozen_j = u(u − 1)(u − 2)/6`` (1 at 3, 0 at 0, 1, 2) is the
  pre-state's ``frozen``;
* **the account's bit** (``waive.flagged``, on each account row):
  ``flagged = s·inv``, ``(1 − flagged)·s = 0`` with ``s = Σ_j frozen_j·|P0_j|`` (the
  pre-state positions' magnitudes, below 2^24 each, so the sum is not 0 mod p unless
  every term is 0): 1 exactly when the account holds a pre-state position in a frozen
  market (an account a deposit opens in this batch has none: the transition charges
  its forfeits, its account existing once the batch's deposits are in). The row
  receives ``(TAG_FORFEIT_ACCOUNT, account, address×7, subaccount, flagged)`` as often
  as ``waive.lookups`` says;
* **each forfeit's waiver** (the outputs digest's forfeit third rows, ``odig.forfeit_c``):
  the record's market code is one of the batch's markets, and ``g = Σ_j L_j(code)·
  (halted_j ∨ frozen_j)`` (``L_j`` the Lagrange polynomial over the markets' codes,
  ``hdr.halted<j>`` proved in :mod:`.headers`) sits in ``odig.orders_inv``; every
  forfeit looks its trader up (subaccount 0, the account ``odig.forfeit_account``)
  and receives the account's bit in ``odig.has_orders`` (both columns are read by the
  market summaries only, on their own rows), and ``waived = g ∨ flagged``.

A forfeit whose trader has no account (none in the post-state) cannot be looked up:
such a batch cannot be proved (the prover refuses it, naming statement 3; proving an
address absent would take a non-membership query against the sorted account keys).
The transition waives that forfeit, but the venue never produces one (a commitment or
quote is taken only against the trader's free collateral). A forfeit in a market the
batch does not list is refused the same way. The record's market code of an order
commitment's forfeit is the one its trader signed: the commitment tree's leaf binds it
and the record's third row sends it to the tree (:mod:`.digests`, :mod:`.commitments`),
so a forfeit cannot be relabelled to a halted or frozen market. An RFQ quote's forfeit
is not under the commitment root: its market is the published record's.
"""

from __future__ import annotations

import numpy as np

from sealbatch.auction.commitment import market_code
from sealbatch.crypto.air import Column, Expr, const
from sealbatch.crypto.field_scalar import P
from sealbatch.crypto.poseidon2 import RATE
from sealbatch.settlement.batch_air.accounts import AccountColumns
from sealbatch.settlement.batch_air.framework import AirBuilder, TraceBuilder
from sealbatch.settlement.batch_air.headers import lagrange
from sealbatch.settlement.batch_air.statement import BatchStatement
from sealbatch.settlement.roots import market_field

__all__ = ["SECTION", "TAG_FORFEIT_ACCOUNT", "declare", "generate"]

SECTION = "waive"
#: ``(account, address×7, subaccount, flagged)``: a forfeit's trader, to its account row.
TAG_FORFEIT_ACCOUNT = 61
_INV6 = pow(6, P - 2, P)


def _index_at(market: int) -> tuple[int, list[tuple[int, int]]]:
    """The pre-state header row of market ``market``'s index price ``[sign, l0, l1, l2]``
    and each element's ``(row offset 0 or 1, column)``."""
    pos = market_field(market, "index")
    row = pos // RATE
    return row, [((pos + i) // RATE - row, (pos + i) % RATE) for i in range(4)]


def declare(b: AirBuilder, statement: BatchStatement, acct: AccountColumns, row: Column) -> None:
    """Allocate the waivers' columns and constraints (after the headers and the outputs
    digest, whose columns they read)."""
    m = len(statement.markets)
    block = [b.existing(f"hdr.b{k}") for k in range(RATE)]
    inv = b.existing("hdr.iz")
    frozen: list[Expr] = []
    for j in range(m):
        u = b.column(SECTION, f"oracle{j}")
        b.constrain(u.next - u, f"waivers: market {j}'s pre-state flags are constant")
        pos = market_field(j, "flagged")
        flagged = block[pos % RATE]
        b.boundary(
            pos // RATE,
            (u - flagged) * (u - flagged - 2),
            f"waivers: market {j}'s pre-state flag",
        )
        r, at = _index_at(j)  # its sign (at[0]) is 0, pinned by the previous batch
        limbs = [block[k].next if off else block[k] for off, k in at[1:]]
        s = limbs[0] + limbs[1] + limbs[2]
        b.boundary(r, s * (1 - s * inv), f"waivers: market {j}'s index (inverse)")
        ipos = s * inv
        b.boundary(
            r, (u - 2 * ipos) * (u - 2 * ipos - 1), f"waivers: market {j}'s index is positive"
        )
        frozen.append(u * (u - 1) * (u - 2) * _INV6)
    _declare_accounts(b, acct, row, frozen)
    _declare_forfeits(b, statement, frozen)


def _declare_accounts(b: AirBuilder, acct: AccountColumns, row: Column, frozen: list[Expr]) -> None:
    """Each account row's bit: a pre-state position in a frozen market."""
    flagged, inv = b.column(SECTION, "flagged"), b.column(SECTION, "flagged_inv")
    lookups = b.column(SECTION, "lookups")
    s: Expr = const(0)
    for fz, p0 in zip(frozen, acct.positions[0], strict=True):
        s = s + fz * p0.magnitude()
    b.constrain(flagged - s * inv, "statement 3: a position in a flagged market (inverse)")
    b.constrain((1 - flagged) * s, "statement 3: a position in a flagged market")
    b.constrain(lookups * (1 - acct.live[1]), "statement 3: forfeits only on accounts")
    b.bus.receive(
        TAG_FORFEIT_ACCOUNT,
        [row, *acct.identity[:8], flagged],
        lookups,
        "statement 3: a forfeit's account",
    )


def _declare_forfeits(b: AirBuilder, statement: BatchStatement, frozen: list[Expr]) -> None:
    """Each forfeit's waiver on its third outputs-digest row."""
    codes = tuple(market_code(name) for name in statement.markets)
    third, waived = b.existing("odig.forfeit_c"), b.existing("odig.waived")
    account = b.existing("odig.forfeit_account")
    trader = [b.existing(f"odig.b{k}") for k in range(7)]
    code = b.existing("odig.b7")
    # free on a forfeit's row: the summary rows' has_orders and orders_inv
    flagged, market = b.existing("odig.has_orders"), b.existing("odig.orders_inv")
    known: Expr = const(1)
    for c in codes:
        known = known * (code - c)
    b.constrain(third * known, "statement 3: a forfeit's market is one of the batch's")
    pick: Expr = const(0)
    for j, fz in enumerate(frozen):
        h = b.existing(f"hdr.halted{j}")
        pick = pick + lagrange(code, codes, j) * (h + fz - h * fz)
    b.constrain(third * (market - pick), "statement 3: a forfeit's market halted or flagged")
    b.constrain(
        third * (waived - market - flagged + market * flagged),
        "statement 3: a forfeit is waived exactly when the oracle refused its reveal",
    )
    b.bus.send(
        TAG_FORFEIT_ACCOUNT,
        [account, *trader, const(0), flagged],
        third,
        "statement 3: a forfeit's trader",
    )


def generate(tb: TraceBuilder, statement: BatchStatement, *, refuse: bool = True) -> None:
    """Write the waivers' columns (after the outputs digest and the headers).

    Raises:
        ValueError: (with ``refuse``) a forfeit whose trader has no account or whose
            market is not the batch's, or a forfeit waived (charged) where the rule
            charges (waives) it.
    """
    pre, sw = statement.pre, statement.settle_witness
    m = len(statement.markets)
    frozen = np.zeros(m, np.int64)
    iz = tb.get("hdr", "iz")
    for j, ms in enumerate(pre.market_states):
        ipos = int(ms.index_price > 0)
        frozen[j] = int(ms.flagged) * ipos
        tb.set(SECTION, f"oracle{j}", [], pad=int(ms.flagged) + 2 * ipos)
        mag = abs(ms.index_price)
        s = sum((mag >> (24 * k)) & 0xFFFFFF for k in range(3))
        iz[_index_at(j)[0]] = pow(s, P - 2, P) if s % P else 0
    n = len(sw.subaccount)
    positions = np.abs(np.asarray(sw.positions_pre, dtype=np.int64).reshape(n, m))
    sums = positions @ frozen if n else np.zeros(0, np.int64)
    flagged = (sums != 0).astype(np.int64)
    tb.set(SECTION, "flagged", flagged)
    tb.set(SECTION, "flagged_inv", [pow(int(v), P - 2, P) if v else 0 for v in sums])
    codes = {market_code(name): j for j, name in enumerate(statement.markets)}
    halted = {statement.markets.index(name) for name in statement.halted}
    third = np.flatnonzero(tb.get("odig", "forfeit_c"))
    blocks = statement.output_blocks
    waived = tb.get("odig", "waived")
    account = tb.get("odig", "forfeit_account")
    lookups = np.zeros(tb.num_rows, np.int64)
    has_orders, orders_inv = tb.get("odig", "has_orders"), tb.get("odig", "orders_inv")
    for r in third:
        trader = tuple(int(v) for v in blocks[r][:7])
        a = int(account[r])
        if refuse and (
            a >= n
            or tuple(int(v) for v in sw.address_limbs[a]) != trader
            or int(sw.subaccount[a]) != 0
        ):
            raise ValueError("statement 3: a forfeit's trader has no account (subaccount 0)")
        k = codes.get(int(blocks[r][7]))
        if k is None:
            if refuse:
                raise ValueError(
                    f"statement 3: a forfeit's market: expected one of {statement.markets}, "
                    f"got code {int(blocks[r][7])}"
                )
            continue
        g = int(k in halted or bool(frozen[k]))
        pf = int(flagged[a]) if a < n else 0
        expected = int(g or pf)
        if refuse and int(waived[r]) != expected:
            raise ValueError(
                f"statement 3: a forfeit in {statement.markets[k]} "
                f"{'is' if expected else 'is not'} waived (market halted or flagged: {g}, "
                f"a position in a flagged market: {pf}), the published charge says otherwise"
            )
        has_orders[r] = pf
        orders_inv[r] = g
        lookups[a] += 1
    tb.set(SECTION, "lookups", lookups)
