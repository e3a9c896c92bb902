"""`SelectionBenchmark`: the run skeleton of the two selection benchmarks (prompt
selection, transfer), each of which ranks candidates for a target and is scored against a
measured truth.

The skeleton parses the flags they share (``--quick``, ``--out``, ``--stage``, ``--only``,
``--part``, ``--merge``, ``--preregistered``, ``--render``, ``--dev``), refuses the sets
reserved for the outside check as targets, and runs: `prepare` (load the data, make what
every target needs), then per target `target_stages` (what it alone needs) and, in a full
run, `score`, writing the result (or the part) after each target. ``--stage`` makes
cached artefacts only and writes nothing; ``--render`` rewrites the markdown from the JSON;
``--merge`` combines the parts of a run cut into pieces.

A subclass defines what differs: its flags (`add_arguments`, `check`, `caps`), its targets
(`targets_of`), its stages and their artefacts (`prepare`, `target_stages`), its truth and
row scores (`score`), and its result and tables (`assemble`, `markdown`, `merge_parts`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.harness.embeddings import cached_dte
from benchmarks.harness.parts import parts_markdown, read_parts, write_merged, write_part
from benchmarks.harness.provenance import environment, provenance_markdown
from benchmarks.harness.results import (
    DEV_RESULTS_DIR,
    PREREGISTERED,
    add_common_args,
    results_dir,
    write_results,
)
from benchmarks.harness.stages import Stages, quiet_libraries


def reserved_sets() -> tuple[str, ...]:
    """The catalogue's sets reserved for the outside check (`fute.data.catalog`): never a
    target or a source of a selection benchmark."""
    from fute.data.catalog import reserved_names

    return tuple(sorted(reserved_names()))


def check_reserved(names, role: str = "target") -> None:
    """One-line refusal of a reserved data set in a selection benchmark."""
    reserved = [n for n in dict.fromkeys(names) if n in reserved_sets()]
    if reserved:
        raise SystemExit(
            f"error: {', '.join(reserved)} {'is' if len(reserved) == 1 else 'are'} reserved "
            f"for the outside check and never a {role} of a selection benchmark"
        )


def read_preregistered(path: Path = PREREGISTERED) -> dict:
    """The pre-registered choice of issue 12 point 6 (benchmarks/preregistered.json):
    {"default": None | a choice, "commit", "date", "note", ...}. A missing file counts as
    no default; a file without the key ``default`` is a one-line error."""
    path = Path(path)
    if not path.is_file():
        return {"default": None, "note": f"{path} does not exist"}
    data = json.loads(path.read_text())
    if "default" not in data:
        raise SystemExit(f"error: {path} has no key 'default' (null or a choice)")
    return data


def closing_lines(result: dict, env: dict, settings: dict, stages: Stages) -> list[str]:
    """The end of a selection result's markdown: its parts, the run's notes, its provenance."""
    lines = parts_markdown(result.get("parts"))
    if result.get("notes"):
        lines += ["## Notes of the run", ""] + [f"- {n}" for n in result["notes"]] + [""]
    return [*lines, provenance_markdown(env, settings, stages)]


class SelectionBenchmark:
    """One run of a selection benchmark: its flags, the cached artefacts it makes (each
    keyed by what makes it), the truth and row scores of the targets done so far."""

    #: result files <out>/<name>.{json,md}; a part's <out>/parts/<name>.<part>.{json,md}
    name: str
    #: the kinds of cached artefact ``--stage`` can make
    STAGES: tuple[str, ...]
    #: the seed flags a ``--dev`` run sets to [0]
    dev_seeds: tuple[str, ...] = ("seeds",)
    #: where ``--only`` picks its targets from (said when it names another), and its metavar
    targets_from: str
    only_metavar = "TARGET"
    #: help of the shared flags, in the benchmark's words
    stage_help = "only make these cached artefacts (nothing written to the results)"
    only_help: str
    part_help: str
    merge_help: str
    dev_help: str

    def __init__(self) -> None:
        self.args: argparse.Namespace | None = None
        self.env: dict = {}
        self.stages = Stages()
        self.notes: list[str] = []
        self.preregistered: dict = {}
        self.truth: dict = {}  # target -> its truth
        self.scores: dict = {}  # row -> target -> key -> [score per candidate]
        self.done: list[str] = []  # the targets scored so far
        self._surrogate = None
        self._spaces: dict = {}

    # ------------------------------------------------------------------ what a benchmark defines

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The benchmark's own flags."""

    def targets_of(self, args: argparse.Namespace) -> list[str]:
        """Every target the flags name (``--only`` picks among them)."""
        raise NotImplementedError

    def check(self, args: argparse.Namespace) -> None:
        """One-line errors for flags that do not go together (after the reserved targets)."""

    def caps(self, args: argparse.Namespace) -> None:
        """The caps of the run (``--quick``'s) and what follows from them."""

    def prepare(self) -> list[str]:
        """Load the data, make what every target needs; the targets to process."""
        raise NotImplementedError

    def target_stages(self, target: str) -> dict:
        """Make what one target needs (of the stages this run makes)."""
        raise NotImplementedError

    def score(self, target: str, made: dict) -> tuple[dict | None, dict]:
        """(the target's truth or None, {row: {key: [score per candidate]}})."""
        raise NotImplementedError

    def assemble(self) -> dict:
        """The result of the targets done so far."""
        raise NotImplementedError

    def markdown(self, result: dict, env: dict, settings: dict, stages: Stages) -> str:
        raise NotImplementedError

    def merge_parts(self, parts: dict) -> dict:
        """One result from {part name: result of a run with ``--part``}."""
        raise NotImplementedError

    def completed(self, result: dict) -> dict:
        """A stored result with what it leaves out derived again (for ``--render``)."""
        return result

    def stored_part(self, result: dict) -> dict:
        """What a part stores of a result (all of it unless the benchmark derives some)."""
        return result

    def part_markdown(self, result: dict, env: dict, settings: dict, stages: Stages) -> str:
        return self.markdown(result, env, settings, stages)

    def full_stages(self) -> tuple[str, ...]:
        """The stages a run without ``--stage`` makes."""
        return self.STAGES

    def space_hparams(self) -> dict:
        """The hyper-parameters of every space of this run."""
        return {"pool_size": self.args.pool_size}

    # ------------------------------------------------------------------ the skeleton

    def parse_args(self, argv: list[str] | None = None) -> argparse.Namespace:
        doc = sys.modules[type(self).__module__].__doc__ or ""
        p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
        add_common_args(p)
        self.add_arguments(p)
        p.add_argument(
            "--stage", nargs="+", choices=self.STAGES, default=None, help=self.stage_help
        )
        p.add_argument(
            "--only", nargs="+", default=None, metavar=self.only_metavar, help=self.only_help
        )
        p.add_argument("--part", default=None, metavar="NAME", help=self.part_help)
        p.add_argument("--merge", action="store_true", help=self.merge_help)
        p.add_argument(
            "--preregistered",
            type=Path,
            default=PREREGISTERED,
            help="the file naming the pre-registered default (key 'default')",
        )
        p.add_argument(
            "--render",
            action="store_true",
            help="only rewrite the markdown table from the results JSON already written (no run)",
        )
        p.add_argument("--dev", action="store_true", help=self.dev_help)
        args = p.parse_args(argv)
        targets = self.targets_of(args)
        check_reserved([*targets, *(args.only or [])], "target")
        self.check(args)
        if args.dev:
            for flag in self.dev_seeds:
                setattr(args, flag, [0])
            if args.out is None and not args.quick:
                args.out = DEV_RESULTS_DIR
        if args.only is not None:
            unknown = sorted(set(args.only) - set(targets))
            if unknown:
                raise SystemExit(
                    f"error: --only names {', '.join(unknown)}: not in {self.targets_from}"
                )
        self.caps(args)
        return args

    def main(self, argv: list[str] | None = None) -> int:
        args = self.args = self.parse_args(argv)
        out_dir = results_dir(args)
        if args.render:
            return self.render(out_dir, args.part)
        if args.merge:
            return self.merge(out_dir)
        self.env = environment()
        quiet_libraries()
        self.preregistered = read_preregistered(args.preregistered)
        targets = self.prepare()
        for target in targets:
            made = self.target_stages(target)
            if args.stage is not None:
                continue
            with self.stages(f"{target}: scores"):
                truth, rows = self.score(target, made)
                if truth is not None:
                    self.truth[target] = truth
                for row, by_key in rows.items():
                    self.scores.setdefault(row, {})[target] = by_key
            self.done.append(target)
            self.write(self.assemble(), out_dir)
        if args.stage is not None:
            print(f"stages {', '.join(args.stage)} done for {', '.join(targets)}; nothing written")
        return 0

    def need(self, stage: str) -> bool:
        """Whether this run makes `stage`."""
        return stage in (self.full_stages() if self.args.stage is None else self.args.stage)

    def write(self, result: dict, out_dir: Path) -> None:
        """The result so far, or the part's (``--part``), after each target."""
        if self.args.part is None:
            text = self.markdown(result, self.env, result["settings"], self.stages)
            write_results(self.name, result, text, out_dir)
        else:
            text = self.part_markdown(result, self.env, result["settings"], self.stages)
            write_part(self.name, self.args.part, self.stored_part(result), text, out_dir)

    def render(self, out_dir: Path, part: str | None = None) -> int:
        """Rewrite the markdown of <out>/<name>.json (or of the part <out>/parts/<name>.<part>
        .json) from the JSON: the same measured numbers, the current table layout (for a
        layout change after a multi-hour run)."""
        folder, name = (
            (out_dir, self.name) if part is None else (out_dir / "parts", f"{self.name}.{part}")
        )
        json_path = folder / f"{name}.json"
        if not json_path.exists():
            raise SystemExit(f"error: {json_path} does not exist; run the benchmark first")
        result = self.completed(json.loads(json_path.read_text()))
        stages = Stages(seconds=dict(result["stages_seconds"]))
        make = self.markdown if part is None else self.part_markdown
        text = make(result, result["environment"], result["settings"], stages)
        (folder / f"{name}.md").write_text(text.rstrip() + "\n")
        print(f"wrote {folder / f'{name}.md'} from {json_path}")
        return 0

    def merge(self, out_dir: Path) -> int:
        """Write <out>/<name>.{json,md} from the parts in <out>/parts."""
        merged = self.merge_parts(read_parts(out_dir, self.name))
        return write_merged(self.name, merged, self.markdown, out_dir)

    # ------------------------------------------------------------------ spaces and DTEs

    def space(self, method: str, seed: int, pool_anchor: bool = False, clip_pool: bool = False):
        """The embedding space of `method` and `seed` (made once per run)."""
        key = (method, seed, pool_anchor, clip_pool)
        if key not in self._spaces:
            from fute.engine.surrogate import Surrogate
            from fute.space import Space

            if self._surrogate is None:
                self._surrogate = Surrogate.load()
            self._spaces[key] = Space(
                self._surrogate,
                method=method,
                seed=seed,
                progress=False,
                pool_anchor=pool_anchor,
                clip_pool=clip_pool,
                **self.space_hparams(),
            )
        return self._spaces[key]

    def dte(self, data, name: str, method: str, seed: int, **space):
        """The cached DTE of `data` in the space of `method`, `seed` (and `space`'s flags)."""
        return cached_dte(self.space(method, seed, **space), data, name)
