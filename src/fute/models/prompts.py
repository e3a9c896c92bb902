"""Prompts: a Jinja2 template, a verbalizer, and how the answer is asked for.

A prompt file is JSON: one prompt object, or a list of them, or ``{"prompts": [...]}``.
A prompt object::

    {"id": "sst-question-end", "task": "sentiment",
     "template": "Review: {{ text }}\\nIs this review positive or negative? Answer:",
     "verbalizer": {"negative": ["negative", "bad"], "positive": ["positive", "good"]},
     "chat": false, "system": null, "answer_prefix": " "}

* ``template`` sees ``text`` and, for pair tasks, ``text_pair``; it must end where the
  answer starts (no trailing space: the space belongs to the answer word's token). Each
  text is cut to ``MAX_TEXT_CHARS`` (16,000) characters before it is filled in.
* ``verbalizer`` maps each label to one or more answer words; a word may be several tokens.
* ``chat: true`` wraps the rendered text as the user turn of the LM's chat template (with
  ``system`` as the system message when given) and the answer is the assistant's first
  words; ``answer_prefix`` (default ``" "`` for plain prompts, ``""`` for chat) is put
  before every answer word.

The shipped library lives in ``fute/prompts/<task>.json``; users add files or folders
with ``load_prompt(path)`` or the ``FUTE_PROMPTS`` environment variable (paths separated
by ``os.pathsep``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import jinja2
import jinja2.meta

from fute.core.errors import ModelError
from fute.core.examples import canonical_labels, normalise_label
from fute.models.protocol import Input

TASK_ARITY = {"sentiment": 1, "nli": 2, "pair": 2}
# A prompt is filled with at most this many characters of each text (~4k tokens of English
# text, half of SmolLM2's context): a huge cell must not reach the LM whole.
MAX_TEXT_CHARS = 16_000
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
# The JSON type each prompt field must have, and how to say it in an error message.
_FIELD_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "id": (str, "a string"),
    "task": (str, "a string"),
    "template": (str, "a string"),
    "verbalizer": (dict, "an object mapping each label to answer words"),
    "chat": (bool, "true or false"),
    "system": ((str, type(None)), "a string or null"),
    "answer_prefix": ((str, type(None)), "a string or null"),
    "description": (str, "a string"),
}


def _json_kind(value: object) -> str:
    """How a JSON value reads in an error message: its JSON type and a short excerpt."""
    kinds = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    if value is None:
        return "null"
    kind = kinds.get(type(value), "a number" if isinstance(value, int | float) else "a value")
    if isinstance(value, list | dict):
        return kind
    return f"{kind} ({json.dumps(value)[:40]})"


@dataclass(frozen=True)
class Prompt:
    id: str
    task: str
    template: str
    verbalizer: dict[str, tuple[str, ...]]
    chat: bool = False
    system: str | None = None
    answer_prefix: str | None = None
    description: str = ""
    source: str = field(default="", compare=False)

    @classmethod
    def from_dict(cls, d: dict, source: str = "") -> Prompt:
        if not isinstance(d, dict):
            where = "a prompt" + (f" in {source}" if source else "")
            raise ModelError(
                f"{where} is {_json_kind(d)}, not an object; write each prompt as a JSON "
                'object with "id", "task", "template" and "verbalizer"'
            )
        shown = d.get("id", "?")
        where = f"prompt {shown if isinstance(shown, str) else '?'!r}" + (
            f" in {source}" if source else ""
        )
        missing = [k for k in ("id", "task", "template", "verbalizer") if k not in d]
        if missing:
            raise ModelError(f"{where} lacks {missing}; see fute.models.prompts for the format")
        unknown = set(d) - {f for f in cls.__dataclass_fields__ if f != "source"}
        if unknown:
            raise ModelError(f"{where} has unknown fields {sorted(unknown)}")
        for key, (kinds, wanted) in _FIELD_TYPES.items():
            if key in d and not isinstance(d[key], kinds):
                raise ModelError(
                    f"{where}: field {key!r} must be {wanted}, got {_json_kind(d[key])}"
                )
        for key in ("id", "task", "template"):
            if not d[key].strip():
                raise ModelError(f"{where}: field {key!r} is empty")
        verb = d["verbalizer"]
        if len(verb) < 2:
            raise ModelError(f"{where}: verbalizer must map at least two labels to answer words")
        words = {}
        for label, ws in verb.items():
            ws = [ws] if isinstance(ws, str) else ws
            if (
                not isinstance(ws, list | tuple)
                or not ws
                or not all(isinstance(w, str) and w.strip() for w in ws)
            ):
                raise ModelError(
                    f"{where}: verbalizer label {label!r} needs a non-empty answer word or a "
                    f"list of them, got {_json_kind(ws)}"
                )
            if normalise_label(label) in words:
                raise ModelError(f"{where}: verbalizer names label {label!r} twice")
            words[normalise_label(label)] = tuple(ws)
        prompt = cls(
            id=d["id"],
            task=d["task"],
            template=d["template"],
            verbalizer={k: words[k] for k in canonical_labels(words)},
            chat=d.get("chat", False),
            system=d.get("system"),
            answer_prefix=d.get("answer_prefix"),
            description=d.get("description", ""),
            source=source,
        )
        prompt._check(where)
        return prompt

    def _check(self, where: str) -> None:
        try:
            names = jinja2.meta.find_undeclared_variables(_ENV.parse(self.template))
        except jinja2.TemplateSyntaxError as exc:
            raise ModelError(f"{where}: template syntax error: {exc}") from None
        if "text" not in names or not names <= {"text", "text_pair"}:
            raise ModelError(
                f"{where}: template must use {{{{ text }}}} (and {{{{ text_pair }}}} for pairs) "
                f"and nothing else, found {sorted(names)}"
            )
        expected = TASK_ARITY.get(self.task)
        if expected is not None and expected != self.arity:
            raise ModelError(f"{where}: task {self.task!r} takes {expected} text(s) per input")
        if not self.chat and self.template != self.template.rstrip(" "):
            raise ModelError(f"{where}: template ends with a space; the answer word carries it")

    @cached_property
    def arity(self) -> int:
        names = jinja2.meta.find_undeclared_variables(_ENV.parse(self.template))
        return 2 if "text_pair" in names else 1

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.verbalizer)

    @property
    def prefix(self) -> str:
        if self.answer_prefix is not None:
            return self.answer_prefix
        return "" if self.chat else " "

    def render(self, x: Input) -> str:
        """The filled template (the user turn for chat prompts); each text is cut to
        `MAX_TEXT_CHARS` characters first."""
        from fute.data.text import cut

        if self.arity == 1:
            if not isinstance(x, str):
                raise ModelError(f"prompt {self.id!r} takes one text, got {type(x).__name__}")
            return _ENV.from_string(self.template).render(text=cut(x, MAX_TEXT_CHARS))
        if isinstance(x, str) or len(x) != 2:
            raise ModelError(f"prompt {self.id!r} takes a (text, text_pair) pair")
        return _ENV.from_string(self.template).render(
            text=cut(x[0], MAX_TEXT_CHARS), text_pair=cut(x[1], MAX_TEXT_CHARS)
        )

    def messages(self, x: Input) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return [*msgs, {"role": "user", "content": self.render(x)}]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        d["verbalizer"] = {k: list(v) for k, v in self.verbalizer.items()}
        return d

    def hash(self) -> str:
        """sha256 of everything that changes the LM's answers (not the id or description)."""
        d = self.to_dict()
        d.pop("id")
        d.pop("description")
        d["answer_prefix"] = self.prefix
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def _read(path: Path) -> list[Prompt]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read prompt file {path}: {exc}") from None
    items = data.get("prompts", data) if isinstance(data, dict) else data
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list) or not items:
        what = _json_kind(items) if items != [] else "an empty list"
        raise ModelError(
            f"prompt file {path} holds {what}; it must hold a prompt object, a list of them, "
            'or {"prompts": [...]}'
        )
    return [Prompt.from_dict(d, source=str(path)) for d in items]


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json"))


def prompt_files() -> list[Path]:
    """Shipped prompt files, then the files found under `FUTE_PROMPTS`."""
    shipped = resources.files("fute") / "prompts"
    files = _files(Path(str(shipped))) if shipped.is_dir() else []
    for entry in filter(None, os.environ.get("FUTE_PROMPTS", "").split(os.pathsep)):
        p = Path(entry).expanduser()
        if not p.exists():
            raise ModelError(f"FUTE_PROMPTS names {p}, which does not exist")
        files += _files(p) if p.is_dir() else [p]
    return files


def all_prompts() -> list[Prompt]:
    prompts: dict[str, Prompt] = {}
    for path in prompt_files():
        for p in _read(path):
            if p.id in prompts and prompts[p.id] != p:
                raise ModelError(
                    f"prompt id {p.id!r} is defined in {prompts[p.id].source} and {path}"
                )
            prompts[p.id] = p
    return list(prompts.values())


def load_prompts(task: str | None = None) -> list[Prompt]:
    """Every known prompt for `task` (``sentiment``, ``nli``, or a user task); all if None."""
    prompts = all_prompts()
    if task is None:
        return prompts
    found = [p for p in prompts if p.task == task]
    if not found:
        tasks = sorted({p.task for p in prompts})
        raise ModelError(f"no prompts for task {task!r}; known tasks: {tasks}")
    return found


def load_prompt(id_or_path: str | os.PathLike | Prompt) -> Prompt:
    """A prompt by id (shipped or under FUTE_PROMPTS) or from a JSON file holding exactly one."""
    if isinstance(id_or_path, Prompt):
        return id_or_path
    if not str(id_or_path).strip():
        raise ModelError("the prompt is empty; give a prompt id (`fute prompts list`) or a file")
    path = Path(id_or_path).expanduser()
    if str(id_or_path).endswith(".json") or path.is_file():
        prompts = _read(path)
        if len(prompts) != 1:
            ids = [p.id for p in prompts]
            raise ModelError(f"{path} holds {len(prompts)} prompts {ids}; give one id instead")
        return prompts[0]
    for p in all_prompts():
        if p.id == str(id_or_path):
            return p
    raise ModelError(
        f"unknown prompt {str(id_or_path)!r}; see `fute prompts list` for the ids, or give a JSON file"
    )
