"""The report's pictures: a similarity heat-map and a 2-D map of one embedding space.

Both work from the cosine-similarity matrix, never from the raw vectors, so a space of
10M-entry Fisher embeddings costs no more to draw than one of 384-entry vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fute.core.embedding import TaskEmbedding
from fute.core.kinds import Kind

KIND_STYLE = {  # colour-blind-safe (Okabe-Ito) colour and a marker per kind
    Kind.DATASET: ("#0072B2", "o", "data set"),
    Kind.MODEL: ("#E69F00", "s", "model"),
    Kind.PROMPTED_LM: ("#009E73", "^", "LLM + prompt"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def short_label(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def display_order(embeddings: Sequence[TaskEmbedding]) -> list[int]:
    """Indices sorted by kind (data sets, models, prompts) then name: blocks read at a glance."""
    rank = {k: k.code for k in Kind}
    return sorted(
        range(len(embeddings)), key=lambda i: (rank.get(embeddings[i].kind, 9), embeddings[i].name)
    )


def heatmap_png(
    embeddings: Sequence[TaskEmbedding], sims: np.ndarray, path: Path, title: str
) -> Path:
    """Cosine-similarity heat-map, rows and columns in `display_order`, kind shown by tick
    colour (`embeddings`: anything with `name` and `kind`)."""
    plt = _pyplot()
    order = display_order(embeddings)
    m = sims[np.ix_(order, order)]
    names = [short_label(embeddings[i].name) for i in order]
    colours = [KIND_STYLE.get(embeddings[i].kind, ("#444", "o", ""))[0] for i in order]
    n = len(order)
    side = min(22.0, 3.0 + 0.32 * n)
    fig, ax = plt.subplots(figsize=(side + 1.6, side))
    off = m[~np.eye(n, dtype=bool)] if n > 1 else m.ravel()
    vmin = float(np.percentile(off, 2)) if off.size else -1.0
    vmax = float(np.percentile(off, 98)) if off.size else 1.0
    if vmax - vmin < 1e-6:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    im = ax.imshow(m, cmap="viridis", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks(range(n), names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        for tick, colour in zip(ticks, colours, strict=True):
            tick.set_color(colour)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{m[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if m[i, j] < (vmin + vmax) / 2 else "black",
                )
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("cosine similarity")
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def layout_2d(sims: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates from cosine similarities; returns (n x 2, the method used).

    UMAP when installed and there are enough points, else t-SNE, else (fewer than 5 points,
    where t-SNE's neighbourhoods make no sense) classical MDS.
    """
    n = sims.shape[0]
    dist = np.sqrt(np.clip(2.0 - 2.0 * sims, 0.0, None))
    np.fill_diagonal(dist, 0.0)
    if n < 5:
        return _classical_mds(dist), "MDS"
    if n >= 10:
        try:
            import umap  # optional extra: pip install 'fute[umap]'

            reducer = umap.UMAP(n_neighbors=min(15, n - 1), metric="precomputed", random_state=seed)
            return np.asarray(reducer.fit_transform(dist)), "UMAP"
        except ImportError:
            pass
    from sklearn.manifold import TSNE

    perplexity = float(max(2.0, min(30.0, (n - 1) / 3.0)))
    # exact t-SNE: a report holds tens to hundreds of points, where it is both faster than
    # Barnes-Hut (which spends seconds on set-up) and more faithful
    tsne = TSNE(
        n_components=2,
        metric="precomputed",
        init="random",
        perplexity=perplexity,
        method="exact" if n <= 500 else "barnes_hut",
        random_state=seed,
    )
    return tsne.fit_transform(dist), "t-SNE"


def _classical_mds(dist: np.ndarray) -> np.ndarray:
    n = dist.shape[0]
    j = np.eye(n) - np.ones((n, n)) / n
    b = -0.5 * j @ (dist**2) @ j
    vals, vecs = np.linalg.eigh(b)
    top = np.argsort(vals)[::-1][:2]
    coords = vecs[:, top] * np.sqrt(np.clip(vals[top], 0.0, None))
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords


LABELLED_POINTS = 60  # more labels than this overlap into an unreadable blot
NONLINEAR_POINTS = 500  # above: PCA, which takes a second where t-SNE would take minutes


def pca_2d(unit: np.ndarray, seed: int = 0) -> np.ndarray:
    """The rows projected on their first two principal axes (n x 2): a seeded randomised
    range finder with a few power iterations, so 6,000 x 4,096 takes well under a second."""
    centred = np.asarray(unit, dtype=np.float32)
    centred = centred - centred.mean(axis=0)
    rng = np.random.default_rng(seed)
    basis = centred @ rng.standard_normal((centred.shape[1], 10)).astype(np.float32)
    for _ in range(4):
        basis, _ = np.linalg.qr(basis)
        basis = centred @ (centred.T @ basis)
    basis, _ = np.linalg.qr(basis)
    _, _, vt = np.linalg.svd(basis.T @ centred, full_matrices=False)
    return centred @ vt[:2].T


def map_png(
    embeddings: Sequence, unit: np.ndarray, path: Path, title: str, seed: int = 0
) -> tuple[Path, str]:
    """Scatter of a 2-D layout of the unit rows `unit`, coloured and shaped by kind; points
    labelled while there are few enough to read. Up to NONLINEAR_POINTS points the layout
    is UMAP / t-SNE of the cosine distances (`layout_2d`), above it PCA."""
    plt = _pyplot()
    if len(embeddings) <= NONLINEAR_POINTS:
        sims = np.clip(np.asarray(unit, dtype=np.float64) @ np.asarray(unit, np.float64).T, -1, 1)
        xy, method = layout_2d(sims, seed=seed)
    else:
        xy, method = pca_2d(unit), "PCA"
    small = len(embeddings) <= LABELLED_POINTS
    fig, ax = plt.subplots(figsize=(11, 8.5))
    for kind, (colour, marker, label) in KIND_STYLE.items():
        idx = [i for i, e in enumerate(embeddings) if e.kind == kind]
        if idx:
            ax.scatter(
                xy[idx, 0],
                xy[idx, 1],
                c=colour,
                marker=marker,
                s=70 if small else 12,
                label=f"{label} ({len(idx)})",
                edgecolors="white" if small else "none",
                linewidths=0.8 if small else 0,
                alpha=1.0 if small else 0.6,
                zorder=3,
            )
    for i, e in enumerate(embeddings if small else []):
        ax.annotate(
            short_label(e.name, 32),
            (xy[i, 0], xy[i, 1]),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7.5,
            color=KIND_STYLE.get(e.kind, ("#444",))[0],
            zorder=4,
        )
    what = "of cosine distances" if method != "PCA" else "of the unit vectors"
    ax.set_title(f"{title} ({method} {what})", fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path, method
