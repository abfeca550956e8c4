"""Real servers on 127.0.0.1 for tests: ``sealbatch serve`` as a process
(:func:`start_server`), or an app served by uvicorn on a thread
(:class:`ThreadServer`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from sealbatch.venue.http_protocol import HeadWithBodyProtocol

__all__ = ["ThreadServer", "free_port", "start_server", "stop_server"]


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


class ThreadServer:
    """An ASGI ``app`` served by uvicorn on 127.0.0.1, on a daemon thread, with the
    venue's protocol (``http``; :class:`HeadWithBodyProtocol` as ``sealbatch serve``
    runs it, or one of its :meth:`~HeadWithBodyProtocol.serving` variants).

    Started and ready (listening) when constructed, at most 30 s; stopped by
    :meth:`stop`. With ``log_config=None`` its errors reach the root logger (and
    ``caplog``).
    """

    def __init__(
        self, app: Any, http: Any = HeadWithBodyProtocol, log_level: str = "error"
    ) -> None:
        self.app = app
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level=log_level,
            log_config=None,
            access_log=False,
            http=http,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() >= deadline or not self.thread.is_alive():
                self.stop()
                raise RuntimeError(f"the server on port {self.port} did not start within 30 s")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ThreadServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
