"""Run ``sealbatch serve`` as a real process on 127.0.0.1 for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

__all__ = ["free_port", "start_server", "stop_server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(
    db_url: str, port: int, commit_ms: int, reveal_ms: int, **env: str
) -> subprocess.Popen[bytes]:
    """Start the venue and wait until it answers (at most 20 s)."""
    # Proving is on by default; these tests are not about proofs (a batch proof takes
    # seconds of CPU), so it is off unless ``env`` turns it on.
    full_env = {
        **os.environ,
        "SEALBATCH_RFQ_MIN_WINDOW_MS": "400",
        "SEALBATCH_PROVE": "false",
        **env,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sealbatch.venue.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            db_url,
            "--commit-ms",
            str(commit_ms),
            "--reveal-ms",
            str(reveal_ms),
        ],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not answer within 20 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
