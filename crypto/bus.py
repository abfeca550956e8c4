"""A LogUp lookup bus: tuples sent and received anywhere in an AIR, packed into auxiliary columns.

The bus proves a multiset balance. Every *interaction* is a tuple of
expressions ``(v_1, …, v_k)`` under a constant ``tag`` (which table or
relation it belongs to) with a multiplicity ``m``; a *send* counts ``−m``, a
*receive* ``+m``. With two challenges ``β, γ`` each tuple is compressed to
``φ = tag + γ·v_1 + γ²·v_2 + … + γ^k·v_k`` and the bus holds iff

    Σ_rows Σ_interactions ±m/(β − φ)  +  Σ_public tables ±m_j/(β − φ_j)  =  0

(Haböck, "Multivariate lookups based on logarithmic derivatives", ePrint
2022/1530: for fewer than ``p`` lookups the rational identity means every sent
tuple is received, with the multiplicities). The tag separates tables, so a
tuple of one table never pays for another's.

**Columns and degrees.** Interactions are packed into *helper* aux columns
``h``, ``k`` per column: ``h = Σ_j ±m_j/D_j`` (``D = β − φ``), constrained on
every row as ``h·Π_j D_j − Σ_j (±m_j)·Π_(i≠j) D_i = 0``. With tuple values
and multiplicities of degree 1 that constraint has degree ``k + 1``, so the
AIR's degree budget ``max_degree`` sets ``k``: the default 3 packs two per
helper; an AIR whose composition polynomial is wider anyway (a degree-5
budget costs the prover the same ``4N`` evaluation coset as degree 4) packs
four, which halves the helpers — each one an extension column, 16 bytes per
query and per out-of-domain value. Interactions are packed greedily in
declaration order; one whose own constraint exceeds the budget is refused.
Packing does not change what is proved: as long as no ``D_j`` vanishes
(``β`` is drawn after the main trace, so ``β = φ`` for a trace tuple has
probability at most ``(#tuples)/|F_p^4|``), the row constraint is equivalent
to ``h = Σ ±m_j/D_j``, and the LogUp error (Haböck 2022, Lemma 5) depends on
the number of interactions and rows, not on how they are grouped. A higher
degree enters the DEEP-ALI soundness only through the composition's degree
(``crypto/security.py``, proven bits), by a few bits' worth of ``log2 d``.
One more aux column ``s`` sums the helpers over
the rows before its own: ``s[0] = 0``, ``s' = s + Σ h``, and
``s[N−1] + Σ h[N−1] = −(public tables' sum)`` (so each helper is read at the
current row only).
Interaction expressions read the current row only (offset 0), so the
helper constraints cover every row, the last one included.

**Multiplicities cannot cancel a lookup.** A send is a lookup that must be
matched: its multiplicity is a *selector* — a constant, or an expression over
fixed and periodic columns (chosen by the AIR, not the prover), or an
expression over main columns that the bus constrains to ``{0, 1}`` on every
row (``sel·(sel − 1) = 0``). So the prover can neither send a tuple "−1 times"
to cancel another send nor scale a send away. Receive multiplicities are the
prover's counts and may be any field element (the LogUp lemma needs no range
on them). What a receive may hold is the AIR's business: a fixed table, a
public table, or another trace section whose own constraints bind it.

**Public tables** (:class:`PublicTable`) are tuples the verifier knows from
the statement; it computes their LogUp sum itself after drawing ``β, γ``
(a *derived challenge*, :meth:`sealbatch.crypto.air.Air.challenge_values`),
and the running sum must end at minus that sum. A public table that receives
proves the trace sent exactly those tuples (with those multiplicities); one
that sends proves the trace received them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.air import Boundary, Column, Transition
from sealbatch.crypto.evaluators import ArrayEvaluator
from sealbatch.crypto.expr import (
    Challenge,
    Const,
    Expr,
    aux,
    challenge,
    const,
    degrees,
    evaluate,
    topological_order,
)
from sealbatch.crypto.field_scalar import EXT_DEGREE, Fp4, P

__all__ = ["Bus", "BusLayout", "Interaction", "PublicTable"]

DEFAULT_DEGREE = 3
"""The helper constraints' degree unless the AIR allows more (two interactions per helper)."""


@dataclass(frozen=True)
class Interaction:
    """One tuple sent (``receive=False``) or received on every row, ``multiplicity`` times."""

    tag: int
    values: tuple[Expr, ...]
    multiplicity: Expr
    receive: bool
    name: str = ""


@dataclass(frozen=True)
class PublicTable:
    """Tuples the verifier adds to the bus itself (from the statement).

    ``receive=True``: the verifier receives each row ``multiplicities[j]``
    times, so the trace must send exactly these; ``False``: it sends them.
    Values are base-field integers in ``[0, p)``; multiplicities non-negative.
    """

    tag: int
    rows: tuple[tuple[int, ...], ...]
    multiplicities: tuple[int, ...]
    receive: bool = True

    def __post_init__(self) -> None:
        if len(self.rows) != len(self.multiplicities):
            raise ValueError(
                f"public table {self.tag}: expected one multiplicity per row, got "
                f"{len(self.multiplicities)} for {len(self.rows)} rows"
            )
        widths = {len(r) for r in self.rows}
        if len(widths) > 1:
            raise ValueError(f"public table {self.tag}: rows of different widths {widths}")
        for row in self.rows:
            for v in row:
                if not 0 <= v < P:
                    raise ValueError(f"public table {self.tag}: expected values in [0, p), got {v}")
        for m in self.multiplicities:
            if not 0 <= m < P:
                raise ValueError(
                    f"public table {self.tag}: expected multiplicities in [0, p), got {m}"
                )


@dataclass(frozen=True)
class BusLayout:
    """What :meth:`Bus.build` adds to an AIR."""

    transitions: tuple[Transition, ...]
    boundaries: tuple[Boundary, ...]
    num_aux_columns: int
    groups: tuple[tuple[int, ...], ...]  # interaction indices per helper column
    first_aux: int


@dataclass
class Bus:
    """Collects interactions, then lays out their aux columns and constraints.

    Args:
        beta: the challenge index of ``β`` (``γ`` is the next one).
        first_aux: the first aux column the bus may use.
        public_sum: the challenge index of the derived public-table sum
            (only with public tables).
        max_degree: the largest degree a helper constraint may have; a helper
            of ``k`` interactions whose tuples and multiplicities have degree
            1 has degree ``k + 1``.
    """

    beta: int = 0
    first_aux: int = 0
    public_sum: int | None = None
    max_degree: int = DEFAULT_DEGREE
    interactions: list[Interaction] = field(default_factory=list)
    public_tables: list[PublicTable] = field(default_factory=list)
    _gammas: list[Expr] = field(default_factory=list, repr=False)
    _dens: list[Expr] = field(default_factory=list, repr=False)

    # ---- declaring

    def send(
        self, tag: int, values: Sequence[Expr], selector: Expr | int = 1, name: str = ""
    ) -> None:
        """Send ``values`` (under ``tag``) on every row where ``selector`` is 1.

        Raises:
            ValueError: a selector that reads the aux trace or a challenge.
        """
        sel = selector if isinstance(selector, Expr) else const(selector)
        if isinstance(sel, Const) and sel.value not in (0, 1):
            raise ValueError(
                f"send {name!r}: expected a constant selector of 0 or 1, got {sel.value} "
                "(a negative count would cancel another send)"
            )
        if any(
            isinstance(n, Challenge) or (isinstance(n, Column) and n.segment == "aux")
            for n in topological_order([sel])
        ):
            raise ValueError(f"send {name!r}: a selector may not read aux columns or challenges")
        self._add(Interaction(tag, tuple(values), sel, False, name))

    def receive(
        self, tag: int, values: Sequence[Expr], multiplicity: Expr | int, name: str = ""
    ) -> None:
        """Receive ``values`` (under ``tag``) ``multiplicity`` times on every row."""
        mult = multiplicity if isinstance(multiplicity, Expr) else const(multiplicity)
        self._add(Interaction(tag, tuple(values), mult, True, name))

    def add_public_table(self, table: PublicTable) -> None:
        """A table whose LogUp sum the verifier computes (needs ``public_sum``)."""
        if self.public_sum is None:
            raise ValueError("public tables need a derived challenge index (public_sum)")
        self.public_tables.append(table)

    def _add(self, inter: Interaction) -> None:
        if not 0 <= inter.tag < P:
            raise ValueError(f"expected a tag in [0, p), got {inter.tag}")
        if not inter.values:
            raise ValueError(f"interaction {inter.name!r}: expected at least one value")
        for node in topological_order([*inter.values, inter.multiplicity]):
            if isinstance(node, Column) and node.offset != 0:
                raise ValueError(
                    f"interaction {inter.name!r}: expressions must read the current row only"
                )
        self.interactions.append(inter)

    # ---- constraints

    @property
    def num_challenges(self) -> int:
        return 2

    def _denominator(self, inter: Interaction) -> Expr:
        powers = self._gamma_powers(len(inter.values))
        phi: Expr = const(inter.tag)
        for power, v in zip(powers, inter.values, strict=True):
            phi = phi + power * v
        return challenge(self.beta) - phi

    def _gamma_powers(self, count: int) -> list[Expr]:
        """``γ, γ², …, γ^count`` as nodes shared by every interaction of this bus."""
        cache = self._gammas
        if not cache:
            cache.append(challenge(self.beta + 1))
        while len(cache) < count:
            cache.append(cache[-1] * cache[0])
        return cache[:count]

    def _denominators(self) -> list[Expr]:
        """Every interaction's ``β − φ``, built once (shared by the constraints and the prover)."""
        if len(self._dens) != len(self.interactions):
            self._dens = [self._denominator(x) for x in self.interactions]
        return self._dens

    def _numerator(self, inter: Interaction) -> Expr:
        return inter.multiplicity if inter.receive else -inter.multiplicity

    def build(self) -> BusLayout:
        """The helper and running-sum constraints (and selector checks).

        Interactions are packed greedily, in declaration order, into helper
        columns of as many interactions as keep the helper's constraint at or
        below ``max_degree``.

        Raises:
            ValueError: no interactions, or an interaction above ``max_degree``.
        """
        if not self.interactions:
            raise ValueError("expected at least one interaction on the bus")
        if self.max_degree < 2:
            raise ValueError(f"expected a bus degree of at least 2, got {self.max_degree}")
        inters = self.interactions
        all_dens = self._denominators()
        mults = [x.multiplicity for x in inters]
        every = degrees([*all_dens, *mults])
        den_deg, num_deg = every[: len(inters)], every[len(inters) :]
        groups: list[tuple[int, ...]] = []
        current: list[int] = []
        for i in range(len(inters)):
            single = _group_degree([den_deg[i]], [num_deg[i]])
            if single > self.max_degree:
                raise ValueError(
                    f"interaction {inters[i].name!r}: its constraint has degree {single} > "
                    f"{self.max_degree}"
                )
            trial = [*current, i]
            if current and (
                _group_degree([den_deg[j] for j in trial], [num_deg[j] for j in trial])
                > self.max_degree
            ):
                groups.append(tuple(current))
                trial = [i]
            current = trial
        groups.append(tuple(current))
        transitions: list[Transition] = []
        boundaries: list[Boundary] = []
        for k, group in enumerate(groups):
            h = aux(self.first_aux + k)
            dens = [all_dens[j] for j in group]
            nums = [self._numerator(inters[j]) for j in group]
            expr = _helper_constraint(h, dens, nums)
            label = " + ".join(inters[j].name or f"#{j}" for j in group)
            transitions.append(Transition(expr, f"bus helper {k}: {label}"))
        # s holds the sum over the rows before this one, so the helpers are read at
        # the current row only (one out-of-domain value each, not two).
        s = aux(self.first_aux + len(groups))
        helpers = [aux(self.first_aux + k) for k in range(len(groups))]
        row_total: Expr = helpers[0]
        for h in helpers[1:]:
            row_total = row_total + h
        transitions.append(Transition(s.next - s - row_total, "bus: s' = s + Σ h"))
        boundaries.append(Boundary(0, s, "bus: s[0] = 0"))
        end: Expr = s + row_total
        if self.public_tables and self.public_sum is not None:  # add_public_table checks both
            end = end + challenge(self.public_sum)
        boundaries.append(Boundary(-1, end, "bus: Σ = −public sum"))
        for j, inter in enumerate(inters):
            if not inter.receive and _reads_main(inter.multiplicity):
                sel = inter.multiplicity
                transitions.append(
                    Transition(sel * (sel - 1), f"bus: selector of {inter.name or j} in {{0, 1}}")
                )
        return BusLayout(
            tuple(transitions), tuple(boundaries), len(groups) + 1, tuple(groups), self.first_aux
        )

    # ---- both sides: the public tables' sum

    def public_table_sum(self, challenges: Sequence[Fp4]) -> Fp4:
        """``Σ ±m_j/(β − φ_j)`` over the public tables (the verifier computes it itself)."""
        beta, gamma = challenges[self.beta], challenges[self.beta + 1]
        total = Fp4.zero()
        for table in self.public_tables:
            if not table.rows:
                continue
            width = len(table.rows[0])
            vals = np.array(table.rows, dtype=np.uint64).T  # (width, T)
            t = vals.shape[1]
            phi = fld.ext_scalar(Fp4.of(table.tag)) * np.ones((1, t), np.uint64)
            power = Fp4.one()
            for j in range(width):
                power = power * gamma
                phi = fld.ext_add(
                    phi,
                    fld.ext_mul_base(
                        np.broadcast_to(fld.ext_scalar(power), (EXT_DEGREE, t)), vals[j]
                    ),
                )
            den = fld.ext_sub(np.broadcast_to(fld.ext_scalar(beta), (EXT_DEGREE, t)), phi)
            if np.any(np.all(den == 0, axis=0)):
                raise ZeroDivisionError("β equals a public table entry")
            terms = fld.ext_mul_base(
                fld.ext_batch_inv(den), np.array(table.multiplicities, dtype=np.uint64)
            )
            part = Fp4.of(tuple(int(c) for c in terms.sum(axis=1, dtype=np.uint64) % np.uint64(P)))
            total = total + part if table.receive else total - part
        return total

    # ---- prover side: the aux columns

    def aux_columns(
        self,
        main: fld.Array,
        challenges: Sequence[Fp4],
        fixed: fld.Array | None = None,
        periodic: Callable[[int], fld.Array] | None = None,
        public_inputs: Sequence[int] = (),
    ) -> fld.Array:
        """The helper columns and the running sum, ``(num_aux, 4, N)`` (prover side).

        Args:
            main: the ``(C, N)`` main trace.
            challenges: every challenge (drawn and derived).
            fixed: the AIR's fixed columns ``(F, N)``, if it reads any.
            periodic: periodic column ``i`` over all ``N`` rows, if it reads any.
            public_inputs: the AIR's public inputs, if a tuple reads any.
        """
        layout = self.build()
        n = main.shape[1]
        inters = self.interactions

        def column(segment: str, index: int, offset: int) -> fld.Array:
            if segment == "main":
                return main[index]
            if segment == "fixed" and fixed is not None:
                return fixed[index]
            raise ValueError(f"bus: cannot read {segment} column {index} while building aux")

        def periodic_rows(i: int) -> fld.Array:
            if periodic is None:
                raise ValueError("bus: interaction reads a periodic column; pass periodic=")
            return periodic(i)

        ev = ArrayEvaluator(column, periodic_rows, public_inputs, challenges)
        dens = evaluate(self._denominators(), ev)
        nums = evaluate([self._numerator(x) for x in inters], ev)
        out = np.empty((layout.num_aux_columns, EXT_DEGREE, n), np.uint64)
        total = np.zeros((EXT_DEGREE, n), np.uint64)
        for k, group in enumerate(layout.groups):
            h = np.zeros((EXT_DEGREE, n), np.uint64)
            for j in group:
                inv = fld.ext_batch_inv(_ext_rows(dens[j], n))
                h = fld.ext_add(h, _times(inv, nums[j], n))
            out[k] = h
            total = fld.ext_add(total, h)
        running = np.zeros((EXT_DEGREE, n), np.uint64)
        running[:, 1:] = np.cumsum(total[:, :-1], axis=1, dtype=np.uint64) % np.uint64(P)
        out[-1] = running
        return out


def _group_degree(den_degrees: Sequence[int], num_degrees: Sequence[int]) -> int:
    """Degree of ``h·Π D_j − Σ_j m_j·Π_(i≠j) D_i`` (``h`` an aux column, degree 1)."""
    total = sum(den_degrees)
    return max(1 + total, *(n + total - d for n, d in zip(num_degrees, den_degrees, strict=True)))


def _helper_constraint(h: Expr, dens: Sequence[Expr], nums: Sequence[Expr]) -> Expr:
    """``h·Π D_j − Σ_j m_j·Π_(i≠j) D_i``, the products shared through prefixes and suffixes."""
    k = len(dens)
    prefix: list[Expr | None] = [None] * (k + 1)
    suffix: list[Expr | None] = [None] * (k + 1)
    for j in range(k):
        prev = prefix[j]
        prefix[j + 1] = dens[j] if prev is None else prev * dens[j]
    for j in reversed(range(k)):
        nxt = suffix[j + 1]
        suffix[j] = dens[j] if nxt is None else dens[j] * nxt
    full = prefix[k]
    if full is None:
        raise ValueError("expected at least one interaction in a helper")
    expr: Expr = h * full
    for j in range(k):
        left, right = prefix[j], suffix[j + 1]
        others = left if right is None else right if left is None else left * right
        expr = expr - (nums[j] if others is None else nums[j] * others)
    return expr


def _reads_main(expr: Expr) -> bool:
    return any(isinstance(n, Column) and n.segment == "main" for n in topological_order([expr]))


def _ext_rows(value: object, n: int) -> fld.Array:
    arr = np.asarray(value, dtype=np.uint64)
    if arr.ndim == 2:
        return np.ascontiguousarray(np.broadcast_to(arr, (EXT_DEGREE, n)))
    out = np.zeros((EXT_DEGREE, n), np.uint64)
    out[0] = np.broadcast_to(arr, (n,))
    return out


def _times(ext: fld.Array, value: object, n: int) -> fld.Array:
    arr = np.asarray(value, dtype=np.uint64)
    if arr.ndim == 2:
        return fld.ext_mul(ext, np.ascontiguousarray(np.broadcast_to(arr, (EXT_DEGREE, n))))
    return fld.ext_mul_base(ext, np.broadcast_to(arr, (n,)))
