"""The kinds of task embedding (`Kind`), and the words that name them.

A `Kind` is a `str`: its value is what the store keeps (``dataset``, ``model``,
``prompted-lm``), so a kind read back from a store (a plain string) equals its member.
`Kind.word` is what the command line says and takes (``prompt`` for ``prompted-lm``),
`Kind.noun` how a sentence names it (``data set``), and `Kind.parse` reads either.

The order of the members is part of the vector index's file format (a row's kind is stored
as its position, `Kind.code`): append a new kind, never reorder.
"""

from __future__ import annotations

from enum import Enum


class Kind(str, Enum):
    DATASET = "dataset"
    MODEL = "model"
    PROMPTED_LM = "prompted-lm"

    # printed and formatted as the stored value (as `enum.StrEnum`, which Python 3.10 lacks)
    __str__ = str.__str__
    __format__ = str.__format__

    @property
    def word(self) -> str:
        """The command line's word: ``dataset``, ``model`` or ``prompt``."""
        return "prompt" if self is Kind.PROMPTED_LM else self.value

    @property
    def noun(self) -> str:
        """How a sentence names it: ``data set``, ``model``, ``prompt``."""
        return "data set" if self is Kind.DATASET else self.word

    @property
    def code(self) -> int:
        """Its position among the kinds (the vector index keeps a row's kind as this)."""
        return list(Kind).index(self)

    @classmethod
    def parse(cls, text: str) -> Kind:
        """A kind from its stored value or its word (``prompt``, ``data-set`` too), in any
        case; `ValueError` naming the words otherwise."""
        key = str(text).strip().lower().replace(" ", "-")
        for kind in cls:
            if key in (kind.value, kind.word) or key == kind.noun.replace(" ", "-"):
                return kind
        raise ValueError(f"use one of {', '.join(k.word for k in cls)} (got {text!r})")


#: every kind; a plain string is in it when it is a kind's stored value
KINDS = tuple(Kind)
