"""OracleIndex.sol reads each market's index exactly as settlement/oracle.py ``read_index``
(random rounds with families, stale, future, conflicting and disagreeing reports, too few
families, divergence), and the exchange binds the batch's post-state index to that reading:
an unflagged index at the round's time, else the last trusted one carried over."""

from __future__ import annotations

import dataclasses
import random

import pytest

from sealbatch.crypto.eip712 import address_of
from sealbatch.crypto.keccak import keccak256
from sealbatch.settlement.anchor import Chain, ContractReverted
from sealbatch.settlement.anchor_exchange import oracle_tuple
from sealbatch.settlement.oracle import (
    OracleConfig,
    OracleRound,
    OracleSource,
    PriceReport,
    SignedReport,
    read_index,
)

from .exchange_harness import ORACLE_KEYS, Harness
from .test_exchange import refused

MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")
#: three families: "a" of three sources, "b" and "c" of two
KEYS = tuple(keccak256(b"oracle index test", bytes([i])) for i in range(7))
FAMILIES = ("a", "a", "a", "b", "b", "c", "c")
SOURCES = tuple(OracleSource(address_of(k), f) for k, f in zip(KEYS, FAMILIES, strict=True))
CONFIGS = (
    OracleConfig(SOURCES, stale_ms=5_000, divergence_bps=200, agreement_bps=50, family_quorum=2,
                 min_families=2),
    OracleConfig(SOURCES, stale_ms=900, divergence_bps=0, agreement_bps=0, family_quorum=1,
                 min_families=3),
    OracleConfig(SOURCES, stale_ms=3_000, divergence_bps=10_000, agreement_bps=100,
                 family_quorum=2, min_families=1),
)  # fmt: skip
_SIGNED: dict[tuple[int, str, int, int], SignedReport] = {}


def _deploy(chain: Chain, config: OracleConfig):  # type: ignore[no-untyped-def]
    families = config.families
    return chain.deploy(
        "OracleIndex",
        [config.stale_ms, config.divergence_bps, config.agreement_bps, config.family_quorum,
         config.min_families],
        [s.address for s in config.sources],
        [families.index(s.family) for s in config.sources],
        [keccak256(m.encode()) for m in MARKETS],
    )  # fmt: skip


def _report(i: int, market: str, price: int, ts: int) -> SignedReport:
    key = (i, market, price, ts)
    if key not in _SIGNED:
        report = PriceReport(market, price, ts, address_of(KEYS[i]))
        _SIGNED[key] = SignedReport.sign(report, KEYS[i])
    return _SIGNED[key]


def _random_round(rng: random.Random, round_id: int) -> OracleRound:
    """Per market a base price; each source reports with some chance, near the base (or
    far: it disagrees; or a whole family off: divergence), sometimes stale, from the
    future, twice at one time with two prices (conflicting) or with the same price, or
    an older report beside its newest; plus reports of a market not configured."""
    now = 100_000
    reports = []
    for market in (*MARKETS, "DOGE-PERP"):
        base = rng.choice((1_000, 350_000, 650_000, (1 << 30) - 100))
        family_shift = {f: rng.choice((0, 0, 0, 1, -1, 30, -30, 250, -250)) for f in "abc"}
        for i, fam in enumerate(FAMILIES):
            if rng.random() < 0.2:
                continue
            bps = family_shift[fam] + rng.choice((0, 0, 1, -1, 10, -10, 49, 51, -60, 300))
            price = max(2, min((1 << 30) - 2, base + base * bps // 10_000 + rng.randint(-2, 2)))
            age = rng.choice((0, 0, 0, 100, 899, 900, 901, 2_999, 3_001, 4_999, 5_000, 5_001))
            ts = now - age if rng.random() > 0.08 else now + rng.choice((1, 500))
            reports.append(_report(i, market, price, ts))
            roll = rng.random()
            if roll < 0.1:
                reports.append(_report(i, market, price + rng.choice((1, -1)), ts))  # conflicting
            elif roll < 0.15:
                reports.append(_report(i, market, price, ts))  # the same report twice
            elif roll < 0.25:
                reports.append(_report(i, market, max(1, price // 2), ts - 10))  # older: ignored
    rng.shuffle(reports)
    return OracleRound(round_id, now, tuple(reports))


@pytest.mark.parametrize("c", range(len(CONFIGS)))
def test_the_contract_reads_the_index_as_read_index(chain: Chain, c: int) -> None:
    config = CONFIGS[c]
    reader = _deploy(chain, config)
    rng = random.Random(1234 + c)
    seen = set()
    for n in range(25):
        rnd = _random_round(rng, n)
        digest, readings = chain.call(reader, "checkRound", oracle_tuple(rnd))
        assert bytes(digest) == rnd.digest()
        want = read_index(rnd, config, MARKETS)
        for j, market in enumerate(MARKETS):
            r = want[market]
            got = (readings[j] & ((1 << 128) - 1), readings[j] >> 128)
            assert got == (r.index or 0, int(r.flagged)), (n, market, r)
            seen.add((r.flagged, r.index is None, r.reason.split(" ")[0]))
            seen |= {reason for _, reason in r.dropped_reports}
    # the loop met every rule
    for reason in ("stale", "future", "conflicting", "disagrees"):
        assert reason in seen, seen
    if config.divergence_bps:
        assert (False, False, "") in seen  # trusted (no divergence allowed: all but never)
    assert (True, True, "no") in seen  # no family with a quorum
    if config.min_families > 1:
        assert (True, False, "expected") in seen  # too few families
    if config.divergence_bps < 10_000:
        assert (True, False, "families") in seen  # the families diverge


def test_an_even_count_takes_the_midpoint_rounded_down(chain: Chain) -> None:
    config = CONFIGS[0]
    reader = _deploy(chain, config)
    # family a: 1001 and 1002 (its price 1001), b: 1000 and 1000 (1000): the index 1000
    prices = {0: 1_001, 1: 1_002, 3: 1_000, 4: 1_000}
    rnd = OracleRound(1, 10, tuple(_report(i, MARKETS[0], p, 10) for i, p in prices.items()))
    _, readings = chain.call(reader, "checkRound", oracle_tuple(rnd))
    assert readings[0] == read_index(rnd, config, MARKETS)[MARKETS[0]].index == 1_000


def test_a_report_the_python_reader_refuses_is_refused(chain: Chain) -> None:
    reader = _deploy(chain, CONFIGS[0])
    good = _report(0, MARKETS[0], 1_000, 10)
    stranger = SignedReport.sign(PriceReport(MARKETS[0], 1_000, 10, address_of(b"\x77" * 32)),
                                 b"\x77" * 32)  # fmt: skip
    flipped = good.signature[:-1] + bytes([55 - good.signature[-1]])  # v: 27 <-> 28
    forged = dataclasses.replace(good, signature=flipped)
    for reports, error in (
        ((stranger,), "UnknownOracleSource"),
        ((good, forged), "BadOracleSignature"),
    ):
        with pytest.raises(ContractReverted) as info:
            chain.call(reader, "checkRound", oracle_tuple(OracleRound(1, 10, reports)))
        assert info.value.error == error


def test_a_recovery_id_of_0_or_1_is_taken_as_the_python_reader_takes_it(chain: Chain) -> None:
    """Many signers write v as 0 or 1; the Python reader (crypto/eip712.py) takes both
    forms, so the contract does too: the same reading and digest either way, or a round
    that verifies off chain would revert on L1 and the venue could never anchor it."""
    config = CONFIGS[0]
    reader = _deploy(chain, config)
    prices = {0: 1_001, 1: 1_002, 3: 1_000, 4: 1_000}
    high = tuple(_report(i, MARKETS[0], p, 10) for i, p in prices.items())
    low = tuple(
        dataclasses.replace(r, signature=r.signature[:-1] + bytes([r.signature[-1] - 27]))
        for r in high
    )
    assert {r.signature[-1] for r in low} <= {0, 1}
    for reports in (high, low):
        rnd = OracleRound(1, 10, reports)
        digest, readings = chain.call(reader, "checkRound", oracle_tuple(rnd))
        assert bytes(digest) == rnd.digest()
        assert readings[0] == read_index(rnd, config, MARKETS)[MARKETS[0]].index == 1_000
    # the other recovery id is still another signer's
    flipped = high[0].signature[:-1] + bytes([1 - low[0].signature[-1]])
    forged = dataclasses.replace(high[0], signature=flipped)
    with pytest.raises(ContractReverted) as info:
        chain.call(reader, "checkRound", oracle_tuple(OracleRound(1, 10, (forged, *high[1:]))))
    assert info.value.error == "BadOracleSignature"


# ---- the exchange: the post-state's index is the round's reading


def _round(h: Harness, prices: tuple[int, int], *, one_family: bool = False) -> OracleRound:
    """The harness's next round with the given price per source (the second source, its
    own family, left out with ``one_family``: the index is then flagged)."""
    h.oracle_time_ms += 1_000
    at = h.oracle_time_ms
    keys = ORACLE_KEYS[:1] if one_family else ORACLE_KEYS
    reports = tuple(
        SignedReport.sign(PriceReport(market, prices[i], at, address_of(key)), key)
        for i, key in enumerate(keys)
        for market in h.config.market_ids
    )
    return OracleRound(at // 1_000, at, reports)


def test_a_flagged_market_carries_its_last_index_over(chain: Chain) -> None:
    h = Harness.deploy(chain)
    first = _round(h, (60_000, 60_010))
    h.anchor(h.state, oracle=first)
    trusted = [(60_005 << 64) | first.timestamp_ms] * 2
    assert [h.ex.exchange.functions.lastIndexes(j).call() for j in range(2)] == trusted
    assert [ms.index_price for ms in h.state.market_states] == [60_005, 60_005]
    # one family only: flagged; the index and its time stay the last trusted ones
    lone = _round(h, (70_000, 0), one_family=True)
    post = h.with_index(h.next_state(h.state), lone)
    s = h.statement(post, oracle=lone)
    pi = h.ex.public_inputs_for(s)
    at = 45 + 12 * 0 + 8
    assert pi[at : at + 4] == (60_005, first.timestamp_ms % (1 << 24), first.timestamp_ms >> 24, 1)
    assert pi == h.ex.derive_public_inputs(s)
    h.ex.anchor(s, h.prove(s))
    assert [h.ex.exchange.functions.lastIndexes(j).call() for j in range(2)] == trusted


@pytest.mark.parametrize("what", ["index", "flag"])
def test_an_anchor_stating_another_index_reverts(chain: Chain, what: str) -> None:
    """The operator's settlement statement carries another index price (or flag) than the
    contract reads from the round: IndexMismatch, and nothing moves."""
    h = Harness.deploy(chain)
    rnd = _round(h, (60_000, 60_010))
    post = h.with_index(h.next_state(h.state), rnd)
    ms = post.market_states[0]
    forged_ms = (
        dataclasses.replace(ms, index_price=ms.index_price + 1)
        if what == "index"
        else dataclasses.replace(ms, flagged=True)
    )
    forged = dataclasses.replace(post, market_states=(forged_ms, *post.market_states[1:]))
    s = h.statement(forged, oracle=rnd)
    err = refused(h, "IndexMismatch", h.ex.anchor, s, h.prove(s))
    assert err.error_args == (0, 60_005, 0)
