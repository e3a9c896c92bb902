"""The rows of the prompt-selection benchmark (issue 12): names, costs, few-label draws,
pool priors, fusion, the pre-registered default, reserved targets and the rendering."""

import json
from pathlib import Path

import numpy as np
import pytest

import benchmarks.prompt_selection as bp
from benchmarks.harness.parts import rounded, write_part
from benchmarks.harness.provenance import environment
from benchmarks.harness.scores import complete_scores, draw_indices
from benchmarks.harness.selection import read_preregistered
from benchmarks.harness.stages import Stages
from fute.evaluation.label_baselines import few_label_accuracies


def parse_args(argv):
    return bp.PromptSelection().parse_args(argv)


def test_row_names_round_trip_and_keep_the_old_rows():
    assert bp.fute_row("fisher") == "fute-fisher"  # the old cosine row keeps its name
    assert bp.fute_row("prefix", "maxsim") == "fute-prefix:maxsim"
    assert bp.fute_row("fisher", "centred-cosine", 16) == "fute-fisher-k16:centred-cosine"
    fused = bp.fused_row("fute-fisher-k16:centred-cosine", "pool-cbm-mi")
    assert fused == "rrf(fute-fisher-k16:centred-cosine, pool-cbm-mi)"
    assert bp.parse_row(fused) == {
        "kind": "fused",
        "method": "fisher",
        "similarity": "centred-cosine",
        "k": 16,
        "prior": "pool-cbm-mi",
        "inner": "fute-fisher-k16:centred-cosine",
        "variant": None,
    }
    assert bp.parse_row("few-label-32") == {"kind": "few-label", "k": 32}
    order = bp.row_order()
    old = ["fute-fisher", "fute-prefix", "mi", "global-entropy", "local-entropy", "mdl"]
    old += ["zps-logprob", "zps-prob", "zps-vote", "perplexity", "random"]
    assert set(old) <= set(order) and len(order) == len(set(order))
    assert "fute-fisher:task2vec" in order and "fute-fisher:maxsim" not in order
    assert "fute-prefix:maxsim" in order and "fute-prefix:task2vec" not in order
    assert {"pool-mi", "pool-cbm-mi", "cbm-mi", "few-label-8", "few-label-64"} <= set(order)
    assert "fute-prefix-k64:behaviour" in order


def test_variant_rows_round_trip_and_sit_in_their_own_table():
    row = bp.fute_row("fisher", "behaviour", variant="anchor")
    assert row == "fute-fisher+anchor:behaviour"
    assert bp.parse_row(row) == {
        "kind": "fute",
        "method": "fisher",
        "similarity": "behaviour",
        "k": None,
        "variant": "anchor",
    }
    fused = bp.fused_row("fute-prefix+clip", "pool-mi")
    assert bp.parse_row(fused)["variant"] == "clip" and bp.parse_row(fused)["method"] == "prefix"
    order = bp.row_order()
    assert "fute-prefix+clip:maxsim" in order and "rrf(fute-fisher+anchor, pool-mi)" in order
    assert bp.group_of(row) == bp.G_FUTE  # zero calls: a candidate of the pre-registered rule
    assert not bp.is_main_row(row) and not bp.is_main_row(fused) and bp.is_main_row("fute-fisher")
    choice = {"similarity": "cosine", "method": "prefix", "variant": "clip", "prior": "pool-mi"}
    assert bp.default_rows(choice) == ["rrf(fute-prefix+clip, pool-mi)"]
    args = parse_args([])
    assert args.variants == ["anchor", "clip"] and parse_args(["--variants"]).variants == []


def test_groups_and_costs():
    assert bp.group_of("fute-prefix:maxsim") == bp.G_FUTE
    assert bp.group_of("rrf(fute-fisher, pool-mi)") == bp.G_FUTE
    assert bp.group_of("pool-cbm-mi") == bp.G_FREE == bp.group_of("random")
    assert bp.group_of("cbm-mi") == bp.G_CALLS == bp.group_of("perplexity")
    assert bp.group_of("few-label-16") == bp.G_LABELS == bp.group_of("fute-fisher-k16")
    assert bp.cost_of("few-label-16", 15, 500, 100, "200") == {
        "calls": "16 x 15 = 240",
        "labels": "16",
    }
    assert bp.cost_of("fute-fisher-k64:task2vec", 15, 500, 100, "200") == {
        "calls": "0 (once: 15 x pool 200)",
        "labels": "64",
    }
    assert bp.cost_of("cbm-mi", 15, 500, 100, "200")["calls"] == "15 x 500 = 7500"
    assert bp.cost_of("perplexity", 15, 500, 100, "200")["calls"] == "15 x 100 = 1500"
    assert bp.cost_of("pool-mi", 15, 500, 100, "200") == {
        "calls": "0 (once: 15 x pool 200)",
        "labels": "0",
    }
    assert bp.cost_of("fute-prefix", 15, 500, 100, "200")["labels"] == "train split"


def test_few_label_draws_are_the_sets_the_accuracies_use():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet([1, 1], size=(3, 40))  # 3 prompts, 40 examples
    gold = rng.integers(0, 2, size=40)
    idx = draw_indices(40, 8, 5, seed=11)
    correct = probs.argmax(axis=2) == gold[None, :]
    mine = np.stack([correct[:, rows].mean(axis=1) for rows in idx])
    np.testing.assert_array_equal(mine, few_label_accuracies(probs, gold, 8, 5, 11))
    # the first draws of a longer run are the same sets (the DTEs use the first few)
    np.testing.assert_array_equal(draw_indices(40, 8, 9, seed=11)[:5], idx)
    assert bp.draw_seed("sentiment-imdb", 16) == bp.draw_seed("sentiment-imdb", 16)
    assert bp.draw_seed("sentiment-imdb", 16) != bp.draw_seed("sentiment-yelp", 16)


def test_few_label_scores_on_hand_made_answers():
    # prompt 0 always right, prompt 1 always wrong, prompt 2 says label 0 everywhere
    gold = np.array([0, 1, 0, 1])
    right = np.eye(2)[gold]
    probs = np.stack([right, 1 - right, np.tile([0.9, 0.1], (4, 1))])
    draws = bp.few_label_scores(probs, gold, k=4, draws=2, seed=0)
    assert draws == {"0": [1.0, 0.0, 0.5], "1": [1.0, 0.0, 0.5]}


def test_pool_priors_prefer_confident_varied_answers():
    varied = np.array([[0.99, 0.01], [0.01, 0.99]] * 5)
    constant = np.tile([0.99, 0.01], (10, 1))
    biased = np.array([[0.9, 0.1], [0.6, 0.4]] * 5)  # varied, but leaning to label 0
    out = bp.pool_prior_scores([varied, constant, biased])
    assert set(out) == {"pool-mi", "pool-cbm-mi"}
    assert out["pool-mi"][0] == pytest.approx(np.log(2) - 0.056, abs=1e-3)
    assert out["pool-mi"][1] == pytest.approx(0.0, abs=1e-9)
    assert out["pool-cbm-mi"][1] == pytest.approx(0.0, abs=1e-9)
    # calibration removes the lean, so the biased prompt gains against plain MI
    assert out["pool-cbm-mi"][2] > out["pool-mi"][2]


def test_fusion_uses_the_prior_of_the_same_seed():
    prior = {"0": [3.0, 2.0, 1.0], "1": [1.0, 2.0, 3.0]}
    fute = {"0": [1.0, 2.0, 3.0], "1": [1.0, 2.0, 3.0], "1/4": [3.0, 2.0, 1.0]}
    out = bp.fuse(fute, prior, k=0)
    # seed 0: ranks (3, 2, 1) and (1, 2, 3): 1/3 + 1 for the ends, 1/2 + 1/2 in the middle
    assert out["0"] == pytest.approx([4 / 3, 1.0, 4 / 3])
    assert out["1"] == pytest.approx([2 / 3, 1.0, 2.0])  # both lists agree on prompt 2
    assert out["1/4"] == pytest.approx([4 / 3, 1.0, 4 / 3])  # seed 1's prior for draw 4


def test_left_out_candidates_go_last_tied():
    scores, missing = complete_scores(4, [0, 2], [0.3, 0.9])
    assert missing == 2 and scores[0] == 0.3 and scores[2] == 0.9
    assert scores[1] == scores[3] < 0.3
    assert complete_scores(2, [], []) == ([0.0, 0.0], 2)


def test_centres_use_the_other_data_sets_and_every_prompt():
    from fute.core.embedding import TaskEmbedding

    def emb(v, kind, name):
        return TaskEmbedding(np.array(v, dtype=float), "k", kind, name, {})

    mtes = [emb([1, 0], "prompted-lm", "a"), emb([0, 2], "prompted-lm", "b")]
    others = [emb([3, 0], "dataset", "x"), emb([1, 0], "dataset", "y")]
    centres = bp.centres_for(mtes, others)
    np.testing.assert_allclose(centres["prompted-lm"], [0.5, 0.5])
    np.testing.assert_allclose(centres["dataset"], [1.0, 0.0])
    assert "dataset" not in bp.centres_for(mtes, others[:1])  # one vector: no centre


def test_evaluate_summarises_draws_like_seeds():
    truth = {
        "d1": {
            "prompt_ids": ["p", "q"],
            "prompts": {
                "p": {"accuracy": 0.9, "macro_f1": 0.9},
                "q": {"accuracy": 0.5, "macro_f1": 0.4},
            },
        },
    }
    scores = {"few-label-8": {"d1": {"0": [1.0, 0.0], "1": [0.0, 1.0]}}}
    ev = bp.evaluate(scores, truth)["accuracy"]["few-label-8"]["average"]
    assert ev["regret@1"] == pytest.approx({"mean": 0.2, "std": np.sqrt(0.08), "n": 2})
    assert ev["ndcg"]["n"] == 2


def test_default_rows_from_the_preregistered_choice(tmp_path):
    assert bp.default_rows(None) == []
    assert bp.default_rows("fute-prefix:maxsim") == ["fute-prefix:maxsim"]
    choice = {"similarity": "behaviour", "method": None, "prior": "pool-cbm-mi", "fusion": "rrf"}
    assert bp.default_rows(choice) == [
        "rrf(fute-fisher:behaviour, pool-cbm-mi)",
        "rrf(fute-prefix:behaviour, pool-cbm-mi)",
    ]
    assert bp.default_rows({"similarity": "maxsim"}, k=16) == ["fute-prefix-k16:maxsim"]
    assert read_preregistered(tmp_path / "none.json")["default"] is None
    shipped = read_preregistered()  # the repository's file: chosen once, with provenance
    assert bp.default_rows(shipped["default"]) == [shipped["default"]]
    assert shipped["choice"]["default"] == shipped["default"]
    assert len(shipped["commit"]) == 40 and shipped["date"] == "2026-12-02"
    assert "--dev" in shipped["rule"] and shipped["rule_written"] == "2026-12-02"


def test_dev_run_is_one_seed_with_every_row():
    args, full = parse_args(["--dev"]), parse_args([])
    assert args.seeds == [0] and args.few_label_ks == full.few_label_ks
    assert args.dte_ks == full.dte_ks and args.ppl_examples == full.ppl_examples > 0
    assert args.out.parts[-3:] == ("benchmarks", "results", "dev")
    probs = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.5, 0.5], [0.6, 0.4]]])
    rows = bp.baseline_scores(probs, [])  # no perplexity asked for: no perplexity row
    assert "perplexity" not in rows and len(rows["mi"]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["--sentiment-sets", "sentiment-imdb", "sentiment-finefood"],
        ["--sentiment-sets", "sentiment-pang-lee"],
        ["--sentiment-sets", "sentiment-pang-lee-reviews", "--quick"],
        ["--only", "sentiment-pang-lee"],
        ["--pair-sets", "pair-boolq", "pair-privacy-policy"],
        ["--pair-sets", "pair-consumer-contracts"],
        ["--sentiment-sets", "hedge-conll2010"],
        ["--sentiment-sets", "party-debates2016", "--dev"],
    ],
)
def test_reserved_data_sets_are_refused_as_targets(argv):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    message = str(info.value.code)
    assert message.startswith("error: ") and "reserved" in message and "\n" not in message


def test_main_refuses_a_reserved_target_before_any_work(capsys):
    with pytest.raises(SystemExit, match="reserved"):
        bp.PromptSelection().main(["--pair-sets", "--sentiment-sets", "sentiment-finefood"])


def _tiny_result(default=None):
    truth = {
        "sentiment-x": {
            "task": "sentiment",
            "n_eval": 4,
            "n_dte": 8,
            "splits": {},
            "labels": ["negative", "positive"],
            "majority_rate": 0.5,
            "prompt_ids": ["p", "q", "r"],
            "prompts": {
                "p": {"accuracy": 0.9, "macro_f1": 0.9},
                "q": {"accuracy": 0.6, "macro_f1": 0.5},
                "r": {"accuracy": 0.5, "macro_f1": 0.3},
            },
        }
    }
    scores = {
        "fute-prefix:maxsim": {"sentiment-x": {"0": [0.9, 0.5, 0.1]}},
        "fute-fisher": {"sentiment-x": {"0": [0.1, 0.5, 0.9]}},
        "mi": {"sentiment-x": {"-": [0.3, 0.2, 0.1]}},
        "few-label-8": {"sentiment-x": {"0": [1.0, 0.5, 0.5], "1": [0.5, 1.0, 0.5]}},
        "fute-prefix-k8:maxsim": {"sentiment-x": {"0/0": [0.9, 0.5, 0.1]}},
        "fute-fisher+anchor": {"sentiment-x": {"0": [0.8, 0.5, 0.2]}},
        "fute-fisher-k8+anchor": {"sentiment-x": {"0/0": [0.8, 0.5, 0.2]}},
    }
    settings = {
        "datasets": ["sentiment-x"],
        "n_prompts": {"sentiment": 3},
        "seeds": [0],
        "max_examples": 4,
        "few_label_ks": [8],
        "dte_ks": [8],
    }
    env = environment()
    result = {
        "default": default,
        "preregistered": {"default": default, "commit": "abc", "date": "2026-01-01"},
        "default_rows": bp.default_rows(default),
        "environment": env,
        "settings": settings,
        "truth": truth,
        "scores": scores,
        "metrics": bp.evaluate(scores, truth),
        "cost": {m: bp.cost_of(m, 3, 4, 4, "16")["calls"] for m in scores},
        "stages_seconds": {"x": 1.0},
    }
    return result


def test_markdown_marks_the_default_and_render_rebuilds_it(tmp_path):
    result = _tiny_result({"similarity": "maxsim", "method": "prefix"})
    (tmp_path / "prompt_selection.json").write_text(json.dumps(result))
    assert bp.PromptSelection().render(tmp_path) == 0
    text = (tmp_path / "prompt_selection.md").read_text()
    assert "| fute-prefix:maxsim ★ |" in text and "| fute-fisher |" in text
    assert "The same 8 labels" in text and "fute-prefix-k8:maxsim" in text
    assert "ndcg 1.000 vs mi" in text and "met by" in text
    assert "Pre-registered default (★)" in text
    assert "clipped pools" not in text  # no +clip row in this result
    variants = text.split("## Pool-anchored DTEs (issue 12")[1].split("\n## ")[0]
    assert "| fute-fisher+anchor |" in variants and "| fute-fisher |" in variants
    assert "fute-fisher-k8+anchor" not in variants  # in the table of the same 8 labels
    same = text.split("## The same 8 labels")[1].split("\n## ")[0]
    assert "| fute-fisher-k8+anchor |" in same
    main_table = text.split("## Averaged over data sets, truth = accuracy")[1].split("\n## ")[0]
    assert "fute-fisher+anchor" not in main_table
    plain = bp.markdown(_tiny_result(), result["environment"], result["settings"], Stages())
    assert " ★ |" not in plain and "none yet" in plain and "For orientation only" in plain


def _part(name: str, ds: str, accuracies, scores_by_row: dict, **settings) -> dict:
    truth = {
        ds: {
            "n_eval": 4,
            "majority_rate": 0.5,
            "prompt_ids": ["p", "q", "r"],
            "prompts": {
                p: {"accuracy": a, "macro_f1": a} for p, a in zip("pqr", accuracies, strict=True)
            },
        }
    }
    scores = {row: {ds: by_key} for row, by_key in scores_by_row.items()}
    env = environment()
    return {
        "benchmark": "prompt-selection",
        "default": "fute-fisher+anchor",
        "preregistered": {"default": "fute-fisher+anchor"},
        "default_rows": ["fute-fisher+anchor"],
        "environment": env,
        "settings": {
            "datasets": [ds],
            "all_datasets": ["sentiment-x", "nli-y"],
            "n_prompts": {ds.split("-")[0]: 3},
            "seeds": [0, 1],
            "max_examples": 4,
            "ppl_examples": 4,
            "space_hparams": {"pool_size": 16},
            "part": name,
            **settings,
        },
        "complete": True,
        "datasets_done": [ds],
        "truth": truth,
        "scores": scores,
        "few_label": {ds: {}},
        "metrics": bp.evaluate(scores, truth),
        "notes": [f"{ds}: a note"],
        "stages_seconds": {"load data": 1.0},
        "finished": "2026-12-02T16:00:00+00:00",
    }


def _two_parts(**second_settings):
    a = _part(
        "sentiment",
        "sentiment-x",
        (0.9, 0.6, 0.5),
        {"fute-fisher+anchor": {"0": [3, 2, 1], "1": [1, 2, 3]}, "mi": {"-": [3, 1, 2]}},
    )
    b = _part(
        "nli",
        "nli-y",
        (0.4, 0.7, 0.5),
        {"fute-fisher+anchor": {"0": [1, 3, 2], "1": [1, 3, 2]}, "mi": {"-": [2, 3, 1]}},
        **second_settings,
    )
    return {"sentiment": a, "nli": b}


def test_parts_merge_into_the_result_of_one_run(tmp_path):
    parts = _two_parts()
    merged = bp.merge_parts(parts)
    assert merged["complete"] and merged["datasets_done"] == ["sentiment-x", "nli-y"]
    truth = {**parts["sentiment"]["truth"], **parts["nli"]["truth"]}
    scores = {
        row: {**parts["sentiment"]["scores"][row], **parts["nli"]["scores"][row]}
        for row in ("fute-fisher+anchor", "mi")
    }
    assert merged["metrics"] == bp.evaluate(scores, truth)
    # seed 0 is perfect on both sets; seed 1 reverses sentiment-x: averaged per seed first
    ev = merged["metrics"]["accuracy"]["fute-fisher+anchor"]["average"]["regret@1"]
    assert ev["mean"] == pytest.approx(0.1) and ev["n"] == 2
    assert merged["settings"]["n_prompts"] == {"sentiment": 3, "nli": 3}
    assert set(merged["parts"]) == {"sentiment", "nli"} and merged["notes"][1] == "nli-y: a note"
    assert merged["cost"]["mi"] == "3 x 4 = 12"
    (tmp_path / "parts").mkdir()
    for name, part in parts.items():
        (tmp_path / "parts" / f"prompt_selection.{name}.json").write_text(json.dumps(part))
    assert bp.PromptSelection().main(["--merge", "--out", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "prompt_selection.json").read_text())
    assert written["complete"] and written["default"] == "fute-fisher+anchor"
    text = (tmp_path / "prompt_selection.md").read_text()
    assert "## Parts of this run" in text and "| nli | nli-y |" in text
    assert "fute-fisher+anchor ★" in text
    # the merged JSON is the summary: metrics to 6 decimals, the scores left in the parts
    assert isinstance(written["scores"], str) and "parts" in written["scores"]
    assert written["metrics"] == rounded(json.loads(json.dumps(merged["metrics"])), 6)
    assert bp.PromptSelection().main(["--render", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "prompt_selection.md").read_text() == text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seeds": [0]}, "differs from part sentiment in seeds"),
        ({"datasets": ["sentiment-x"]}, "is a target of parts"),
    ],
)
def test_parts_that_do_not_belong_together_are_refused(change, message):
    parts = _two_parts(**change)
    if "datasets" in change:  # the same target in both parts
        parts["nli"]["truth"] = parts["sentiment"]["truth"]
    with pytest.raises(SystemExit, match=message):
        bp.merge_parts(parts)
    parts = _two_parts()
    parts["nli"]["complete"] = False
    with pytest.raises(SystemExit, match="part nli is partial"):
        bp.merge_parts(parts)
    with pytest.raises(SystemExit, match="no parts"):
        bp.PromptSelection().merge(Path("/nonexistent-fute-parts"))


def test_anchored_rows_from_k_labels_name_the_defaults_own_space():
    row = bp.fute_row("fisher", "cosine", 16, "anchor")
    assert row == "fute-fisher-k16+anchor" and row in bp.row_order()
    assert bp.parse_row(row) == {
        "kind": "fute",
        "method": "fisher",
        "similarity": "cosine",
        "k": 16,
        "variant": "anchor",
    }
    assert bp.group_of(row) == bp.G_LABELS and not bp.is_main_row(row)
    assert bp.k_row_of("fute-fisher+anchor", 16) == row
    assert bp.k_row_of("mi", 16) is None and bp.k_row_of(row, 64) is None
    args = parse_args(["--anchor-methods", "fisher", "--dte-k-variants", "plain", "anchor"])
    assert bp.k_variants(args, "fisher") == [None, "anchor"]
    assert bp.k_variants(args, "prefix") == [None]
    assert bp.k_variants(parse_args([]), "fisher") == [None]  # the old rows by default


def test_fused_rows_are_derived_not_stored_in_a_part(tmp_path):
    scores = {
        "fute-fisher+anchor": {"d": {"0": [0.9, 0.1, 0.5], "1": [0.1, 0.9, 0.5]}},
        "pool-mi": {"d": {"0": [0.2, 0.1, 0.9], "1": [0.9, 0.2, 0.1]}},
        "mi": {"d": {"-": [1.0, 2.0, 3.0]}},
    }
    fused = bp.with_fused(scores)
    row = "rrf(fute-fisher+anchor, pool-mi)"
    assert set(fused) == {*scores, row}  # only FUTE rows, only priors that are there
    assert fused[row]["d"] == bp.fuse(scores["fute-fisher+anchor"]["d"], scores["pool-mi"]["d"])
    assert bp.with_fused(fused) == fused  # stored fused rows are made again, not kept
    part = _two_parts()["sentiment"]
    write_part("prompt_selection", "s", part, "# part\n", tmp_path)
    written = (tmp_path / "parts" / "prompt_selection.s.json").read_text()
    assert "metrics" not in json.loads(written) and written.count("\n") == 1  # compact
    assert bp.PromptSelection().render(tmp_path, "s") == 0  # metrics derived again
    assert "fute-fisher+anchor ★" in (tmp_path / "parts" / "prompt_selection.s.md").read_text()
