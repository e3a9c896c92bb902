"""The benchmark harness (benchmarks.harness): caching, metric bundles, summaries and result
files; the prompt benchmark's data helpers."""

import json
import math

import numpy as np
import pytest

import benchmarks.prompt_selection as bench
from benchmarks.harness.cache import cache_key, cached_embedding, cached_json
from benchmarks.harness.provenance import environment, provenance_markdown
from benchmarks.harness.results import write_results
from benchmarks.harness.scores import mean_std, ranking_metrics
from benchmarks.harness.stages import Stages
from benchmarks.harness.tables import bold_best, fmt


def test_cached_json_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("FUTE_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"accuracy": 0.75}

    key = cache_key("x", 1, [2, 3])
    assert cached_json("test", key, compute) == {"accuracy": 0.75}
    assert cached_json("test", key, compute) == {"accuracy": 0.75}
    assert len(calls) == 1
    assert cache_key("x", 1, [2, 3]) == key != cache_key("x", 1, [3, 2])


def test_ranking_metrics_bundle_and_summary():
    m = ranking_metrics(
        [3, 2, 1], [0.9, 0.5, 0.1], ["ndcg", "ndcg@2", "rho", "regret@1", "spearman", "kendall"]
    )
    assert m == pytest.approx(
        {"ndcg": 1, "ndcg@2": 1, "rho": 1, "regret@1": 0, "spearman": 1, "kendall": 1}
    )
    with pytest.raises(ValueError, match="unknown metric"):
        ranking_metrics([1, 2], [1, 2], ["auc"])
    s = mean_std([1.0, 2.0, 3.0, float("nan")])
    assert s == pytest.approx({"mean": 2.0, "std": 1.0, "n": 3})
    assert fmt(s) == "2.000 ± 1.000"
    assert fmt(mean_std([0.5])) == "0.500"
    assert fmt(mean_std([])) == "-"
    assert bold_best([{"mean": 2.0}, {"mean": 1.0}], "regret@1") == [False, True]
    assert bold_best([{"mean": 2.0}, {"mean": 1.0}], "ndcg") == [True, False]


def test_write_results_records_provenance(tmp_path):
    env = environment()
    assert env["versions"]["fute"] != "not installed"
    assert "python" in env["command"] or "pytest" in env["command"]
    stages = Stages()
    with stages("step"):
        pass
    md = provenance_markdown(env, {"cap": 3}, stages)
    json_path, md_path = write_results(
        "demo", {"env": env, "value": math.pi}, "# t\n\n" + md, tmp_path
    )
    data = json.loads(json_path.read_text())
    assert data["value"] == pytest.approx(math.pi) and "finished" in data
    text = md_path.read_text()
    assert "cap=3" in text and env["git"]["commit"][:12] in text


def test_prompt_benchmark_keeps_truth_and_dte_examples_apart():
    # the UCI imdb set has only 100 + 101 held-out examples: 299 come from train
    data, dte, splits = bench.eval_and_dte_sets("sentiment-imdb", 500, 1000)
    assert len(data) == 500 and len(dte) == 1000 - 201 - 299
    assert "train" in splits["eval"]
    assert not set(data.texts) & set(dte.texts)
    data, dte, splits = bench.eval_and_dte_sets("sentiment-rotten-tomatoes", 300, 50)
    assert (len(data), len(dte), splits["eval"]) == (300, 50, "test+dev")
    assert not set(data.texts) & set(dte.texts)


def test_prompt_benchmark_evaluation_averages_per_seed():
    truth = {
        ds: {
            "prompt_ids": ["a", "b", "c"],
            "prompts": {
                p: {"accuracy": acc, "macro_f1": acc}
                for p, acc in zip("abc", (0.9, 0.6, 0.5), strict=True)
            },
        }
        for ds in ("d1", "d2")
    }
    scores = {
        "perfect": {"d1": {"-": [3, 2, 1]}, "d2": {"-": [3, 2, 1]}},
        "seeded": {"d1": {0: [3, 2, 1], 1: [1, 2, 3]}, "d2": {0: [3, 2, 1], 1: [3, 2, 1]}},
    }
    ev = bench.evaluate(scores, truth)["accuracy"]
    assert ev["perfect"]["average"]["ndcg"] == {"mean": 1.0, "std": 0.0, "n": 1}
    assert ev["perfect"]["average"]["regret@1"]["mean"] == 0.0
    # seed 1 reverses d1: regret@1 = 0.4 on d1, 0 on d2 -> per-seed averages 0 and 0.2
    assert ev["seeded"]["average"]["regret@1"]["mean"] == pytest.approx(0.1)
    assert ev["seeded"]["average"]["regret@1"]["n"] == 2
    assert ev["seeded"]["per_dataset"]["d1"]["spearman"]["mean"] == pytest.approx(0.0)


def test_prompt_benchmark_word_cap_cuts_texts_and_pairs_only():
    from fute.core.examples import Examples

    data = Examples.from_labels(
        ["one two three four", "short"], ["a", "b"], text_pairs=["x y z", "p"], name="t"
    )
    cut = bench.clip_words(data, 2)
    assert cut.texts == ["one two", "short"] and cut.text_pairs == ["x y", "p"]
    assert cut.labels == data.labels and cut.label_names == data.label_names
    assert bench.clip_words(data, 0) is data


def test_cached_embedding_keeps_extras(tmp_path, monkeypatch):
    from fute.core.embedding import TaskEmbedding

    monkeypatch.setenv("FUTE_CACHE", str(tmp_path))
    extras = {
        "pool_answers": np.array([[0.2, 0.8], [0.6, 0.4]], dtype=np.float32),
        "answer_labels": np.array(["negative", "positive"]),
        "pool_items": np.array([7, 9], dtype=np.uint64),
    }
    made = TaskEmbedding(np.arange(4.0), "space", "dataset", "d", {"a": 1}, extras=extras)
    calls = []

    def compute():
        calls.append(1)
        return made

    first = cached_embedding("key-with-extras", compute)
    again = cached_embedding("key-with-extras", compute)
    assert len(calls) == 1 and first is made
    np.testing.assert_array_equal(again.vector, made.vector)
    assert again.meta == {"a": 1} and set(again.extras) == set(extras)
    for name, value in extras.items():
        np.testing.assert_array_equal(again.extras[name], value)
        assert again.extras[name].dtype == value.dtype
    plain = TaskEmbedding(np.ones(3), "space", "dataset", "p", {})
    assert cached_embedding("key-plain", lambda: plain).extras == {}
    assert cached_embedding("key-plain", lambda: plain).extras == {}
