"""Small text helpers: cleaning and sentence splits (readers, pool), and the cut that bounds
what a tokenizer is handed (surrogate, classifiers, prompts)."""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager

_SPACE = re.compile(r"\s+")
# A sentence ends at . ! or ? (optionally closed by a quote or bracket) followed by space
# and a capital, digit or opening quote. Good enough for shaping pool items; not a parser.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


def clean(text: object) -> str:
    """One line of text: whitespace runs collapsed, ends stripped."""
    return _SPACE.sub(" ", str(text)).strip()


def sentences(text: str) -> list[str]:
    """Split at sentence boundaries; returns [] for empty text."""
    text = clean(text)
    if not text:
        return []
    out, start = [], 0
    for m in _BOUNDARY.finditer(text):
        out.append(text[start : m.start()].strip() + text[m.start() : m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def split_pair(text: str) -> tuple[str, str] | None:
    """Cut a text into two parts at the sentence boundary nearest its middle, or None if it
    has only one sentence. Used to shape single texts into text pairs for the pool."""
    parts = sentences(text)
    if len(parts) < 2:
        return None
    total = sum(len(p) for p in parts)
    best, acc, cut = None, 0, 1
    for i in range(1, len(parts)):
        acc += len(parts[i - 1])
        gap = abs(total / 2 - acc)
        if best is None or gap < best:
            best, cut = gap, i
    return " ".join(parts[:cut]), " ".join(parts[cut:])


def chunks(text: str, max_chars: int = 600) -> list[str]:
    """Group a long document's sentences into passages of at most ~max_chars characters."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for s in sentences(text):
        if current and size + len(s) > max_chars:
            out.append(" ".join(current))
            current, size = [], 0
        current.append(s)
        size += len(s) + 1
    if current:
        out.append(" ".join(current))
    return out


# --- bounding texts before a tokenizer sees them -------------------------------------------
# Tokenizers keep per-character alignment data while they work: one 50 MB cell took 7 GB
# and four minutes to tokenise, only for all but the first `max_length` tokens to be thrown
# away. So every text is cut before tokenising, to `max_length * CHARS_PER_TOKEN`
# characters first; should the cut keep fewer than `max_length` tokens (text made mostly of
# spaces or of long unknown words), the bound grows fourfold at a time, up to
# `max_length * MAX_CHARS_PER_TOKEN` characters, beyond which a text is always cut.
CHARS_PER_TOKEN = 32
MAX_CHARS_PER_TOKEN = 1024


def cut(text: str, max_chars: int) -> str:
    """At most `max_chars` characters of `text`, ending at whitespace when there is some in
    the last quarter of the bound (so the cut does not split a word)."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    return head[:space] if space >= max_chars * 3 // 4 else head


@contextmanager
def _quiet_length_warning():
    """Hide transformers' "Token indices sequence length is longer than the specified
    maximum ..." while a piece is only counted: the inputs are cut before any model reads
    them, so that warning would be false."""
    logger = logging.getLogger("transformers.tokenization_utils_base")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def cut_for_tokenizer(tokenizer, texts: list[str], max_tokens: int) -> list[str]:
    """`texts` cut so that each still yields its first `max_tokens` tokens (see above).

    `tokenizer` is a Hugging Face tokenizer; pieces are counted without special tokens. The
    tokens a `max_tokens` truncation keeps are the same with and without the cut, as long as
    the cut keeps `max_tokens` tokens, which is checked; only texts longer than
    `max_tokens * MAX_CHARS_PER_TOKEN` characters may lose any.
    """
    out = [str(t) for t in texts]
    per_token = CHARS_PER_TOKEN
    todo = [i for i, t in enumerate(out) if len(t) > max_tokens * per_token]
    while todo:
        pieces = [cut(out[i], max_tokens * per_token) for i in todo]
        with _quiet_length_warning():  # counting only: nothing this long reaches the model
            ids = tokenizer(pieces, add_special_tokens=False)["input_ids"]
        counts = [len(x) for x in ids]
        short = []
        for i, piece, n in zip(todo, pieces, counts, strict=True):
            if n >= max_tokens or per_token >= MAX_CHARS_PER_TOKEN:
                out[i] = piece
            else:
                short.append(i)
        per_token = min(per_token * 4, MAX_CHARS_PER_TOKEN)
        todo = [i for i in short if len(out[i]) > max_tokens * per_token]
    return out
