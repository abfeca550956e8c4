"""``sealbatch verify PROOF.bin [--public BATCH_DIR]``.

Without ``--public`` the proof is checked against the registered AIR it
names and the statement it carries. With ``--public BATCH_DIR`` it must be a
batch proof of that published folder: the verifier pins the batch AIR and
its options and derives every public input from the folder's files (roots
recomputed from the published states, digests from the published inputs and
result), so a proof never supplies its own statement and a published file
that disagrees with what was proved fails verification.

Exit status: 0 valid; 1 invalid — any failed check, including bytes that no
longer parse, a proof of another batch and a file that is not in the one canonical
form the venue writes (docs/formats.md, "Canonical form": upper-case hex, a leading
zero, an omitted field, other white space; the reason on stderr names the file and
its first differing line); 2 a file
cannot be read, the proof is not a sealbatch proof at all (it does not start
with the proof magic), a batch proof is given without ``--public``, or the
batch folder is missing a file or holds one that is not the file its format has
(not JSON, not a JSON object, an empty ``orders.csv``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sealbatch.crypto.exceptions import SealbatchError
from sealbatch.settlement.json_text import loads_json

__all__ = ["UnreadableBatch", "read_batch_folder", "register"]


class UnreadableBatch(SealbatchError):
    """A batch folder with a missing, unreadable or malformed file (exit status 2)."""


def read_batch_folder(folder: Path) -> dict[str, str]:
    """The texts of a published batch folder's files, each JSON file parsed once to
    tell a malformed folder (exit 2) from one whose content a proof does not match.

    Raises:
        UnreadableBatch: not a folder, a file missing or unreadable, a JSON file that is
            not a JSON object, or an ``orders.csv`` without even a header row.
    """
    from sealbatch.settlement.input_files import BATCH_FILE_CAP, read_input_text
    from sealbatch.settlement.publication import BATCH_FILES

    if not folder.is_dir():
        raise UnreadableBatch(f"expected a batch folder (batch-<n>/), got {folder}")
    files = {}
    for name in BATCH_FILES:
        try:
            # line endings as written: a "\r\n" is not the canonical form
            files[name] = read_input_text(folder / name, BATCH_FILE_CAP, newline="")
        except (OSError, UnicodeDecodeError) as exc:
            raise UnreadableBatch(f"cannot read {folder / name}: {exc}") from exc
        if name.endswith(".json"):
            try:
                doc = loads_json(files[name])
            except (ValueError, RecursionError) as exc:  # too deep, an int over 4300 digits
                raise UnreadableBatch(f"{folder / name}: expected JSON, got {exc}") from exc
            if not isinstance(doc, dict):
                raise UnreadableBatch(
                    f"{folder / name}: expected a JSON object, got {type(doc).__name__}"
                )
        elif not files[name].strip():
            # the CSV counterpart of a file that is not JSON: no header to name a column by
            raise UnreadableBatch(f"{folder / name}: expected a CSV header row, got an empty file")
    return files


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="verify a STARK proof",
        description="Verify PROOF.bin against the registered AIR it names; print the AIR, rows, "
        "proof size and security on success.",
    )
    p.add_argument("proof", metavar="PROOF.bin", help="the proof to verify")
    p.add_argument(
        "--public",
        metavar="BATCH_DIR",
        help="the published batch folder (batch-<n>/) the proof must prove",
    )
    p.add_argument(
        "--min-bits",
        type=int,
        default=None,
        help="minimum conjectured security to accept, 0 to 128 (default 100)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sealbatch.crypto.exceptions import VerificationError
    from sealbatch.crypto.proof import MAGIC
    from sealbatch.crypto.security import COLLISION_BITS
    from sealbatch.crypto.verifier import DEFAULT_MIN_SECURITY_BITS, verify
    from sealbatch.settlement.input_files import PROOF_CAP, read_input_bytes

    if args.min_bits is not None and not 0 <= args.min_bits <= COLLISION_BITS:
        # no proof reports more conjectured bits than Keccak-256's collision resistance
        print(
            f"sealbatch verify: error: --min-bits: expected 0 to {COLLISION_BITS}, "
            f"got {args.min_bits}",
            file=sys.stderr,
        )
        return 2
    try:
        data = read_input_bytes(args.proof, PROOF_CAP)
    except OSError as exc:
        reason = exc.strerror or str(exc)  # a RefusedFile carries its reason as its message
        print(f"sealbatch verify: error: cannot read {args.proof}: {reason}", file=sys.stderr)
        return 2
    if not data.startswith(MAGIC):
        print(f"sealbatch verify: error: {args.proof} is not a sealbatch proof", file=sys.stderr)
        return 2
    if args.public is not None:
        return _verify_batch(args, data)
    if _names_the_batch_air(data):
        print(
            f"sealbatch verify: error: {args.proof} is a batch proof: give the published batch "
            "folder it proves, --public BATCH_DIR (its statement comes from the folder's files)",
            file=sys.stderr,
        )
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


def _names_the_batch_air(data: bytes) -> bool:
    """Whether ``data`` parses as a proof of the batch AIR (which only ``--public`` checks:
    no registered AIR has its name, so without the folder it would read as unknown)."""
    from sealbatch.crypto.exceptions import ProofFormatError
    from sealbatch.crypto.proof import StarkProof
    from sealbatch.settlement.batch_verify import BATCH_AIR_NAME

    try:
        return StarkProof.from_bytes(data).air_name == BATCH_AIR_NAME
    except ProofFormatError:
        return False  # the verifier names what is wrong with it


def _verify_batch(args: argparse.Namespace, data: bytes) -> int:
    from sealbatch.crypto.exceptions import VerificationError
    from sealbatch.settlement.batch_proof import verify_files
    from sealbatch.venue.commands.canonical_form import canonical_difference

    if args.min_bits is not None:
        print(
            "sealbatch verify: error: --min-bits: a batch proof is checked with the batch "
            "AIR's pinned options",
            file=sys.stderr,
        )
        return 2
    folder = Path(args.public)
    try:
        files = read_batch_folder(folder)
    except UnreadableBatch as exc:
        print(f"sealbatch verify: error: {exc}", file=sys.stderr)
        return 2
    try:
        report = verify_files(data, files)
        _check_forfeit_signatures(files)
    except VerificationError as exc:
        print(f"sealbatch verify: invalid proof of {folder}: {exc}", file=sys.stderr)
        return 1
    # after the readers and the proof: only a folder whose values all verify gets here,
    # and one batch has one published folder (docs/formats.md, "Canonical form")
    problem = canonical_difference(files)
    if problem:
        print(
            f"sealbatch verify: {folder} does not verify: not in the canonical form the venue "
            f'writes (docs/formats.md, "Canonical form"): {problem}',
            file=sys.stderr,
        )
        return 1
    print(
        f"valid: batch proof of {folder}, {len(data)} bytes, "
        f"{report.conjectured} conjectured bits ({report.proven} proven)"
    )
    return 0


def _check_forfeit_signatures(files: dict[str, str]) -> None:
    """Each forfeit of ``result.json`` carries its trader's signed commit for it, as
    ``replay`` checks (docs/formats.md "result.json"): the proof moves a forfeit's bond to
    the insurance fund but cannot check a signature, so without this an invented forfeit
    in anyone's name verified.

    Raises:
        VerificationError: a forfeit whose signed commit does not make it, naming it.
    """
    from sealbatch.crypto.exceptions import VerificationError
    from sealbatch.settlement.publication import PublishedBatch
    from sealbatch.venue.commands.forfeit_signatures import forfeit_signature_difference

    batch = PublishedBatch.from_files(files)  # verify_files has read these files already
    problem = forfeit_signature_difference(batch.forfeited, batch.batch_id)
    if problem:
        raise VerificationError(f"result.json forfeit signatures: {problem}")
