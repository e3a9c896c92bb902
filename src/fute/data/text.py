"""Small text helpers shared by the readers and the pool: cleaning and sentence splits."""

from __future__ import annotations

import re

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
