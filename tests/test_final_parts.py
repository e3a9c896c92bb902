"""The parts of the final runs of issue 12 (benchmarks/final_parts.py): every step of a
part runs with the settings of the part's own write step, so the caches it fills are the
ones the write step reads, and no two processes of a phase make the same artefact."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_prompt_selection as bp  # noqa: E402
import bench_transfer as bt  # noqa: E402
import final_parts as fp  # noqa: E402


def _steps(part):
    return [step for phase in part["phases"] for steps in phase for step in steps]


@pytest.mark.parametrize("name", sorted(fp.PARTS))
def test_every_step_parses_and_shares_the_write_steps_settings(name):
    part = fp.PARTS[name]
    bench = bp if part["write"][0] == "bench_prompt_selection.py" else bt
    final = bench.parse_args(part["write"][1:])
    assert final.part and final.stage is None
    free = {"stage", "only", "seeds", "sources", "space_seeds"}  # cache keys are per item
    for step in _steps(part):
        assert step[0] == part["write"][0]
        args = bench.parse_args(step[1:])
        assert args.stage, step  # every step before the write makes cached stages only
        differ = {k for k, v in vars(args).items() if getattr(final, k) != v} - free
        assert not differ, (step, differ)


def test_the_prompt_parts_hold_the_final_settings_and_cover_every_seed_and_set():
    for name, targets in (("prompt-sentiment", bp.SENTIMENT_SETS), ("prompt-pair", bp.PAIR_SETS)):
        part = fp.PARTS[name]
        args = bp.parse_args(part["write"][1:])
        assert args.variants == ["anchor"] and args.anchor_methods == ["fisher"]
        assert args.dte_k_variants == ["plain", "anchor"] and args.dte_k_draws == 3
        assert args.only == list(targets) and args.seeds == [0, 1, 2]
        seeds = set()
        for step in _steps(part):
            a = bp.parse_args(step[1:])
            if "pool-answers" in a.stage:
                seeds.update(a.seeds)
        assert seeds == {0, 1, 2}


def test_no_two_processes_of_a_transfer_phase_fine_tune_the_same_models():
    for phase in fp.PARTS["transfer-truth"]["phases"]:
        made = [bt.parse_args(steps[0][1:]) for steps in phase]
        if "sources" in made[0].stage:
            assert not set(made[0].sources) & set(made[1].sources)
            assert set(made[0].sources) | set(made[1].sources) == set(bt.SOURCES)
        else:
            assert not set(made[0].only) & set(made[1].only)
            assert set(made[0].only) | set(made[1].only) == set(bt.TARGETS)
    for seed in (0, 1, 2):
        phase = fp.PARTS[f"transfer-space{seed}"]["phases"][0]
        fine_tune = [bt.parse_args(s[1:]) for steps in phase for s in steps]
        assert sum("mtes" in a.stage for a in fine_tune) == 1  # the only step with models
        dte_sources = [set(a.sources) for a in fine_tune if "dtes" in a.stage]
        assert not dte_sources[0] & dte_sources[1]
        assert dte_sources[0] | dte_sources[1] == set(bt.SOURCES)


def test_dry_run_prints_the_commands(capsys):
    assert fp.main(["run", "transfer-space0", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "--rows embeddings --space-seeds 0 --stage dtes" in out and out.count("then:") == 1


def test_the_joint_space_part_makes_each_seeds_rows_once_with_one_fine_tuning():
    part = fp.PARTS["transfer-space12"]
    final = bt.parse_args(part["write"][1:])
    assert final.space_seeds == [1, 2] and final.rows == "embeddings"
    steps = [bt.parse_args(s[1:]) for s in _steps(part)]
    assert sum("mtes" in a.stage for a in steps) == 1  # the source models once
    dtes = [a for a in steps if "dtes" in a.stage]
    assert len(dtes) == 1 and set(dtes[0].sources) == set(bt.SOURCES)
    assert all(a.space_seeds == [1, 2] and a.only is None for a in steps)
    # the same space seeds as the one-seed parts it stands for, none of space0's
    singles = {
        bt.parse_args(fp.PARTS[f"transfer-space{s}"]["write"][1:]).space_seeds[0] for s in (1, 2)
    }
    assert singles == set(final.space_seeds)
