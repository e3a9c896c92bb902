"""Write tests/golden/vectors.npz: a few embeddings made before a refactor, so that
tests/test_golden_vectors.py can check that the same inputs and seed still give the same
vectors. Run it only when a change of the vectors is intended (and say why in the commit):

    HF_HUB_OFFLINE=1 python tests/golden/make_golden.py
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = "sentiment-imdb"
CAPS = dict(max_examples=64, max_steps=4, eval_every=2, max_length=48, pool_size=24)
# pool_anchor is given where a method can be anchored (anchored is `Space`'s default for them)
CASES = {
    "dte-fisher": ("dataset", "fisher", dict(fisher_examples=16, pool_anchor=False)),
    "dte-fisher-anchor": ("dataset", "fisher", dict(fisher_examples=16, pool_anchor=True)),
    "dte-prefix": ("dataset", "prefix", dict(pool_anchor=False)),
    "dte-mean-embedding": ("dataset", "mean-embedding", {}),
    "mte-fisher-vader": ("model", "fisher", dict(fisher_examples=16, pool_anchor=False)),
    "mte-prefix-vader": ("model", "prefix", dict(pool_anchor=False)),
}


def fingerprint() -> dict:
    """What may change float rounding: the CPU's vector capability and the library versions."""
    import torch

    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def make(name: str):
    from fute.data.catalog import load_dataset
    from fute.models import VaderModel
    from fute.space import Space

    kind, method, extra = CASES[name]
    caps = {
        k: v
        for k, v in CAPS.items()
        if method != "mean-embedding" or k in ("max_examples", "max_length", "pool_size")
    }
    space = Space(method=method, seed=0, progress=False, **caps, **extra)
    if kind == "dataset":
        return space.dataset_embedding(load_dataset(DATA))
    return space.model_embedding(VaderModel(), exclude=(DATA,))


def main() -> None:
    vectors = {name: np.asarray(make(name).vector) for name in CASES}
    np.savez(HERE / "vectors.npz", **vectors)
    (HERE / "vectors.json").write_text(json.dumps(fingerprint(), indent=1) + "\n")
    print(f"wrote {len(vectors)} vectors to {HERE / 'vectors.npz'}", file=sys.stderr)


if __name__ == "__main__":
    main()
