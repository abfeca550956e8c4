"""``sealbatch serve [--host H] [--port P] [--db URL] [--l1 URL]``: run the venue."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sealbatch.venue.settings import Settings

__all__ = ["register"]


#: pydantic's bound errors, said as the other refusals say them ("expected ..., got ...").
_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the venue's HTTP API and batch clock",
        description="Run the venue: signed commitments and reveals, the batch clock per "
        "market, RFQ for blocks, streams. Binds to 127.0.0.1 unless told otherwise. Settings "
        "not given here come from SEALBATCH_* environment variables.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--db", metavar="URL", help="database URL (default sqlite:///sealbatch.db)")
    p.add_argument(
        "--l1",
        metavar="URL",
        nargs="?",
        const="embedded",
        help="anchor on an L1: the JSON-RPC URL of a node (anvil, geth, ...), or no URL for an "
        "in-process py-evm chain (development: it lives as long as the process). Deposits then "
        "come only from the exchange contract, withdrawals are paid by it, and every proven "
        "batch is anchored in order (docs/operator.md)",
    )
    p.add_argument(
        "--chain-id",
        type=int,
        metavar="N",
        help="EIP-712 domain chain id: the chain of the exchange contract (default "
        "SEALBATCH_CHAIN_ID, else 31337, the local development chain; first start only)",
    )
    p.add_argument(
        "--verifying-contract",
        metavar="ADDRESS",
        help="EIP-712 domain verifying contract: the exchange contract's address (default "
        "SEALBATCH_VERIFYING_CONTRACT, else a placeholder that is no contract; first start only)",
    )
    p.add_argument("--commit-ms", type=int, help="commit window in ms (first start only)")
    p.add_argument("--reveal-ms", type=int, help="reveal window in ms (first start only)")
    p.add_argument(
        "--head-timeout-ms",
        type=int,
        metavar="MS",
        help="a request's whole head within MS of the connection's opening (or of the "
        "request's first byte on a kept-alive connection), else 408 and the connection "
        "closes (default SEALBATCH_HEAD_TIMEOUT_MS, else 10000)",
    )
    p.add_argument(
        "--body-timeout-ms",
        type=int,
        metavar="MS",
        help="a request's whole body within MS of its head, else 408 and the connection "
        "closes (default SEALBATCH_BODY_TIMEOUT_MS, else 30000)",
    )
    p.add_argument(
        "--write-timeout-ms",
        type=int,
        metavar="MS",
        help="a connection whose client reads none of its answer for MS (the send buffer "
        "stays full) is aborted (default SEALBATCH_WRITE_TIMEOUT_MS, else 30000)",
    )
    p.add_argument("--log-level", default="warning", help="uvicorn log level")
    p.add_argument(
        "--publish",
        metavar="DIR",
        help="write every settled batch to DIR/batch-<n>/ once durable (docs/formats.md; "
        "check them with sealbatch replay DIR)",
    )
    p.add_argument(
        "--committee",
        metavar="FILE",
        help="keyper committee file (sealbatch keyper init): take orders encrypted to each "
        "batch's threshold key and decrypt them with the keypers' shares (docs/threshold.md)",
    )
    p.add_argument(
        "--no-prove",
        action="store_true",
        help="do not prove batches: they stay settled (default: prove every settled batch)",
    )
    p.add_argument(
        "--prove-workers",
        metavar="N",
        type=int,
        help="prover processes the venue starts (default 1; consecutive batches are proved "
        "in parallel)",
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="prove on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786) "
        "instead of the venue's own prover processes",
    )
    p.add_argument(
        "--oracle-sources",
        metavar="FILE",
        help="oracle configuration file (JSON; docs/oracle.md): the sources whose signed "
        "reports are trusted, their families and the quorum rules (default: "
        "SEALBATCH_ORACLE_SOURCES, else the public development oracle keys)",
    )
    p.add_argument(
        "--public-dev",
        action="store_true",
        help="allow binding a non-loopback address with the development defaults (the public "
        "operator key, the public oracle keys, deposits credited without an L1): for a shared "
        "test venue only",
    )
    p.set_defaults(func=run)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _public_dev_defaults(host: str, settings: Settings) -> str | None:
    """Why binding ``host`` with these settings would be unsafe, or None.

    On a loopback address the development defaults are what a developer wants;
    on any other address they let anyone sign receipts (the operator key is
    public), move prices (the oracle keys are public) or mint collateral
    (deposits are credited without an L1).
    """
    if _is_loopback(host):
        return None
    unsafe = settings.development_defaults()
    if not unsafe:
        return None
    return (
        f"refusing to serve on {host} with "
        + ", ".join(unsafe)
        + "; pass --public-dev for a shared test venue"
    )


def _port_problem(host: str, port: int) -> str | None:
    """Why the venue could not listen on ``host:port`` (taken, not an address here), or
    None. Checked before the venue starts, which opens its database and provers first."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"--port {port}: expected a free port on {host}, got {exc.strerror or exc}"
    return None


def _db_problem(url: str) -> str | None:
    """Why ``url`` is not a database URL the venue can open, or None (nothing is opened)."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        create_engine(url).dispose()
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        return (
            "--db: expected a database URL such as sqlite:///sealbatch.db or "
            f"postgresql+psycopg://user@host/db, got {url!r} ({exc})"
        )
    return None


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from sealbatch.crypto.exceptions import SealbatchError
    from sealbatch.venue.app import create_app
    from sealbatch.venue.commands.output_dirs import output_dir_problem
    from sealbatch.venue.http_protocol import venue_protocol
    from sealbatch.venue.settings import Settings

    overrides: dict[str, object] = {}
    if args.db:
        overrides["db_url"] = args.db
    if args.l1:
        overrides["l1_url"] = args.l1
    if args.chain_id is not None:
        overrides["chain_id"] = args.chain_id
    if args.verifying_contract:
        overrides["verifying_contract"] = args.verifying_contract
    if args.commit_ms is not None:
        overrides["commit_window_ms"] = args.commit_ms
    if args.reveal_ms is not None:
        overrides["reveal_window_ms"] = args.reveal_ms
    if args.head_timeout_ms is not None:
        overrides["head_timeout_ms"] = args.head_timeout_ms
    if args.body_timeout_ms is not None:
        overrides["body_timeout_ms"] = args.body_timeout_ms
    if args.write_timeout_ms is not None:
        overrides["write_timeout_ms"] = args.write_timeout_ms
    if args.oracle_sources:
        overrides["oracle_sources"] = args.oracle_sources
    if args.publish:
        overrides["publish_dir"] = args.publish
    if args.committee:
        overrides["committee"] = args.committee
    if args.no_prove:
        overrides["prove"] = False
    if args.prove_workers is not None:
        overrides["prove_workers"] = args.prove_workers
    if args.dask:
        overrides["dask_scheduler"] = args.dask
    if not 0 < args.port < 65536:
        print(
            f"sealbatch serve: error: --port: expected 1 to 65535, got {args.port}", file=sys.stderr
        )
        return 2
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        # pydantic prefixes a validator's own message with "Value error, ": ours name the
        # field; its own (a bound) do not
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        bound = _BOUNDS.get(error["type"])
        ctx = error.get("ctx") or {}
        if bound is not None and bound[1] in ctx:
            # an environment variable's value arrives as a string: say it as typed
            message = f"expected {bound[0]} {ctx[bound[1]]}, got {error.get('input')}"
        field = ".".join(str(part) for part in error["loc"])
        if field and not message.startswith(field):
            message = f"{field}: {message}"
        print(f"sealbatch serve: error: {message}", file=sys.stderr)
        return 2
    if settings.oracle_sources:
        from sealbatch.settlement.oracle import load_oracle_config

        try:
            load_oracle_config(settings.oracle_sources)  # refuse a bad file before binding
        except SealbatchError as exc:
            print(f"sealbatch serve: error: {exc}", file=sys.stderr)
            return 2
    problem = output_dir_problem(Path(settings.publish_dir)) if settings.publish_dir else None
    if problem:  # before binding, as demo --out does: not at the first settled batch
        print(f"sealbatch serve: error: --publish: {problem}", file=sys.stderr)
        return 2
    if settings.committee:
        from sealbatch.venue.committee import load_committee

        try:
            load_committee(settings.committee)  # refuse a bad file before binding
        except SealbatchError as exc:
            print(f"sealbatch serve: error: {exc}", file=sys.stderr)
            return 2
    problem = _public_dev_defaults(args.host, settings)
    if problem and not args.public_dev:
        print(f"sealbatch serve: error: {problem}", file=sys.stderr)
        return 2
    problem = _db_problem(settings.db_url) or _port_problem(args.host, args.port)
    if problem:
        print(f"sealbatch serve: error: {problem}", file=sys.stderr)
        return 2
    chain = None
    if settings.l1_url:
        from sealbatch.venue import l1

        if settings.l1_url != l1.EMBEDDED:
            try:
                # a node that does not answer: one line before binding, not uvicorn's traceback
                chain = l1.connect(settings.l1_url)
            except SealbatchError as exc:
                print(f"sealbatch serve: error: {exc}", file=sys.stderr)
                return 2
    if settings.dask_scheduler and settings.prove:
        from sealbatch.venue.proving import dask_scheduler_problem

        # an unreachable cluster: one line before binding, not the app's failed start
        problem = dask_scheduler_problem(settings.dask_scheduler)
        if problem:
            print(f"sealbatch serve: error: --dask: {problem}", file=sys.stderr)
            return 2
    for default in settings.development_defaults():
        print(f"sealbatch serve: development default on: {default}", file=sys.stderr)
    import gc

    # Long-lived venue state (books, fates, nonces) would make every full
    # collection walk it: collect young objects less often.
    gc.set_threshold(50_000, 20, 100)
    try:
        app = create_app(settings, chain=chain)
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            # a response's head and body in one write; deadlines for a request's head and
            # body, and for a client that reads none of its answer
            http=venue_protocol(app, settings),
        )
    except SealbatchError as exc:
        print(f"sealbatch serve: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        if exc.code in (0, None):
            return 0
        # uvicorn exits 1 or 3 when the venue cannot start (its log says why).
        print("sealbatch serve: error: the venue did not start (the reason above)", file=sys.stderr)
        return 2
    return 0
