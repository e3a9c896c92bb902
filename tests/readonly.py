"""A folder nobody can write to, for the tests of read-only stores."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def read_only_folder(src: Path) -> Iterator[Path]:
    """`src` seen read-only: a read-only bind mount as root, else its files and the folder
    chmod-ed (restored afterwards, so pytest can remove it)."""
    if os.geteuid() == 0:
        ro = src.with_name(src.name + "-ro")
        ro.mkdir()
        done = subprocess.run(["mount", "--bind", "-o", "ro", str(src), str(ro)], check=False)
        if done.returncode != 0:
            pytest.skip("root, but cannot bind-mount a read-only folder here")
        try:
            yield ro
        finally:
            subprocess.run(["umount", str(ro)], check=False)
        return
    files = [p for p in src.iterdir() if p.is_file()]
    for p in files:
        p.chmod(0o444)
    src.chmod(0o555)
    try:
        yield src
    finally:
        src.chmod(0o755)
        for p in files:
            p.chmod(0o644)
