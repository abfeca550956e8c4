"""``sealbatch verify PROOF.bin`` (and, later, ``--public BATCH.json``).

Exit status: 0 valid; 1 invalid — any failed check, including bytes that no
longer parse (the reason on stderr); 2 the file cannot be read or is not a
sealbatch proof at all (it does not start with the proof magic).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="verify a STARK proof",
        description="Verify PROOF.bin against the registered AIR it names; print the AIR, rows, "
        "proof size and security on success.",
    )
    p.add_argument("proof", metavar="PROOF.bin", help="the proof to verify")
    p.add_argument(
        "--public", metavar="BATCH.json", help="the batch the proof must be about (not yet)"
    )
    p.add_argument(
        "--min-bits",
        type=int,
        default=None,
        help="minimum conjectured security to accept (default 100)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sealbatch.crypto.exceptions import VerificationError
    from sealbatch.crypto.proof import MAGIC
    from sealbatch.crypto.verifier import DEFAULT_MIN_SECURITY_BITS, verify
    from sealbatch.venue.commands.prove import BATCH_NOT_AVAILABLE

    if args.public is not None:
        print(f"sealbatch verify: error: {BATCH_NOT_AVAILABLE}", file=sys.stderr)
        return 2
    try:
        with open(args.proof, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        print(f"sealbatch verify: error: cannot read {args.proof}: {exc.strerror}", file=sys.stderr)
        return 2
    if not data.startswith(MAGIC):
        print(f"sealbatch verify: error: {args.proof} is not a sealbatch proof", file=sys.stderr)
        return 2
    min_bits = DEFAULT_MIN_SECURITY_BITS if args.min_bits is None else args.min_bits
    try:
        result = verify(data, min_security_bits=min_bits)
    except VerificationError as exc:  # ProofFormatError included: a damaged proof is invalid
        print(f"sealbatch verify: invalid proof: {exc}", file=sys.stderr)
        return 1
    sec = result.security
    print(
        f"valid: AIR {result.air_name}, {result.num_rows} rows, {result.proof_bytes} bytes, "
        f"{sec.conjectured} conjectured bits ({sec.proven} proven)"
    )
    return 0
