"""Run ``sealbatch serve`` on 127.0.0.1 in a child process (examples, tests)."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

from sealbatch.venue.errors import VenueError

__all__ = ["LocalVenue", "ThreadVenue"]


class LocalVenue:
    """Run ``sealbatch serve`` on 127.0.0.1 in a child process (examples, tests).

    >>> with LocalVenue(commit_ms=500, reveal_ms=200) as url:   # doctest: +SKIP
    ...     VenueClient(url, key).info()

    Args:
        db_url: database (default: a fresh SQLite file in a temporary directory).
        commit_ms, reveal_ms: batch windows.
        env: extra ``SEALBATCH_*`` settings.
    """

    def __init__(
        self,
        db_url: str | None = None,
        commit_ms: int = 500,
        reveal_ms: int = 200,
        env: dict[str, str] | None = None,
    ) -> None:
        import tempfile

        self._tmp = tempfile.mkdtemp(prefix="sealbatch-venue-")
        self.db_url = db_url or f"sqlite:///{self._tmp}/venue.db"
        self.commit_ms, self.reveal_ms = commit_ms, reveal_ms
        self.env = env or {}
        self.proc: Any = None
        self.url = ""

    def __enter__(self) -> str:
        import socket
        import subprocess
        import sys

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sealbatch.venue.cli",
                "serve",
                "--port",
                str(port),
                "--db",
                self.db_url,
                "--commit-ms",
                str(self.commit_ms),
                "--reveal-ms",
                str(self.reveal_ms),
            ],
            env={**os.environ, **self.env},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise VenueError(f"local venue: expected it to start, got exit {self.proc.poll()}")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        import shutil

        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self._tmp, ignore_errors=True)


class ThreadVenue:
    """Serve a venue app on 127.0.0.1 from a thread of this process: a venue on the
    embedded chain, which lives in this process (examples, the demo).

    >>> with ThreadVenue(create_app(settings, chain=chain)) as url:   # doctest: +SKIP
    ...     VenueClient(url, key).info()
    """

    def __init__(self, app: Any, start_timeout_s: float = 900.0) -> None:
        #: Start-up may deploy an exchange and its verifiers on the embedded chain
        #: (~190 M gas: minutes on a loaded machine), so the wait is generous.
        self.start_timeout_s = start_timeout_s
        self.app = app
        self.url = ""
        self._server: Any = None
        self._thread: Any = None

    def __enter__(self) -> str:
        import socket
        import threading

        import uvicorn

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        from sealbatch.venue.http_protocol import venue_protocol

        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            http=venue_protocol(self.app),  # the settings' request and write deadlines
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sealbatch-venue")
        self._thread.start()
        started = time.monotonic()
        while not self._server.started:
            if not self._thread.is_alive():
                self.__exit__()
                raise VenueError(
                    "thread venue: expected it to start, got it stopped (its start-up "
                    "failed: see the log above)"
                )
            if time.monotonic() - started > self.start_timeout_s:
                self.__exit__()
                raise VenueError(
                    f"thread venue: expected it to start within {self.start_timeout_s:g} s, "
                    "got it still starting"
                )
            time.sleep(0.05)
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
