"""What the trained methods share: seeded heads tied to label names, batching, and one short
training loop with early stopping on a dev split.

Everything random here is drawn from the space's seed, so the same inputs give the same
vector: the head rows, the dev split, the data order and dropout.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fute.engine.surrogate import Batch, Surrogate

ForwardFn = Callable[[Batch], torch.Tensor]


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed derived from the space seed and a purpose tag, stable across runs."""
    digest = hashlib.sha256(repr((int(seed), *map(str, parts))).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(seed: int, *parts: object) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, *parts))


def label_head(
    in_features: int, label_names: Sequence[str], seed: int, std: float = 0.02
) -> nn.Linear:
    """A linear head whose row for label ``name`` is drawn from (seed, name) alone.

    The row of "positive" is the same vector in every embedding of the space, whatever the
    other labels are and whatever order a data set or model listed them in: heads are tied to
    names, not positions (METHOD.md, "Label order").
    """
    head = nn.Linear(in_features, len(label_names))
    with torch.no_grad():
        for i, name in enumerate(label_names):
            row = torch.randn(in_features, generator=generator(seed, "head", name))
            head.weight[i] = row * std
        head.bias.zero_()
    return head


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy against target distributions (one-hot for hard labels)."""
    return -(targets * torch.log_softmax(logits, dim=-1)).sum(-1)


@dataclass(frozen=True)
class TrainSettings:
    """The training-loop part of a method's hyper-parameters."""

    batch_size: int
    lr: float
    max_epochs: int
    max_steps: int
    eval_every: int
    patience: int
    dev_fraction: float
    weight_decay: float = 0.0

    @classmethod
    def of(cls, params) -> TrainSettings:
        """The training settings held by a method's hyper-parameter dataclass (checked)."""
        if not 0 <= params.dev_fraction < 0.5:
            from fute.core.errors import FuteError

            raise FuteError(f"dev_fraction must be in [0, 0.5), got {params.dev_fraction}")
        names = ("batch_size", "lr", "max_epochs", "max_steps", "eval_every", "patience")
        return cls(**{n: getattr(params, n) for n in names}, dev_fraction=params.dev_fraction)


def dev_split(
    n: int, fraction: float, seed: int, min_dev: int = 16, max_dev: int = 256
) -> tuple[list[int], list[int]]:
    """Seeded train/dev indices; no dev split (early stopping off) for tiny data sets."""
    n_dev = min(max_dev, int(round(n * fraction)))
    if fraction <= 0 or n_dev < min_dev or n - n_dev < min_dev:
        return list(range(n)), []
    order = np.random.default_rng(derived_seed(seed, "dev-split")).permutation(n)
    return sorted(order[n_dev:].tolist()), sorted(order[:n_dev].tolist())


def batches(n: int, batch_size: int, rng: np.random.Generator | None) -> Iterator[list[int]]:
    """Index batches over n items, in a seeded order (or in order when rng is None)."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size].tolist()


def length_batches(items: Sequence[dict], batch_size: int) -> Iterator[list[int]]:
    """Index batches of similar-length items (stable sort by length): far less padding.

    For passes whose result does not depend on the batch order (sums, evaluation).
    """
    order = sorted(range(len(items)), key=lambda i: (len(items[i]["input_ids"]), i))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def mean_loss(
    forward: ForwardFn,
    surrogate: Surrogate,
    items: Sequence[dict],
    targets: torch.Tensor,
    batch_size: int,
) -> float:
    total = 0.0
    with torch.no_grad():
        for idx in length_batches(items, batch_size):
            logits = forward(surrogate.collate([items[i] for i in idx]))
            total += float(soft_cross_entropy(logits, targets[idx]).sum())
    return total / max(1, len(items))


def fit(
    forward: ForwardFn,
    modules: Sequence[nn.Module],
    params: Sequence[nn.Parameter],
    surrogate: Surrogate,
    items: Sequence[dict],
    targets: torch.Tensor,
    settings: TrainSettings,
    seed: int,
    progress: bool | None = None,
    desc: str = "training",
) -> dict:
    """Train `params` with AdamW on soft cross-entropy; early-stop on a seeded dev split.

    The dev loss is checked every `eval_every` steps; after `patience` checks without a new
    best, training stops and the best parameters are restored. Returns what happened (steps,
    epochs, dev losses) for the embedding's metadata.
    """
    from tqdm.auto import tqdm

    train_idx, dev_idx = dev_split(len(items), settings.dev_fraction, seed)
    train_items = [items[i] for i in train_idx]
    train_targets = targets[train_idx]
    dev_items = [items[i] for i in dev_idx]
    dev_targets = targets[dev_idx]

    steps_per_epoch = math.ceil(len(train_items) / settings.batch_size)
    total = min(settings.max_steps, steps_per_epoch * settings.max_epochs)
    optimiser = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    rng = np.random.default_rng(derived_seed(seed, "data-order"))

    def set_mode(train: bool) -> None:
        for m in modules:
            m.train(train)

    def dev_loss() -> float:
        set_mode(False)
        loss = mean_loss(forward, surrogate, dev_items, dev_targets, settings.batch_size * 2)
        set_mode(True)
        return loss

    # The initial state is never the "best checkpoint": an embedding must reflect training
    # on the task, so the best is chosen among trained checkpoints only.
    initial_dev = dev_loss() if dev_items else math.inf
    best, best_state = math.inf, [p.detach().clone() for p in params]
    best_step, step, bad_checks, stopped_early = 0, 0, 0, False
    history: list[tuple[int, float]] = [(0, initial_dev)] if dev_items else []
    set_mode(True)
    with (
        torch.random.fork_rng(devices=[]),
        tqdm(
            total=total,
            desc=desc,
            unit="step",
            disable=(not progress) if progress is not None else None,
            leave=False,
        ) as bar,
    ):
        torch.manual_seed(derived_seed(seed, "dropout"))
        while step < total and not stopped_early:
            for idx in batches(len(train_items), settings.batch_size, rng):
                logits = forward(surrogate.collate([train_items[i] for i in idx]))
                loss = soft_cross_entropy(logits, train_targets[idx]).mean()
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                loss = loss.detach()
                optimiser.step()
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
                if dev_items and (step % settings.eval_every == 0 or step == total):
                    current = dev_loss()
                    history.append((step, current))
                    if current < best - 1e-4:
                        best, best_step, bad_checks = current, step, 0
                        best_state = [p.detach().clone() for p in params]
                    else:
                        bad_checks += 1
                        stopped_early = bad_checks >= settings.patience
                if step >= total or stopped_early:
                    break
    set_mode(False)
    if dev_items:
        with torch.no_grad():
            for p, saved in zip(params, best_state, strict=True):
                p.copy_(saved)
    return {
        "train_examples": len(train_items),
        "dev_examples": len(dev_items),
        "steps": step,
        "best_step": best_step if dev_items else step,
        "epochs": round(step / max(1, steps_per_epoch), 3),
        "stopped_early": stopped_early,
        "dev_loss_initial": None if not dev_items else round(initial_dev, 6),
        "dev_loss": None if not dev_items else round(best, 6),
        "dev_history": [(s, round(v, 6)) for s, v in history],
    }


def soft_answers(
    forward: ForwardFn,
    modules: Sequence[nn.Module],
    surrogate: Surrogate,
    items: Sequence[dict],
    batch_size: int = 64,
) -> np.ndarray:
    """The trained model's probabilities (n x labels, float32) on `items`, in eval mode.

    One forward pass, no gradients; the modules' train/eval modes are restored after.
    """
    before = [m.training for m in modules]
    for m in modules:
        m.eval()
    out = np.zeros((len(items), 0), dtype=np.float32)
    with torch.no_grad():
        for idx in length_batches(items, batch_size):
            probs = torch.softmax(forward(surrogate.collate([items[i] for i in idx])), dim=-1)
            if out.shape[1] == 0:
                out = np.zeros((len(items), probs.shape[1]), dtype=np.float32)
            out[idx] = probs.float().numpy()
    for m, was in zip(modules, before, strict=True):
        m.train(was)
    return out


def probe_answers(forward, modules, surrogate: Surrogate, probe, data, params) -> dict:
    """The extras of a trained classifier's answers on `probe` (the space's pool)."""
    from fute.core.extras import ANSWER_LABELS, POOL_ANSWERS, POOL_ITEMS, pool_item_ids

    items = surrogate.tokenize(probe.texts, probe.text_pairs, params.max_length)
    return {
        POOL_ANSWERS: soft_answers(forward, modules, surrogate, items, params.batch_size * 4),
        ANSWER_LABELS: np.array(list(data.label_names)),
        POOL_ITEMS: pool_item_ids(probe.texts, probe.text_pairs),
    }
