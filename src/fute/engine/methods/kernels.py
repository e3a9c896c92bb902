"""A compiled kernel for the Fisher pass: per-example squared linear-layer gradients.

`sqgrad.c` is built once per machine with the system C compiler (``cc -O3 -march=native
-fopenmp``) into the cache (``kernels/``) and loaded with ctypes; it runs on
`torch.get_num_threads()` threads of the OpenMP runtime torch itself uses (a second pool of
threads would fight torch's spinning workers for the cores). Without a C compiler, or with
``FUTE_FISHER_KERNEL=0``, `square_grad_kernel()` returns None and the Fisher pass uses its
pure-torch path (a matmul per example, then a square-and-add pass), which gives the same
numbers up to float32 rounding (tested); on MiniLM and short inputs it spends ~1.4x as long
on the squared gradients, and the whole Fisher pass takes ~12% longer
(benchmarks/results/fisher_speed.md).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from functools import cache, partial
from importlib.resources import files
from pathlib import Path

import torch

from fute.core.paths import cache_subdir

log = logging.getLogger(__name__)


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def square_grad_kernel():
    """`add(S, E, A, lengths)` doing S += sum_b (E_b^T A_b)**2 over each example's first
    lengths[b] positions, or None where the kernel is switched off or cannot be built."""
    if os.environ.get("FUTE_FISHER_KERNEL", "1") == "0":
        return None
    fn = _build(str(cache_subdir("kernels")))
    return None if fn is None else partial(_square_grad, fn)


@cache
def _build(folder: str):
    """The kernel's C function, compiled into `folder` once per source, compiler and CPU."""
    compiler = _compiler()
    if compiler is None:
        log.info("no C compiler found: the Fisher pass uses its pure-torch path")
        return None
    source = files("fute.engine.methods").joinpath("sqgrad.c").read_bytes()
    flags = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c11"]
    key = hashlib.sha256(
        source + " ".join([compiler, *flags, _cpu_flags(), platform.machine()]).encode()
    ).hexdigest()[:16]
    target = Path(folder) / f"sqgrad-{key}.so"
    if not target.is_file():
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            src, lib = Path(tmp) / "sqgrad.c", Path(tmp) / "sqgrad.so"
            src.write_bytes(source)
            done = subprocess.run(
                [compiler, *flags, "-o", str(lib), str(src)], capture_output=True, text=True
            )
            if done.returncode != 0:
                log.warning(
                    "building the Fisher kernel failed (%s); using the pure-torch path",
                    done.stderr.strip().splitlines()[-1:] or done.returncode,
                )
                return None
            os.replace(lib, target)  # atomic: a half-written library is never loaded
    fn = ctypes.CDLL(str(target)).fute_sq_grad
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 4 + [ctypes.c_void_p, ctypes.c_int32]
    return fn


def _square_grad(
    fn, total: torch.Tensor, e: torch.Tensor, a: torch.Tensor, lengths: torch.Tensor
) -> None:
    e, a = e.contiguous(), a.contiguous()
    b, t, out = e.shape
    inp = a.shape[-1]
    if total.shape != (out, inp) or not total.is_contiguous():
        raise ValueError("square_grad: S must be a contiguous out x in tensor")
    lengths = lengths.to(torch.int32).contiguous()
    ptrs = (e.data_ptr(), a.data_ptr(), lengths.data_ptr())
    fn(*ptrs, b, t, out, inp, total.data_ptr(), torch.get_num_threads())
