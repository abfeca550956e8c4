"""Oracle: signatures, family medians, staleness, divergence, missing family, TWAP, mark."""

from __future__ import annotations

import pytest

from sealbatch.crypto.eip712 import address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.errors import OracleError
from sealbatch.settlement.oracle import (
    OracleConfig,
    OracleRound,
    OracleSource,
    PriceReport,
    SignedReport,
    lower_median,
    mark_price,
    read_index,
    twap,
)
from tests.settlement.conftest import ORACLE, ORACLE_KEYS, oracle_round, report

MARKETS = ("BTC-PERP", "ETH-PERP")


def test_index_is_median_of_family_medians() -> None:
    reports = (
        report("cex", 0, "BTC-PERP", 100, 1_000),
        report("cex", 1, "BTC-PERP", 110, 1_000),  # cex median: lower middle = 100
        report("dex", 0, "BTC-PERP", 101, 1_000),
        report("dex", 1, "BTC-PERP", 103, 1_000),  # dex median = 101
    )
    r = read_index(OracleRound(1, 1_000, reports), ORACLE, ["BTC-PERP"])["BTC-PERP"]
    assert dict(r.families) == {"cex": 100, "dex": 101}
    assert r.index == 100
    assert not r.flagged


def test_one_family_cannot_move_index_alone_with_three_families() -> None:
    keys = {f: keccak256(b"three families", f.encode()) for f in ("a", "b", "c")}
    cfg = OracleConfig(
        tuple(OracleSource(address_of(k), f) for f, k in keys.items()), divergence_bps=10_000
    )
    reports = tuple(
        SignedReport.sign(PriceReport("BTC-PERP", p, 5, address_of(keys[f])), keys[f])
        for f, p in (("a", 1_000), ("b", 1_001), ("c", 9_999))
    )
    assert read_index(OracleRound(1, 5, reports), cfg, ["BTC-PERP"])["BTC-PERP"].index == 1_001


def test_stale_reports_are_dropped_and_missing_family_flags() -> None:
    fresh = oracle_round(1, 10_000, {"BTC-PERP": 500})
    stale_dex = tuple(
        report("dex", i, "BTC-PERP", 900, 10_000 - ORACLE.stale_ms - 1) for i in range(2)
    )
    cex = tuple(r for r in fresh.reports if ORACLE.family_of(r.report.source) == "cex")
    reading = read_index(OracleRound(1, 10_000, cex + stale_dex), ORACLE, ["BTC-PERP"])["BTC-PERP"]
    assert reading.dropped == 2
    assert reading.index == 500
    assert reading.flagged and "dex" in reading.reason


def test_divergent_families_flag() -> None:
    rnd = oracle_round(1, 1_000, {"BTC-PERP": 10_000}, {("BTC-PERP", "dex"): 10_300})
    r = read_index(rnd, ORACLE, ["BTC-PERP"])["BTC-PERP"]
    assert r.flagged and "diverge" in r.reason
    calm = oracle_round(1, 1_000, {"BTC-PERP": 10_000}, {("BTC-PERP", "dex"): 10_100})
    assert not read_index(calm, ORACLE, ["BTC-PERP"])["BTC-PERP"].flagged


def test_no_reports_gives_no_index() -> None:
    r = read_index(OracleRound(1, 1_000, ()), ORACLE, MARKETS)
    assert r["ETH-PERP"].index is None and r["ETH-PERP"].flagged


def test_bad_signature_and_unknown_source_are_refused() -> None:
    good = report("cex", 0, "BTC-PERP", 100, 1_000)
    forged = SignedReport(PriceReport("BTC-PERP", 200, 1_000, good.report.source), good.signature)
    with pytest.raises(OracleError, match="signature by"):
        read_index(OracleRound(1, 1_000, (forged,)), ORACLE, MARKETS)
    stranger = keccak256(b"stranger")
    rogue = SignedReport.sign(PriceReport("BTC-PERP", 100, 1_000, address_of(stranger)), stranger)
    with pytest.raises(OracleError, match="configured oracle source"):
        read_index(OracleRound(1, 1_000, (rogue,)), ORACLE, MARKETS)
    with pytest.raises(OracleError, match="round time"):
        read_index(OracleRound(1, 999, (good,)), ORACLE, MARKETS)


def test_round_digest_binds_every_report_and_round_trips() -> None:
    rnd = oracle_round(3, 2_000, {"BTC-PERP": 100, "ETH-PERP": 50})
    again = OracleRound.from_dict(rnd.to_dict())
    assert again == rnd and again.digest() == rnd.digest()
    assert OracleRound(3, 2_001, rnd.reports).digest() != rnd.digest()
    assert OracleRound(3, 2_000, rnd.reports[1:]).digest() != rnd.digest()


def test_sign_with_wrong_key_is_refused() -> None:
    other = ORACLE_KEYS[("dex", 0)]
    src = address_of(ORACLE_KEYS[("cex", 0)])
    with pytest.raises(OracleError, match="key of"):
        SignedReport.sign(PriceReport("BTC-PERP", 1, 1, src), other)


def test_config_needs_two_families() -> None:
    with pytest.raises(OracleError, match="two families"):
        OracleConfig((OracleSource(address_of(b"\x01" * 32), "only"),))


@pytest.mark.parametrize(
    ("values", "want"), [([3], 3), ([1, 2], 1), ([5, 1, 3], 3), ([4, 1, 3, 2], 2)]
)
def test_lower_median(values: list[int], want: int) -> None:
    assert lower_median(values) == want


def test_twap() -> None:
    # 10 for 100 ms, 20 for 300 ms → (1000 + 6000) / 400 = 17.5 → 17
    assert twap([(0, 10), (100, 20)], 400) == 17
    assert twap([(0, 7)], 1) == 7
    with pytest.raises(OracleError):
        twap([(5, 1), (5, 2)], 10)
    with pytest.raises(OracleError):
        twap([], 10)


@pytest.mark.parametrize(
    ("index", "last", "premium", "want"),
    [
        (1_000, 1_010, 5, 1_005),  # median of 1000, 1010, 1005
        (1_000, 2_000, 0, 1_000),  # a wild print cannot move the mark
        (1_000, None, 50, 1_000),  # no price yet: lower of index and index + premium
        (1_000, 990, -20, 990),
    ],
)
def test_mark_price(index: int, last: int | None, premium: int, want: int) -> None:
    assert mark_price(index, last, premium) == want
