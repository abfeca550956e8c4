"""The prover's proof-of-work search compiled (numba) over pycryptodome's C Keccak.

:func:`grind` returns exactly :meth:`sealbatch.crypto.channel.Channel.grind`'s
nonce — the smallest whose ``keccak256(state ‖ nonce as 8 bytes big-endian)``
has ``bits`` leading zero bits — but the loop over nonces is compiled: each
candidate costs one call into the same C Keccak (pycryptodome's, as
:mod:`sealbatch.crypto.keccak_rows` uses) and no Python, about 0.34 µs
instead of ~2 µs. At the L1 options' 22 bits that is about 1.4 s of a
proof instead of about 9 s.

Only the prover imports this module (it imports numba); the verifier checks
one nonce with :meth:`~sealbatch.crypto.channel.Channel.check_pow`. Where the C
library cannot be loaded, or the compiled search disagrees with the reference
on a probe (both run at the first search), :func:`grind` returns None and the
prover runs the channel's own search.
The compiled function calls ctypes function pointers, whose addresses change
from process to process, so it is compiled in each process (a fraction of a
second, at the first proof), not cached on disk.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import itertools
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from sealbatch.crypto.keccak import keccak256

__all__ = ["grind"]

_KECCAK_CAPACITY_BYTES = 64  # Keccak-256: rate 136 bytes
_KECCAK_ROUNDS = 24
_KECCAK_PADDING = 0x01  # original Keccak padding (the EVM's), not SHA-3's 0x06
_BLOCK = 1 << 20  # nonces per compiled call: the search stays interruptible between calls


@functools.cache
def _load() -> tuple[Callable[..., int], Callable[[], ctypes.c_void_p], Any] | None:
    """The compiled search, and the library's state constructor and destructor; None
    where the library is missing or the search disagrees with the reference (loaded
    and compiled at the first search, not at import)."""
    spec = importlib.util.find_spec("Crypto.Hash._keccak")
    if spec is None or spec.origin is None:
        return None
    try:
        # A CDLL of its own: its function objects get the argtypes numba needs without
        # touching keccak_rows' (which passes prebuilt ctypes objects, no argtypes).
        lib = ctypes.CDLL(spec.origin)
        init, reset = lib.keccak_init, lib.keccak_reset
        absorb, digest, destroy = lib.keccak_absorb, lib.keccak_digest, lib.keccak_destroy
    except (OSError, AttributeError):
        return None
    init.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_ubyte]
    init.restype = ctypes.c_int
    reset.argtypes = [ctypes.c_void_p]
    reset.restype = ctypes.c_int
    absorb.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    absorb.restype = ctypes.c_int
    digest.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ubyte]
    digest.restype = ctypes.c_int
    destroy.argtypes = [ctypes.c_void_p]
    destroy.restype = ctypes.c_int

    @numba.njit(nogil=True)
    def search(
        state: Any, buf: Any, out: Any, start: int, count: int, full: int, rest: int
    ) -> int:  # pragma: no cover - compiled
        """The first nonce in ``[start, start + count)`` whose digest has ``8·full +
        rest`` leading zero bits, or -1; ``buf`` holds the 32-byte channel state."""
        src, dst = buf.ctypes.data, out.ctypes.data
        for i in range(count):
            nonce = start + i
            for k in range(8):
                buf[32 + k] = (nonce >> (8 * (7 - k))) & 0xFF
            if (
                reset(state) != 0
                or absorb(state, src, 40) != 0
                or digest(state, dst, 32, _KECCAK_PADDING) != 0
            ):
                return -2  # the library failed: never a nonce
            ok = True
            for k in range(full):
                if out[k] != 0:
                    ok = False
                    break
            if ok and rest > 0 and out[full] >= (1 << (8 - rest)):
                ok = False
            if ok:
                return nonce
        return -1

    def new_state() -> ctypes.c_void_p:
        state = ctypes.c_void_p()
        if init(ctypes.byref(state), _KECCAK_CAPACITY_BYTES, _KECCAK_ROUNDS) != 0:
            raise MemoryError("keccak_init failed")
        return state

    # The compiled search must find what the reference search finds (4 bits: ~16 tries).
    seed = b"\x07" * 32
    expected = next(n for n in itertools.count() if keccak256(seed, n.to_bytes(8, "big"))[0] < 16)
    try:
        found = _run(search, new_state, destroy, seed, 4)
    except Exception:  # a compile or library failure: the channel's search runs instead
        return None
    if found != expected:
        return None
    return search, new_state, destroy


def _run(
    search: Callable[..., int],
    new_state: Callable[[], ctypes.c_void_p],
    destroy: Any,
    state: bytes,
    bits: int,
) -> int:
    buf = np.zeros(40, np.uint8)
    buf[:32] = np.frombuffer(state, np.uint8)
    out = np.zeros(32, np.uint8)
    full, rest = divmod(bits, 8)
    # A state per search, never shared: proofs may run in several threads at once.
    handle = new_state()
    try:
        for start in range(0, 1 << 63, _BLOCK):
            nonce = search(handle.value, buf, out, start, _BLOCK, full, rest)
            if nonce == -2:
                raise RuntimeError("pycryptodome's Keccak failed during the nonce search")
            if nonce >= 0:
                return int(nonce)
    finally:
        destroy(handle)
    raise RuntimeError("no proof-of-work nonce found")  # unreachable for bits <= 32


def grind(state: bytes, bits: int) -> int | None:
    """The smallest nonce whose ``keccak256(state ‖ nonce)`` has ``bits`` leading zero
    bits (:meth:`Channel.grind`'s), or None when the compiled search is not available
    (the caller then runs the channel's own).

    Raises:
        ValueError: ``state`` is not 32 bytes or ``bits`` is not in ``[0, 32]``.
    """
    if len(state) != 32:
        raise ValueError(f"expected a 32-byte channel state, got {len(state)} bytes")
    if not 0 <= bits <= 32:
        raise ValueError(f"expected 0 <= grinding bits <= 32, got {bits}")
    if bits == 0:
        return 0
    compiled = _load()
    if compiled is None:
        return None
    return _run(*compiled, state, bits)
