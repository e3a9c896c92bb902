"""The rows of the source-selection benchmark (issue 12): names, costs, k-label draws,
LogME scores, centres, the evaluation over seeds and draws, the targets of point 7, the
pre-registered default, reserved targets and the rendering."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import benchmarks.transfer as bt
from benchmarks.harness.parts import write_merged
from benchmarks.harness.provenance import environment
from benchmarks.harness.results import PREREGISTERED
from benchmarks.harness.scores import complete_scores
from benchmarks.harness.selection import read_preregistered, reserved_sets
from benchmarks.harness.stages import Stages

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv):
    return bt.Transfer().parse_args(argv)


def test_row_names_round_trip_and_keep_the_old_rows():
    assert bt.fute_row("dte", "fisher") == "dte-fisher"  # the old cosine rows keep their names
    assert bt.fute_row("mte", "prefix", "maxsim") == "mte-prefix:maxsim"
    assert bt.fute_row("dte", "fisher", "task2vec", 16) == "dte-fisher-k16:task2vec"
    assert bt.parse_row("mte-prefix-k64:maxsim") == {
        "kind": "fute",
        "candidates": "mte",
        "method": "prefix",
        "similarity": "maxsim",
        "k": 64,
        "anchor": False,
    }
    assert bt.parse_row("dte-fisher")["similarity"] == "cosine"
    anchored = bt.fute_row("mte", "fisher", "task2vec", anchor=True)
    assert anchored == "mte-fisher+anchor:task2vec"
    assert bt.parse_row(anchored) == {
        "kind": "fute",
        "candidates": "mte",
        "method": "fisher",
        "similarity": "task2vec",
        "k": None,
        "anchor": True,
    }
    assert bt.parse_row("logme-16") == {"kind": "logme", "k": 16}
    assert bt.parse_row("mean-embedding-k64") == {"kind": "mean-embedding", "k": 64}
    assert bt.parse_row("mean-embedding") == {"kind": "mean-embedding", "k": None}
    order = bt.row_order()
    old = ["dte-fisher", "dte-prefix", "mte-fisher", "mte-prefix", "mean-embedding", "random"]
    assert set(old) <= set(order) and len(order) == len(set(order))
    assert "dte-fisher:task2vec" in order and "dte-fisher:maxsim" not in order
    assert "mte-prefix:maxsim" in order and "mte-prefix:task2vec" not in order
    assert {"dte-fisher+anchor", "mte-fisher+anchor:behaviour"} <= set(order)
    assert "dte-prefix+anchor" not in order  # fisher only (ANCHORED)
    assert {"logme-16", "logme-64", "mean-embedding-k16", "dte-prefix-k64:behaviour"} <= set(order)
    assert {bt.parse_row(r)["kind"] for r in order} == {"fute", "mean-embedding", "random", "logme"}


def test_groups_and_costs():
    assert bt.group_of("dte-fisher:centred-cosine") == bt.G_FULL
    assert bt.group_of("mean-embedding") == bt.G_FREE == bt.group_of("random")
    assert bt.group_of("logme-16") == bt.G_K == bt.group_of("mte-prefix-k64:maxsim")
    assert bt.group_of("mean-embedding-k16") == bt.G_K
    assert bt.cost_of("logme-16", 13, 200, "200") == {"passes": "16 x 13 = 208", "labels": "16"}
    assert bt.cost_of("mte-fisher", 13, 200, "200") == {
        "passes": "0 (once: 13 x pool 200)",
        "labels": "200",
    }
    assert bt.cost_of("dte-fisher-k64:task2vec", 13, 200, "200") == {
        "passes": "0",
        "labels": "64",
    }
    assert bt.cost_of("mean-embedding", 13, 200, "200") == {"passes": "0", "labels": "0"}
    assert bt.cost_of("mean-embedding-k16", 13, 200, "200")["labels"] == "16"


@pytest.mark.parametrize(
    "argv",
    [
        ["--targets", "sentiment-yelp", "sentiment-finefood"],
        ["--targets", "sentiment-pang-lee"],
        ["--targets", "sentiment-pang-lee-reviews", "--quick"],
        ["--only", "sentiment-pang-lee"],
        ["--targets", "pair-privacy-policy"],
        ["--targets", "sentiment-yelp", "pair-consumer-contracts"],
        ["--targets", "hedge-conll2010"],
        ["--targets", "party-debates2016"],
        ["--sources", "sentiment-imdb", "party-debates2016"],
        ["--sources", "sentiment-pang-lee", "topic-bbc"],
    ],
)
def test_reserved_data_sets_are_refused_as_targets(argv):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    message = str(info.value.code)
    assert message.startswith("error: ") and "reserved" in message and "\n" not in message


def test_main_refuses_a_reserved_target_before_any_work():
    with pytest.raises(SystemExit, match="reserved"):
        bt.Transfer().main(["--targets", "sentiment-finefood", "--stage", "truth"])


def test_default_lists_are_big_enough_and_leave_the_reserved_sets_out():
    args = parse_args([])
    assert len(args.sources) >= 12 and len(args.targets) >= 8 and len(args.seeds) >= 3
    assert not set(reserved_sets()) & {*args.sources, *args.targets}
    assert not set(args.sources) & set(args.targets)
    assert args.ks == [16, 64]
    with pytest.raises(SystemExit, match="both source and target"):
        parse_args(["--sources", "sentiment-yelp", "topic-bbc", "--targets", "sentiment-yelp"])
    with pytest.raises(SystemExit, match="not in --targets"):
        parse_args(["--only", "topic-bbc"])


def test_quick_is_small():
    args = parse_args(["--quick"])
    assert len(args.sources) == 3 and len(args.targets) == 1 and args.ks == [16]
    assert args.k_draws == 1 and len(args.seeds) == 1 and args.target_examples <= 32


def test_dev_run_is_one_seed_with_every_row_and_writes_apart():
    args = parse_args(["--dev"])
    assert args.seeds == [0] and args.space_seeds == [0] and args.ks == parse_args([]).ks
    assert args.out == REPO / "benchmarks" / "results" / "dev"
    assert len(args.sources) == len(bt.SOURCES) and len(args.targets) == len(bt.TARGETS)
    assert parse_args(["--dev", "--out", "x"]).out == Path("x")


def test_default_rows_from_the_preregistered_choice(tmp_path):
    assert bt.default_rows(None) == ([], "")
    rows, note = bt.default_rows({"similarity": "maxsim", "method": "prefix"})
    assert rows == ["dte-prefix:maxsim", "mte-prefix:maxsim"] and note == ""
    rows, _ = bt.default_rows({"similarity": "centred-cosine", "method": None})
    assert rows == [
        "dte-fisher:centred-cosine",
        "dte-prefix:centred-cosine",
        "mte-fisher:centred-cosine",
        "mte-prefix:centred-cosine",
    ]
    assert bt.default_rows({"similarity": "task2vec"})[0] == [
        "dte-fisher:task2vec",
        "mte-fisher:task2vec",
    ]
    assert bt.default_rows("fute-fisher:task2vec")[0] == [
        "dte-fisher:task2vec",
        "mte-fisher:task2vec",
    ]
    rows, note = bt.default_rows("rrf(fute-prefix, pool-mi)")
    assert rows == ["dte-prefix", "mte-prefix"] and "pool-mi" in note
    rows, note = bt.default_rows({"similarity": "cosine", "method": "fisher", "prior": "pool-mi"})
    assert rows == ["dte-fisher", "mte-fisher"] and "pool-mi" in note
    assert bt.default_rows("dte-fisher:behaviour")[0] == ["dte-fisher:behaviour"]
    assert bt.default_rows("mi") == ([], "the default 'mi' names no row of this table")
    rows, note = bt.default_rows("fute-fisher+anchor")  # a variant: its plain rows
    assert rows == ["dte-fisher", "mte-fisher"] and "+anchor" in note and "own space" in note
    rows, note = bt.default_rows("rrf(fute-prefix+clip:behaviour, pool-mi)")
    assert (
        rows == ["dte-prefix:behaviour", "mte-prefix:behaviour"]
        and "+clip" in note
        and "pool-mi" in note
    )
    # the file of the repository: its default names rows of this table
    shipped = read_preregistered(PREREGISTERED)["default"]
    assert bt.default_rows(shipped)[0], shipped
    assert read_preregistered(tmp_path / "none.json")["default"] is None
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SystemExit, match="no key 'default'"):
        read_preregistered(tmp_path / "bad.json")


def test_k_draws_are_fixed_by_the_names_and_nested():
    a = bt.k_draws("sentiment-yelp", 200, [16, 64], 5)
    assert set(a) == {16, 64} and a[16].shape == (5, 16) and a[64].shape == (5, 64)
    assert all(len(set(row.tolist())) == len(row) for row in a[64])  # distinct examples
    np.testing.assert_array_equal(a[16], bt.k_draws("sentiment-yelp", 200, [16], 5)[16])
    np.testing.assert_array_equal(bt.k_draws("sentiment-yelp", 200, [16], 9)[16][:5], a[16])
    assert not np.array_equal(a[16], bt.k_draws("pair-factual-summary", 200, [16], 5)[16])
    assert bt.k_draws("x", 10, [16, 4], 2).keys() == {4}  # k above the set: no draw
    assert bt.k_draws("x", 10, [4], 0) == {}


def test_logme_scores_prefer_the_features_that_separate_the_labels():
    rng = np.random.default_rng(0)
    gold = np.array([0, 1] * 20)
    separating = np.eye(2)[gold] * 3.0 + rng.normal(0, 0.1, size=(40, 2))
    noise = rng.normal(0, 1.0, size=(40, 2))
    rows = np.arange(0, 40, 2)  # 20 examples, all of class 0
    scores, bad = bt.logme_scores({"good": separating, "bad": noise}, gold, np.arange(40))
    assert scores[0] > scores[1] and bad == 0
    # a draw of one class: nothing to separate, every source tied and counted
    assert bt.logme_scores({"good": separating, "bad": noise}, gold, rows) == ([0.0, 0.0], 2)


def test_logme_stays_finite_with_fewer_examples_than_features():
    rng = np.random.default_rng(1)
    for k in (16, 64):
        gold = np.array([0, 1] * (k // 2))
        good = np.eye(2)[gold] @ rng.normal(size=(2, 384)) + 0.3 * rng.normal(size=(k, 384))
        bad = rng.normal(size=(k, 384))
        scores, missing = bt.logme_scores({"good": good, "bad": bad}, gold, np.arange(k))
        assert missing == 0 and np.isfinite(scores).all() and scores[0] > scores[1]


def test_centres_are_unit_means_of_the_sources():
    from fute.core.embedding import TaskEmbedding

    def emb(v, kind):
        return TaskEmbedding(np.array(v, dtype=float), "s", kind, "x", {})

    dtes = [emb([2.0, 0.0], "dataset"), emb([0.0, 5.0], "dataset")]
    got = bt.centres_for(dtes, [emb([1.0, 1.0], "model")])
    np.testing.assert_allclose(got["dataset"], [0.5, 0.5])
    assert "model" not in got  # one MTE: no centre (it would map itself to zero)
    got = bt.centres_for(dtes, [emb([3.0, 0.0], "model"), emb([0.0, 1.0], "model")])
    np.testing.assert_allclose(got["model"], [0.5, 0.5])


def test_left_out_candidates_go_last_tied():
    scores, missing = complete_scores(4, [0, 2], [0.3, 0.7])
    assert missing == 2 and scores[0] == 0.3 and scores[2] == 0.7
    assert scores[1] == scores[3] < 0.3
    assert complete_scores(2, [], []) == ([0.0, 0.0], 2)


def test_evaluate_summarises_draws_like_seeds():
    gains = {"t": [0.1, 0.0, -0.1]}
    scores = {"logme-16": {"t": {"0/0": [3.0, 2.0, 1.0], "0/1": [1.0, 2.0, 3.0]}}}
    ev = bt.evaluate(scores, gains)["logme-16"]
    assert ev["per_target"]["t"]["rho"]["mean"] == pytest.approx(2.0)
    assert ev["average"]["rho"]["mean"] == pytest.approx(2.0)
    assert ev["average"]["rho"]["std"] == pytest.approx(np.sqrt(2.0))
    assert ev["average"]["ndcg"]["n"] == 2
    # a target without truth yet (a partial run) is left out
    assert bt.evaluate({"r": {"u": {"0": [1, 2, 3]}}}, gains)["r"]["per_target"] == {}


def _stat(mean, std=0.0, n=3):
    return {"mean": mean, "std": std, "n": n}


def _ev(ndcg, ndcg_std, rho):
    return {"average": {"ndcg": _stat(ndcg, ndcg_std), "rho": _stat(rho)}}


def test_target_check_says_by_how_much():
    ev = {
        "mean-embedding": _ev(0.85, 0.0, 3.0),
        "a": _ev(0.90, 0.02, 2.5),
        "b": _ev(0.86, 0.02, 1.5),
    }
    a = bt.target_check(ev, "a")
    assert a["ndcg_ok"] and a["ndcg_margin"] == pytest.approx(0.03)
    assert not a["rho_ok"] and a["rho_margin"] == pytest.approx(-0.5)
    b = bt.target_check(ev, "b")
    assert not b["ndcg_ok"] and b["ndcg_margin"] == pytest.approx(-0.01)
    assert b["rho_ok"] and b["rho_margin"] == pytest.approx(0.5)
    line = bt.target_line(ev, "a")
    assert "met by 0.030" in line and "rho 2.50: missed by 0.50" in line
    # rows from k labels are held against mean-embedding from the same k examples
    ev["mean-embedding-k16"] = _ev(0.95, 0.0, 1.0)
    ev["logme-16"] = _ev(0.90, 0.01, 1.0)
    assert bt.baseline_for("logme-16") == "mean-embedding-k16"
    assert "missed by 0.060" in bt.target_line(ev, "logme-16")


def _tiny_result(default=None, done=("t1",)):
    sources = ["s1", "s2", "s3"]
    truth = {
        t: {
            "n_train": 200,
            "n_dev": 100,
            "target_only": _stat(0.6, 0.01),
            "gains": {"s1": _stat(0.1, 0.01), "s2": _stat(0.0, 0.02), "s3": _stat(-0.1, 0.01)},
        }
        for t in done
    }
    scores = {
        "dte-prefix:maxsim": {t: {"0": [0.9, 0.5, 0.1]} for t in done},
        "dte-fisher": {t: {"0": [0.1, 0.5, 0.9]} for t in done},
        "mean-embedding": {t: {"0": [0.5, 0.9, 0.1]} for t in done},
        "random": {t: {"0": [0.2, 0.1, 0.3], "1": [0.3, 0.1, 0.2]} for t in done},
        "logme-16": {t: {"0/0": [3.0, 2.0, 1.0], "0/1": [1.0, 3.0, 2.0]} for t in done},
        "mean-embedding-k16": {t: {"0/0": [0.5, 0.9, 0.1], "0/1": [0.9, 0.5, 0.1]} for t in done},
        "dte-prefix-k16:maxsim": {
            t: {"0/0": [0.9, 0.5, 0.1], "0/1": [0.9, 0.5, 0.1]} for t in done
        },
    }
    settings = {
        "sources": sources,
        "targets": ["t1", "t2"],
        "seeds": [0, 1],
        "space_seeds": [0],
        "target_examples": 200,
        "ks": [16],
        "k_draws": 2,
    }
    gains = {t: [truth[t]["gains"][s]["mean"] for s in sources] for t in truth}
    rows, note = bt.default_rows(default)
    return {
        "default": default,
        "preregistered": {"default": default, "commit": "abc", "date": "2026-01-01"},
        "default_rows": rows,
        "default_note": note,
        "environment": environment(),
        "settings": settings,
        "complete": len(done) == 2,
        "truth": truth,
        "scores": scores,
        "metrics": bt.evaluate(scores, gains),
        "cost": {m: bt.cost_of(m, 3, 200, "16") for m in scores},
        "notes": ["t1 / behaviour: behaviour: left out 2 candidates"],
        "stages_seconds": {"x": 1.0},
    }


def test_markdown_marks_the_default_and_render_rebuilds_it(tmp_path):
    result = _tiny_result({"similarity": "maxsim", "method": "prefix"})
    (tmp_path / "transfer.json").write_text(json.dumps(result))
    assert bt.Transfer().render(tmp_path) == 0
    text = (tmp_path / "transfer.md").read_text()
    assert "| dte-prefix:maxsim ★ |" in text and "| dte-fisher |" in text
    assert "The same 16 labelled target examples" in text and "| logme-16 |" in text
    assert "16 x 3 = 48" in text  # LogME's cost column
    assert "Partial result" in text and "1 of 2 targets" in text
    assert "Pre-registered default (★)" in text and "Targets of issue 12" in text
    assert "dte-prefix:maxsim: NDCG 1.000 vs mean-embedding" in text and "met by" in text
    assert "left out 2 candidates" in text
    plain = bt.markdown(
        _tiny_result(done=("t1", "t2")), result["environment"], result["settings"], Stages()
    )
    assert " ★ |" not in plain and "none yet" in plain and "orientation only" in plain
    assert "Partial result" not in plain


def test_render_reads_the_committed_transfer_result(tmp_path):
    """The committed result (since 2026-12-03 the merged final run of issue 12) renders to
    the committed table."""
    old = REPO / "benchmarks" / "results" / "transfer.json"
    if not old.is_file():
        pytest.skip("no committed transfer result")
    shutil.copy(old, tmp_path / "transfer.json")
    assert bt.Transfer().render(tmp_path) == 0
    text = (tmp_path / "transfer.md").read_text()
    assert "| dte-fisher ★ |" in text and "| mean-embedding |" in text
    assert text == old.with_suffix(".md").read_text()


def _part(result: dict, name: str, rows: str, space_seeds, keep) -> dict:
    """A part of a run cut from `result`: the rows in `keep`, the truth only if `rows` is
    "truth", and the keys of `space_seeds` for the embedding rows."""
    scores = {}
    for row, by_target in result["scores"].items():
        if row not in keep:
            continue
        scores[row] = {
            t: {
                k: v
                for k, v in by_key.items()
                if rows == "truth" or int(str(k).split("/")[0]) in space_seeds
            }
            for t, by_key in by_target.items()
        }
    settings = {
        **result["settings"],
        "pool_size": 16,
        "rows": rows,
        "part": name,
        "space_seeds": space_seeds,
    }
    return {
        **result,
        "settings": settings,
        "complete": True,
        "targets_done": ["t1", "t2"],
        "truth": result["truth"] if rows == "truth" else {},
        "scores": scores,
        "finished": "2026-12-02T16:00:00+00:00",
    }


def _parts():
    whole = _tiny_result("fute-fisher+anchor", done=("t1", "t2"))
    whole["settings"]["space_seeds"] = [0, 1]
    whole["scores"]["dte-fisher"] = {
        t: {"0": [0.1, 0.5, 0.9], "1": [0.9, 0.5, 0.1]} for t in whole["truth"]
    }
    label_rows = ("random", "logme-16")
    embedding_rows = [r for r in whole["scores"] if r not in label_rows]
    return whole, {
        "truth": _part(whole, "truth", "truth", [0, 1], label_rows),
        "s0": _part(whole, "s0", "embeddings", [0], embedding_rows),
        "s1": _part(whole, "s1", "embeddings", [1], embedding_rows),
    }


def test_parts_merge_into_the_result_of_one_run(tmp_path):
    whole, parts = _parts()
    merged = bt.merge_parts(parts)
    assert merged["complete"] and merged["targets_done"] == ["t1", "t2"]
    assert merged["settings"]["space_seeds"] == [0, 1] and merged["settings"]["rows"] == "all"
    assert merged["scores"] == whole["scores"]
    gains = {
        t: [e["gains"][s]["mean"] for s in ("s1", "s2", "s3")] for t, e in whole["truth"].items()
    }
    assert merged["metrics"] == bt.evaluate(whole["scores"], gains)
    assert merged["metrics"]["dte-fisher"]["average"]["ndcg"]["n"] == 2  # one per space seed
    (tmp_path / "parts").mkdir()
    for name, part in parts.items():
        (tmp_path / "parts" / f"transfer.{name}.json").write_text(json.dumps(part))
    assert bt.Transfer().main(["--merge", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "transfer.md").read_text()
    assert "## Parts of this run" in text and "| s1 | embeddings | 1 |" in text
    assert "Partial result" not in text and "| logme-16 |" in text
    written = json.loads((tmp_path / "transfer.json").read_text())
    assert isinstance(written["scores"], str)  # the scores stay in the parts
    assert written["metrics"]["dte-fisher"]["average"]["ndcg"]["n"] == 2
    assert bt.Transfer().main(["--render", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "transfer.md").read_text() == text


def test_merged_markdown_is_made_from_the_rounded_summary(tmp_path):
    """A metric on a rounding boundary: 0.00149999999 shows as 0.001, but the JSON keeps
    it to 6 decimals (0.0015, shown as 0.002); the merged table must be the one --render
    makes from the JSON."""

    def table(result, env, settings, stages):
        return f"ndcg {result['metrics']['m']['ndcg']:.3f}\n"

    merged = {"metrics": {"m": {"ndcg": 0.00149999999}}, "scores": {}, "settings": {}}
    merged["stages_seconds"] = {}
    assert write_merged("t", merged, table, tmp_path) == 0
    written = json.loads((tmp_path / "t.json").read_text())
    assert written["metrics"]["m"]["ndcg"] == 0.0015
    assert (tmp_path / "t.md").read_text() == table(written, None, None, None)


def test_parts_that_do_not_belong_together_are_refused():
    _, parts = _parts()
    parts["s1"]["settings"]["space_seeds"] = [0]
    parts["s1"]["scores"] = parts["s0"]["scores"]
    with pytest.raises(SystemExit, match="part s1 repeats dte-prefix:maxsim / t1 / key 0"):
        bt.merge_parts(parts)
    _, parts = _parts()
    parts["s1"]["settings"]["seeds"] = [0]
    with pytest.raises(SystemExit, match="part s1 differs from part truth in seeds"):
        bt.merge_parts(parts)
    _, parts = _parts()
    parts["s0"]["complete"] = False
    with pytest.raises(SystemExit, match="part s0 is partial"):
        bt.merge_parts(parts)
    _, parts = _parts()
    parts["s1"]["targets_done"] = ["t1"]  # an --only part: space seed 1 misses t2
    for by_target in parts["s1"]["scores"].values():
        by_target.pop("t2")
    merged = bt.merge_parts(parts)
    assert not merged["complete"] and merged["settings"]["space_seeds"] == [0, 1]
    with pytest.raises(SystemExit, match="name it with --part"):
        parse_args(["--rows", "truth"])
