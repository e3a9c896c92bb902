"""The prompt library: enough varied prompts per task, each renders on real examples."""

import json

import pytest

from fute.core.errors import ModelError
from fute.core.examples import Examples
from fute.models import load_prompt, load_prompts


def examples(task: str) -> Examples:
    """Catalogue examples when the data module offers them, else a few written here."""
    name = {"sentiment": "sentiment-imdb", "pair": "pair-boolq"}.get(task)
    try:
        from fute.data.catalog import load_dataset

        return load_dataset(name).sample(20, seed=0)
    except Exception:  # data not prepared on this machine: fall back to inline examples
        if task == "pair":
            return Examples.from_labels(
                ["Paris is the capital of France.", "Cats are mammals."],
                ["yes", "no"],
                text_pairs=["is paris in france", "Cats lay eggs."],
            )
        if task == "sentiment":
            return Examples.from_labels(
                ["Loved every minute.", 'A "dull" {{ mess }}.'], ["positive", "negative"]
            )
        return Examples.from_labels(
            ["The museum opened in 1998.", "Rain fell all day."],
            ["contradiction", "neutral"],
            text_pairs=["The museum opened before 1990.", "It was cold."],
        )


@pytest.mark.parametrize(
    ("task", "labels"),
    [
        ("sentiment", ("negative", "positive")),
        ("nli", ("contradiction", "entailment", "neutral")),
        ("pair", ("no", "yes")),
    ],
)
def test_library_is_large_varied_and_renders(task, labels):
    prompts = load_prompts(task)
    assert len(prompts) >= 13
    assert len({p.template for p in prompts}) == len(prompts)
    assert len({tuple(map(tuple, p.verbalizer.values())) for p in prompts}) >= 8
    assert any(p.chat for p in prompts) and any(not p.chat for p in prompts)
    # the question both before and after the input
    assert any(p.template.index("{{ text") < 5 for p in prompts)
    assert any(p.template.index("{{ text") > 20 for p in prompts)
    data = examples(task)
    for p in prompts:
        assert p.labels == labels, p.id
        for x in data.inputs():
            rendered = p.render(x)
            text = x if isinstance(x, str) else x[0]
            assert text in rendered and "{{" not in rendered.replace(text, ""), p.id


def test_user_prompt_files(tmp_path, monkeypatch):
    mine = {
        "id": "my-prompt",
        "task": "sentiment",
        "template": "{{ text }} Verdict:",
        "verbalizer": {"positive": "good", "negative": ["bad"]},
    }
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(mine))
    assert load_prompt(str(path)).verbalizer == {"negative": ("bad",), "positive": ("good",)}
    monkeypatch.setenv("FUTE_PROMPTS", str(tmp_path))
    assert "my-prompt" in {p.id for p in load_prompts("sentiment")}
    assert load_prompt("my-prompt").hash() == load_prompt(str(path)).hash()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"template": "{{ txt }} Verdict:"}, "text"),
        ({"template": "{{ text }} Verdict: "}, "ends with a space"),
        ({"verbalizer": {"positive": ["good"]}}, "at least two labels"),
        ({"colour": "blue"}, "unknown fields"),
    ],
)
def test_bad_prompt_files_are_refused(tmp_path, change, message):
    d = {
        "id": "bad",
        "task": "sentiment",
        "template": "{{ text }} Verdict:",
        "verbalizer": {"positive": "good", "negative": "bad"},
    } | change
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ModelError, match=message):
        load_prompt(str(path))


def test_hash_ignores_id_but_not_wording():
    p = load_prompts("sentiment")[0]
    assert p.hash() == type(p).from_dict(p.to_dict() | {"id": "renamed"}).hash()
    assert p.hash() != type(p).from_dict(p.to_dict() | {"template": p.template + "!"}).hash()
