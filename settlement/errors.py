"""Errors of the settlement layer: ledger, oracle, margin and the batch transition.

Every error derives from :class:`SettlementError`; classes that refine a
builtin also inherit it. :class:`InsufficientMargin` is also an
:class:`~auction.errors.AuctionError` (code ``insufficient_margin``), so the
commit book records a margin refusal at reveal like any other rejection.
"""

from __future__ import annotations

from sealbatch.auction.errors import AuctionError
from sealbatch.crypto.exceptions import SealbatchError

__all__ = [
    "BadOracleSignature",
    "BatchStatementError",
    "InsufficientBond",
    "InsufficientCollateral",
    "InsufficientMargin",
    "InvariantViolation",
    "MarketFlagged",
    "MarketHalted",
    "OracleError",
    "PositionLimit",
    "ReduceOnlyViolation",
    "SettlementError",
    "Unanchorable",
    "UnknownAccount",
    "UnknownOracleSource",
]


class SettlementError(SealbatchError):
    """Root of the settlement layer's errors."""

    code = "settlement_error"


class UnknownAccount(SettlementError, KeyError):
    """An operation or a fill names an account the ledger does not hold."""

    code = "unknown_account"

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class InsufficientCollateral(SettlementError, ValueError):
    """A withdrawal or transfer asks for more than the free collateral."""

    code = "insufficient_collateral"


class InsufficientMargin(SettlementError, AuctionError, ValueError):
    """An order would leave its account below initial margin at its limit price."""

    code = "insufficient_margin"


class InsufficientBond(SettlementError, AuctionError, ValueError):
    """The trader's free collateral does not cover the bonds of its open commitments."""

    code = "insufficient_bond"


class ReduceOnlyViolation(SettlementError, AuctionError, ValueError):
    """A reduce-only order would open, increase or flip a position."""

    code = "reduce_only_increases"


class PositionLimit(SettlementError, AuctionError, ValueError):
    """An order could take its account's position to 2^22 lots or beyond
    (:data:`sealbatch.auction.bounds.MAX_POSITION`)."""

    code = "position_limit"


class OracleError(SettlementError, ValueError):
    """An oracle report is malformed, unsigned or signed by an unknown source."""

    code = "oracle_error"


class BadOracleSignature(OracleError):
    """An oracle report's signature does not recover to its source."""

    code = "bad_signature"


class UnknownOracleSource(OracleError):
    """An oracle report names a source the operator did not configure."""

    code = "unknown_oracle_source"


class MarketFlagged(SettlementError, AuctionError, ValueError):
    """The oracle of a market the request depends on is flagged: its mark is not
    trusted, so no withdrawal, transfer or risk-raising order is priced off it."""

    code = "market_flagged"


class MarketHalted(SettlementError, AuctionError, ValueError):
    """A market's last trusted index is older than the maximum price age: it takes
    no orders and no batch trades in it until a trusted index arrives."""

    code = "market_halted"


class Unanchorable(SettlementError):
    """A batch the exchange contract could not accept: its deficits need deleveraging
    or socialised loss, whose amounts the batch proof does not prove yet. A venue
    on an L1 refuses it rather than settle a ledger no anchor could ever follow."""

    code = "unanchorable_batch"


class InvariantViolation(SettlementError):
    """A batch broke conservation of value or zero net position (a bug, never input)."""

    code = "invariant_violation"


class BatchStatementError(SettlementError, ValueError):
    """A published batch cannot give a batch-proof statement (a missing, malformed or
    inconsistent file), or its trace breaks the batch statement; the message says which."""
