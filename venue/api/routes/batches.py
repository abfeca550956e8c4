"""``GET /v1/batches``, ``/v1/batches/{id}``, ``/{id}/proof``, ``/{id}/archive``,
``/{id}/commitments/{sequence}``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from sealbatch.venue.api.deps import (
    DECIMAL,
    MAX_ID,
    PROBLEM,
    BatchIdPath,
    SequencePath,
    ServiceDep,
    json_response,
    one_value_each,
)
from sealbatch.venue.api.public import (
    BatchListPublic,
    BatchOpenPublic,
    BatchPublic,
    CommitmentProofPublic,
)
from sealbatch.venue.service import VenueService

router = APIRouter(prefix="/v1/batches", tags=["batches"])

#: The most batches one page of ``GET /v1/batches`` lists (docs/api.md).
PAGE_MAX = 500

#: The batches a page lists when ``limit`` is not given.
PAGE_DEFAULT = 20


@router.get(
    "",
    response_model=BatchListPublic,
    responses=PROBLEM,
    summary="Recent batches",
    description="Cleared batches, newest first (prices, volumes, status), and the batch "
    "collecting commitments now. Status: committed, then settled or failed; a settled "
    "batch becomes proven once its proof is verified, then anchored once the exchange "
    "contract accepted it (with --l1; both in order). Pages: `limit` batches (1 to "
    f"{PAGE_MAX}, default {PAGE_DEFAULT}) with ids below `before`; each parameter once.",
    dependencies=[one_value_each("limit", "before")],
)
async def list_batches(
    service: ServiceDep,
    limit: Annotated[
        int,
        Query(ge=1, le=PAGE_MAX, description=f"batches per page, at most {PAGE_MAX}"),
        DECIMAL,
    ] = PAGE_DEFAULT,
    before: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="only batches with a smaller id (the next page)"),
        DECIMAL,
    ] = None,
) -> JSONResponse:
    return json_response(await service.read_durable(lambda: _listing(service, limit, before)))


def _listing(service: VenueService, limit: int, before: int | None) -> dict[str, Any]:
    now = service.clock.now_ms()
    items = []
    for rec in service.batch_page(before, limit):
        items.append(
            {
                "batch_id": rec.batch_id,
                "status": rec.status,
                "result_hash": rec.result_hash,
                "commitments": rec.commitments,
                "markets": {
                    m: {"price": mr.price, "volume": mr.volume}
                    for m, mr in sorted(rec.markets.items())
                },
            }
        )
    return {
        "collecting": service.schedule.collecting(now),
        "last_cleared": service.core.last_cleared,
        "batches": items,
    }


@router.get(
    "/{batch_id}",
    response_model=BatchPublic | BatchOpenPublic,
    responses=PROBLEM,
    summary="One batch",
    description="Prices, volumes, fills, the published demand/supply curves, forfeits, "
    "recorded reveal rejections, block trades, settlement summary and status.",
)
async def get_batch(service: ServiceDep, batch_id: BatchIdPath) -> JSONResponse:
    view = await service.read_durable(lambda: service.batch_view(batch_id))
    return json_response(view.to_json())


@router.get(
    "/{batch_id}/proof",
    response_class=Response,
    responses={
        200: {
            "description": "the batch's STARK proof (docs/formats.md, proof.bin): check it "
            "with `sealbatch verify proof.bin --public batch-<n>/`",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **PROBLEM,
    },
    summary="The batch's STARK proof",
    description="The proof bytes once the batch is proven; 409 `no_proof_yet` before "
    "(settled, proving, or proving halted at this batch: the record's `proof.error` says "
    "why); 404 for an unknown batch.",
)
async def get_proof(service: ServiceDep, batch_id: BatchIdPath) -> Response:
    data = await service.proof_bytes(batch_id)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch_id}-proof.bin"'},
    )


@router.get(
    "/{batch_id}/archive",
    response_class=Response,
    responses={
        200: {
            "description": "the batch's published folder (docs/formats.md) as a gzipped tar "
            "of batch-<n>/orders.csv, result.json, oracle.json, transfers.json, "
            "pre_state.json and post_state.json",
            "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
        },
        **PROBLEM,
        410: {
            "description": "settled, but neither published nor kept in memory",
            "content": {"application/problem+json": {}},
        },
    },
    summary="The batch's published folder",
    description="What `sealbatch replay` checks: 409 `batch_not_settled` until the batch is "
    "settled; 404 for an unknown batch.",
)
async def get_archive(service: ServiceDep, batch_id: BatchIdPath) -> Response:
    # Off the event loop: it may wait for a batch clearing, and it compresses.
    data = await asyncio.to_thread(service.archive, batch_id)
    if service.writer.last is not None:
        await asyncio.wrap_future(service.writer.last)  # never serve a result a crash could undo
    return Response(
        data,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch_id}.tar.gz"'},
    )


@router.get(
    "/{batch_id}/commitments/{sequence}",
    response_model=CommitmentProofPublic,
    responses={
        **PROBLEM,
        410: {
            "description": "settled, but neither published nor kept in memory",
            "content": {"application/problem+json": {}},
        },
    },
    summary="A commitment's inclusion proof under the batch's commitment root",
    description="Receipt `sequence`'s commitment, trader and bond, its leaf and the "
    "20 sibling digests from the leaf to `root` (the batch's seed, public input of its "
    "proof): a trader checks that its receipt's commitment is in the root the batch was "
    "cleared and proved with. 409 `batch_not_settled` until the batch is settled; 404 "
    "for an unknown batch or a receipt number outside it.",
)
async def get_commitment_proof(
    service: ServiceDep, batch_id: BatchIdPath, sequence: SequencePath
) -> JSONResponse:
    # Off the event loop: it hashes every commitment of the batch.
    proof = await asyncio.to_thread(service.commitment_proof, batch_id, sequence)
    if service.writer.last is not None:
        await asyncio.wrap_future(service.writer.last)  # never serve a result a crash could undo
    return json_response(proof)
