"""The EIP-712 domain a venue signs under: chain id and verifying contract.

A development venue never signs for Ethereum mainnet (chain id 1); a
deployment names its exchange contract's chain and address (``sealbatch serve
--chain-id N --verifying-contract ADDRESS``, or ``SEALBATCH_CHAIN_ID`` /
``SEALBATCH_VERIFYING_CONTRACT``); ``/v1/info`` serves them, and a client that
reads the domain there (as the SDK does) signs for the right one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from sealbatch.auction.orders import Order, Side
from sealbatch.crypto.eip712 import DEV_CHAIN_ID, DEV_VERIFYING_CONTRACT, Eip712Domain
from sealbatch.venue.app import create_app
from sealbatch.venue.cli import main
from sealbatch.venue.client import VenueClient
from sealbatch.venue.clock import ManualClock
from sealbatch.venue.errors import ApiError, BadRequest
from tests.venue.conftest import KEYS, T0, make_settings

EXCHANGE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # anvil's first deployment


def _info(db_url: str, **settings: Any) -> dict[str, Any]:
    with TestClient(create_app(make_settings(db_url, **settings), ManualClock(T0))) as tc:
        r = tc.get("/v1/info")
        assert r.status_code == 200, r.text
        info: dict[str, Any] = r.json()
        return info


def test_a_development_venue_signs_for_the_local_chain_not_mainnet(tmp_path: Path) -> None:
    info = _info(f"sqlite:///{tmp_path / 'v.db'}")
    assert info["domain"]["chainId"] == DEV_CHAIN_ID == 31337
    assert info["domain"]["verifyingContract"] == DEV_VERIFYING_CONTRACT
    assert info["exchange_contract"] is None


def test_chain_id_1_is_refused_with_the_public_development_key() -> None:
    with pytest.raises(ValidationError, match="Ethereum mainnet"):
        make_settings("sqlite://", chain_id=1)
    # A deployment with its own operator key may run on mainnet.
    assert make_settings("sqlite://", chain_id=1, operator_key="0x" + "42" * 32).chain_id == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--chain-id", "1"],
        ["--chain-id", "0"],
        ["--chain-id", str(1 << 53)],
        ["--verifying-contract", "0x1234"],
        ["--verifying-contract", "0x" + "zz" * 20],
    ],
)
def test_serve_refuses_a_bad_domain(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "18123", *argv]) == 2
    assert "sealbatch serve: error:" in capsys.readouterr().err


def test_a_deployment_serves_its_exchange_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    monkeypatch.chdir(str(tmp_path))
    argv = ["serve", "--port", "18123", "--chain-id", "11155111"]
    assert main([*argv, "--verifying-contract", EXCHANGE.lower()]) == 0
    with TestClient(apps[0]) as tc:
        info = tc.get("/v1/info").json()
    assert info["domain"]["chainId"] == 11155111
    assert info["domain"]["verifyingContract"] == EXCHANGE  # checksummed
    assert info["exchange_contract"] == EXCHANGE


def test_the_domain_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALBATCH_CHAIN_ID", "17000")
    monkeypatch.setenv("SEALBATCH_VERIFYING_CONTRACT", EXCHANGE)
    info = _info(f"sqlite:///{tmp_path / 'v.db'}")
    assert (info["domain"]["chainId"], info["exchange_contract"]) == (17000, EXCHANGE)


def test_a_restart_under_another_domain_is_refused(tmp_path: Path) -> None:
    """The log was signed under the first start's domain: changing it later would
    make the venue refuse its own log (or take messages signed for another chain)."""
    url = f"sqlite:///{tmp_path / 'v.db'}"
    assert _info(url, chain_id=17000)["domain"]["chainId"] == 17000
    with pytest.raises(BadRequest, match="chain_id: expected 17000"):
        _info(url, chain_id=31337)
    with pytest.raises(BadRequest, match="verifying_contract"):
        _info(url, verifying_contract=EXCHANGE)
    # Not naming a domain keeps the stored one.
    assert _info(url)["domain"]["chainId"] == 17000


def test_a_message_signed_for_mainnet_is_refused_by_a_development_venue(tmp_path: Path) -> None:
    """Attack: replaying a signature made for the same app on another chain."""
    clock = ManualClock(T0 + 100)
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'v.db'}"), clock)
    with TestClient(app) as tc:
        alice = VenueClient("http://testserver", KEYS["alice"], http=tc, clock=clock.now_ms)
        alice.deposit(10_000_000_000)
        served = alice.info()["domain"]
        alice.info()["domain"] = Eip712Domain(chain_id=1).as_dict()  # hard-coded mainnet
        with pytest.raises(ApiError) as e:
            alice.commit(Order("BTC-PERP", Side.BUY, 650_000, 1), bond=1_000_000)
        assert (e.value.status, e.value.code) == (401, "bad_signature")
        alice.info()["domain"] = served
        account = alice.account()
        assert account["orders"] == [] and account["pending_deposits"] == 10_000_000_000


def test_a_development_database_started_on_mainnet_is_refused(tmp_path: Path) -> None:
    """A database from before development venues left chain id 1 does not keep
    signing for mainnet under the public key."""
    from sealbatch.venue.persistence import Store

    url = f"sqlite:///{tmp_path / 'v.db'}"
    key = "0x" + "42" * 32
    assert _info(url, chain_id=1, operator_key=key)["domain"]["chainId"] == 1
    meta = Store(url).get_meta()
    assert meta["chain_id"] == "1"
    with pytest.raises(BadRequest, match="Ethereum mainnet"):
        _info(url)
