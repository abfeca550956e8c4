"""``sealbatch replay BATCH_DIR``: recompute a published batch and check it.

Reads ``pre_state.json``, ``orders.csv``, ``oracle.json`` and ``result.json``
(docs/formats.md), checks that the published seed is the Poseidon2 commitment
root of the batch's commitments in receipt order, re-clears the orders with
that seed and the published reference prices, settles the batch with the
rules published in ``pre_state.json``, and compares the result with
``result.json`` and the new state with ``post_state.json``; every file must be in
the one canonical form the venue writes (docs/formats.md, "Canonical form"). When a
``proof.bin`` is published beside the files, it must be a valid batch proof
of the folder (``sealbatch verify proof.bin --public BATCH_DIR``). When a
``threshold.json`` is published (a batch with encrypted orders), its dealings,
key, seal, shares, secret and every encrypted order's outcome are recomputed
(venue/threshold_check.py). Exit 0 when
everything matches, 1 naming the first difference, 2 on missing or malformed
files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sealbatch.crypto.exceptions import SealbatchError
from sealbatch.settlement.json_text import loads_json
from sealbatch.venue.commands.forfeit_signatures import forfeit_signature_difference
from sealbatch.venue.publisher import PROOF_FILE, THRESHOLD_FILE

if TYPE_CHECKING:
    from sealbatch.auction.batch import RestingOrder
    from sealbatch.auction.commit_reveal import Forfeit, RevealedOrder
    from sealbatch.settlement.ledger import LedgerState

__all__ = ["first_difference", "register"]

FILES = (
    "pre_state.json",
    "orders.csv",
    "oracle.json",
    "transfers.json",
    "result.json",
    "post_state.json",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="recompute a published batch (sealbatch demo --out) and check it",
        description="Re-clear BATCH_DIR/orders.csv from pre_state.json and oracle.json, settle "
        "the batch, and check that result.json and post_state.json match.",
    )
    p.add_argument(
        "batch_dir",
        metavar="BATCH_DIR",
        help="a batch-<n>/ folder, or a folder of them (each is replayed and the chain of "
        "state roots checked: a batch's pre_state.json is the previous one's post_state.json)",
    )
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.set_defaults(func=run)


def first_difference(
    want: Any, got: Any, path: str = "", *, got_side: str = "recomputed"
) -> str | None:
    """The JSON path of the first place where ``got`` differs from ``want``, or None.

    ``want`` is the published side; ``got_side`` names the other one in the message.
    """
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got)):
            if k not in got:
                return f"{path}.{k}: missing in the {_noun(got_side)}"
            if k not in want:
                return f"{path}.{k}: not in the published file"
            diff = first_difference(want[k], got[k], f"{path}.{k}", got_side=got_side)
            if diff:
                return diff
        return None
    if isinstance(want, list) and isinstance(got, list):
        for i, (a, b) in enumerate(zip(want, got, strict=False)):
            diff = first_difference(a, b, f"{path}[{i}]", got_side=got_side)
            if diff:
                return diff
        if len(want) != len(got):
            return f"{path}: published {len(want)} entries, {got_side} {len(got)}"
        return None
    if want != got or type(want) is not type(got):
        return f"{path}: published {want!r}, {got_side} {got!r}"
    return None


def _noun(side: str) -> str:
    return "recomputation" if side == "recomputed" else f"{side} file"


def _fail(message: str) -> int:
    print(f"sealbatch replay: error: {message}", file=sys.stderr)
    return 2


def _seed_difference(
    seed: bytes, revealed: Sequence[RevealedOrder], forfeited: Sequence[Forfeit]
) -> str | None:
    """Why ``seed`` is not the commitment root of the batch's commitments, or None.

    The receipt order is public: each forfeit names its sequence number, and
    the revealed orders (in receipt order in orders.csv) fill the rest; each leaf
    binds its commitment's market, trader and bond (a forfeit's from result.json, a
    revealed order's from orders.csv).
    """
    from sealbatch.auction.commitment import commitment_root, receipt_order

    try:
        leaves = receipt_order(
            [(r.commitment, r.order.market, r.trader, r.bond) for r in revealed],
            [(f.sequence, f.commitment, f.market, f.trader, f.bond) for f in forfeited],
        )
    except ValueError as exc:
        return str(exc)
    total = len(leaves)
    try:
        root = commitment_root(
            [c for c, _, _, _ in leaves],
            [m for _, m, _, _ in leaves],
            [t for _, _, t, _ in leaves],
            [b for _, _, _, b in leaves],
        )
    except ValueError as exc:
        return f"the commitments do not form a commitment root: {exc}"
    if root != seed:
        return f"published 0x{seed.hex()}, recomputed 0x{root.hex()} from {total} commitments"
    return None


class _Malformed(SealbatchError):
    """A missing or malformed file (exit 2); the message says which."""


def _batch_folders(folder: Path) -> list[tuple[int, Path]]:
    """The ``batch-<n>`` subfolders of ``folder`` by batch id (empty: none)."""
    out = []
    for sub in folder.iterdir() if folder.is_dir() else ():
        n = sub.name.removeprefix("batch-")
        # ASCII digits only: "²" is a digit to isdigit() but no number to int().
        if sub.is_dir() and sub.name.startswith("batch-") and n.isascii() and n.isdigit():
            out.append((int(n), sub))
    return sorted(out)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.batch_dir)
    if not folder.is_dir():
        return _fail(f"expected a batch folder (batch-<n>/) or a folder of them, got {folder}")
    batches = [] if (folder / "result.json").exists() else _batch_folders(folder)
    if not batches and not any((folder / name).exists() for name in FILES):
        return _fail(
            f"{folder}: expected a batch folder ({', '.join(FILES)}) or a folder of "
            "batch-<n>/ folders, found neither"
        )
    if not batches:
        try:
            replayed = _replay_checked(folder)
        except _Malformed as exc:
            return _fail(str(exc))
        return _report(args.json, replayed.batch_id, replayed.checks)
    verdicts: list[dict[str, Any]] = []
    failed = False
    previous: tuple[int, _Replayed] | None = None
    for batch_id, sub in batches:
        try:
            replayed = _replay_checked(sub)
        except _Malformed as exc:
            return _fail(str(exc))
        checks = replayed.checks
        if replayed.batch_id != batch_id:
            checks.append(("folder name", f"batch-{batch_id} holds batch {replayed.batch_id}"))
        if previous is not None:
            # The venue skips empty batches: the chain runs over the published ones.
            why = _chain_difference(*previous, replayed)
            if why and batch_id > previous[0] + 1:
                # Empty batches are not published, so a gap alone proves nothing; with
                # a broken chain, a batch taken out of the folder is the likely cause.
                gap = previous[0] + 1, batch_id - 1
                held = f"batch-{gap[0]}" if gap[0] == gap[1] else f"batch-{gap[0]}..{gap[1]}"
                why += f" ({held} not in the folder: a batch missing?)"
            checks.append(("chain", why))
        previous = (batch_id, replayed)
        bad = [(n, w) for n, w in checks if w]
        failed = failed or bool(bad)
        verdicts.append(
            {"batch_id": batch_id, "ok": not bad, "checks": {n: w or "ok" for n, w in checks}}
        )
        if not args.json:
            print(
                f"batch {batch_id:<8} "
                + ("replays exactly" if not bad else f"MISMATCH {bad[0][0]}: {bad[0][1]}")
            )
    if args.json:
        json.dump({"batches": verdicts, "ok": not failed}, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(
            f"{len(batches)} batches "
            + ("replay exactly, roots chained" if not failed else "do NOT all replay")
        )
    return 1 if failed else 0


def _chain_difference(prev_id: int, prev: _Replayed, this: _Replayed) -> str | None:
    """Why this batch's published pre-state is not the previous batch's post-state.

    The previous post-state is the one replay recomputed (the published one when
    that batch did not settle): every account, every pending order, the root.
    """
    if prev.post is not None:
        source = f"batch-{prev_id}'s recomputed post-state"
        diff = first_difference(this.pre, prev.post)
    else:
        source = f"batch-{prev_id}/post_state.json (that batch does not settle)"
        diff = first_difference(this.pre, prev.published_post, got_side="previous")
    return None if diff is None else f"pre_state.json is not {source}: {diff}"


def _report(as_json: bool, batch_id: int, checks: list[tuple[str, str | None]]) -> int:
    failed = [(name, why) for name, why in checks if why]
    if as_json:
        json.dump(
            {"batch_id": batch_id, "ok": not failed, "checks": {n: w or "ok" for n, w in checks}},
            sys.stdout,
        )
        sys.stdout.write("\n")
    else:
        width = max(len(name) for name, _ in checks)  # one column of verdicts
        for name, why in checks:
            print(f"{name:<{width}} {'ok' if not why else 'MISMATCH ' + why}")
        verdict = "batch %d replays exactly" if not failed else "batch %d does NOT replay"
        print(verdict % batch_id)
    return 1 if failed else 0


@dataclass(frozen=True)
class _Replayed:
    """One replayed batch folder: its id, the checks (name, difference or None),
    the published pre- and post-state documents and the recomputed post-state
    document (None when the batch does not settle)."""

    batch_id: int
    checks: list[tuple[str, str | None]]
    pre: dict[str, Any]
    published_post: Any
    post: dict[str, Any] | None


def _liquidation_id_difference(state: LedgerState) -> str | None:
    """Why a pending liquidation order's id in ``state`` is not ``liquidation_order_id`` of
    the state's batch (the one that staged it), its account and its market, or None."""
    from sealbatch.settlement.liquidation import liquidation_order_id

    for lo in state.pending_liquidations:
        key, market = lo.account, lo.resting.order.market
        try:
            want = liquidation_order_id(state.batch_id, key, market)
        except ValueError as exc:
            return f"the order of {key.address}/{key.subaccount} in {market}: {exc}"
        if lo.resting.order_id != want:
            return (
                f"the order of {key.address}/{key.subaccount} in {market}: published "
                f"0x{lo.resting.order_id.hex()}, recomputed 0x{want.hex()} (batch "
                f"{state.batch_id})"
            )
    return None


def _carried_in_difference(
    pre: LedgerState, carried: Sequence[RestingOrder], halted: frozenset[str]
) -> str | None:
    """Why the orders orders.csv carries in are not the pre-state's pending ones."""
    from sealbatch.settlement.transition import describe_order, pending_carried_in

    liquidations = {lo.resting.order_id for lo in pre.pending_liquidations}
    want = pending_carried_in(pre, halted)
    got = {r.order_id: r for r in carried}
    for oid, r in want.items():
        kind = "liquidation order" if oid in liquidations else "GTC rest"
        if oid not in got:
            return f"pre_state.json's {kind} {describe_order(r)} is not in orders.csv"
        if got[oid] != r:
            return (
                f"{kind} 0x{oid.hex()}: orders.csv has {describe_order(got[oid])}, "
                f"pre_state.json {describe_order(r)}"
            )
    extra = [r for oid, r in got.items() if oid not in want]
    if extra:
        halted_pending = extra[0].order_id in pending_carried_in(pre, frozenset())
        why = "held over in a halted market" if halted_pending else "not a pending order"
        return f"orders.csv carries in {describe_order(extra[0])}: {why} in pre_state.json"
    return None


def _replay_checked(folder: Path) -> _Replayed:
    """:func:`_replay`, a file the auction or settlement layer refuses reported as a
    malformed folder. The readers check every value where they read it (its type and
    range, naming the file and the field: :mod:`sealbatch.settlement.published_values`),
    so only those layers' errors are caught here: any other exception is a bug.

    Raises:
        _Malformed: a file is missing or malformed.
    """
    from sealbatch.auction.errors import AuctionError
    from sealbatch.settlement.errors import SettlementError

    try:
        return _replay(folder)
    except (AuctionError, SettlementError) as exc:
        raise _Malformed(f"{folder}: {exc}") from exc


def _replay(folder: Path) -> _Replayed:
    """Replay one batch folder: its id, the checks and the documents.

    Raises:
        _Malformed: a file is missing or malformed.
    """
    from sealbatch.auction.errors import AuctionError
    from sealbatch.settlement.errors import SettlementError
    from sealbatch.settlement.publication import PublishedBatch
    from sealbatch.settlement.published_values import member
    from sealbatch.settlement.roots import state_root
    from sealbatch.settlement.snapshot import (
        commitment_difference,
        config_from_dict,
        result_to_dict,
        state_from_dict,
        state_to_dict,
    )
    from sealbatch.settlement.transition import halted_markets, reference_prices
    from sealbatch.venue.commands.canonical_form import canonical_difference
    from sealbatch.venue.commands.verify import UnreadableBatch, read_batch_folder

    try:
        texts = read_batch_folder(folder)  # the files verify --public reads, read alike
    except UnreadableBatch as exc:
        raise _Malformed(str(exc)) from exc
    data: dict[str, Any] = {
        name: loads_json(text) for name, text in texts.items() if name.endswith(".json")
    }
    try:
        pre_doc, published, oracle_doc = (
            data["pre_state.json"],
            data["result.json"],
            data["oracle.json"],
        )
        config = config_from_dict(
            member(pre_doc, "config", "pre_state.json"), "pre_state.json: config"
        )
        pre = state_from_dict(pre_doc, config, "pre_state.json")
        batch = PublishedBatch.from_files(texts)
    except (SettlementError, AuctionError) as exc:
        raise _Malformed(f"{folder}: {exc}") from exc

    checks: list[tuple[str, str | None]] = []
    root = "0x" + state_root(pre).hex()
    checks.append(
        (
            "pre_state.json state_root",
            None
            if root == pre_doc.get("state_root")
            else f"published {pre_doc.get('state_root')}, recomputed {root}",
        )
    )
    # Every field of pre_state.json, the derived ones too (equity, requirements,
    # multipliers): the root above commits only to the stored state.
    checks.append(("pre_state.json fields", first_difference(pre_doc, state_to_dict(pre, config))))
    # A market's reference price is its mark after the previous batch, and none (null)
    # before a first mark (docs/formats.md): a stated one would pick the price.
    marks = reference_prices(pre)
    batch_id, oracle_round, forfeited = batch.batch_id, batch.oracle_round, batch.forfeited
    wrong_refs = [
        f"{m}: published {ref!r}, previous mark price {marks.get(m)!r}"
        for m, ref in sorted(batch.references.items())
        if ref != marks.get(m)
    ]
    checks.append(("result.json reference prices", wrong_refs[0] if wrong_refs else None))
    digest = "0x" + oracle_round.digest().hex()
    checks.append(
        (
            "oracle.json digest",
            None
            if digest == oracle_doc.get("digest")
            else f"published {oracle_doc.get('digest')}, recomputed {digest}",
        )
    )
    checks.append(
        ("result.json forfeit signatures", forfeit_signature_difference(forfeited, batch_id))
    )
    revealed, carried = batch.split_orders(pre)
    # A forfeited RFQ quote is not one of the batch's commitments (it has an rfq_id).
    committed = [f for f in forfeited if f.rfq_id is None]
    checks.append(("result.json seed", _seed_difference(batch.seed, revealed, committed)))
    # Each revealed order opens its commitment: fields, client id, salt, trader, batch.
    liquidation_ids = {lo.resting.order_id for lo in pre.pending_liquidations}
    checks.append(
        ("orders.csv commitments", commitment_difference(batch.orders, batch_id, liquidation_ids))
    )
    # The liquidation orders it carries in name the batch that staged them, their account
    # and market (the pre-state's root binds the ids, not how they were made).
    checks.append(("pre_state.json liquidation ids", _liquidation_id_difference(pre)))
    # The orders carried in are the pre-state's pending ones (bound by its root).
    halted = halted_markets(pre, batch.oracle, oracle_round.timestamp_ms)
    checks.append(("orders.csv carried-in orders", _carried_in_difference(pre, carried, halted)))
    recomputed: dict[str, Any] | None = None
    try:
        resettled = batch.resettle(pre, config)
    except (AuctionError, SettlementError) as exc:
        checks.append(("settlement", f"the batch does not settle: {exc}"))
    else:
        recomputed = state_to_dict(resettled.post, config)
        checks.append(
            ("result.json", first_difference(published, result_to_dict(resettled.result)))
        )
        checks.append(("post_state.json", first_difference(data["post_state.json"], recomputed)))
        try:
            post = state_from_dict(data["post_state.json"], config, "post_state.json")
        except SettlementError as exc:
            checks.append(("post_state.json liquidation ids", f"unreadable: {exc}"))
        else:
            checks.append(("post_state.json liquidation ids", _liquidation_id_difference(post)))
    # one batch, one published folder: each file as the venue writes it (docs/formats.md,
    # "Canonical form"), checked on the values read above
    checks.append(("canonical form", canonical_difference(texts)))
    if (folder / THRESHOLD_FILE).exists():
        checks.append(
            (
                THRESHOLD_FILE,
                _threshold_difference(folder, batch_id, batch.seed, batch.orders, forfeited),
            )
        )
    if (folder / PROOF_FILE).exists():
        checks.append((PROOF_FILE, _proof_difference(folder)))
    return _Replayed(batch_id, checks, pre_doc, data["post_state.json"], recomputed)


def _threshold_difference(
    folder: Path,
    batch_id: int,
    seed: bytes,
    orders: Sequence[RestingOrder],
    forfeited: Sequence[Forfeit],
) -> str | None:
    """Why threshold.json does not match the batch (venue/threshold_check.py), or None."""
    from sealbatch.settlement.input_files import BATCH_FILE_CAP, read_input_text
    from sealbatch.venue.threshold_check import threshold_difference

    try:
        doc = loads_json(read_input_text(folder / THRESHOLD_FILE, BATCH_FILE_CAP))
    except (OSError, ValueError, RecursionError) as exc:
        return f"cannot read it: {exc}"
    if not isinstance(doc, dict):
        return f"expected a JSON object, got {type(doc).__name__}"
    return threshold_difference(doc, batch_id, seed, orders, forfeited)


def _proof_difference(folder: Path) -> str | None:
    """Why ``folder/proof.bin`` is not a valid batch proof of the folder, or None."""
    from sealbatch.crypto.exceptions import VerificationError
    from sealbatch.settlement.batch_proof import verify_files
    from sealbatch.settlement.input_files import PROOF_CAP, read_input_bytes
    from sealbatch.venue.commands.verify import UnreadableBatch, read_batch_folder

    try:
        proof = read_input_bytes(folder / PROOF_FILE, PROOF_CAP)
        files = read_batch_folder(folder)
    except (OSError, UnreadableBatch) as exc:
        return f"cannot read it: {exc}"
    try:
        verify_files(proof, files)
    except VerificationError as exc:
        return f"not a valid proof of this batch: {exc}"
    return None
