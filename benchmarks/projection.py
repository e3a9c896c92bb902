"""Does the seeded sparse projection keep the ranking of cosine similarities of Fisher vectors?

Full Fisher DTEs (MiniLM, 10.8M entries each, word embeddings excluded) are computed for
`--datasets` catalogue data sets with small training caps (this measures the projection,
not the embeddings' quality), then projected with `fute.engine.projection.SparseProjection` to
several dimensions. For every pair of embeddings we compare the cosine similarity of the
full vectors with that of the projected ones: Spearman and Kendall over all pairs, the
largest absolute cosine error, and per embedding whether its nearest neighbour is kept.

Full vectors are cached under ``$FUTE_CACHE/bench/`` (float32 .npy), so a rerun only
projects.

    python -m benchmarks.projection         # make bench-speed
    python -m benchmarks.projection --quick # 6 data sets, tiny caps
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.harness.cache import cache_key, cached_array
from benchmarks.harness.provenance import environment, provenance_markdown
from benchmarks.harness.results import add_common_args, results_dir, write_results
from benchmarks.harness.stages import Stages
from benchmarks.harness.tables import markdown_table

CAPS = dict(max_examples=256, max_steps=16, eval_every=8, fisher_examples=96, projection_dim=0)
QUICK_CAPS = dict(max_examples=64, max_steps=4, eval_every=2, fisher_examples=16, projection_dim=0)
DIMS = (1024, 4096, 16384)


def cosine_matrix(vectors: list[np.ndarray]) -> np.ndarray:
    m = np.stack([v.astype(np.float64) for v in vectors])
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m @ m.T


def main() -> None:
    from scipy.stats import kendalltau, spearmanr

    from fute.data.catalog import availability, list_datasets, load_dataset
    from fute.engine.projection import SparseProjection
    from fute.space import Space

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument(
        "--datasets", type=int, default=24, help="how many catalogue data sets (>= 20)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    caps = QUICK_CAPS if args.quick else CAPS
    count = 6 if args.quick else args.datasets

    env, stages = environment(), Stages()
    # pool_anchor=False: the DTE of each data set alone, as measured (`Space` anchors by default)
    space = Space(method="fisher", seed=args.seed, progress=False, pool_anchor=False, **caps)
    # the sets a registry still serves (the BIG-bench ones are upstream-only: unavailable)
    names = [e.name for e in list_datasets() if availability(e)[0] != "unavailable"][:count]
    vectors = []
    with stages(f"{len(names)} full Fisher DTEs"):
        for name in names:
            data = load_dataset(name)

            def compute(data=data) -> np.ndarray:
                return space.dataset_embedding(data).vector

            key = cache_key("bench_projection", space.key, data.content_hash())
            vectors.append(cached_array("fisher-full", key, compute))
            print(f"  {name}: {vectors[-1].size} entries", flush=True)

    full = cosine_matrix(vectors)
    pairs = np.triu_indices(len(vectors), k=1)
    nearest_full = np.argsort(-(full - 2 * np.eye(len(vectors))), axis=1)[:, 0]
    rows, results = [], []
    with stages("projections"):
        for dim in DIMS:
            proj = SparseProjection(vectors[0].size, dim, seed=args.seed)
            small = cosine_matrix([proj(v) for v in vectors])
            nearest = np.argsort(-(small - 2 * np.eye(len(vectors))), axis=1)[:, 0]
            r = {
                "dim": dim,
                "spearman": float(spearmanr(full[pairs], small[pairs]).statistic),
                "kendall": float(kendalltau(full[pairs], small[pairs]).statistic),
                "max_abs_cosine_error": float(np.abs(full[pairs] - small[pairs]).max()),
                "nearest_neighbour_kept": float(np.mean(nearest == nearest_full)),
                "bytes_per_vector": dim * 4,
            }
            results.append(r)
            rows.append(
                [
                    dim,
                    f"{r['spearman']:.4f}",
                    f"{r['kendall']:.4f}",
                    f"{r['max_abs_cosine_error']:.4f}",
                    f"{r['nearest_neighbour_kept']:.0%}",
                    f"{dim * 4 / 1024:.0f} KiB",
                ]  # fmt: skip
            )
    n_full = vectors[0].size
    settings = {"datasets": len(names), "pairs": len(pairs[0]), "seed": args.seed, **caps}
    md = "\n".join(
        [
            "# Sparse random projection of Fisher vectors",
            "",
            f"{len(names)} full Fisher DTEs ({n_full:,} entries, {n_full * 4 / 2**20:.0f} MiB each as float32); "
            f"{len(pairs[0])} pairs. Spearman / Kendall between full and projected cosine similarities.",
            "",
            markdown_table(
                ["dim", "Spearman", "Kendall", "max |cos error|", "nearest neighbour kept", "size"],
                rows,
            ),
            "",
            f"Full cosine similarities range from {full[pairs].min():.3f} to {full[pairs].max():.3f}.",
            "",
            "Data sets: " + ", ".join(names),
            "",
            provenance_markdown(env, settings, stages),
        ]
    )
    write_results(
        "projection",
        {
            "environment": env,
            "settings": settings,
            "datasets": names,
            "results": results,
            "full_cosines": full.tolist(),
        },  # fmt: skip
        md,
        results_dir(args),
    )


if __name__ == "__main__":
    main()
