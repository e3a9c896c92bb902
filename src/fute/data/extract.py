"""Take only the members we use out of a verified archive, in one streaming pass.

The BIG-bench sdist holds 1.8 GB of task files of which we read a few dozen, so archives
are streamed (never unpacked whole) and each wanted member is written next to its
siblings under `extracted/<archive id>/`. A member is written to a temporary name and
renamed, so an interrupted pass leaves only whole files behind.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from fute.data.archives import Archive, fetch, get_archive
from fute.errors import FetchError
from fute.paths import cache_subdir


def extracted_root(archive: Archive, cache: str | os.PathLike | None = None) -> Path:
    return cache_subdir("extracted", cache) / f"{archive.id}-{archive.version.replace(':', '_')}"


def extract_members(
    archive_id: str,
    members: Iterable[str],
    cache: str | os.PathLike | None = None,
    quiet: bool = True,
) -> Path:
    """Make sure every member (a path inside the archive, without its top folder, or a
    glob such as `data/*/*.json`) is extracted; fetch the archive first if needed.
    Returns the folder holding them."""
    archive = get_archive(archive_id)
    root = extracted_root(archive, cache)
    wanted = {m.strip("/") for m in members}
    globs = {m for m in wanted if "*" in m and not _glob_marker(root, m).exists()}
    missing = {m for m in wanted - globs if "*" not in m and not (root / m).is_file()}
    if not missing and not globs:
        return root
    path = fetch(archive_id, cache, quiet=quiet)
    found: set[str] = set()
    with _open_members(path) as entries:
        for name, reader in entries:
            rel = _strip_top(name)
            if rel not in missing and not any(fnmatch.fnmatchcase(rel, g) for g in globs):
                continue
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part-{os.getpid()}")
            with reader() as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, target)
            found.add(rel)
            if not globs and found >= missing:
                break
    absent = sorted(missing - found)
    absent += sorted(g for g in globs if not any(fnmatch.fnmatchcase(f, g) for f in found))
    if absent:
        raise FetchError(f"{archive.file} has no member {absent[0]!r} ({len(absent)} missing)")
    for g in globs:  # written last: a glob counts as done only after a whole pass
        _glob_marker(root, g).parent.mkdir(parents=True, exist_ok=True)
        _glob_marker(root, g).write_text(g + "\n")
    return root


def _glob_marker(root: Path, pattern: str) -> Path:
    return root / ".globs" / hashlib.sha1(pattern.encode()).hexdigest()


def _strip_top(name: str) -> str:
    """Archive-relative path without the package's top folder (`package/`, `bigbench-1.0.0/`, `./`)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if parts and (parts[0] == "package" or "-" in parts[0] and parts[0][-1].isdigit()):
        parts = parts[1:]
    return "/".join(parts)


@contextmanager
def _open_members(path: Path) -> Iterator[Iterator[tuple[str, object]]]:
    """Yield (member name, opener) pairs in archive order, for tar.gz, wheels and .deb."""
    name = path.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(path) as zf:
            yield ((i.filename, lambda i=i: zf.open(i)) for i in zf.infolist() if not i.is_dir())
    elif name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path, "r|gz") as tf:
            yield _tar_entries(tf)
    elif name.endswith(".deb"):
        if shutil.which("dpkg-deb") is None:
            raise FetchError(
                f"{name} is a Debian package and needs `dpkg-deb` to open; install dpkg"
            )
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(path)], stdout=subprocess.PIPE)
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
                yield _tar_entries(tf)
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()
    else:
        raise FetchError(f"do not know how to open {name}")


def _tar_entries(tf: tarfile.TarFile) -> Iterator[tuple[str, object]]:
    for info in tf:
        if info.isfile():

            @contextmanager
            def opener(info: tarfile.TarInfo = info) -> Iterator[IO[bytes]]:
                f = tf.extractfile(info)
                try:
                    yield f
                finally:
                    f.close()

            yield info.name, opener
