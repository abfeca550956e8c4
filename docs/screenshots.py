"""Screenshots of the batch explorer for the README: ``make screenshots``.

Starts ``sealbatch demo --serve`` on a free loopback port, lets a few batches
clear, photographs the overview, a batch page and the overview at phone width
in Debian's headless Chromium (Playwright driving the system browser), writes
``docs/explorer-*.png`` and stops the venue with Ctrl-C (SIGINT).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _traded(url: str) -> list[int]:
    try:
        batches = httpx.get(url + "/v1/batches?limit=50", timeout=5).json()["batches"]
    except (httpx.HTTPError, ValueError, KeyError):
        return []
    return [
        b["batch_id"]
        for b in batches
        if all(m["price"] is not None and m["volume"] > 0 for m in b["markets"].values())
    ]


def main() -> int:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    venue = subprocess.Popen(
        [sys.executable, "-m", "sealbatch.venue.cli", "demo", "--serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_traded(url)) < 3:
            if venue.poll() is not None or time.monotonic() > deadline:
                print("screenshots: the live demo did not trade", file=sys.stderr)
                return 1
            time.sleep(0.5)
        batch = _traded(url)[0]
        with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile,
                executable_path="/usr/bin/chromium",
                headless=True,
                args=ARGS,
                viewport={"width": 1100, "height": 760},
            )
            page = ctx.new_page()
            page.goto(url + "/")
            page.wait_for_selector("#live.live-live")
            time.sleep(1.5)
            page.screenshot(path=DOCS / "explorer-overview.png")
            page.goto(f"{url}/#/batch/{batch}")
            page.wait_for_selector(".card.market .uplot canvas")
            page.wait_for_selector("table.fills td:nth-child(8):not(:empty)")
            time.sleep(1.0)
            page.set_viewport_size({"width": 1100, "height": 1250})
            page.screenshot(path=DOCS / "explorer-batch.png")
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(url + "/")
            page.wait_for_selector("#live.live-live")
            time.sleep(1.0)
            page.screenshot(path=DOCS / "explorer-phone.png")
            ctx.close()
    finally:
        venue.send_signal(signal.SIGINT)
        venue.wait(timeout=20)
    for name in ("overview", "batch", "phone"):
        path = DOCS / f"explorer-{name}.png"
        print(f"wrote {path.relative_to(DOCS.parent)} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
