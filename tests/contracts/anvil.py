"""A local anvil node (npm ``@foundry-rs/anvil``, installed by the Makefile) for marked tests."""

from __future__ import annotations

import platform
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "contracts" / "node_modules" / "@foundry-rs"


def anvil_binary() -> Path | None:
    """The anvil executable from contracts/node_modules, for this platform, if installed."""
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), "")
    arch = {"x86_64": "amd64", "AMD64": "amd64", "arm64": "arm64", "aarch64": "arm64"}.get(
        platform.machine(), ""
    )
    path = NODE_MODULES / f"anvil-{system}-{arch}" / "bin" / "anvil"
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_anvil(timeout: float = 30.0) -> Iterator[str]:
    """Start anvil on 127.0.0.1 (Prague rules), yield its URL, and always stop it."""
    binary = anvil_binary()
    if binary is None:
        raise FileNotFoundError(f"no anvil under {NODE_MODULES}: run make (npm ci in contracts/)")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--hardfork",
            "prague",
            "--gas-limit",
            "120000000",
            "--code-size-limit",
            "24576",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"anvil exited with status {proc.returncode}")
            try:
                httpx.post(
                    url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1
                )
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"anvil did not answer on {url} within {timeout} s"
                    ) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def have_node() -> bool:
    return shutil.which("node") is not None
