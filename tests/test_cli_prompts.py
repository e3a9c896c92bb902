"""`fute prompts list|show`: the shipped prompt library and user prompt files from the CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fute.cli import app

runner = CliRunner()


def test_list_json_covers_both_tasks_with_hashes():
    result = runner.invoke(app, ["prompts", "list", "--json"])
    assert result.exit_code == 0, result.output
    prompts = json.loads(result.stdout)
    tasks = [p["task"] for p in prompts]
    assert tasks.count("sentiment") >= 13 and tasks.count("nli") >= 13
    assert all(len(p["hash"]) == 64 and p["verbalizer"] for p in prompts)


def test_show_renders_a_pair_prompt_and_a_user_file(tmp_path, monkeypatch):
    result = runner.invoke(
        app, ["prompts", "show", "nli-premise-hypothesis", "--text", "A.", "--pair", "B.", "--json"]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert "A." in shown["rendered"] and "B." in shown["rendered"]
    mine = tmp_path / "mine.json"
    mine.write_text(
        json.dumps(
            {
                "prompts": [
                    {
                        "id": "my-prompt",
                        "task": "sentiment",
                        "template": "Is this nice? {{ text }} Answer:",
                        "verbalizer": {"negative": ["no"], "positive": ["yes"]},
                    }
                ]
            }
        )
    )
    monkeypatch.setenv("FUTE_PROMPTS", str(tmp_path))
    listed = json.loads(runner.invoke(app, ["prompts", "list", "--json"]).stdout)
    assert "my-prompt" in [p["id"] for p in listed]
    result = runner.invoke(app, ["prompts", "show", str(mine), "--text", "Lovely."])
    assert result.exit_code == 0 and "Is this nice? Lovely. Answer:" in result.stdout
