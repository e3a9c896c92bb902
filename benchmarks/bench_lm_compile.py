"""Does torch.compile make fute's LLM scorer faster? A probe for issue 14, point 2.

Scores the first N pool inputs with one prompt on SmolLM2-135M-Instruct (fp32, one torch
thread, the padded path: `pack=False`, since packed passes do not call `model.forward`) eagerly, then with `torch.compile(model.forward, dynamic=True)`, and prints the
eager time, the compile time (first call on 8 inputs), the compiled time and the largest
probability difference. Nothing is written; the numbers quoted in the README came from

    python benchmarks/bench_lm_compile.py --n 48 --prompt sent-review-colon
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fute.data.pool import sample_pool
from fute.models import PromptedLM, default_lm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48, help="pool inputs scored")
    parser.add_argument("--prompt", default="sent-review-colon")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    inputs = sample_pool(200, arity=1, seed=0).texts[: args.n]
    lm = default_lm(pack=False)
    lm._load()
    lm.batch_size = args.batch_size
    model = PromptedLM(lm, args.prompt)
    model.predict_proba(inputs[:4])  # warm-up
    start = time.perf_counter()
    eager = np.asarray(model.predict_proba(inputs))
    eager_s = time.perf_counter() - start
    print(f"eager: {eager_s:.2f} s", flush=True)
    lm._model.forward = torch.compile(lm._model.forward, dynamic=True)
    start = time.perf_counter()
    model.predict_proba(inputs[:8])
    print(f"compile + first 8 inputs: {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    compiled = np.asarray(model.predict_proba(inputs))
    compiled_s = time.perf_counter() - start
    print(
        f"compiled: {compiled_s:.2f} s, speed-up {eager_s / compiled_s:.2f}x, "
        f"max prob. difference {np.abs(eager - compiled).max():.1e}"
    )


if __name__ == "__main__":
    main()
