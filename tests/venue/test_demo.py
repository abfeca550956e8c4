"""The embedded demo shows the whole risk path: a levered long is liquidated after a shock."""

from __future__ import annotations

from sealbatch.venue.demo import DemoConfig, demo_settlement_config, run_demo


def test_default_demo_liquidates_the_levered_long_in_the_next_batch() -> None:
    config = DemoConfig()
    levered = config.all_traders()[-2]
    batches = list(run_demo(config))
    assert len(batches) == config.batches
    # Before the shock nobody is liquidated; the shock batch queues a slice of the long.
    for b in batches[: config.shock_batch - 1]:
        assert not b.witness.liquidations
    queued = batches[config.shock_batch - 1].witness.liquidations
    assert [lo.account.address for lo in queued] == [levered.address]
    order = queued[0].resting.order
    assert order.reduce_only and order.side.value == "sell"
    # The slice takes part in the next batch's auction and fills there.
    nxt = batches[config.shock_batch].result
    fills = [f for f in nxt.fills() if f.order_id == queued[0].resting.order_id]
    assert fills and 0 < sum(f.quantity for f in fills) <= order.quantity
    assert order.limit_price is not None and all(f.price >= order.limit_price for f in fills)
    # The levered position shrank by exactly what filled.
    post = batches[config.shock_batch].post_state
    pre = batches[config.shock_batch].pre_state
    key = queued[0].account
    j = demo_settlement_config(config).column("BTC-PERP")
    assert pre.positions[pre.row(key), j] - post.positions[post.row(key), j] == sum(
        f.quantity for f in fills
    )


def test_demo_prints_each_rejection_whole(capsys) -> None:
    """A refused reveal's reason is printed in full: the hashes it names and the margin
    figures, never cut mid-hash or mid-sentence."""
    import re

    from sealbatch.venue.cli import main

    assert main(["demo", "--no-prove", "--batches", "2"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "rejected reveal" in ln]
    mismatches = [ln for ln in lines if "reveal_mismatch" in ln]
    margin = [ln for ln in lines if "insufficient_margin" in ln]
    assert mismatches and margin, lines
    for ln in mismatches:
        assert re.search(r"hash to 0x[0-9a-f]{64}, got 0x[0-9a-f]{64}$", ln), ln
    for ln in margin:
        assert re.search(r"initial requirement \d+ .*, got -?\d+$", ln), ln


def test_demo_out_over_an_earlier_run_leaves_no_stale_proof(tmp_path, capsys) -> None:
    """Writing over a folder of an earlier run removes that run's proof.bin and anchor.json
    (replay would check the stale proof against the new files and fail)."""
    from sealbatch.venue.cli import main

    folder = tmp_path / "batch-1"
    folder.mkdir()
    (folder / "proof.bin").write_bytes(b"SBSTARK from another run")
    (folder / "anchor.json").write_text("{}")
    assert main(["demo", "--no-prove", "--batches", "1", "--out", str(tmp_path)]) == 0
    assert not (folder / "proof.bin").exists() and not (folder / "anchor.json").exists()
    capsys.readouterr()
    assert main(["replay", str(folder)]) == 0


def test_demo_out_refuses_a_file_in_a_batch_folders_place_before_running(tmp_path, capsys) -> None:
    from sealbatch.venue.cli import main

    (tmp_path / "batch-2").write_text("not a folder")
    assert main(["demo", "--no-prove", "--batches", "2", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before settling anything, on stderr
    assert f"--out: expected a folder at {tmp_path / 'batch-2'}, got a file" in captured.err
    assert not (tmp_path / "batch-1").exists()


def test_demo_out_refuses_a_folder_it_cannot_make_before_running(tmp_path, capsys) -> None:
    """A mistyped parent is refused, not created, and a file in the parent's place too."""
    from sealbatch.venue.cli import main

    (tmp_path / "a-file").write_text("")
    cases = {
        tmp_path / "missing" / "out": "expected an existing parent folder for "
        f"{tmp_path / 'missing' / 'out'}, {tmp_path / 'missing'} does not exist",
        tmp_path / "a-file" / "out": f"expected a directory, got the file {tmp_path / 'a-file'}",
        tmp_path / "a-file": f"expected a directory, got the file {tmp_path / 'a-file'}",
    }
    for path, problem in cases.items():
        assert main(["demo", "--no-prove", "--batches", "1", "--out", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""  # refused before settling anything
        assert captured.err == f"sealbatch demo: error: --out: {problem}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_demo_out_refuses_a_folder_it_cannot_write_into(unwritable_dir, capsys) -> None:
    from sealbatch.venue.cli import main

    before = sorted(unwritable_dir.iterdir())
    for path in (unwritable_dir, unwritable_dir / "out"):
        assert main(["demo", "--no-prove", "--batches", "1", "--out", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith(
            f"sealbatch demo: error: --out: cannot write into {unwritable_dir}: "
        )
    assert sorted(unwritable_dir.iterdir()) == before


def test_demo_batches_out_of_range_are_refused_before_running(tmp_path, capsys) -> None:
    from sealbatch.venue.cli import main
    from sealbatch.venue.commands.demo import MAX_BATCHES

    for batches in (0, -3, MAX_BATCHES + 1, 10**12):
        assert main(["demo", "--no-prove", "--batches", str(batches), "--out", str(tmp_path)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == (
            f"sealbatch demo: error: --batches: expected 1 to {MAX_BATCHES}, got {batches}\n"
        )
    assert list(tmp_path.iterdir()) == []


def test_demo_seed_outside_eight_bytes_is_refused_before_running(tmp_path, capsys) -> None:
    from sealbatch.venue.cli import main
    from sealbatch.venue.commands.demo import MAX_SEED

    for seed, serve in ((-1, []), (MAX_SEED + 1, []), (-1, ["--serve"]), (10**30, ["--serve"])):
        args = ["demo", "--no-prove", "--seed", str(seed), "--out", str(tmp_path), *serve]
        assert main(args) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == (
            f"sealbatch demo: error: --seed: expected 0 to {MAX_SEED}, got {seed}\n"
        )
    assert list(tmp_path.iterdir()) == []
