"""The run skeleton the selection benchmarks share (benchmarks.harness.selection), on a toy
benchmark: flags, reserved targets, the per-target loop, --stage, --part, --merge, --render."""

import json

import pytest

from benchmarks.harness.results import DEV_RESULTS_DIR
from benchmarks.harness.selection import SelectionBenchmark


class Toy(SelectionBenchmark):
    """Two candidates per target; the truth prefers the first."""

    name = "toy"
    STAGES = ("a", "b")
    targets_from = "--targets"
    only_help = part_help = merge_help = dev_help = "-"

    def __init__(self):
        super().__init__()
        self.made = []

    def add_arguments(self, p):
        p.add_argument("--targets", nargs="+", default=["t1", "t2"])
        p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])

    def targets_of(self, args):
        return args.targets

    def prepare(self):
        return [t for t in self.args.targets if self.args.only is None or t in self.args.only]

    def target_stages(self, target):
        self.made += [(target, s) for s in self.STAGES if self.need(s)]
        return {}

    def score(self, target, made):
        return {"best": 0}, {"row": {"0": [1.0, 0.0]}}

    def assemble(self):
        return {
            "settings": {"targets": self.args.targets, "part": self.args.part},
            "environment": self.env,
            "complete": len(self.done) == 2,
            "done": list(self.done),
            "truth": self.truth,
            "scores": self.scores,
            "metrics": {},
            "stages_seconds": self.stages.seconds,
        }

    def markdown(self, result, env, settings, stages):
        return f"# toy: {', '.join(result['done'])}\n"

    def part_markdown(self, result, env, settings, stages):
        return f"# toy part {settings['part']}\n"

    def merge_parts(self, parts):
        first = next(iter(parts.values()))
        done = [t for p in parts.values() for t in p["done"]]
        return {**first, "done": done, "parts": None, "scores": {}, "metrics": {}}


def test_flags_dev_only_and_reserved_targets():
    args = Toy().parse_args(["--dev"])
    assert args.seeds == [0] and args.out == DEV_RESULTS_DIR
    assert Toy().parse_args(["--dev", "--quick"]).out is None
    with pytest.raises(SystemExit, match="--only names t9: not in --targets"):
        Toy().parse_args(["--only", "t9"])
    with pytest.raises(SystemExit, match="reserved for the outside check"):
        Toy().parse_args(["--targets", "t1", "sentiment-finefood"])


def test_a_run_writes_after_each_target_and_stages_write_nothing(tmp_path, capsys):
    toy = Toy()
    assert toy.main(["--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "toy.json").read_text())
    assert result["done"] == ["t1", "t2"] and result["complete"]
    assert result["truth"] == {"t1": {"best": 0}, "t2": {"best": 0}}
    assert result["scores"] == {"row": {"t1": {"0": [1.0, 0.0]}, "t2": {"0": [1.0, 0.0]}}}
    assert capsys.readouterr().out.count("wrote ") == 2  # after each target
    assert toy.made == [("t1", "a"), ("t1", "b"), ("t2", "a"), ("t2", "b")]
    staged = Toy()
    assert staged.main(["--stage", "b", "--only", "t2", "--out", str(tmp_path / "s")]) == 0
    assert staged.made == [("t2", "b")] and not (tmp_path / "s").exists()
    assert "stages b done for t2; nothing written" in capsys.readouterr().out


def test_parts_merge_and_render(tmp_path):
    for part, target in (("p1", "t1"), ("p2", "t2")):
        assert Toy().main(["--part", part, "--only", target, "--out", str(tmp_path)]) == 0
    stored = json.loads((tmp_path / "parts" / "toy.p1.json").read_text())
    assert stored["done"] == ["t1"] and "metrics" not in stored
    assert (tmp_path / "parts" / "toy.p2.md").read_text() == "# toy part p2\n"
    assert Toy().main(["--merge", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "toy.md").read_text() == "# toy: t1, t2\n"
    (tmp_path / "toy.md").write_text("stale")
    (tmp_path / "parts" / "toy.p1.md").write_text("stale")
    assert Toy().main(["--render", "--out", str(tmp_path)]) == 0
    assert Toy().main(["--render", "--part", "p1", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "toy.md").read_text() == "# toy: t1, t2\n"
    assert (tmp_path / "parts" / "toy.p1.md").read_text() == "# toy part p1\n"
    with pytest.raises(SystemExit, match="does not exist"):
        Toy().render(tmp_path / "none")
