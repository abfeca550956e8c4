"""Commit-reveal: receipts, reveals, forfeits, the seed, and every rejection."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

import sealbatch.auction.errors as errors
from sealbatch.auction.commit_reveal import (
    BatchWindows,
    Commit,
    CommitBook,
    NonceRegistry,
    Reveal,
    SignedCommit,
    compute_commitment,
)
from sealbatch.auction.commitment import EMPTY_SUBTREES, commitment_root
from sealbatch.auction.errors import (
    AuctionError,
    BadSignature,
    CommitmentExpired,
    DuplicateCommitment,
    DuplicateReveal,
    NonceReused,
    OutsideBand,
    OutsideWindow,
    RevealMismatch,
    SizeOutOfRange,
    UnknownCommitment,
    WrongBatch,
    WrongMarket,
)
from sealbatch.auction.orders import Order, Side, TimeInForce
from sealbatch.crypto.eip712 import Address, address_of
from sealbatch.crypto.poseidon2 import digest_to_bytes
from tests.auction.conftest import (
    AFTER,
    ALICE,
    BOB,
    CAROL,
    DOMAIN,
    IN_COMMIT,
    IN_REVEAL,
    OPERATOR_KEY,
    WINDOWS,
    Trader,
)

BookFactory = Callable[..., CommitBook]
BTC_BUY = Order("BTC-PERP", Side.BUY, 50_100, 10)
BTC_SELL = Order("BTC-PERP", Side.SELL, 49_900, 4, TimeInForce.GTC)
ETH_BUY = Order("ETH-PERP", Side.BUY, None, 3)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


# --- the happy path -------------------------------------------------------------


def test_commit_reveal_close(make_book: BookFactory) -> None:
    book = make_book()
    sa, ra = ALICE.sealed(BTC_BUY, nonce=1, bond=5)
    sb, rb = BOB.sealed(BTC_SELL, nonce=1)
    sc, _ = CAROL.sealed(ETH_BUY, nonce=3, bond=8)

    receipts = [book.commit(s, IN_COMMIT + i) for i, s in enumerate((sa, sb, sc))]
    assert [r.sequence for r in receipts] == [0, 1, 2]
    assert [r.commitment for r in receipts] == [
        sa.commit.commitment,
        sb.commit.commitment,
        sc.commit.commitment,
    ]
    assert [r.received_at_ms for r in receipts] == [IN_COMMIT, IN_COMMIT + 1, IN_COMMIT + 2]
    operator = address_of(OPERATOR_KEY)
    assert book.operator == operator
    for r in receipts:
        assert r.batch_id == 7
        assert r.signer(DOMAIN) == operator
    # the seed is fixed by the commit window: Merkle root in receipt order
    seed = commitment_root(
        [r.commitment for r in receipts],
        [s.commit.market for s in (sa, sb, sc)],
        [s.commit.trader for s in (sa, sb, sc)],
        [s.commit.bond for s in (sa, sb, sc)],
    )
    assert book.seed == seed
    # each leaf binds its market, trader and bond: another bond is another root
    assert book.seed != commitment_root(
        [r.commitment for r in receipts],
        [s.commit.market for s in (sa, sb, sc)],
        [s.commit.trader for s in (sa, sb, sc)],
        [s.commit.bond + 1 for s in (sa, sb, sc)],
    )
    relabelled = ["ETH-PERP" if s.commit.market != "ETH-PERP" else "BTC-PERP" for s in (sa, sb, sc)]
    assert book.seed != commitment_root(
        [r.commitment for r in receipts],
        relabelled,
        [s.commit.trader for s in (sa, sb, sc)],
        [s.commit.bond for s in (sa, sb, sc)],
    )

    got_a = book.reveal(ra, IN_REVEAL)
    got_b = book.reveal(rb, IN_REVEAL + 1)
    assert (got_a.trader, got_a.order, got_a.sequence, got_a.nonce, got_a.bond) == (
        ALICE.address,
        BTC_BUY,
        0,
        1,
        5,
    )
    assert got_b.order == BTC_SELL and got_b.commitment == sb.commit.commitment

    sealed = book.close(AFTER)
    assert sealed.batch_id == 7
    assert sealed.seed == seed  # reveals do not move the seed
    assert sealed.receipts == tuple(receipts)
    assert sealed.revealed == (got_a, got_b)
    assert len(sealed.forfeited) == 1
    f = sealed.forfeited[0]
    assert (f.commitment, f.trader, f.market, f.sequence, f.bond) == (
        sc.commit.commitment,
        CAROL.address,
        "ETH-PERP",
        2,
        8,
    )
    assert sealed.rejections == ()


def test_seed_depends_on_receipt_order(make_book: BookFactory) -> None:
    sa, _ = ALICE.sealed(BTC_BUY, nonce=1)
    sb, _ = BOB.sealed(BTC_SELL, nonce=1)
    one, two = make_book(), make_book()
    one.commit(sa, IN_COMMIT)
    one.commit(sb, IN_COMMIT)
    two.commit(sb, IN_COMMIT)
    two.commit(sa, IN_COMMIT)
    assert one.seed != two.seed
    assert make_book().seed == digest_to_bytes(EMPTY_SUBTREES[-1])


def test_close_takes_a_seed_computed_elsewhere(make_book: BookFactory) -> None:
    """A seed computed from the same commitments (e.g. in a worker) closes the batch
    exactly as the book's own; the book does not compute it again."""
    sa, _ = ALICE.sealed(BTC_BUY, nonce=1)
    sb, _ = BOB.sealed(BTC_SELL, nonce=1)
    here, elsewhere = make_book(), make_book()
    for book in (here, elsewhere):
        book.commit(sa, IN_COMMIT)
        book.commit(sb, IN_COMMIT + 1)
    root = commitment_root(
        [sa.commit.commitment, sb.commit.commitment],
        [sa.commit.market, sb.commit.market],
        [sa.commit.trader, sb.commit.trader],
        [sa.commit.bond, sb.commit.bond],
    )
    assert elsewhere.close(AFTER, seed=root) == here.close(AFTER)
    other = commitment_root(
        [sb.commit.commitment], [sb.commit.market], [sb.commit.trader], [sb.commit.bond]
    )
    assert make_book().close(AFTER, seed=other).seed == other


def test_tampered_receipt_does_not_verify(make_book: BookFactory) -> None:
    book = make_book()
    sa, _ = ALICE.sealed(BTC_BUY, nonce=1)
    receipt = book.commit(sa, IN_COMMIT)
    operator = address_of(OPERATOR_KEY)
    for tampered in (
        dataclasses.replace(receipt, sequence=1),
        dataclasses.replace(receipt, received_at_ms=IN_COMMIT - 1),
        dataclasses.replace(receipt, batch_id=8),
        dataclasses.replace(receipt, commitment=bytes(32)),
    ):
        assert tampered.signer(DOMAIN) != operator
    assert receipt.signer(dataclasses.replace(DOMAIN, chain_id=1)) != operator


def test_window_boundaries(make_book: BookFactory) -> None:
    book = make_book()
    s1, r1 = ALICE.sealed(BTC_BUY, nonce=1)
    s2, r2 = BOB.sealed(BTC_SELL, nonce=1)
    book.commit(s1, WINDOWS.commit_open_ms)  # open is inclusive
    book.commit(s2, WINDOWS.commit_close_ms - 1)
    book.reveal(r1, WINDOWS.commit_close_ms)  # the reveal window opens as commits close
    book.reveal(r2, WINDOWS.reveal_close_ms - 1)
    assert len(book.close(WINDOWS.reveal_close_ms).revealed) == 2


def test_same_nonce_for_different_traders(make_book: BookFactory) -> None:
    book = make_book()
    book.commit(ALICE.sealed(BTC_BUY, nonce=1)[0], IN_COMMIT)
    book.commit(BOB.sealed(BTC_BUY, nonce=1)[0], IN_COMMIT)
    assert len(book.close(AFTER).forfeited) == 2


def test_lowercase_trader_address_is_one_trader(make_book: BookFactory) -> None:
    """A trader who writes their address in lower case is still the same trader."""
    book = make_book()
    salt = bytes(32)
    lower = Address(ALICE.address.lower())
    commitment = compute_commitment(BTC_BUY, salt, lower, 7)
    signed = SignedCommit.sign(Commit(lower, 7, "BTC-PERP", commitment, 5), ALICE.key, DOMAIN)
    book.commit(signed, IN_COMMIT)
    again, _ = ALICE.sealed(BTC_SELL, nonce=5)
    with pytest.raises(NonceReused):
        book.commit(again, IN_COMMIT)
    revealed = book.reveal(Reveal(commitment, BTC_BUY, salt), IN_REVEAL)
    assert revealed.trader == ALICE.address  # checksummed, as everywhere else


def test_reveal_check_sees_trader_and_order(make_book: BookFactory) -> None:
    seen: list[tuple[Address, Order]] = []
    book = make_book(reveal_check=lambda t, o: seen.append((t, o)))
    sa, ra = ALICE.sealed(BTC_BUY, nonce=1)
    book.commit(sa, IN_COMMIT)
    book.reveal(ra, IN_REVEAL)
    assert seen == [(ALICE.address, BTC_BUY)]


def test_nonce_registry_spans_batches(make_book: BookFactory) -> None:
    nonces = NonceRegistry()
    first = make_book(batch_id=7, nonces=nonces)
    first.commit(ALICE.sealed(BTC_BUY, nonce=1, batch_id=7)[0], IN_COMMIT)
    second = make_book(batch_id=8, nonces=nonces)
    with pytest.raises(NonceReused):
        second.commit(ALICE.sealed(BTC_BUY, nonce=1, batch_id=8)[0], IN_COMMIT)
    assert nonces.is_used(ALICE.address, 1) and not nonces.is_used(BOB.address, 1)


def test_windows_must_be_ordered() -> None:
    with pytest.raises(AuctionError, match="commit_open < commit_close < reveal_close"):
        BatchWindows(10, 10, 20)
    with pytest.raises(AuctionError):
        BatchWindows(10, 20, 20)


# --- every rejection, and that it changes nothing -------------------------------


def rejected_commit(
    book: CommitBook, signed: SignedCommit, now: int, err: type[AuctionError]
) -> AuctionError:
    """Submit a commit that must be refused with ``err``; check nothing moved."""
    receipts_before = book.close(AFTER).receipts
    seed_before = book.seed
    with pytest.raises(err) as info:
        book.commit(signed, now)
    sealed = book.close(AFTER)
    assert sealed.receipts == receipts_before
    assert book.seed == seed_before
    last = sealed.rejections[-1]
    assert (last.code, last.commitment, last.at_ms) == (err.code, signed.commit.commitment, now)
    assert last.reason == str(info.value)
    return info.value


def test_commit_outside_window(make_book: BookFactory) -> None:
    book = make_book()
    signed, _ = ALICE.sealed(BTC_BUY, nonce=1)
    for now in (WINDOWS.commit_open_ms - 1, WINDOWS.commit_close_ms, IN_REVEAL, AFTER):
        err = rejected_commit(book, signed, now, OutsideWindow)
        assert "expected a time in [1000, 2000)" in str(err) and str(now) in str(err)
    book.commit(signed, IN_COMMIT)  # the nonce was not burnt


def test_commit_wrong_batch(make_book: BookFactory) -> None:
    book = make_book(batch_id=7)
    signed, _ = ALICE.sealed(BTC_BUY, nonce=1, batch_id=8)
    err = rejected_commit(book, signed, IN_COMMIT, WrongBatch)
    assert str(err) == "batch_id: expected 7, got 8"
    book.commit(ALICE.sealed(BTC_BUY, nonce=1, batch_id=7)[0], IN_COMMIT)


def test_commit_unknown_market(make_book: BookFactory) -> None:
    book = make_book()
    signed, _ = ALICE.sealed(BTC_BUY, nonce=1, market="DOGE-PERP")
    err = rejected_commit(book, signed, IN_COMMIT, WrongMarket)
    assert "DOGE-PERP" in str(err) and "BTC-PERP" in str(err)
    book.commit(ALICE.sealed(BTC_BUY, nonce=1)[0], IN_COMMIT)


def test_commit_expired(make_book: BookFactory) -> None:
    book = make_book()
    signed, _ = ALICE.sealed(BTC_BUY, nonce=1, expiry_ms=IN_COMMIT - 1)
    rejected_commit(book, signed, IN_COMMIT, CommitmentExpired)
    on_time, _ = ALICE.sealed(BTC_BUY, nonce=1, expiry_ms=IN_COMMIT)  # expiry is inclusive
    book.commit(on_time, IN_COMMIT)


def _malleate(sig: bytes) -> bytes:
    """The other valid (high-s) signature of the same digest."""
    s = int.from_bytes(sig[32:64], "big")
    v = 27 + 28 - sig[64]
    return sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v])


@pytest.mark.parametrize(
    "forge",
    [
        lambda s: SignedCommit.sign(s.commit, BOB.key, DOMAIN),  # someone else signs
        lambda s: SignedCommit.sign(s.commit, ALICE.key, dataclasses.replace(DOMAIN, chain_id=1)),
        lambda s: SignedCommit(dataclasses.replace(s.commit, bond=s.commit.bond + 1), s.signature),
        lambda s: SignedCommit(dataclasses.replace(s.commit, nonce=2), s.signature),
        lambda s: SignedCommit(s.commit, s.signature[:64]),
        lambda s: SignedCommit(s.commit, s.signature + b"\x00"),
        lambda s: SignedCommit(s.commit, s.signature[:64] + b"\x1d"),
        lambda s: SignedCommit(s.commit, bytes(65)),
        lambda s: SignedCommit(s.commit, _malleate(s.signature)),
        lambda s: SignedCommit(dataclasses.replace(s.commit, trader="not an address"), s.signature),
        lambda s: SignedCommit(dataclasses.replace(s.commit, commitment=bytes(31)), s.signature),
    ],
    ids=[
        "other-signer",
        "other-domain",
        "tampered-bond",
        "tampered-nonce",
        "short",
        "long",
        "bad-v",
        "zero",
        "high-s",
        "bad-trader",
        "bad-commitment",
    ],
)
def test_commit_bad_signature(
    make_book: BookFactory, forge: Callable[[SignedCommit], SignedCommit]
) -> None:
    book = make_book()
    good, _ = ALICE.sealed(BTC_BUY, nonce=1)
    err = rejected_commit(book, forge(good), IN_COMMIT, BadSignature)
    assert str(err).startswith(("signature", "trader"))
    book.commit(good, IN_COMMIT)  # neither the nonce nor the commitment was burnt


def test_commit_duplicate_commitment(make_book: BookFactory) -> None:
    book = make_book()
    signed, _ = ALICE.sealed(BTC_BUY, nonce=1)
    book.commit(signed, IN_COMMIT)
    rejected_commit(book, signed, IN_COMMIT + 1, DuplicateCommitment)
    # the same commitment hash under a new nonce is still a duplicate
    again = SignedCommit.sign(dataclasses.replace(signed.commit, nonce=2), ALICE.key, DOMAIN)
    rejected_commit(book, again, IN_COMMIT + 1, DuplicateCommitment)
    # ... and under another trader's signature too (a copied commitment)
    copied = SignedCommit.sign(
        dataclasses.replace(signed.commit, trader=BOB.address), BOB.key, DOMAIN
    )
    rejected_commit(book, copied, IN_COMMIT + 1, DuplicateCommitment)
    book.commit(ALICE.sealed(BTC_BUY, nonce=2)[0], IN_COMMIT + 2)  # nonce 2 still free


def test_commit_nonce_reused(make_book: BookFactory) -> None:
    book = make_book()
    book.commit(ALICE.sealed(BTC_BUY, nonce=1)[0], IN_COMMIT)
    other, _ = ALICE.sealed(BTC_SELL, nonce=1)
    err = rejected_commit(book, other, IN_COMMIT, NonceReused)
    assert "nonce" in str(err) and "1" in str(err)
    book.commit(ALICE.sealed(BTC_SELL, nonce=2)[0], IN_COMMIT)


def rejected_reveal(
    book: CommitBook, reveal: Reveal, now: int, err: type[AuctionError]
) -> AuctionError:
    """Submit a reveal that must be refused with ``err``; check nothing moved."""
    before = book.close(AFTER)
    with pytest.raises(err) as info:
        book.reveal(reveal, now)
    after = book.close(AFTER)
    assert (after.revealed, after.forfeited, after.receipts, after.seed) == (
        before.revealed,
        before.forfeited,
        before.receipts,
        before.seed,
    )
    last = after.rejections[-1]
    assert (last.code, last.commitment, last.at_ms) == (err.code, reveal.commitment, now)
    assert last.reason == str(info.value)
    return info.value


def test_reveal_outside_window(make_book: BookFactory) -> None:
    book = make_book()
    signed, reveal = ALICE.sealed(BTC_BUY, nonce=1)
    book.commit(signed, IN_COMMIT)
    for now in (IN_COMMIT, WINDOWS.commit_close_ms - 1, WINDOWS.reveal_close_ms, AFTER + 10):
        err = rejected_reveal(book, reveal, now, OutsideWindow)
        assert "expected a time in [2000, 2300)" in str(err)
    book.reveal(reveal, IN_REVEAL)


def test_reveal_unknown_commitment(make_book: BookFactory) -> None:
    book = make_book()
    _, reveal = ALICE.sealed(BTC_BUY, nonce=1)
    err = rejected_reveal(book, reveal, IN_REVEAL, UnknownCommitment)
    assert isinstance(err, KeyError)
    assert str(err).startswith("commitment 0x")  # not KeyError's quoted repr


def test_reveal_duplicate(make_book: BookFactory) -> None:
    book = make_book()
    signed, reveal = ALICE.sealed(BTC_BUY, nonce=1)
    book.commit(signed, IN_COMMIT)
    first = book.reveal(reveal, IN_REVEAL)
    rejected_reveal(book, reveal, IN_REVEAL + 1, DuplicateReveal)
    assert book.close(AFTER).revealed == (first,)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: dataclasses.replace(r, salt=bytes(32)),
        lambda r: dataclasses.replace(r, salt=r.salt[:31]),
        lambda r: dataclasses.replace(r, order=r.order.with_quantity(r.order.quantity + 1)),
        lambda r: dataclasses.replace(r, order=dataclasses.replace(r.order, limit_price=50_101)),
        lambda r: dataclasses.replace(r, order=dataclasses.replace(r.order, side=Side.SELL)),
        lambda r: dataclasses.replace(r, order=dataclasses.replace(r.order, reduce_only=True)),
    ],
    ids=["salt", "short-salt", "quantity", "price", "side", "flags"],
)
def test_reveal_mismatch_then_correct_retry(
    make_book: BookFactory, tamper: Callable[[Reveal], Reveal]
) -> None:
    book = make_book()
    signed, reveal = ALICE.sealed(BTC_BUY, nonce=1, salt=bytes(range(1, 33)))
    book.commit(signed, IN_COMMIT)
    rejected_reveal(book, tamper(reveal), IN_REVEAL, RevealMismatch)
    assert book.reveal(reveal, IN_REVEAL + 1).order == BTC_BUY  # retry succeeds


def test_reveal_in_another_market_than_committed(make_book: BookFactory) -> None:
    book = make_book()
    # commits to an ETH order while labelling the commitment BTC-PERP
    signed, reveal = ALICE.sealed(ETH_BUY, nonce=1, market="BTC-PERP")
    book.commit(signed, IN_COMMIT)
    err = rejected_reveal(book, reveal, IN_REVEAL, WrongMarket)
    assert str(err) == "market: expected 'BTC-PERP', got 'ETH-PERP'"
    assert len(book.close(AFTER).forfeited) == 1


def test_reveal_outside_band(make_book: BookFactory) -> None:
    book = make_book(references={"BTC-PERP": 50_000})  # band 10%: [45000, 55000]
    high = Order("BTC-PERP", Side.BUY, 55_001, 1)
    edge = Order("BTC-PERP", Side.SELL, 45_000, 1)
    s1, r1 = ALICE.sealed(high, nonce=1)
    s2, r2 = BOB.sealed(edge, nonce=1)
    book.commit(s1, IN_COMMIT)
    book.commit(s2, IN_COMMIT)
    err = rejected_reveal(book, r1, IN_REVEAL, OutsideBand)
    assert "expected 45000 to 55000" in str(err) and "got 55001" in str(err)
    book.reveal(r2, IN_REVEAL)
    sealed = book.close(AFTER)
    assert [f.trader for f in sealed.forfeited] == [ALICE.address]


def test_market_order_ignores_band_and_no_reference_means_no_band(
    make_book: BookFactory,
) -> None:
    book = make_book(references={"BTC-PERP": None, "ETH-PERP": 3_000})
    far = Order("BTC-PERP", Side.BUY, 1, 1)
    s1, r1 = ALICE.sealed(far, nonce=1)
    s2, r2 = BOB.sealed(ETH_BUY, nonce=1)
    book.commit(s1, IN_COMMIT)
    book.commit(s2, IN_COMMIT)
    book.reveal(r1, IN_REVEAL)
    book.reveal(r2, IN_REVEAL)


@pytest.mark.parametrize("quantity", [1_000_001, (1 << 22) - 1])
def test_reveal_size_out_of_range(make_book: BookFactory, quantity: int) -> None:
    book = make_book()
    signed, reveal = ALICE.sealed(Order("BTC-PERP", Side.BUY, 50_000, quantity), nonce=1)
    book.commit(signed, IN_COMMIT)
    err = rejected_reveal(book, reveal, IN_REVEAL, SizeOutOfRange)
    assert f"got {quantity}" in str(err) and "1 to 1000000" in str(err)


def _mixed_reveals(book: CommitBook) -> list[tuple[Reveal, int]]:
    """Commit five orders to ``book`` and return reveals with every outcome: good
    ones, a duplicate, a mismatch then its retry, a malformed salt, an unknown
    commitment, one too early, one outside the band, a refused one (margin)."""
    dave, erin = Trader(bytes.fromhex("d0" * 32)), Trader(bytes.fromhex("e0" * 32))
    sa, ra = ALICE.sealed(BTC_BUY, nonce=1, salt=bytes(range(32)))
    sb, rb = BOB.sealed(BTC_SELL, nonce=1, salt=bytes([2]) * 32)
    sc, rc = CAROL.sealed(ETH_BUY, nonce=1, salt=bytes([3]) * 32)
    outside_band = Order("BTC-PERP", Side.BUY, 60_000, 1)
    sd, rd = dave.sealed(outside_band, nonce=1, salt=bytes([4]) * 32)
    too_big = Order("BTC-PERP", Side.SELL, 50_000, 20)  # the margin check refuses it
    se, re_ = erin.sealed(too_big, nonce=1, salt=bytes([5]) * 32)
    for i, signed in enumerate((sa, sb, sc, sd, se)):
        book.commit(signed, IN_COMMIT + i)
    _, unknown = ALICE.sealed(BTC_SELL, nonce=2, salt=bytes([6]) * 32)
    return [
        (ra, IN_COMMIT),  # too early
        (dataclasses.replace(ra, salt=bytes(32)), IN_REVEAL),  # mismatch
        (dataclasses.replace(rb, salt=rb.salt[:31]), IN_REVEAL),  # malformed salt
        (ra, IN_REVEAL),  # the retry succeeds
        (ra, IN_REVEAL + 1),  # duplicate
        (unknown, IN_REVEAL),
        (rd, IN_REVEAL),
        (re_, IN_REVEAL + 2),
        (rb, IN_REVEAL + 3),
        (rc, IN_REVEAL + 4),
        (rb, AFTER),  # late, and a duplicate
    ]


def test_reveal_many_is_reveal_one_after_another(make_book: BookFactory) -> None:
    def check(trader: Address, order: Order) -> None:
        if order.quantity > 15:
            raise MarginTooLow(f"margin: expected at most 15 lots, got {order.quantity}")

    one_by_one, together = make_book(reveal_check=check), make_book(reveal_check=check)
    reveals = _mixed_reveals(one_by_one)
    assert _mixed_reveals(together) == reveals
    expected: list[object] = []
    for r, now in reveals:
        try:
            expected.append(one_by_one.reveal(r, now))
        except AuctionError as err:
            expected.append((type(err), str(err)))
    got = [
        o if not isinstance(o, AuctionError) else (type(o), str(o))
        for o in together.reveal_many(reveals)
    ]
    assert got == expected
    assert [e[0] for e in expected if isinstance(e, tuple)] == [
        OutsideWindow, RevealMismatch, RevealMismatch, DuplicateReveal, UnknownCommitment,
        OutsideBand, MarginTooLow, OutsideWindow,
    ]  # fmt: skip
    assert one_by_one.close(AFTER) == together.close(AFTER)
    assert together.reveal_many([]) == []


class MarginTooLow(AuctionError, ValueError):
    code = "insufficient_margin"


def test_reveal_refused_by_reveal_check(make_book: BookFactory) -> None:
    def check(trader: Address, order: Order) -> None:
        if order.quantity > 5:
            raise MarginTooLow(
                f"margin: expected at most 5 lots for {trader}, got {order.quantity}"
            )

    book = make_book(reveal_check=check)
    big, big_reveal = ALICE.sealed(BTC_BUY, nonce=1)  # 10 lots
    small, small_reveal = BOB.sealed(BTC_SELL, nonce=1)  # 4 lots
    book.commit(big, IN_COMMIT)
    book.commit(small, IN_COMMIT)
    rejected_reveal(book, big_reveal, IN_REVEAL, MarginTooLow)
    book.reveal(small_reveal, IN_REVEAL)
    sealed = book.close(AFTER)
    assert [r.trader for r in sealed.revealed] == [BOB.address]
    assert [f.trader for f in sealed.forfeited] == [ALICE.address]
    assert sealed.rejections[-1].code == "insufficient_margin"


def test_close_before_reveal_window_ends(make_book: BookFactory) -> None:
    with pytest.raises(OutsideWindow, match="close: expected a time at or after 2300, got 2299"):
        make_book().close(WINDOWS.reveal_close_ms - 1)


def test_every_rejection_has_its_own_code() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes)
    assert {c.code for c in classes if c is not AuctionError} == {
        "bad_signature",
        "bad_commitment",
        "wrong_batch",
        "wrong_market",
        "duplicate_commitment",
        "nonce_reused",
        "expired",
        "outside_window",
        "unknown_commitment",
        "duplicate_reveal",
        "reveal_mismatch",
        "outside_band",
        "size_out_of_range",
        "invalid_order",
    }
    for c in classes:
        assert issubclass(c, AuctionError)


def test_nonce_registry_forgets_only_expired_messages() -> None:
    nonces = NonceRegistry()
    nonces.use("a", 1, 1_000)
    nonces.use("a", 2, 5_000)
    nonces.use("b", 1)  # no expiry: kept for ever
    assert nonces.forget_expired(1_000) == 0  # valid up to and including its expiry
    assert nonces.is_used("a", 1)
    assert nonces.forget_expired(1_001) == 1
    assert not nonces.is_used("a", 1)
    assert nonces.is_used("a", 2) and nonces.is_used("b", 1)
    assert nonces.forget_expired(10**15) == 1
    assert len(nonces) == 1 and nonces.is_used("b", 1)
