"""Oracle: signed price reports, families, the index, staleness, divergence, TWAP, mark.

Each source signs its price reports with its secp256k1 key over
``keccak(REPORT_TAG, abi(keccak(market), price, timestamp_ms, source))``.
Sources belong to *families* (e.g. exchange feeds vs. an aggregator): a
family's price is the median of its fresh reports, and the index is the
median of the family prices, so one compromised family cannot move the index
on its own when three or more families report.

A market is *flagged* when a configured family has no fresh report, or when
the family prices differ by more than ``divergence_bps`` of the index. The
oracle round is an explicit input of each batch (:class:`OracleRound`, with a
digest that the proof binds).

Medians of an even number of prices take the lower middle one, so the index
is always a price some source reported (no rounding).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode

from sealbatch.auction.markets import MAX_TICKS
from sealbatch.crypto.eip712 import Address, address_of, recover_signer, sign_digest
from sealbatch.crypto.exceptions import SignatureError
from sealbatch.crypto.keccak import keccak256, keccak_merkle_root
from sealbatch.settlement.errors import OracleError

__all__ = [
    "REPORT_TAG",
    "IndexReading",
    "OracleConfig",
    "OracleRound",
    "OracleSource",
    "PriceReport",
    "SignedReport",
    "lower_median",
    "mark_price",
    "read_index",
    "twap",
]

#: Type tag of a price report: keccak("sealbatch.PriceReport.v1").
REPORT_TAG = keccak256(b"sealbatch.PriceReport.v1")


def lower_median(values: Sequence[int]) -> int:
    """The median of ``values``; for an even count the lower of the two middle values."""
    if not values:
        raise OracleError("expected at least one value for a median, got none")
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


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
            raise OracleError(f"price: expected 1 to {MAX_TICKS} ticks, got {self.price}")

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
        """Raise OracleError unless the signature recovers to the report's source."""
        try:
            signer = recover_signer(self.report.digest(), self.signature)
        except SignatureError as exc:
            raise OracleError(f"report signature: {exc}") from None
        if signer != self.report.source:
            raise OracleError(f"expected a signature by {self.report.source}, got one by {signer}")

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
    def from_dict(cls, data: Mapping[str, object]) -> SignedReport:
        try:
            sig = str(data["signature"])
            report = PriceReport(
                str(data["market"]),
                data["price"],  # type: ignore[arg-type]
                data["timestamp_ms"],  # type: ignore[arg-type]
                Address(str(data["source"])),
            )
            return cls(report, bytes.fromhex(sig.removeprefix("0x")))
        except (KeyError, ValueError) as exc:
            raise OracleError(
                f"report: expected market, price, timestamp_ms, source, signature: {exc}"
            ) from None


@dataclass(frozen=True)
class OracleConfig:
    """The known sources and the rules for stale and divergent reports.

    Attributes:
        sources: every trusted source with its family.
        stale_ms: reports older than this (against the round time) are dropped.
        divergence_bps: family prices further apart than this fraction of the
            index flag the market.
    """

    sources: tuple[OracleSource, ...]
    stale_ms: int = 5_000
    divergence_bps: int = 200

    def __post_init__(self) -> None:
        if len({s.family for s in self.sources}) < 2:
            raise OracleError(
                "sources: expected at least two families, "
                f"got {sorted({s.family for s in self.sources})}"
            )
        if len({s.address for s in self.sources}) != len(self.sources):
            raise OracleError("sources: expected distinct addresses")

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(sorted({s.family for s in self.sources}))

    def family_of(self, address: str) -> str | None:
        for s in self.sources:
            if s.address == address:
                return s.family
        return None


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
    def from_dict(cls, data: Mapping[str, object]) -> OracleRound:
        reports = data.get("reports")
        if not isinstance(reports, list):
            raise OracleError(f"reports: expected a list, got {reports!r}")
        rid, ts = data.get("round_id"), data.get("timestamp_ms")
        if not isinstance(rid, int) or not isinstance(ts, int):
            raise OracleError(f"expected integer round_id and timestamp_ms, got {rid!r}, {ts!r}")
        return cls(rid, ts, tuple(SignedReport.from_dict(r) for r in reports))


@dataclass(frozen=True)
class IndexReading:
    """One market's oracle reading in one round.

    Attributes:
        market: the market.
        index: median of the family prices, ticks; None when no family reported.
        families: ``(family, price)`` for each family with fresh reports.
        flagged: a family is missing or the families diverge.
        reason: why it is flagged ("" when not).
        dropped: reports dropped as stale.
    """

    market: str
    index: int | None
    families: tuple[tuple[str, int], ...]
    flagged: bool
    reason: str
    dropped: int

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "families": dict(self.families),
            "flagged": self.flagged,
            "reason": self.reason,
            "stale_dropped": self.dropped,
        }


def read_index(
    oracle_round: OracleRound, config: OracleConfig, markets: Sequence[str]
) -> dict[str, IndexReading]:
    """Verify every report and read each market's index.

    Raises:
        OracleError: a bad signature, or a report from an unknown source, or
            one from the future (later than the round time).
    """
    fresh: dict[str, dict[str, list[int]]] = {m: {} for m in markets}
    dropped = dict.fromkeys(markets, 0)
    latest: dict[tuple[str, str], int] = {}
    for signed in oracle_round.reports:
        r = signed.report
        family = config.family_of(r.source)
        if family is None:
            raise OracleError(f"source: expected a configured oracle source, got {r.source}")
        signed.verify()
        if r.market not in fresh:
            continue
        if r.timestamp_ms > oracle_round.timestamp_ms:
            raise OracleError(
                f"timestamp_ms: expected at most the round time {oracle_round.timestamp_ms}, "
                f"got {r.timestamp_ms} from {r.source}"
            )
        if oracle_round.timestamp_ms - r.timestamp_ms > config.stale_ms:
            dropped[r.market] += 1
            continue
        # one report per source and market: its newest
        key = (r.market, r.source)
        if key in latest and latest[key] >= r.timestamp_ms:
            continue
        latest[key] = r.timestamp_ms
    by_source: dict[tuple[str, str], int] = {}
    for signed in oracle_round.reports:
        r = signed.report
        if latest.get((r.market, r.source)) == r.timestamp_ms:
            by_source[(r.market, r.source)] = r.price
    for (market, source), price in sorted(by_source.items()):
        family = config.family_of(source)
        if family is not None:
            fresh[market].setdefault(family, []).append(price)

    readings: dict[str, IndexReading] = {}
    for market in markets:
        fams = tuple(sorted((f, lower_median(p)) for f, p in fresh[market].items()))
        missing = [f for f in config.families if f not in fresh[market]]
        if not fams:
            readings[market] = IndexReading(
                market, None, (), True, "no fresh report", dropped[market]
            )
            continue
        index = lower_median([p for _, p in fams])
        spread = max(p for _, p in fams) - min(p for _, p in fams)
        reason = ""
        if missing:
            reason = f"family missing: {', '.join(missing)}"
        elif spread * 10_000 > config.divergence_bps * index:
            reason = (
                f"families diverge by {spread} ticks (> {config.divergence_bps} bps of {index})"
            )
        readings[market] = IndexReading(market, index, fams, bool(reason), reason, dropped[market])
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


def mark_price(index: int, last_price: int | None, premium: int) -> int:
    """Mark = median(index, last clearing price, index + average premium), ticks.

    Without a clearing price yet the mark is the median of the two others'
    lower value rule (that is: min(index, index + premium)); the mark is never
    below 1 tick. The median makes the mark robust: one manipulated input
    (a thin batch's price, a spiking premium) cannot move it alone.
    """
    candidates = [index, index + premium]
    if last_price:
        candidates.append(last_price)
    return max(1, lower_median(candidates))
