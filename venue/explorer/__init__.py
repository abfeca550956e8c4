"""The batch explorer: a browser page served by the venue at ``/``.

The page (``static/``) reads only public routes (``/v1/info``, ``/v1/markets``,
``/v1/batches``, ``/v1/orders/{commitment}``, ``/v1/stream``) and follows the
``batches`` stream topic with gap healing. Its charting library is vendored
from the npm registry into ``static/vendor/`` (see :mod:`.assets`), so the page
needs no network beyond the venue.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount_explorer"]

#: The page, its script and style, and the vendored chart library.
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The page never loads anything from another origin; say so to the browser too.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def mount_explorer(app: FastAPI) -> None:
    """Serve the explorer page at ``/`` and its assets under ``/explorer/``."""

    async def explorer_page(_request: Request) -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
        )

    # A plain route, not an API route: the page is no part of the JSON API or its schema.
    app.add_route("/", explorer_page, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount("/explorer", StaticFiles(directory=STATIC_DIR), name="explorer")
