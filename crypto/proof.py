"""The STARK proof and its versioned, deterministic binary format (version 2).

All integers are big-endian; a field element is 4 bytes (``< p``), an
extension element 16 (four coefficients, ``c0`` first), a digest 32::

    magic "SBSTARK" | format version u8 (= 2)
    AIR name: u8 length | ASCII bytes
    log2(num_rows) u8 | options (6 bytes, ProofOptions.to_bytes)
    public inputs: u16 count | count × u32
    shape: num_fixed u16 | num_main u16 | num_aux u16 | num_composition u8
    main root | aux root (only if num_aux > 0) | composition root
    OOD: u16 frame size | frame × ext | num_composition × ext
    FRI: u8 layers | layers × root | u16 remainder length | remainder ext coefficients
    proof-of-work nonce u64
    queries: u16 q (distinct positions)
      fixed rows q × num_fixed elements | u16 nodes | nodes × 32  (only if num_fixed > 0)
      main rows q × num_main elements | u16 nodes | nodes × 32
      aux rows q × 4·num_aux elements | u16 nodes | nodes × 32      (only if num_aux > 0)
      composition rows q × 4·num_composition | u16 nodes | nodes × 32
      per FRI layer: u16 leaves | leaves × 4f elements | u16 nodes | nodes × 32
    (end: no trailing bytes)

The out-of-domain frame lists each column only at the row offsets its
constraints read (:attr:`sealbatch.crypto.air.Air.frame` gives the order).
The fixed columns' root is not in the proof: the verifier derives it from the
AIR. :func:`StarkProof.from_bytes` checks lengths, ranges and counts only
(and refuses any other format version by number); the verifier checks every
count against the AIR and the transcript. ``docs/stark.md`` gives the layout
with the transcript.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sealbatch.crypto import field as fld
from sealbatch.crypto.exceptions import ProofFormatError
from sealbatch.crypto.field_scalar import EXT_DEGREE, P
from sealbatch.crypto.fri import FriLayerProof, FriProof
from sealbatch.crypto.merkle import BatchOpening
from sealbatch.crypto.options import ProofOptions

__all__ = ["FORMAT_VERSION", "MAGIC", "StarkProof"]

MAGIC = b"SBSTARK"
FORMAT_VERSION = 2
_OPTIONS_BYTES = 6


@dataclass(frozen=True)
class StarkProof:
    """Everything a verifier needs besides the AIR registry."""

    air_name: str
    num_rows: int
    options: ProofOptions
    public_inputs: tuple[int, ...]
    num_fixed: int
    num_main: int
    num_aux: int
    num_composition: int
    main_root: bytes
    aux_root: bytes  # b"" without aux columns
    composition_root: bytes
    ood_frame: fld.Array  # (frame size, 4), in Air.frame order
    ood_composition: fld.Array  # (num_composition, 4)
    fri: FriProof
    pow_nonce: int
    fixed_rows: fld.Array  # (q, num_fixed)
    fixed_opening: BatchOpening
    main_rows: fld.Array  # (q, num_main)
    main_opening: BatchOpening
    aux_rows: fld.Array  # (q, 4·num_aux)
    aux_opening: BatchOpening
    composition_rows: fld.Array  # (q, 4·num_composition)
    composition_opening: BatchOpening

    # ------------------------------------------------------------- writing

    def to_bytes(self) -> bytes:
        """The proof bytes (format version 2)."""
        name = self.air_name.encode("ascii")
        out = bytearray(MAGIC)
        out.append(FORMAT_VERSION)
        out.append(len(name))
        out += name
        out.append(self.num_rows.bit_length() - 1)
        out += self.options.to_bytes()
        out += len(self.public_inputs).to_bytes(2, "big")
        out += b"".join(v.to_bytes(4, "big") for v in self.public_inputs)
        out += self.num_fixed.to_bytes(2, "big")
        out += self.num_main.to_bytes(2, "big") + self.num_aux.to_bytes(2, "big")
        out.append(self.num_composition)
        out += self.main_root + self.aux_root + self.composition_root
        out += self.ood_frame.shape[0].to_bytes(2, "big")
        out += fld.to_bytes(self.ood_frame) + fld.to_bytes(self.ood_composition)
        out.append(len(self.fri.roots))
        out += b"".join(self.fri.roots)
        out += self.fri.remainder.shape[0].to_bytes(2, "big") + fld.to_bytes(self.fri.remainder)
        out += self.pow_nonce.to_bytes(8, "big")
        out += self.main_rows.shape[0].to_bytes(2, "big")
        segments = []
        if self.num_fixed:
            segments.append((self.fixed_rows, self.fixed_opening))
        segments.append((self.main_rows, self.main_opening))
        if self.num_aux:
            segments.append((self.aux_rows, self.aux_opening))
        segments.append((self.composition_rows, self.composition_opening))
        for rows, opening in segments:
            out += fld.to_bytes(rows) + _opening_bytes(opening)
        for layer in self.fri.layers:
            out += layer.rows.shape[0].to_bytes(2, "big") + fld.to_bytes(layer.rows)
            out += _opening_bytes(layer.opening)
        return bytes(out)

    # ------------------------------------------------------------- reading

    @classmethod
    def from_bytes(cls, data: bytes) -> StarkProof:
        """Parse proof bytes.

        Raises:
            ProofFormatError: wrong magic or version, truncated data, a value
                out of range, trailing bytes.
        """
        r = _Reader(data)
        if r.take(len(MAGIC)) != MAGIC:
            raise ProofFormatError("not a sealbatch STARK proof (bad magic bytes)")
        version = r.u8()
        if version != FORMAT_VERSION:
            raise ProofFormatError(
                f"unsupported proof format version {version}: expected version {FORMAT_VERSION}"
            )
        name_bytes = r.take(r.u8())
        try:
            air_name = name_bytes.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ProofFormatError("AIR name is not ASCII") from exc
        log_rows = r.u8()
        if log_rows > 27:
            raise ProofFormatError(f"expected log2(rows) <= 27, got {log_rows}")
        try:
            options = ProofOptions.from_bytes(r.take(_OPTIONS_BYTES))
        except ValueError as exc:
            raise ProofFormatError(f"bad proof options: {exc}") from exc
        public_inputs = tuple(int(v) for v in r.elements(r.u16()))
        num_fixed, num_main, num_aux = r.u16(), r.u16(), r.u16()
        num_comp = r.u8()
        main_root = r.take(32)
        aux_root = r.take(32) if num_aux else b""
        composition_root = r.take(32)
        frame_size = r.u16()
        ood_frame = r.elements(frame_size * EXT_DEGREE).reshape(frame_size, EXT_DEGREE)
        ood_comp = r.elements(num_comp * EXT_DEGREE).reshape(num_comp, EXT_DEGREE)
        num_layers = r.u8()
        roots = tuple(r.take(32) for _ in range(num_layers))
        remainder = r.elements(r.u16() * EXT_DEGREE).reshape(-1, EXT_DEGREE)
        nonce = int.from_bytes(r.take(8), "big")
        q = r.u16()
        empty = BatchOpening(())
        fixed_rows, fixed_opening = np.zeros((q, 0), np.uint64), empty
        if num_fixed:
            fixed_rows = r.elements(q * num_fixed).reshape(q, num_fixed)
            fixed_opening = r.opening()
        main_rows = r.elements(q * num_main).reshape(q, num_main)
        main_opening = r.opening()
        aux_rows, aux_opening = np.zeros((q, 0), np.uint64), empty
        if num_aux:
            aux_rows = r.elements(q * num_aux * EXT_DEGREE).reshape(q, num_aux * EXT_DEGREE)
            aux_opening = r.opening()
        comp_rows = r.elements(q * num_comp * EXT_DEGREE).reshape(q, num_comp * EXT_DEGREE)
        comp_opening = r.opening()
        f = options.folding_factor
        layers = []
        for _ in range(num_layers):
            count = r.u16()
            rows = r.elements(count * f * EXT_DEGREE).reshape(count, f * EXT_DEGREE)
            layers.append(FriLayerProof(rows, r.opening()))
        if r.remaining():
            raise ProofFormatError(f"{r.remaining()} trailing byte(s) after the proof")
        return cls(
            air_name=air_name,
            num_rows=1 << log_rows,
            options=options,
            public_inputs=public_inputs,
            num_fixed=num_fixed,
            num_main=num_main,
            num_aux=num_aux,
            num_composition=num_comp,
            main_root=main_root,
            aux_root=aux_root,
            composition_root=composition_root,
            ood_frame=ood_frame,
            ood_composition=ood_comp,
            fri=FriProof(roots, remainder, tuple(layers)),
            pow_nonce=nonce,
            fixed_rows=fixed_rows,
            fixed_opening=fixed_opening,
            main_rows=main_rows,
            main_opening=main_opening,
            aux_rows=aux_rows,
            aux_opening=aux_opening,
            composition_rows=comp_rows,
            composition_opening=comp_opening,
        )


def _opening_bytes(opening: BatchOpening) -> bytes:
    return len(opening.nodes).to_bytes(2, "big") + b"".join(opening.nodes)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProofFormatError(
                f"proof truncated: expected {n} more byte(s) at offset {self.pos}, "
                f"got {len(self.data) - self.pos}"
            )
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def elements(self, count: int) -> fld.Array:
        raw = self.take(4 * count)
        out = np.frombuffer(raw, dtype=">u4").astype(np.uint64)
        if np.any(out >= np.uint64(P)):
            raise ProofFormatError(f"field element out of range (>= p) before offset {self.pos}")
        return out

    def opening(self) -> BatchOpening:
        count = self.u16()
        raw = self.take(32 * count)
        return BatchOpening(tuple(raw[32 * i : 32 * i + 32] for i in range(count)))

    def remaining(self) -> int:
        return len(self.data) - self.pos
