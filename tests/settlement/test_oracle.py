"""Oracle: signatures, family quorums, staleness, divergence, round rules, TWAP, mark."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbatch.auction.markets import MAX_TICKS
from sealbatch.crypto.eip712 import address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.errors import BadOracleSignature, OracleError, UnknownOracleSource
from sealbatch.settlement.oracle import (
    OracleConfig,
    OracleRound,
    OracleSource,
    PriceReport,
    SignedReport,
    lower_median,
    median,
    read_index,
    twap,
    update_mark,
)
from tests.settlement.conftest import ORACLE, ORACLE_KEYS, oracle_round, report

MARKETS = ("BTC-PERP", "ETH-PERP")


def test_index_is_median_of_family_medians() -> None:
    reports = (
        report("cex", 0, "BTC-PERP", 100_000, 1_000),
        report("cex", 1, "BTC-PERP", 100_040, 1_000),  # cex: midpoint 100 020
        report("dex", 0, "BTC-PERP", 100_101, 1_000),
        report("dex", 1, "BTC-PERP", 100_103, 1_000),  # dex: 100 102
    )
    r = read_index(OracleRound(1, 1_000, reports), ORACLE, ["BTC-PERP"])["BTC-PERP"]
    assert dict(r.families) == {"cex": 100_020, "dex": 100_102}
    assert r.index == (100_020 + 100_102) // 2
    assert not r.flagged and r.trusted == r.index


def test_one_family_cannot_move_index_alone_with_three_families() -> None:
    keys = {f: keccak256(b"three families", f.encode()) for f in ("a", "b", "c")}
    cfg = OracleConfig(
        tuple(OracleSource(address_of(k), f) for f, k in keys.items()),
        divergence_bps=10_000,
        family_quorum=1,
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
    assert reading.flagged and "dex 0/2" in reading.reason
    assert reading.trusted is None


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
    with pytest.raises(BadOracleSignature, match="signature by") as bad:
        read_index(OracleRound(1, 1_000, (forged,)), ORACLE, MARKETS)
    assert bad.value.code == "bad_signature"
    stranger = keccak256(b"stranger")
    rogue = SignedReport.sign(PriceReport("BTC-PERP", 100, 1_000, address_of(stranger)), stranger)
    with pytest.raises(UnknownOracleSource, match="configured oracle source") as unknown:
        read_index(OracleRound(1, 1_000, (rogue,)), ORACLE, MARKETS)
    assert unknown.value.code == "unknown_oracle_source"


def test_future_report_is_dropped_with_a_reason_not_fatal() -> None:
    rnd = oracle_round(1, 1_000, {"BTC-PERP": 100_000})
    ahead = report("cex", 0, "BTC-PERP", 90_000, 1_001)  # 1 ms in the future, 10 % low
    r = read_index(OracleRound(1, 1_000, (*rnd.reports, ahead)), ORACLE, ["BTC-PERP"])["BTC-PERP"]
    assert r.trusted == 100_000
    assert (ahead.report.source, "future") in r.dropped_reports


def test_conflicting_reports_of_one_source_are_both_dropped_whatever_the_order() -> None:
    rnd = oracle_round(1, 1_000, {"BTC-PERP": 100_000})
    liar = report("cex", 0, "BTC-PERP", 99_000, 1_000)  # same source and time, other price
    for reports in ((*rnd.reports, liar), (liar, *rnd.reports)):
        r = read_index(OracleRound(1, 1_000, reports), ORACLE, ["BTC-PERP"])["BTC-PERP"]
        assert (liar.report.source, "conflicting") in r.dropped_reports
        # cex is left with one source, short of its quorum of two: no trusted index
        assert r.flagged and r.trusted is None and "cex 1/2" in r.reason


def test_a_lone_liar_in_a_family_of_two_cannot_pull_the_index() -> None:
    """Issue scenario 3: one source 1.9 % low moved the index unflagged; now its family
    falls short of its quorum and the index is not trusted (settlement keeps the last)."""
    rnd = oracle_round(1, 1_000, {"BTC-PERP": 650_000})
    liar = report("dex", 1, "BTC-PERP", 637_650, 1_000)
    reports = (*tuple(r for r in rnd.reports if r.report.source != liar.report.source), liar)
    r = read_index(OracleRound(1, 1_000, reports), ORACLE, ["BTC-PERP"])["BTC-PERP"]
    assert r.trusted is None and r.flagged
    assert (liar.report.source, "disagrees") in r.dropped_reports


def test_with_families_of_three_a_lone_liar_is_outvoted() -> None:
    keys = {
        (f, i): keccak256(b"three each", f.encode(), bytes([i])) for f in "ab" for i in range(3)
    }
    cfg = OracleConfig(tuple(OracleSource(address_of(k), f) for (f, _), k in keys.items()))
    prices = {("a", 0): 650_000, ("a", 1): 650_010, ("a", 2): 100, ("b", 0): 650_020}
    prices |= {("b", 1): 650_000, ("b", 2): 650_030}
    reports = tuple(
        SignedReport.sign(PriceReport("BTC-PERP", p, 5, address_of(keys[fi])), keys[fi])
        for fi, p in prices.items()
    )
    r = read_index(OracleRound(1, 5, reports), cfg, ["BTC-PERP"])["BTC-PERP"]
    assert dict(r.families) == {"a": 650_005, "b": 650_020}
    assert r.trusted == (650_005 + 650_020) // 2


def test_a_liar_inside_the_tolerance_moves_the_index_by_at_most_a_quarter_of_it() -> None:
    # agreement_bps = 50: a dex source 50 bps low still agrees; the dex price moves by
    # half its error and the index (midpoint of two families) by a quarter.
    honest = 1_000_000
    rnd = oracle_round(1, 1_000, {"BTC-PERP": honest})
    low = report("dex", 1, "BTC-PERP", honest - honest * ORACLE.agreement_bps // 10_000, 1_000)
    reports = (*tuple(r for r in rnd.reports if r.report.source != low.report.source), low)
    r = read_index(OracleRound(1, 1_000, reports), ORACLE, ["BTC-PERP"])["BTC-PERP"]
    assert r.trusted is not None
    assert honest - r.trusted <= honest * ORACLE.agreement_bps // 10_000 // 4 + 1


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


@pytest.mark.parametrize(
    ("values", "want"), [([3], 3), ([1, 2], 1), ([5, 1, 3], 3), ([4, 1, 3, 2], 2), ([2, 5], 3)]
)
def test_median_of_an_even_count_is_the_midpoint_rounded_down(values: list[int], want: int) -> None:
    assert median(values) == want


def test_config_file_round_trips_and_refuses_bad_fields(tmp_path: pytest.TempPathFactory) -> None:
    from sealbatch.settlement.oracle import load_oracle_config

    doc = ORACLE.to_dict()
    assert OracleConfig.from_dict(doc) == ORACLE
    path = tmp_path / "oracle.json"  # type: ignore[operator]
    path.write_text(__import__("json").dumps(doc))
    assert load_oracle_config(path) == ORACLE
    lower = {**doc, "sources": [{**s, "address": s["address"].lower()} for s in doc["sources"]]}
    assert OracleConfig.from_dict(lower) == ORACLE  # addresses are checksummed on the way in
    for bad, match in [
        ({**doc, "family_quorum": 3}, "family_quorum"),
        ({**doc, "min_families": 3}, "min_families"),
        ({**doc, "surprise": 1}, "surprise"),
        ({**doc, "sources": [{"address": "0x12", "family": "a"}]}, "40 hex"),
        ({**doc, "agreement_bps": -1}, "agreement_bps"),
    ]:
        with pytest.raises(OracleError, match=match):
            OracleConfig.from_dict(bad)


def test_twap() -> None:
    # 10 for 100 ms, 20 for 300 ms → (1000 + 6000) / 400 = 17.5 → 17
    assert twap([(0, 10), (100, 20)], 400) == 17
    assert twap([(0, 7)], 1) == 7
    with pytest.raises(OracleError):
        twap([(5, 1), (5, 2)], 10)
    with pytest.raises(OracleError):
        twap([], 10)


@pytest.mark.parametrize(
    ("index", "premium", "clearing", "want"),
    [
        (1_000_000, 0, 1_001_000, (1_001_000, 1_000)),  # within the step: follows
        (1_000_000, 0, 905_000, (999_000, -1_000)),  # a -9.5 % print: one step only
        (1_000_000, 4_500, 1_100_000, (1_005_000, 5_000)),  # the band caps it
        (1_000_000, 3_000, None, (1_002_000, 2_000)),  # nothing traded: back toward 0
        (1_000_000, -300, None, (1_000_000, 0)),
    ],
)
def test_update_mark(index: int, premium: int, clearing: int | None, want: tuple[int, int]) -> None:
    assert update_mark(index, premium, clearing, 50, 10) == want


def test_one_batch_moves_the_mark_by_at_most_the_step_whatever_the_print() -> None:
    index = 650_000
    for premium in (-3_250, -100, 0, 2_000, 3_250):
        for clearing in (1, 588_250, 649_999, 650_000, 700_000, 1 << 40):
            mark, new = update_mark(index, premium, clearing, 50, 10)
            assert abs(new - premium) <= index * 10 // 10_000
            assert abs(mark - index) <= index * 50 // 10_000


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 1 << 40),
    st.integers(0, 1_000),
    st.integers(0, 1_000),
    st.one_of(st.none(), st.integers(1, 1 << 40)),
    st.integers(-(10**6), 10**6),
)
def test_update_mark_never_leaves_its_bounds(
    index: int, band_bps: int, step_bps: int, clearing: int | None, premium_seed: int
) -> None:
    step_bps = min(step_bps, band_bps)
    band = index * band_bps // 10_000
    premium = max(-band, min(band, premium_seed))
    mark, new = update_mark(index, premium, clearing, band_bps, step_bps)
    assert abs(new - premium) <= index * step_bps // 10_000
    assert abs(new) <= band and mark == max(1, index + new)


_THREE = {
    (f, i): keccak256(b"three by three", f.encode(), bytes([i])) for f in "abc" for i in range(3)
}
_THREE_CFG = OracleConfig(tuple(OracleSource(address_of(k), f) for (f, _), k in _THREE.items()))


@settings(max_examples=15, deadline=None)
@given(
    st.integers(10_000, MAX_TICKS // 2),
    st.lists(st.integers(-10, 10), min_size=9, max_size=9),
    st.lists(st.integers(1, MAX_TICKS), min_size=3, max_size=3),
)
def test_one_liar_per_family_of_three_cannot_move_the_index(
    honest: int, jitter_bps: list[int], lies: list[int]
) -> None:
    """Three families of three, quorum 2: whatever one source per family reports, the
    index is trusted and within the honest sources' own spread."""
    prices = {}
    for n, (fam, i) in enumerate(sorted(_THREE)):
        prices[(fam, i)] = honest + honest * jitter_bps[n] // 10_000
    for n, fam in enumerate("abc"):
        prices[(fam, 2)] = lies[n]
    reports = tuple(
        SignedReport.sign(PriceReport("BTC-PERP", p, 7, address_of(_THREE[fi])), _THREE[fi])
        for fi, p in prices.items()
    )
    r = read_index(OracleRound(1, 7, reports), _THREE_CFG, ["BTC-PERP"])["BTC-PERP"]
    honest_prices = [p for (f, i), p in prices.items() if i < 2]
    assert r.trusted is not None
    assert min(honest_prices) - 1 <= r.trusted <= max(honest_prices)
