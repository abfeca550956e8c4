"""Value bounds: the largest price, quantity, position, multiplier and balance.

Every layer takes its limits from here (the auction, the ledger, the venue's
request schemas, the CSV reader, RFQs, the oracle), so the batch proof can
range-check each value with a fixed number of limbs and no product can wrap
around the BabyBear field (p ≈ 2^30.9) or leave int64:

======================  ===========================  ===========================
value                   bound                        why
======================  ===========================  ===========================
price (ticks)           1 ≤ price < 2^30             one field element; 2 limbs
                                                     of 15 bits
order quantity, RFQ     1 ≤ q < 2^22 lots            one field element
size (lots)
position (lots)         |position| < 2^22            as a quantity
contract multiplier     1 ≤ m < 2^10                 price × lots × multiplier
                                                     < 2^62: a notional fits a
                                                     balance
balance (base units):   |value| < 2^62               3 limbs of 24 bits with
collateral, insurance                                headroom; a sum of four
fund, fee pool; amounts                              stays below 2^64
deposited, withdrawn,
bonded
commitment bond (base       0 ≤ bond < 2^30              one field element of the
units)                                               commitment's leaf under the
                                                     commitment root
======================  ===========================  ===========================

A position's notional is below ``2^22 · 2^30 · 2^10 = 2^62`` at any price, so
it fits the same limbs as a balance; a fee or a funding payment on it too.
Positions are enforced where they can grow: the reveal check refuses an order
that could take its trader's position (with the trader's other open orders on
the same side) to 2^22 lots or beyond, and the batch transition refuses any
result that would break a bound. See docs/formats.md, "Value bounds".
"""

from __future__ import annotations

import re
from typing import TypeGuard

__all__ = [
    "BALANCE_BITS",
    "BOND_BITS",
    "LOTS_BITS",
    "MAX_BALANCE",
    "MAX_BOND",
    "MAX_LOTS",
    "MAX_MULTIPLIER",
    "MAX_POSITION",
    "MAX_PRICE",
    "MULTIPLIER_BITS",
    "PRICE_BITS",
    "bound_message",
    "integer_in",
    "is_integer_text",
    "within",
]

PRICE_BITS = 30
LOTS_BITS = 22
MULTIPLIER_BITS = 10
BALANCE_BITS = 62
BOND_BITS = 30

#: Highest price in ticks (prices are 1 … 2^30 − 1).
MAX_PRICE = (1 << PRICE_BITS) - 1
#: Largest order quantity or RFQ size in lots.
MAX_LOTS = (1 << LOTS_BITS) - 1
#: Largest absolute position in lots.
MAX_POSITION = MAX_LOTS
#: Largest contract multiplier (collateral base units per lot per tick).
MAX_MULTIPLIER = (1 << MULTIPLIER_BITS) - 1
#: Largest absolute balance in base units (collateral, insurance fund, fee
#: pool) and largest amount deposited, withdrawn, locked or bonded.
MAX_BALANCE = (1 << BALANCE_BITS) - 1
#: Largest bond a commitment can put at stake, in collateral base units (2^30 − 1,
#: about 1 073 USDC at 6 decimals): the bond is one field element of the commitment's
#: leaf (auction/commitment.py), so it stays below p ≈ 2^30.9. An RFQ quote's bond is
#: a balance (MAX_BALANCE).
MAX_BOND = (1 << BOND_BITS) - 1


_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def is_integer_text(text: str) -> bool:
    """Whether ``text`` (whitespace around it aside) is an optional sign and ASCII
    digits: ``int()`` also takes ``"1_000"`` and non-ASCII digits such as ``"٣"``."""
    return _INTEGER_TEXT.fullmatch(text.strip()) is not None


def integer_in(text: str, low: int, high: int) -> int | None:
    """The integer ``text`` writes (:func:`is_integer_text`) when it is from ``low`` to
    ``high``, else None. A number of more digits than either bound is out of range
    unconverted: ``int()`` refuses text of more than 4300 digits with a ValueError."""
    t = text.strip()
    if not is_integer_text(t):
        return None
    digits = t.lstrip("+-").lstrip("0")  # leading zeros count towards int()'s limit too
    if len(digits) > len(str(max(abs(low), abs(high)))):
        return None
    value = -int(digits or "0", 10) if t.startswith("-") else int(digits or "0", 10)
    return value if low <= value <= high else None


def within(value: object, low: int, high: int) -> TypeGuard[int]:
    """Whether ``value`` is an int (not a bool) with ``low <= value <= high``."""
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def bound_message(name: str, value: object, low: int, high: int, unit: str = "") -> str:
    """The one wording of a bound violation: ``"name: expected low to high unit
    (below 2^k), got value"``."""
    suffix = f" {unit}" if unit else ""
    bits = (high + 1).bit_length() - 1
    below = f" (below 2^{bits})" if high + 1 == 1 << bits else ""
    return f"{name}: expected an integer from {low} to {high}{suffix}{below}, got {value!r}"
