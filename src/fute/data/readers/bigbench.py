"""BIG-bench task files (task.json): the label with the highest target score, and the
input cut out of the task's question template.

The BIG-bench sets came from the `bigbench==1.0.0` sdist, which the registry no longer
serves; they are now read from the BIG-bench repository's task files when online.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from fute.core.errors import DataError
from fute.data.readers.common import Paths, Rows, finish, reader

# --- BIG-bench task.json ----------------------------------------------------------------


def bigbench_examples(path: Path) -> list[dict]:
    return json.loads(path.read_text("utf-8"))["examples"]


def _best_label(example: dict) -> str | None:
    scores = example.get("target_scores")
    if not scores:
        target = example.get("target")
        return target if isinstance(target, str) else None
    top = max(scores.values())
    winners = [k for k, v in scores.items() if v == top]
    return winners[0] if len(winners) == 1 and top > 0 else None


InputParser = Callable[[str], "str | tuple[str, str] | None"]


@reader("bigbench_task")
def bigbench_task(paths: Paths, parser: str | None = None, labels: dict | None = None) -> Rows:
    """Rows of one BIG-bench task: the input (parsed into one text or a pair) and the
    label with the highest target score, renamed through `labels` where given."""
    parse = PARSERS[parser] if parser else None
    task = paths[0].parent.name
    texts, pairs, out = [], [], []
    for ex in bigbench_examples(paths[0]):
        label = _best_label(ex)
        parsed = parse(ex["input"]) if parse else ex["input"]
        if parsed is None or label is None:
            continue
        if isinstance(parsed, tuple):
            texts.append(parsed[0])
            pairs.append(parsed[1])
        else:
            texts.append(parsed)
        out.append(labels.get(label, label) if labels else label)
    if pairs and len(pairs) != len(texts):
        raise DataError(f"BIG-bench {task}: the input parser mixed single texts and pairs")
    return finish(texts, out, pairs=pairs or None)


def _between(pattern: str) -> InputParser:
    regex = re.compile(pattern, re.S)

    def parse(text: str) -> tuple[str, str] | str | None:
        m = regex.search(text)
        if m is None:
            return None
        groups = [g.strip() for g in m.groups()]
        return (groups[0], groups[1]) if len(groups) == 2 else groups[0]

    return parse


# Input parsers: cut the task's question template off, keep what a classifier would see.
PARSERS: dict[str, InputParser] = {
    "vitaminc": _between(r"^(.*)\nClaim:\s*(.*)$"),
    "presuppositions": _between(
        r"Sentence 1:\s*(.*?)\s*\nSentence 2:\s*(.*?)\s*(?:\n\s*The answer is:.*)?$"
    ),
    "epistemic": _between(r"^Premise:\s*(.*?)\s*Hypothesis:\s*(.*)$"),
    "analytic": _between(r"^(.*?[.!?])\s+(So,? .*)$"),
    "metaphor": _between(r"^(.*?)\s*<-->\s*(.*)$"),
    "claim": _between(
        r"the following claim was made:\s*(.*?)\s*(?:\nQ: Was this claim true or false\?)?\s*$"
    ),
    "utterance": _between(r"^\s*Utterance:\s*(.*)$"),
    "fallacy": _between(r"as appropriate\.\s*(.*)$"),
    "syllogism": _between(
        r'^\s*"?(.*?)"?\s*\n\s*Is the argument, given the explicitly stated premises.*$'
    ),
    "entailed_polarity": _between(r"^Fact:\s*(.*?)\s*Q:\s*(.*)$"),
}
