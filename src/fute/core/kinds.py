"""The kinds of task embedding, and the words that name them.

The order of `KINDS` is part of the vector index's file format (a row's kind is stored as
its position here): append a new kind, never reorder.
"""

KINDS = ("dataset", "model", "prompted-lm")

#: what a user may type for a kind (CLI `--kind`, `fute.recommend(kind=...)`): stored kind
KIND_ALIASES = {
    "dataset": "dataset",
    "model": "model",
    "prompt": "prompted-lm",
    "prompted-lm": "prompted-lm",
}
