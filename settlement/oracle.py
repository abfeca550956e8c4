"""Oracle: signed price reports, families with a quorum, the index, staleness, the mark.

Each source signs its price reports with its secp256k1 key over
``keccak(REPORT_TAG, abi(keccak(market), price, timestamp_ms, source))``.
Sources belong to *families* (e.g. exchange feeds vs. an aggregator). In one
round, per market:

1. every report is checked: a report from a source the operator did not
   configure, or with a bad signature, fails the round (:class:`UnknownOracleSource`,
   :class:`BadOracleSignature`); a report dated after the round time is
   dropped (reason ``future``), one older than ``stale_ms`` is dropped
   (``stale``); each source counts with its newest report, and a source that
   signed two different prices at that same time is dropped (``conflicting``);
2. a family *counts* when at least ``family_quorum`` of its sources agree:
   a source agrees when its price is within ``agreement_bps`` of the median
   of the family's reports, and the family price is the median of the
   agreeing prices; a family short of its quorum does not count;
3. the *index* is the median of the counting families' prices; it is
   trusted when at least ``min_families`` families count and their prices
   lie within ``divergence_bps`` of the index; otherwise the market is
   *flagged* and settlement keeps the last trusted index.

Medians of an even count are the midpoint of the two middle values, rounded
down, so a lone source among two pulls its family's price by half its own
error at most, and only while it agrees within ``agreement_bps``.

The mark price is the index plus a *mark premium* that follows the clearing
price's premium over the index by at most ``mark_step_bps`` of the index per
batch and never leaves ``± mark_band_bps`` of the index (:func:`update_mark`).
A batch therefore moves the mark by at most ``mark_step_bps`` of the index
beyond the index's own move.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealbatch.auction.bounds import bound_message
from sealbatch.auction.markets import MAX_TICKS
from sealbatch.crypto.eip712 import (
    Address,
    address_of,
    checksum_address,
    recover_signer,
    sign_digest,
)
from sealbatch.crypto.exceptions import SignatureError
from sealbatch.crypto.keccak import keccak256, keccak_merkle_root
from sealbatch.settlement.errors import BadOracleSignature, OracleError, UnknownOracleSource
from sealbatch.settlement.input_files import CONFIG_FILE_CAP, read_input_text
from sealbatch.settlement.json_text import loads_json

__all__ = [
    "BPS",
    "REPORT_TAG",
    "IndexReading",
    "OracleConfig",
    "OracleRound",
    "OracleSource",
    "PriceReport",
    "SignedReport",
    "abi_encode",
    "load_oracle_config",
    "lower_median",
    "median",
    "read_index",
    "twap",
    "update_mark",
]


def abi_encode(types: list[str], values: list[Any]) -> bytes:
    """``eth_abi.encode``, imported on first use: a restarting venue answers sooner
    without it (eth_abi and its grammar cost about 0.1 s of CPU to import)."""
    from eth_abi import encode

    return encode(types, values)


#: Type tag of a price report: keccak("sealbatch.PriceReport.v1").
REPORT_TAG = keccak256(b"sealbatch.PriceReport.v1")

BPS = 10_000


def lower_median(values: Sequence[int]) -> int:
    """The median of ``values``; for an even count the lower of the two middle values."""
    if not values:
        raise OracleError("expected at least one value for a median, got none")
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def median(values: Sequence[int]) -> int:
    """The median of ``values``; for an even count the midpoint of the two middle
    values, rounded down (toward −∞)."""
    if not values:
        raise OracleError("expected at least one value for a median, got none")
    ordered = sorted(values)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    return (ordered[n // 2 - 1] + ordered[n // 2]) // 2


@dataclass(frozen=True)
class OracleSource:
    """A price source: its signing address and its family."""

    address: Address
    family: str


@dataclass(frozen=True)
class PriceReport:
    """One source's price of one market at one time."""

    market: str
    price: int
    timestamp_ms: int
    source: Address

    def __post_init__(self) -> None:
        for name in ("price", "timestamp_ms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 1 << 63:
                raise OracleError(f"{name}: expected a positive integer, got {v!r}")
        if self.price > MAX_TICKS:
            raise OracleError(bound_message("price", self.price, 1, MAX_TICKS, "ticks"))

    def digest(self) -> bytes:
        return keccak256(
            REPORT_TAG,
            abi_encode(
                ["bytes32", "uint64", "uint64", "address"],
                [keccak256(self.market.encode()), self.price, self.timestamp_ms, self.source],
            ),
        )


@dataclass(frozen=True)
class SignedReport:
    """A price report and its source's 65-byte signature over :meth:`PriceReport.digest`."""

    report: PriceReport
    signature: bytes

    @classmethod
    def sign(cls, report: PriceReport, private_key: bytes | str) -> SignedReport:
        if address_of(private_key) != report.source:
            raise OracleError(f"expected the key of {report.source}, got {address_of(private_key)}")
        return cls(report, sign_digest(private_key, report.digest()))

    def verify(self) -> None:
        """Raise BadOracleSignature unless the signature recovers to the report's source."""
        try:
            signer = recover_signer(self.report.digest(), self.signature)
        except SignatureError as exc:
            raise BadOracleSignature(f"report signature: {exc}") from None
        if signer != self.report.source:
            raise BadOracleSignature(
                f"expected a signature by {self.report.source}, got one by {signer}"
            )

    def to_dict(self) -> dict[str, object]:
        r = self.report
        return {
            "market": r.market,
            "price": r.price,
            "timestamp_ms": r.timestamp_ms,
            "source": r.source,
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object], where: str = "report") -> SignedReport:
        """Parse :meth:`to_dict`'s document.

        Raises:
            OracleError: a missing field or one of another type or range, naming it
                (``where`` is the report's place, e.g. ``oracle.json: reports[3]``).
        """
        if not isinstance(data, Mapping):
            raise OracleError(f"{where}: expected an object, got {data!r}")
        missing = [k for k in ("market", "price", "timestamp_ms", "source", "signature")
                   if k not in data]  # fmt: skip
        if missing:
            raise OracleError(
                f"{where}: expected market, price, timestamp_ms, source, signature, "
                f"missing {', '.join(missing)}"
            )
        market, source, sig = data["market"], data["source"], data["signature"]
        if not isinstance(market, str) or not market:
            raise OracleError(f"{where}.market: expected a market id, got {market!r}")
        if not isinstance(source, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", source):
            raise OracleError(f"{where}.source: expected 0x and 40 hex digits, got {source!r}")
        if not isinstance(sig, str) or not re.fullmatch(r"(0x)?([0-9a-fA-F]{2})*", sig):
            raise OracleError(f"{where}.signature: expected hex digits, got {sig!r}")
        try:
            report = PriceReport(
                market,
                data["price"],  # type: ignore[arg-type]
                data["timestamp_ms"],  # type: ignore[arg-type]
                Address(source),
            )
        except OracleError as exc:
            raise OracleError(f"{where}.{exc}") from None
        return cls(report, bytes.fromhex(sig.removeprefix("0x")))


def _check(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OracleError(f"{name}: expected an integer in [{low}, {high}], got {value!r}")


#: The keys of an oracle configuration file besides ``sources`` (all optional).
_RULES = (
    "stale_ms",
    "divergence_bps",
    "agreement_bps",
    "family_quorum",
    "min_families",
    "max_price_age_ms",
)


@dataclass(frozen=True)
class OracleConfig:
    """The trusted sources and the rules that turn their reports into an index.

    Attributes:
        sources: every trusted source with its family (distinct addresses).
        stale_ms: a report older than this against the round time is dropped.
        divergence_bps: counting family prices further apart than this
            fraction of the index flag the market.
        agreement_bps: a source agrees with its family when its price is
            within this fraction of the family's median report.
        family_quorum: agreeing sources a family needs to count (every
            family must have at least this many sources).
        min_families: counting families the index needs.
        max_price_age_ms: a market whose last trusted index is older than this
            halts (no batch trades in it) until a trusted index arrives.
    """

    sources: tuple[OracleSource, ...]
    stale_ms: int = 5_000
    divergence_bps: int = 200
    agreement_bps: int = 50
    family_quorum: int = 2
    min_families: int = 2
    max_price_age_ms: int = 30_000

    def __post_init__(self) -> None:
        if len({s.family for s in self.sources}) < 2:
            raise OracleError(
                "sources: expected at least two families, "
                f"got {sorted({s.family for s in self.sources})}"
            )
        if len({s.address for s in self.sources}) != len(self.sources):
            raise OracleError("sources: expected distinct addresses")
        _check("stale_ms", self.stale_ms, 1, 1 << 40)
        _check("divergence_bps", self.divergence_bps, 0, BPS)
        _check("agreement_bps", self.agreement_bps, 0, BPS)
        _check("family_quorum", self.family_quorum, 1, 1 << 10)
        _check("min_families", self.min_families, 1, len(self.families))
        _check("max_price_age_ms", self.max_price_age_ms, 1, 1 << 40)
        for family in self.families:
            size = sum(1 for s in self.sources if s.family == family)
            if size < self.family_quorum:
                raise OracleError(
                    f"family {family}: expected at least family_quorum = {self.family_quorum} "
                    f"sources, got {size}"
                )

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(sorted({s.family for s in self.sources}))

    def family_of(self, address: str) -> str | None:
        for s in self.sources:
            if s.address == address:
                return s.family
        return None

    def to_dict(self) -> dict[str, Any]:
        """The configuration file's JSON document (docs/formats.md, "Oracle sources")."""
        return {
            "sources": [{"address": s.address, "family": s.family} for s in self.sources],
            **{name: getattr(self, name) for name in _RULES},
        }

    @classmethod
    def from_dict(cls, data: object) -> OracleConfig:
        """Parse :meth:`to_dict`'s document; rules left out take their defaults.

        Raises:
            OracleError: a missing or malformed field, an unknown key, or a
                rule out of range.
        """
        if not isinstance(data, Mapping):
            raise OracleError(f"oracle config: expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"sources", *_RULES})
        if unknown:
            raise OracleError(
                f"oracle config: expected sources and {', '.join(_RULES)}, got {unknown}"
            )
        raw = data.get("sources")
        if not isinstance(raw, list):
            raise OracleError(f"sources: expected a list of {{address, family}}, got {raw!r}")
        sources = []
        for n, item in enumerate(raw):
            if not isinstance(item, Mapping) or set(item) != {"address", "family"}:
                raise OracleError(f"sources[{n}]: expected {{address, family}}, got {item!r}")
            address, family = item["address"], item["family"]
            if not isinstance(family, str) or not family:
                raise OracleError(f"sources[{n}].family: expected a name, got {family!r}")
            if not isinstance(address, str) or len(address) != 42 or address[:2] != "0x":
                raise OracleError(
                    f"sources[{n}].address: expected 0x and 40 hex digits, got {address!r}"
                )
            try:
                checked = checksum_address(address)
            except ValueError:
                raise OracleError(
                    f"sources[{n}].address: expected 0x and 40 hex digits, got {address!r}"
                ) from None
            sources.append(OracleSource(checked, family))
        rules = {name: data[name] for name in _RULES if name in data}
        return cls(tuple(sources), **rules)


def load_oracle_config(path: str | Path) -> OracleConfig:
    """Read an oracle configuration file (JSON, :meth:`OracleConfig.to_dict`'s document).

    Raises:
        OracleError: the file cannot be read, is not JSON, or is not a valid configuration.
    """
    try:
        text = read_input_text(path, CONFIG_FILE_CAP)
    except (OSError, UnicodeDecodeError) as exc:
        raise OracleError(f"oracle sources: cannot read {path}: {exc}") from None
    try:
        data = loads_json(text)
    except (ValueError, RecursionError) as exc:  # also too deep, or an int over 4300 digits
        raise OracleError(f"oracle sources: expected JSON in {path}, got {exc}") from None
    return OracleConfig.from_dict(data)


@dataclass(frozen=True)
class OracleRound:
    """The oracle input of one batch: the round time and every signed report."""

    round_id: int
    timestamp_ms: int
    reports: tuple[SignedReport, ...]

    def digest(self) -> bytes:
        """Keccak Merkle root over ``keccak(report digest ‖ signature)``, behind id and time."""
        leaves = [keccak256(r.report.digest(), r.signature) for r in self.reports]
        head = abi_encode(["uint64", "uint64"], [self.round_id, self.timestamp_ms])
        return keccak256(REPORT_TAG, head, keccak_merkle_root(leaves))

    def to_dict(self) -> dict[str, object]:
        return {
            "round_id": self.round_id,
            "timestamp_ms": self.timestamp_ms,
            "digest": "0x" + self.digest().hex(),
            "reports": [r.to_dict() for r in self.reports],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object], where: str = "round") -> OracleRound:
        """Parse :meth:`to_dict`'s document (its ``digest`` is not read).

        Raises:
            OracleError: a missing field or one of another type or range, naming it
                (``where`` is the round's place, e.g. ``oracle.json``).
        """
        reports = data.get("reports")
        if not isinstance(reports, list):
            raise OracleError(f"{where}: reports: expected a list, got {reports!r}")
        rid, ts = data.get("round_id"), data.get("timestamp_ms")
        # both are uint64 in the round's digest (and in the exchange contract)
        for name, v in (("round_id", rid), ("timestamp_ms", ts)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << 64:
                raise OracleError(
                    f"{where}: {name}: expected an integer from 0 to 2^64 - 1, got {v!r}"
                )
        return cls(
            rid,  # type: ignore[arg-type]
            ts,  # type: ignore[arg-type]
            tuple(
                SignedReport.from_dict(r, f"{where}: reports[{n}]") for n, r in enumerate(reports)
            ),
        )


@dataclass(frozen=True)
class IndexReading:
    """One market's oracle reading in one round.

    Attributes:
        market: the market.
        index: median of the counting families' prices, ticks; None when no
            family counts. Settlement takes it only when not ``flagged``.
        families: ``(family, price)`` for each counting family.
        flagged: fewer than ``min_families`` families count, or they diverge.
        reason: why it is flagged ("" when not).
        dropped: reports dropped as stale.
        dropped_reports: ``(source, reason)`` per report or source left out:
            ``stale``, ``future``, ``conflicting``, or ``disagrees`` (outside
            ``agreement_bps`` of its family), in source order.
    """

    market: str
    index: int | None
    families: tuple[tuple[str, int], ...]
    flagged: bool
    reason: str
    dropped: int
    dropped_reports: tuple[tuple[str, str], ...] = ()

    @property
    def trusted(self) -> int | None:
        """The index when settlement may use it (not flagged), else None."""
        return None if self.flagged else self.index

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "families": dict(self.families),
            "flagged": self.flagged,
            "reason": self.reason,
            "stale_dropped": self.dropped,
            "dropped": [{"source": s, "reason": r} for s, r in self.dropped_reports],
        }


def _agrees(price: int, center: int, tolerance_bps: int) -> bool:
    """``|price − center| × 10 000 ≤ tolerance_bps × center`` (exact)."""
    return abs(price - center) * BPS <= tolerance_bps * center


def read_index(
    oracle_round: OracleRound, config: OracleConfig, markets: Sequence[str]
) -> dict[str, IndexReading]:
    """Verify every report and read each market's index (module docstring, steps 1-3).

    The result does not depend on the order of the reports in the round.

    Raises:
        UnknownOracleSource: a report from a source not in ``config``.
        BadOracleSignature: a report whose signature is not its source's.
    """
    known = set(markets)
    # (market, source) -> (newest time, prices signed at that time)
    newest: dict[tuple[str, str], tuple[int, set[int]]] = {}
    dropped: dict[str, list[tuple[str, str]]] = {m: [] for m in markets}
    stale = dict.fromkeys(markets, 0)
    for signed in oracle_round.reports:
        r = signed.report
        if config.family_of(r.source) is None:
            raise UnknownOracleSource(
                f"source: expected a configured oracle source, got {r.source}"
            )
        signed.verify()
        if r.market not in known:
            continue
        if r.timestamp_ms > oracle_round.timestamp_ms:
            dropped[r.market].append((r.source, "future"))
            continue
        if oracle_round.timestamp_ms - r.timestamp_ms > config.stale_ms:
            dropped[r.market].append((r.source, "stale"))
            stale[r.market] += 1
            continue
        key = (r.market, r.source)
        held = newest.get(key)
        if held is None or held[0] < r.timestamp_ms:
            newest[key] = (r.timestamp_ms, {r.price})
        elif held[0] == r.timestamp_ms:
            held[1].add(r.price)

    prices: dict[str, dict[str, list[tuple[str, int]]]] = {m: {} for m in markets}
    for (market, source), (_, signed_prices) in sorted(newest.items()):
        if len(signed_prices) > 1:  # two prices for one time: trust neither
            dropped[market].append((source, "conflicting"))
            continue
        family = config.family_of(source) or ""
        prices[market].setdefault(family, []).append((source, min(signed_prices)))

    readings: dict[str, IndexReading] = {}
    for market in markets:
        counted: list[tuple[str, int]] = []
        short: list[str] = []
        for family in config.families:
            reports = prices[market].get(family, [])
            if not reports:
                short.append(f"{family} 0/{config.family_quorum}")
                continue
            center = median([p for _, p in reports])
            agreeing = [p for _, p in reports if _agrees(p, center, config.agreement_bps)]
            dropped[market].extend(
                (s, "disagrees") for s, p in reports if not _agrees(p, center, config.agreement_bps)
            )
            if len(agreeing) >= config.family_quorum:
                counted.append((family, median(agreeing)))
            else:
                short.append(f"{family} {len(agreeing)}/{config.family_quorum}")
        reasons = sorted(dropped[market])
        if not counted:
            readings[market] = IndexReading(
                market, None, (), True, "no family has a quorum", stale[market], tuple(reasons)
            )
            continue
        index = median([p for _, p in counted])
        spread = max(p for _, p in counted) - min(p for _, p in counted)
        reason = ""
        if len(counted) < config.min_families:
            reason = (
                f"expected at least {config.min_families} families with a quorum, got "
                f"{len(counted)} (short: {', '.join(short)})"
            )
        elif spread * BPS > config.divergence_bps * index:
            reason = (
                f"families diverge by {spread} ticks (> {config.divergence_bps} bps of {index})"
            )
        readings[market] = IndexReading(
            market, index, tuple(counted), bool(reason), reason, stale[market], tuple(reasons)
        )
    return readings


def twap(samples: Sequence[tuple[int, int]], end_ms: int) -> int:
    """Time-weighted average of a step function, rounded down.

    Args:
        samples: ``(timestamp_ms, value)`` in increasing time; each value
            holds until the next sample (the last until ``end_ms``).
        end_ms: the end of the window, at least the last sample's time.

    Raises:
        OracleError: no samples, times not increasing, or an empty window.
    """
    if not samples:
        raise OracleError("expected at least one sample for a TWAP, got none")
    times = [t for t, _ in samples] + [end_ms]
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise OracleError(f"expected strictly increasing times ending at {end_ms}, got {times}")
    total = sum((times[i + 1] - times[i]) * v for i, (_, v) in enumerate(samples))
    return total // (end_ms - times[0])


def update_mark(
    index: int, premium: int, clearing: int | None, band_bps: int, step_bps: int
) -> tuple[int, int]:
    """The mark premium after a batch and the mark it gives: ``(mark, premium)``, ticks.

    The premium moves toward this batch's sample (``clearing − index``; 0 when
    nothing traded) by at most ``step = ⌊index × step_bps / 10 000⌋`` and is
    then clamped to ``± ⌊index × band_bps / 10 000⌋`` (both rounded toward 0,
    so the bounds never exceed the stated fractions). The mark is
    ``max(1, index + premium)``.

    Hence one batch moves ``mark − index`` by at most ``step_bps`` of the
    index, and the mark never leaves ``index ± band_bps``.
    """
    step = index * step_bps // BPS
    band = index * band_bps // BPS
    sample = 0 if clearing is None else clearing - index
    moved = premium + max(-step, min(step, sample - premium))
    new_premium = max(-band, min(band, moved))
    return max(1, index + new_premium), new_premium
