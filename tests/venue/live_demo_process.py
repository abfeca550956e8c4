"""Run ``sealbatch demo --serve`` as a real process on 127.0.0.1 for end-to-end tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from tests.venue.server import free_port

__all__ = ["LiveDemoProcess"]


class LiveDemoProcess:
    """``sealbatch demo --serve`` in a child process, stopped with Ctrl-C (SIGINT).

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        output: what the process printed (stdout and stderr), after :meth:`stop`.
        returncode: its exit status, after :meth:`stop`.
    """

    def __init__(self, commit_ms: int = 800, reveal_ms: int = 300) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.commit_ms, self.reveal_ms = commit_ms, reveal_ms
        self.proc: subprocess.Popen[str] | None = None
        self.output = ""
        self.returncode: int | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start it and wait until a batch with trades has settled."""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sealbatch.venue.cli",
                "demo",
                "--serve",
                "--port",
                str(self.port),
                "--commit-ms",
                str(self.commit_ms),
                "--reveal-ms",
                str(self.reveal_ms),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"demo --serve exited with {self.returncode}: {self.output}")
            if self.traded_batches():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"demo --serve settled no batch with trades in {timeout_s} s")

    def get(self, path: str) -> Any:
        return httpx.get(self.url + path, timeout=5).json()

    def traded_batches(self) -> list[int]:
        """Ids of settled (or proven) batches in which every market traded, newest first."""
        try:
            listing = self.get("/v1/batches?limit=50")
        except (httpx.HTTPError, ValueError):
            return []
        return [
            b["batch_id"]
            for b in listing["batches"]
            if b["status"] in ("settled", "proven")
            and all(m["price"] is not None and m["volume"] > 0 for m in b["markets"].values())
        ]

    def stop(self, timeout_s: float = 20.0) -> int:
        """Ctrl-C, as a person would; kill only if it does not stop in time."""
        if self.proc is None:
            return -1
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            out += "\n[killed: did not stop on SIGINT]"
        self.output = out
        self.returncode = self.proc.returncode
        return self.returncode
