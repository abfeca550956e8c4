"""Keccak-256 of every row of a byte matrix: the per-leaf hash of the Merkle trees.

One hash per row is the prover's irreducible cost (``floor_s`` in
``bench/stark.py``). :func:`keccak256` pays a Python call and a bytes
object per hash; here pycryptodome's C library is called directly
through ctypes with a reused state and pointers into one numpy buffer (about
1.2 µs a row). The fast path checks itself against :func:`keccak256` when it
loads and falls back to the wrapper if the library cannot be found or
disagrees.
"""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from sealbatch.crypto.keccak import keccak256

__all__ = ["hash_rows"]

_KECCAK_CAPACITY_BYTES = 64  # Keccak-256: rate 136 bytes
_KECCAK_PADDING = 0x01  # original Keccak padding (the EVM's), not SHA-3's 0x06


def _load_fast() -> Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]] | None:
    spec = importlib.util.find_spec("Crypto.Hash._keccak")
    if spec is None or spec.origin is None:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
        init, reset = lib.keccak_init, lib.keccak_reset
        absorb, digest = lib.keccak_absorb, lib.keccak_digest
    except (OSError, AttributeError):
        return None
    try:
        destroy = lib.keccak_destroy
    except AttributeError:
        return None
    init.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_ubyte]

    def hash_rows_fast(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        buf = np.ascontiguousarray(data, dtype=np.uint8)
        n, width = buf.shape
        out = np.empty((n, 32), np.uint8)
        # A state per call, never shared: proving may run in several threads at once
        # (a Dask worker's thread pool), and a shared state would mix their rows.
        state = ctypes.c_void_p()
        if init(ctypes.byref(state), _KECCAK_CAPACITY_BYTES, 24) != 0:
            raise MemoryError("keccak_init failed")
        src, dst = buf.ctypes.data, out.ctypes.data
        # Every argument is a ready ctypes object and the functions have no argtypes:
        # ctypes then passes them without conversion (~15% faster per row). Only the
        # two pointers' values change from row to row.
        inp, outp = ctypes.c_void_p(), ctypes.c_void_p()
        size, digest_size = ctypes.c_size_t(width), ctypes.c_size_t(32)
        padding = ctypes.c_ubyte(_KECCAK_PADDING)
        try:
            for i in range(n):
                inp.value = src + i * width
                outp.value = dst + 32 * i
                reset(state)
                absorb(state, inp, size)
                digest(state, outp, digest_size, padding)
        finally:
            destroy(state)
        return out

    probe = np.arange(2 * 200, dtype=np.uint64).astype(np.uint8).reshape(2, 200)
    got = hash_rows_fast(probe)
    if any(got[i].tobytes() != keccak256(probe[i].tobytes()) for i in range(2)):
        return None
    return hash_rows_fast


def _hash_rows_slow(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    blob = np.ascontiguousarray(data, dtype=np.uint8)
    n, width = blob.shape
    raw = blob.tobytes()
    out = b"".join(keccak256(raw[i * width : (i + 1) * width]) for i in range(n))
    return np.frombuffer(out, dtype=np.uint8).reshape(n, 32).copy()


_fast = _load_fast()


def hash_rows(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Keccak-256 of each row of an ``(n, L)`` uint8 array; returns ``(n, 32)`` digests."""
    if data.ndim != 2:
        raise ValueError(f"expected a 2-D byte matrix, got shape {data.shape}")
    return (_fast or _hash_rows_slow)(data)
