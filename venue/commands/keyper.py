"""``sealbatch keyper``: make a keyper committee, or run one keyper (docs/threshold.md).

``sealbatch keyper init --threshold T --size N --out DIR`` writes ``N`` key files
(``keyper-<i>.json``, mode 0600, one per keyper) and the public
``committee.json`` the venue (``sealbatch serve --committee``) and every
keyper load.

``sealbatch keyper run --key FILE --committee FILE --venue URL [--port P]``
runs one keyper: it deals ahead for the coming batches, follows the venue's
stream and releases its share of a batch only after the operator's signed
seal of that batch; it serves its status on its own loopback HTTP endpoint.
Exit 0 when it stops (``--lifetime`` or a signal), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "keyper",
        help="make a keyper committee (init) or run one threshold-decryption keyper (run)",
        description="Threshold keypers: any t of n release a batch's secret after its seal, "
        "so orders encrypted to the batch's key reveal themselves (docs/threshold.md).",
    )
    cmds = p.add_subparsers(dest="keyper_command", metavar="ACTION")
    cmds.required = True
    init = cmds.add_parser("init", help="write n fresh key files and committee.json")
    init.add_argument("--threshold", type=int, required=True, help="t: shares that decrypt")
    init.add_argument("--size", type=int, required=True, help="n: keypers in the committee")
    init.add_argument("--out", required=True, help="folder to write the files into")
    init.set_defaults(func=run_init)
    run = cmds.add_parser("run", help="run one keyper against a venue")
    run.add_argument("--key", required=True, help="this keyper's key file (keyper-<i>.json)")
    run.add_argument("--committee", required=True, help="the committee file (committee.json)")
    run.add_argument("--venue", default="http://127.0.0.1:8000", help="the venue's base URL")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8100, help="port of its endpoint (default 8100)")
    run.add_argument("--lead", type=int, default=6, help="batches to deal ahead (3 to 16)")
    run.add_argument(
        "--lifetime", type=float, help="stop after this many seconds (default: run until killed)"
    )
    run.set_defaults(func=run_keyper)


def _error(message: str) -> int:
    print(f"sealbatch keyper: error: {message}", file=sys.stderr)
    return 2


def run_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sealbatch.venue.commands.output_dirs import output_dir_problem
    from sealbatch.venue.committee import write_committee
    from sealbatch.venue.errors import VenueError

    out = Path(args.out)
    problem = output_dir_problem(out)
    if problem:
        return _error(f"--out: {problem}")
    try:
        committee = write_committee(out, args.threshold, args.size)
    except VenueError as exc:
        return _error(str(exc))
    except FileExistsError as exc:  # nothing was written: all files or none
        return _error(f"--out: expected a folder without a committee, got {exc.filename}")
    except OSError as exc:
        return _error(f"--out: cannot write {out}: {exc}")
    print(
        f"wrote {committee.size} key files and committee.json ({committee.threshold}-of-"
        f"{committee.size}) to {out}"
    )
    return 0


def run_keyper(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import ipaddress

    from sealbatch.venue.committee import load_committee, load_key
    from sealbatch.venue.errors import VenueError
    from sealbatch.venue.keyper import Keyper, KeyperStopped

    if not 0 < args.port < 65536:
        return _error(f"--port: expected 1 to 65535, got {args.port}")
    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return _error(f"--host: expected a loopback address, got {args.host!r}")
    try:
        keyper = Keyper(load_key(args.key), load_committee(args.committee), args.venue, args.lead)
    except VenueError as exc:
        return _error(str(exc))
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(keyper.run(args.host, args.port, args.lifetime))
    except KeyperStopped as exc:  # a loop failed: exit 1, so a supervisor restarts it
        print(f"sealbatch keyper: error: {exc}", file=sys.stderr)
        return 1
    return 0
