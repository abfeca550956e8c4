"""The venue on an L1 (eth-tester): deposits credited from the contract's events exactly once,
forced withdrawals served, and a refused anchoring reported and retried, never skipped."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import Address
from sealbatch.settlement.anchor import Chain, ContractReverted
from sealbatch.venue.app import create_app
from sealbatch.venue.client import VenueClient
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.errors import ApiError, BadRequest
from sealbatch.venue.l1 import L1Link, dev_account
from tests.contracts.anvil import anvil_binary, running_anvil
from tests.venue.conftest import T0, Venue, make_settings
from tests.venue.l1_helpers import (
    L1,
    L1_KEYS,
    MINTED,
    deploy_refusing_exchange,
    l1_with_traders,
)
from tests.venue.test_proving import wait_for

DEPOSIT = 50_000_000_000


@pytest.fixture
def l1() -> L1:
    return l1_with_traders(deploy_refusing_exchange(Chain()))


@contextlib.contextmanager
def l1_venue(db_url: str, clock: ManualClock, l1: L1, **kw: Any) -> Iterator[Venue]:
    """A venue attached to ``l1.ex``; its L1 stage runs one pass at start, then only when
    the test calls ``step`` (a long poll period), so every pass is the test's."""
    settings = make_settings(
        db_url, l1_url="embedded", verifying_contract=l1.ex.address, l1_poll_ms=600_000, **kw
    )
    with TestClient(create_app(settings, clock, l1.chain)) as tc:
        v = Venue(tc, clock)
        v.traders = {
            n: VenueClient("http://testserver", k, http=tc, clock=clock.now_ms)
            for n, k in L1_KEYS.items()
        }
        yield v


def link(venue: Venue) -> L1Link:
    stage = venue.service.l1
    assert stage is not None
    return stage


def deposit_on_l1(venue: Venue, l1: L1, name: str, amount: int) -> None:
    with link(venue).chain_lock:
        l1.ex.deposit(l1.traders[name], amount)


def clear_next(venue: Venue) -> dict[str, Any]:
    """Clear the batch that holds what is pending now (the one after the last cleared)."""
    return venue.to_cleared(venue.service.core.last_cleared + 1)


def account(venue: Venue, address: str) -> Any:
    with venue.service.core_lock:
        return venue.service.core.settlement.account(Address(address))


def test_deposits_are_credited_from_l1_events_exactly_once_also_across_a_restart(
    db_url: str, clock: ManualClock, l1: L1
) -> None:
    check_deposits_credited_once(db_url, clock, l1)


@pytest.mark.anvil
def test_deposits_are_credited_exactly_once_on_anvil(tmp_path: Path) -> None:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed (make installs contracts/node_modules)")
    with running_anvil() as url:
        l1 = l1_with_traders(deploy_refusing_exchange(Chain(url)))
        check_deposits_credited_once(
            f"sqlite:///{tmp_path / 'venue.db'}", ManualClock(T0 + 100), l1
        )


def check_deposits_credited_once(db_url: str, clock: ManualClock, l1: L1) -> None:
    """Two deposits credited once each, in queue order; a third made while the venue is
    down is credited after the restart, and the first two are not credited again."""
    alice, bob = l1.traders["alice"], l1.traders["bob"]
    with l1_venue(db_url, clock, l1) as venue:
        deposit_on_l1(venue, l1, "alice", DEPOSIT)
        deposit_on_l1(venue, l1, "bob", DEPOSIT + 1)
        link(venue).step()
        link(venue).step()  # a second pass finds nothing new
        assert venue.service.core.l1_next == 2
        assert account(venue, alice).pending_deposits == DEPOSIT
        assert account(venue, bob).pending_deposits == DEPOSIT + 1
        record = clear_next(venue)
        assert record["settlement"]["deposits"] == [[alice, DEPOSIT], [bob, DEPOSIT + 1]]
        assert account(venue, alice).collateral == DEPOSIT
        assert venue.tc.get("/v1/operator").json()["l1"]["next_request"] == 2
        assert "sealbatch_l1_requests_credited_total 2.0" in venue.tc.get("/metrics").text
        # One more deposit while the venue is down.
        with link(venue).chain_lock:
            l1.ex.deposit(alice, 7)
    with l1_venue(db_url, clock, l1) as venue:
        link(venue).step()
        link(venue).step()
        assert venue.service.core.l1_next == 3
        assert account(venue, alice).collateral == DEPOSIT  # not credited twice
        assert account(venue, alice).pending_deposits == 7
        assert account(venue, bob).collateral == DEPOSIT + 1
        clear_next(venue)
        assert account(venue, alice).collateral == DEPOSIT + 7


def test_trader_signed_deposits_are_refused_on_l1(db_url: str, clock: ManualClock, l1: L1) -> None:
    """On an L1 collateral enters only through the contract: a signed deposit message
    (free money without one) is refused and credits nothing."""
    with l1_venue(db_url, clock, l1) as venue:
        with pytest.raises(ApiError) as err:
            venue.traders["alice"].deposit(DEPOSIT)
        assert err.value.status == 400
        assert not account(venue, l1.traders["alice"]).exists
        assert account(venue, l1.traders["alice"]).pending_deposits == 0


def test_a_forced_withdrawal_is_served_with_the_next_batch(
    db_url: str, clock: ManualClock, l1: L1
) -> None:
    alice = l1.traders["alice"]
    with l1_venue(db_url, clock, l1) as venue:
        deposit_on_l1(venue, l1, "alice", DEPOSIT)
        link(venue).step()
        clear_next(venue)
        with link(venue).chain_lock:
            l1.ex.request_forced_withdrawal(alice, 1_000)
        link(venue).step()
        assert account(venue, alice).pending_withdrawals == 1_000
        record = clear_next(venue)
        assert record["settlement"]["withdrawals"] == [[alice, 1_000]]
        assert account(venue, alice).collateral == DEPOSIT - 1_000
        # More than the free collateral: served with all of it, not more.
        with link(venue).chain_lock:
            l1.ex.request_forced_withdrawal(alice, 10 * DEPOSIT)
        link(venue).step()
        assert account(venue, alice).pending_withdrawals == DEPOSIT - 1_000
        clear_next(venue)
        assert account(venue, alice).collateral == 0
        assert venue.service.core.l1_queue_to == {0: 1, 1: 2, 2: 3}


def test_a_forced_withdrawal_with_nothing_to_give_is_served_with_nothing(
    db_url: str, clock: ManualClock, l1: L1
) -> None:
    """An account without free collateral is served with a withdrawal of nothing: the
    request is consumed and the queue behind it moves on, so a trader cannot hold the
    queue (and, past the deadline, freeze the exchange) by asking for what it lacks. An
    address that never deposited cannot ask at all (the contract refuses it)."""
    alice, bob, carol = (l1.traders[n] for n in ("alice", "bob", "carol"))
    with l1_venue(db_url, clock, l1) as venue:
        deposit_on_l1(venue, l1, "alice", DEPOSIT)
        link(venue).step()
        clear_next(venue)
        with link(venue).chain_lock:
            with pytest.raises(ContractReverted) as err:
                l1.ex.request_forced_withdrawal(carol, 5)
            assert err.value.error == "NoDeposit"
            l1.ex.request_forced_withdrawal(alice, 10 * DEPOSIT)  # everything: served whole
            l1.ex.request_forced_withdrawal(alice, 1)  # then nothing is left to give
            l1.ex.deposit(bob, DEPOSIT)  # behind it
        link(venue).step()
        assert venue.service.core.l1_next == 4
        assert link(venue).unserved is None
        assert account(venue, alice).pending_withdrawals == DEPOSIT
        assert account(venue, bob).pending_deposits == DEPOSIT
        record = clear_next(venue)
        assert record["settlement"]["withdrawals"] == [[alice, DEPOSIT], [alice, 0]]
        assert account(venue, alice).collateral == 0
        assert account(venue, bob).collateral == DEPOSIT
        assert "sealbatch_l1_request_blocked 0.0" in venue.tc.get("/metrics").text


def test_a_request_the_ledger_cannot_credit_blocks_the_queue_loudly(
    db_url: str, clock: ManualClock, l1: L1
) -> None:
    """A deposit that would take a balance past 2^62 cannot be credited (docs/contracts.md,
    "Limits"): it is reported, and the requests behind it wait, in queue order as on L1."""
    carol = l1.traders["carol"]
    big = (1 << 62) - 1
    with l1_venue(db_url, clock, l1) as venue:
        with link(venue).chain_lock:
            l1.ex.mint(carol, 2 * big)
            l1.ex.deposit(carol, big)
            l1.ex.deposit(carol, big)
            l1.ex.deposit(l1.traders["alice"], DEPOSIT)
        link(venue).step()
        assert venue.service.core.l1_next == 1
        assert account(venue, l1.traders["alice"]).pending_deposits == 0
        view = venue.tc.get("/v1/operator").json()["l1"]
        assert view["unserved"] is not None and view["unserved"].startswith("request 1")
        assert "sealbatch_l1_request_blocked 1.0" in venue.tc.get("/metrics").text


def test_deposits_opening_accounts_wait_so_no_batch_grows_the_tree_two_levels(
    db_url: str, clock: ManualClock, l1: L1
) -> None:
    """The exchange verifies batches whose account tree stays at its depth or grows one
    level (``venue_shapes``); a batch growing it two levels can never be anchored, is
    retried forever, and an unserved forced withdrawal then lets anyone freeze the exchange.
    Anyone could cause that with a few deposits of one base unit from new subaccounts: so a
    deposit that opens an account past one more level waits (the queue behind it too) for
    the next batch, and every batch stays of a deployed shape."""
    from sealbatch.settlement.batch_air.settle_witness import tree_depth

    alice = l1.traders["alice"]
    with l1_venue(db_url, clock, l1) as venue:
        with link(venue).chain_lock:
            for sub in range(5):  # 5 accounts: depth 1 -> 3 in one batch
                l1.ex.deposit(alice, 1, subaccount=sub)
            l1.ex.deposit(alice, 2)  # to an account the batch opens: no new account
        link(venue).step()
        assert venue.service.core.l1_next == 4
        unserved = link(venue).unserved
        assert unserved is not None and unserved.startswith("request 4")
        depths = []
        for credited in (4, 6):
            with venue.service.core_lock:
                before = venue.service.core.settlement.state.size
            clear_next(venue)
            with venue.service.core_lock:
                after = venue.service.core.settlement.state.size
            depths.append((tree_depth(before), tree_depth(after)))
            assert after == credited - (credited == 6)  # the last deposit opens nothing
            link(venue).step()
        assert depths == [(1, 2), (2, 3)]
        assert venue.service.core.l1_next == 6
        assert link(venue).unserved is None


def test_no_deposit_can_open_an_account_past_the_deepest_tree_so_the_queue_never_blocks(
    db_url: str, clock: ManualClock
) -> None:
    """Once the ledger holds 2^l1_max_depth accounts, a deposit opening one more could never
    be in a batch the exchange verifies: it would wait forever, the forced withdrawals behind
    it with it, until anyone could freeze the exchange (one-unit deposits from new
    subaccounts would do). The exchange refuses such a deposit (``AccountCapacityReached``,
    nothing queued, nothing taken); every request it queued is credited, the forced
    withdrawal behind them served, each batch of a shape the exchange deploys."""
    from sealbatch.settlement.batch_air.settle_witness import tree_depth

    l1 = l1_with_traders(deploy_refusing_exchange(Chain(), account_capacity=4))
    alice, bob, carol = (l1.traders[n] for n in ("alice", "bob", "carol"))
    with l1_venue(db_url, clock, l1, l1_max_depth=2) as venue:
        with link(venue).chain_lock:
            l1.ex.deposit(bob, DEPOSIT)
            for sub in range(3):  # the attacker fills the tree, one base unit an account
                l1.ex.deposit(alice, 1, subaccount=sub)
            queued, held = l1.ex.queue_length(), l1.ex.balance(alice)
            for who, sub in ((alice, 3), (carol, 0)):
                with pytest.raises(ContractReverted) as err:
                    l1.ex.deposit(who, 1, subaccount=sub)
                assert err.value.error == "AccountCapacityReached"
                assert err.value.error_args == (4,)
            assert (l1.ex.queue_length(), l1.ex.balance(alice)) == (queued, held)
            assert l1.ex.balance(carol) == MINTED
            l1.ex.deposit(alice, 1, subaccount=2)  # an account that deposited before
            l1.ex.request_forced_withdrawal(bob, 1_000_000)
        link(venue).step()
        assert venue.service.core.l1_next == l1.ex.queue_length() == 6
        assert link(venue).unserved is None
        record = clear_next(venue)
        assert record["settlement"]["withdrawals"] == [[bob, 1_000_000]]
        assert account(venue, bob).collateral == DEPOSIT - 1_000_000
        with venue.service.core_lock:  # the deepest tree the exchange verifies, full
            assert tree_depth(venue.service.core.settlement.state.size) == 2


def test_a_venue_refuses_an_exchange_taking_more_accounts_than_its_deepest_tree(
    db_url: str, clock: ManualClock
) -> None:
    """An exchange whose capacity exceeds 2^l1_max_depth accounts would queue deposits no
    batch of the venue's depth could take: the venue refuses to attach it at its first start
    (and records nothing, so a start with a fitting depth attaches it)."""
    l1 = l1_with_traders(deploy_refusing_exchange(Chain(), account_capacity=5))
    refused = pytest.raises(BadRequest, match="at most 2\\^l1_max_depth = 4 accounts")
    with refused, l1_venue(db_url, clock, l1, l1_max_depth=2):
        pass
    with l1_venue(db_url, clock, l1, l1_max_depth=3) as venue:
        assert venue.tc.get("/v1/info").json()["exchange_contract"] == l1.ex.address


def test_the_l1_stage_survives_an_unexpected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that fails with an error nobody foresaw (a node's RPC error, a bug) is logged
    and the next pass runs: the stage's thread never ends while the venue runs."""
    calls = []

    def step() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the node answered something unforeseen")

    stage = L1Link(None, None, None, None, from_block=0, clock_ms=lambda: 0, poll_ms=5)  # type: ignore[arg-type]
    monkeypatch.setattr(stage, "step", step)
    stage.start()
    try:
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(calls) >= 3
        assert stage._thread is not None and stage._thread.is_alive()
    finally:
        stage.close()


def fund_and_trade(venue: Venue, l1: L1) -> int:
    """Alice and Bob deposit on L1 and trade 3 lots in one batch, cleared; its id."""
    deposit_on_l1(venue, l1, "alice", DEPOSIT)
    deposit_on_l1(venue, l1, "bob", DEPOSIT)
    link(venue).step()
    t = venue.traders
    a = t["alice"].commit(Order("BTC-PERP", Side.BUY, 100, 3))
    b = t["bob"].commit(Order("BTC-PERP", Side.SELL, 100, 3))
    venue.to_reveal(a.batch_id)
    t["alice"].reveal(a)
    t["bob"].reveal(b)
    venue.to_cleared(a.batch_id)
    return a.batch_id


@pytest.mark.slow
def test_a_refused_anchor_is_reported_and_retried_never_skipped(
    db_url: str, clock: ManualClock, l1: L1, tmp_path: Path
) -> None:
    """The exchange cannot take the batch (its verifiers are another AIR's: the venue finds
    the batch's program among none of them before sending): the venue reports the refusal
    (operator view, metric, stream), keeps the batch proven, retries it after the backoff
    with the attempt counted, and anchors no later batch meanwhile."""
    with l1_venue(db_url, clock, l1, prove=True, l1_retry_ms=5_000) as venue:
        batch = fund_and_trade(venue, l1)

        def status() -> str:
            answer: str = venue.tc.get(f"/v1/batches/{batch}").json()["status"]
            return answer

        wait_for("the batch proven", lambda: status() == "proven", venue)
        link(venue).step()
        failure = link(venue).failure
        assert failure is not None and failure.batch_id == batch
        assert failure.error == "AnchorError" and failure.attempts == 1
        assert "verifier programs" in failure.detail
        assert failure.retry_at_ms == clock.now_ms() + 5_000
        view = venue.tc.get("/v1/operator").json()["l1"]
        assert view["failure"]["batch_id"] == batch and view["lag"] == 1
        assert view["last_anchored_batch"] is None
        metrics = venue.tc.get("/metrics").text
        assert "sealbatch_anchor_failures_total 1.0" in metrics
        assert "sealbatch_l1_lag 1.0" in metrics
        # Before the backoff ran out: no new attempt.
        link(venue).step()
        assert link(venue).failure is failure
        clock.set(failure.retry_at_ms)
        link(venue).step()
        again = link(venue).failure
        assert again is not None and again.batch_id == batch and again.attempts == 2
        assert again.retry_at_ms == clock.now_ms() + 10_000  # doubled
        assert status() == "proven"
        assert l1.ex.next_batch_id() == 0  # nothing moved on L1


@pytest.mark.slow
def test_a_proof_still_being_written_is_waited_for_not_reported_gone(
    db_url: str, clock: ManualClock, l1: L1, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is proven in memory as its proof goes to the writer: an L1 pass that comes
    before the proof is durable waits for it instead of reporting the batch's proof gone
    (it then meets the exchange's own refusal: its verifiers are another AIR's)."""
    with l1_venue(db_url, clock, l1, prove=True, l1_retry_ms=5_000) as venue:
        store = venue.service.store
        write = store.write

        def slow_write(*args: Any) -> None:
            if args[4]:  # proofs (the writer passes every part by position)
                time.sleep(1.5)  # the proof reaches the database late
            write(*args)

        monkeypatch.setattr(store, "write", slow_write)
        batch = fund_and_trade(venue, l1)

        def proven_in_memory() -> bool:
            with venue.service.core_lock:
                rec = venue.service.core.records.get(batch)
            return rec is not None and rec.status == "proven"

        wait_for("the batch proven", proven_in_memory, venue)
        assert store.load_proof(batch) is None  # not durable yet: the race this is about
        link(venue).step()
        failure = link(venue).failure
        assert failure is not None and failure.batch_id == batch
        assert failure.error == "AnchorError", failure.detail  # not "gone"
        assert "verifier programs" in failure.detail
        assert store.load_proof(batch) is not None


def test_a_new_venue_deploys_its_exchange_and_signs_under_it(
    db_url: str, clock: ManualClock
) -> None:
    """Without a contract to attach, the venue deploys the exchange at its first start: its
    address and the chain's id become the signing domain, its root is the venue's genesis
    root, and a restart attaches the same contract (deposits then credited from it)."""
    from sealbatch.settlement.anchor_exchange import attach_exchange
    from sealbatch.settlement.roots import state_root

    chain = Chain()
    settings = make_settings(db_url, l1_url="embedded", l1_poll_ms=600_000, l1_max_depth=1)
    with TestClient(create_app(settings, clock, chain)) as tc:
        info = tc.get("/v1/info").json()
        address = info["exchange_contract"]
        assert address is not None
        assert info["domain"]["verifyingContract"].lower() == address.lower()
        assert info["domain"]["chainId"] == chain.w3.eth.chain_id
        service = tc.app.state.service  # type: ignore[attr-defined]
        assert attach_exchange(chain, address).state_root() == state_root(
            service.core.settlement.state
        )
        # deposits from 2^l1_max_depth accounts, of at least l1_min_deposit each
        assert attach_exchange(chain, address).account_capacity() == 2
        assert attach_exchange(chain, address).min_deposit() == 1_000_000
    ex = attach_exchange(chain, address)
    trader = dev_account(chain, bytes.fromhex(L1_KEYS["alice"][2:]))
    ex.mint(trader, DEPOSIT)
    ex.deposit(trader, DEPOSIT)
    with TestClient(create_app(settings, clock, chain)) as tc:
        assert tc.get("/v1/info").json()["exchange_contract"] == address
        service = tc.app.state.service  # type: ignore[attr-defined]
        service.l1.step()
        assert service.core.l1_next == 1


@pytest.mark.slow
def test_batches_are_anchored_in_order_and_a_withdrawal_is_paid_on_l1(
    db_url: str, clock: ManualClock
) -> None:
    """The venue deploys its exchange, credits a deposit from L1, proves and anchors its
    batch (status anchored, the contract's root the batch's post-root); a signed withdrawal
    leaves the ledger in the next batch, whose anchoring credits it on the contract, and the
    trader collects it there."""
    from sealbatch.settlement.anchor_exchange import attach_exchange

    chain = Chain()
    settings = make_settings(
        db_url, l1_url="embedded", l1_poll_ms=600_000, prove=True, l1_max_depth=1
    )
    with TestClient(create_app(settings, clock, chain)) as tc:
        venue = Venue(tc, clock)
        stage = link(venue)
        alice_key = L1_KEYS["alice"]
        alice = VenueClient("http://testserver", alice_key, http=tc, clock=clock.now_ms)
        with stage.chain_lock:
            ex = attach_exchange(chain, tc.get("/v1/info").json()["exchange_contract"])
            me = dev_account(chain, bytes.fromhex(alice_key[2:]))
            ex.mint(me, DEPOSIT)
            ex.deposit(me, DEPOSIT)
        stage.step()
        first = clear_next(venue)["batch_id"]

        def status(batch_id: int) -> str:
            answer: str = tc.get(f"/v1/batches/{batch_id}").json()["status"]
            return answer

        wait_for("the deposit's batch proven", lambda: status(first) != "settled", venue)
        stage.step()
        record = tc.get(f"/v1/batches/{first}").json()
        assert record["status"] == "anchored", stage.failure
        assert record["anchor"]["post_root"] == record["settlement"]["post_root"]
        with stage.chain_lock:
            assert "0x" + ex.state_root().hex() == record["settlement"]["post_root"]
            assert ex.next_batch_id() == first + 1 and ex.queue_consumed() == 1
        assert venue.tc.get("/v1/operator").json()["l1"]["last_anchored_batch"] == first

        alice.withdraw(1_000_000)
        second = clear_next(venue)["batch_id"]
        wait_for("the withdrawal's batch proven", lambda: status(second) != "settled", venue)
        stage.step()
        assert status(second) == "anchored", stage.failure
        with stage.chain_lock:
            assert ex.withdrawable(me) == 1_000_000
            before = ex.balance(me)
            ex.withdraw(me, 1_000_000)
            assert ex.balance(me) - before == 1_000_000
        assert "sealbatch_batches_anchored_total 2.0" in tc.get("/metrics").text


def test_the_venue_deploys_a_verifier_for_each_step_of_the_account_tree() -> None:
    """A venue fixes its exchange's verifiers when it deploys it: one per shape its batches
    can take, the account tree's depth staying or growing by one up to the configured
    depth. A real batch with orders has the program of the empty template of its depth."""
    from sealbatch.settlement.anchor_batch import batch_program_hash
    from sealbatch.settlement.batch_air.statement import statement_from_files
    from sealbatch.venue.l1 import template_files, venue_shapes
    from tests.settlement.batch_air_helpers import small_batch_files
    from tests.settlement.conftest import TRADERS

    markets = ("BTC-PERP", "ETH-PERP")
    shapes = [statement_from_files(f) for f in venue_shapes(markets, 3)]
    depths = [(s.settle.depth_pre, s.settle.depth_post) for s in shapes]
    assert depths == [(1, 1), (1, 2), (2, 2), (2, 3), (3, 3)]
    programs = {batch_program_hash(s) for s in shapes}
    assert len(programs) == len(shapes)
    real = statement_from_files(small_batch_files())  # orders in both markets, 64 accounts
    assert real.settle.n_pre == len(TRADERS) and sum(real.order_counts) > 0
    # (the template under the batch's forfeit_bond: a constant of the program)
    forfeit_bond = real.forfeit_bond
    template = statement_from_files(template_files(markets, len(TRADERS), min_bond=forfeit_bond))
    assert batch_program_hash(real) == batch_program_hash(template)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run_example(name: str, *args: str) -> str:
    """Run ``examples/<name>`` in a child process; its output (it must exit 0)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=3_600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("example", ["l1_deposit_trade_withdraw.py", "escape_hatch.py"])
def test_the_l1_examples_exit_0_on_py_evm(example: str) -> None:
    """Deposit → trade → withdraw, and the escape hatch, on the embedded chain: every batch
    proved and anchored, and after the freeze every account paid exactly its equity."""
    out = _run_example(example)
    assert "anchored" in out


@pytest.mark.anvil
@pytest.mark.parametrize("example", ["l1_deposit_trade_withdraw.py", "escape_hatch.py"])
def test_the_l1_examples_exit_0_on_anvil(example: str) -> None:
    if anvil_binary() is None:
        pytest.skip("anvil is not installed (make installs contracts/node_modules)")
    with running_anvil() as url:
        out = _run_example(example, "--l1", url)
    assert "anchored" in out


def test_a_batch_needing_deleveraging_halts_the_venue_on_l1_and_applies_nothing(
    db_url: str, clock: ManualClock, l1: L1
) -> None:
    """On an L1 a batch whose deficit other accounts would pay (ADL, socialised loss)
    could never anchor (the contract refuses the adjustments table the proof needs), and
    no batch after it could either: the venue fails it and halts, rather than trade on a
    ledger no anchor will follow (docs/operator.md)."""
    from sealbatch.settlement.ledger import AccountKey

    alice, bob = l1.traders["alice"], l1.traders["bob"]
    with l1_venue(db_url, clock, l1) as venue:
        deposit_on_l1(venue, l1, "alice", DEPOSIT)
        deposit_on_l1(venue, l1, "bob", DEPOSIT)
        link(venue).step()
        clear_next(venue)
        with venue.service.core_lock:
            house = venue.service.core.settlement
            assert house.anchored
            # Alice owes more than the insurance fund (empty) holds: Bob would pay for it.
            state = house.state
            assert state.insurance_fund == 0
            collateral = state.collateral.copy()
            collateral[state.row(AccountKey(Address(alice), 0))] = -1_000
            house.state = before = state.with_arrays(collateral=collateral)
        deposit_on_l1(venue, l1, "bob", 1_000)
        link(venue).step()
        record = clear_next(venue)
        assert record["status"] == "failed"
        assert record["settlement"]["code"] == "unanchorable_batch"
        assert "deleveraging or socialised loss" in record["settlement"]["error"]
        assert alice in record["settlement"]["error"]
        halted = venue.tc.get("/v1/operator").json()["halted"]
        assert halted["batch_id"] == record["batch_id"]
        with venue.service.core_lock:
            assert house.state is before  # nothing of the batch applied
            assert house.account(Address(bob)).collateral == DEPOSIT


def test_looking_for_a_batch_anchored_before_a_restart_reads_only_the_venues_blocks(
    db_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``L1Link._already_anchored`` reads ``BatchAnchored`` events from the block the venue
    attached the exchange in (stored, so a restart keeps it; each anchored batch moves it
    on): never the chain's whole history from block 0."""
    chain = Chain()
    ex = deploy_refusing_exchange(chain, first_batch_id=5)  # the contract is past batch 2
    attached_after = int(chain.w3.eth.block_number)
    assert attached_after > 0
    real_get_logs = chain.w3.eth.get_logs
    scans: list[Any] = []
    me = threading.get_ident()  # the stage's own thread reads requests meanwhile

    def get_logs(params: Any) -> Any:  # the node's answer, the range asked recorded
        if threading.get_ident() == me:
            scans.append(params["fromBlock"])
        return real_get_logs(params)

    monkeypatch.setattr(chain.w3.eth, "get_logs", get_logs)
    for _ in range(2):  # the first start attaches the exchange, the second finds it stored
        with l1_venue(db_url, clock, L1(chain, ex, {})) as venue:
            stage = link(venue)
            scans.clear()
            assert not stage._already_anchored(2)  # the contract is past it: events read
            assert scans == [attached_after]  # block 0 before the venue stored where to start
            assert stage.anchors_from_block == attached_after
