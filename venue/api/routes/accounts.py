"""``GET /v1/accounts/{address}`` and ``POST /v1/deposits``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sealbatch.crypto.eip712 import checksum_address, is_address
from sealbatch.venue.api.deps import (
    PROBLEM,
    ServiceDep,
    SignedReadDep,
    allow_read,
    json_response,
    rate_headers,
)
from sealbatch.venue.api.public import AccountPublic, CollateralMovePublic
from sealbatch.venue.errors import BadRequest
from sealbatch.venue.schemas import DepositIn, WithdrawIn

router = APIRouter(tags=["accounts"])


@router.get(
    "/v1/accounts/{address}",
    response_model=AccountPublic,
    responses={**PROBLEM, 503: {"description": "settlement ledger not wired in"}},
    summary="An account",
    description="Collateral, positions, equity, margin requirements and liquidation prices "
    "(from the settlement ledger), plus the account's recent orders. Private: only on a "
    "signed read by the account or the operator (headers `Sealbatch-Account`, "
    "`Sealbatch-Expiry`, `Sealbatch-Signature`; docs/api.md).",
)
async def get_account(service: ServiceDep, address: str, read: SignedReadDep) -> JSONResponse:
    # is_address also takes 40 bare hex digits and 20 raw bytes; a path says 0x.
    if not (address.startswith("0x") and is_address(address)):
        raise BadRequest(f"address: expected 0x and 40 hex digits, got {address[:60]!r}")
    trader = checksum_address(address)
    allow_read(service, read, trader)
    return json_response(
        await service.read_durable(
            lambda: {
                "address": trader,
                **service.core.settlement.account(trader).to_dict(),
                "orders": [s.to_json() for s in service.trader_orders(trader)],
            }
        )
    )


@router.post(
    "/v1/deposits",
    response_model=CollateralMovePublic,
    responses={**PROBLEM, 503: {"description": "settlement ledger not wired in"}},
    summary="Deposit collateral (embedded mode)",
    description="Trader-signed EIP-712 `Deposit`. Without an L1 bridge the venue credits it "
    "directly when `unbacked_deposits` is on (the embedded default); with an L1 deposits come "
    "from the contract.",
)
async def post_deposit(service: ServiceDep, body: DepositIn) -> JSONResponse:
    if not service.settings.unbacked_deposits:
        raise BadRequest("deposits: expected them through the L1 contract (unbacked_deposits off)")
    await service.deposit(body)
    return json_response(
        {"trader": body.trader, "amount": body.amount, "status": "credited"},
        headers=rate_headers(service, body.trader),
    )


@router.post(
    "/v1/withdrawals",
    response_model=CollateralMovePublic,
    responses=PROBLEM,
    summary="Withdraw free collateral",
    description="Trader-signed EIP-712 `Withdraw`, settled with the next batch (before its "
    "fills, like `apply_batch`). Only free collateral (above initial margin) and only with "
    "no orders in open batches. Without an L1 bridge the amount simply leaves the ledger.",
)
async def post_withdrawal(service: ServiceDep, body: WithdrawIn) -> JSONResponse:
    await service.withdraw(body)
    return json_response(
        {"trader": body.trader, "amount": body.amount, "status": "pending"},
        headers=rate_headers(service, body.trader),
    )
