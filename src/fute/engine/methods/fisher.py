"""``fisher``: the diagonal empirical Fisher information of the fine-tuned surrogate.

The surrogate plus a seeded head (identical for every embedding of the space, rows tied to
label names) is fine-tuned on the examples; then

    F = mean_i  g_i ** 2,    g_i = d/dθ  CE(q_i, p_θ(. | x_i))

over the encoder parameters θ (the head is left out: its shape depends on the label count).
g_i is the gradient of one example's *soft* cross-entropy against its target distribution
q_i, so hard labels give the usual empirical Fisher and a model's soft answers give its
soft analogue (we do not take the expectation over y ~ q_i, which would cost one backward
pass per label). Note the *mean of squares*: the square of the mean gradient, which the
FUTE authors' code computes, is close to zero near a converged model and is not the Fisher.

Per-example gradients come from one batched forward and backward pass with hooks, never
from a backward pass per example: for a linear layer y = W a + b with input a_t and output
gradient e_t at token t, the example's weight gradient is sum_t e_t a_t^T. Squaring it needs
each example's out x in gradient, which a matmul per example would write to memory and read
back (memory-bound: several times the cost of the layer's ordinary weight gradient on short
inputs);
the compiled kernel of `fute.engine.methods.kernels` keeps each gradient tile in registers and adds
only its square, so the pass costs about a plain forward + backward (with a pure-torch
fallback where no C compiler exists). Layer norms and embeddings get the same treatment.
Autograd is asked only for activation gradients, so it never builds the (unused)
batch-summed weight gradients (see benchmarks/fisher_speed.py).

The word-embedding matrix (30522 x 384 = 11.7M of MiniLM's 22.7M parameters) is left out by
default: its rows are exactly zero for every token the data never uses, so it mostly
measures vocabulary overlap and doubles the vector. ``word_embeddings=True`` keeps it
(per-example rows are gathered per (example, token) pair, so it stays batched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from fute.core.errors import FuteError, ModelError
from fute.core.extras import FISHER_UNITS
from fute.engine.methods.base import (
    PER_EMBEDDING_SETTINGS,
    Classifier,
    TrainedMethod,
    positive,
)
from fute.engine.methods.sketches import component_sketch, fisher_unit_means, grouped_blocks
from fute.engine.methods.training import (
    TrainSettings,
    derived_seed,
    label_head,
    length_batches,
    soft_cross_entropy,
)
from fute.engine.surrogate import Batch, Surrogate, mean_pool


@dataclass(frozen=True)
class FisherParams:
    """Hyper-parameters of ``fisher``; the defaults make one DTE take about a minute on 2 cores.

    - ``max_examples=1000``: a seeded sample of at most this many examples is used. The
      Fisher of a fine-tuned MiniLM is stable well below this on the catalogue's sets, and
      the paper's MTEs use ~1000 pool inputs, so DTEs and MTEs see similar amounts of data.
    - ``max_length=64``: tokens per input. Most catalogue inputs are sentences; the paper's
      128 doubles the cost for little change on short inputs.
    - ``batch_size=16``, ``lr=5e-5``: AdamW fine-tuning of encoder + head. Higher than the
      paper's 2e-5 because we train for tens of steps, not epochs.
    - ``max_epochs=1``, ``max_steps=60``: the training budget (about 40 s on 2 cores).
    - ``eval_every=10``, ``patience=2``, ``dev_fraction=0.1``: early stopping on a seeded
      10% dev split (at least 16 examples, at most 256); the best checkpoint is restored.
    - ``fisher_examples=256``, ``fisher_batch_size=32``: examples whose per-example
      gradients are averaged (a seeded subset of the training part).
    - ``word_embeddings=False``: leave the word-embedding matrix out (see the module doc).
    - ``projection_dim=4096``: the full vector (11M entries for MiniLM) is mapped by the
      space's seeded sparse random projection (`fute.engine.projection`) to this many dimensions,
      which keeps the ranking of cosine similarities (benchmarks/projection.py) at a
      tiny fraction of the size; 0 keeps the full float32 vector.

    ``max_examples``, ``fisher_examples`` (amounts of data) and ``fisher_batch_size`` (the
    Fisher sum does not depend on it, up to float rounding) are per-embedding settings:
    recorded with each embedding, not part of the space key (``PER_EMBEDDING``).
    """

    PER_EMBEDDING: ClassVar[tuple[str, ...]] = PER_EMBEDDING_SETTINGS["fisher"]

    max_examples: int = 1000
    max_length: int = 64
    batch_size: int = 16
    lr: float = 5e-5
    max_epochs: int = 1
    max_steps: int = 60
    eval_every: int = 10
    patience: int = 2
    dev_fraction: float = 0.1
    fisher_examples: int = 256
    fisher_batch_size: int = 32
    word_embeddings: bool = False
    projection_dim: int = 4096

    def check(self) -> None:
        for name in ("max_examples", "max_length", "batch_size", "lr", "max_epochs", "max_steps",
                     "eval_every", "patience", "fisher_examples", "fisher_batch_size"):  # fmt: skip
            positive(name, getattr(self, name))
        positive("projection_dim", self.projection_dim, allow_zero=True)
        TrainSettings.of(self)

    def training(self) -> TrainSettings:
        return TrainSettings.of(self)


class PerExampleFisher:
    """Hooks that add each example's squared parameter gradient into running sums.

    Use as a context manager around forward passes whose loss is the *sum* of per-example
    losses, followed by `backward(loss)`. Covers nn.Linear, nn.LayerNorm and nn.Embedding;
    parameters of other module types are reported in `uncovered` and left out.
    """

    def __init__(
        self, encoder: nn.Module, word_embeddings: bool = False, kernel: bool = True
    ) -> None:
        from fute.engine.methods.kernels import square_grad_kernel

        self.encoder = encoder
        self._kernel = square_grad_kernel() if kernel else None
        word = encoder.get_input_embeddings() if hasattr(encoder, "get_input_embeddings") else None
        self.modules: list[tuple[str, nn.Module]] = []
        covered: set[str] = set()
        for name, module in encoder.named_modules():
            if not isinstance(module, nn.Linear | nn.LayerNorm | nn.Embedding):
                continue
            if module is word and not word_embeddings:
                continue
            self.modules.append((name, module))
            covered.update(
                f"{name}.{p}" if name else p for p, _ in module.named_parameters(recurse=False)
            )
        self.param_names = [n for n, _ in encoder.named_parameters() if n in covered]
        params = dict(encoder.named_parameters())
        self.sums = {n: torch.zeros_like(params[n], dtype=torch.float32) for n in self.param_names}
        excluded = {
            f"{n}.weight" for n, m in encoder.named_modules() if m is word and not word_embeddings
        }
        self.uncovered = [
            n for n, _ in encoder.named_parameters() if n not in covered and n not in excluded
        ]
        self.count = 0
        self._handles: list = []
        self._leaves: list[torch.Tensor] = []
        self._batch = 0
        self._lengths: list[int] | None = None

    @property
    def kernel(self) -> str:
        """Which path squares the linear-layer gradients: "c" (compiled) or "torch"."""
        return "c" if self._kernel is not None else "torch"

    # -- hooks -----------------------------------------------------------------------------
    def _add(self, name: str, per_example: torch.Tensor) -> None:
        # `per_example` is a fresh tensor: square it in place instead of allocating a copy
        self.sums[name] += per_example.square_().sum(0)

    def _linear(self, prefix: str, module: nn.Linear, a: torch.Tensor, g: torch.Tensor) -> None:
        a = a.reshape(a.shape[0], -1, a.shape[-1])
        g = g.reshape(g.shape[0], -1, g.shape[-1])
        total = self.sums[f"{prefix}weight"]
        lengths = self._lengths
        if lengths is None or len(lengths) != a.shape[0] or a.shape[1] < max(lengths):
            lengths = [a.shape[1]] * a.shape[0]
        if self._kernel is not None and a.dtype == g.dtype == total.dtype == torch.float32:
            # compiled: each example's gradient stays in registers (fute.engine.methods.kernels)
            self._kernel(total, g, a, torch.tensor(lengths, dtype=torch.int32))
        else:
            # one example at a time: its gradient (out x in) is squared into the running sum
            # by addcmul_, so no b x out x in tensor is ever built
            gt = g.transpose(1, 2)
            for i, n in enumerate(lengths):
                grad = torch.mm(gt[i, :, :n], a[i, :n])
                total.addcmul_(grad, grad)
        if module.bias is not None:
            self._add(f"{prefix}bias", g.sum(1))

    def _layer_norm(
        self, prefix: str, module: nn.LayerNorm, xhat: torch.Tensor, g: torch.Tensor
    ) -> None:
        dims = tuple(range(1, g.dim() - len(module.normalized_shape)))
        if module.weight is not None:
            self._add(f"{prefix}weight", (g * xhat).sum(dims))
        if module.bias is not None:
            self._add(f"{prefix}bias", g.sum(dims))

    def _embedding(
        self, prefix: str, module: nn.Embedding, ids: torch.Tensor, g: torch.Tensor
    ) -> None:
        if ids.shape[0] != self._batch:
            raise ModelError(
                f"embedding {prefix[:-1]!r} is broadcast over the batch, so per-example gradients "
                "are lost; pass its ids explicitly with one row per example"
            )
        n, d = module.num_embeddings, g.shape[-1]
        example = torch.arange(ids.shape[0]).unsqueeze(1).expand_as(ids)
        keys, inverse = torch.unique((example * n + ids).reshape(-1), return_inverse=True)
        per_pair = torch.zeros(keys.numel(), d, dtype=g.dtype).index_add_(
            0, inverse, g.reshape(-1, d)
        )
        self.sums[f"{prefix}weight"].index_add_(0, keys % n, per_pair.pow(2))

    def _forward_hook(self, name: str):
        prefix = f"{name}." if name else ""

        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if not output.requires_grad:
                return
            x = inputs[0].detach()
            if isinstance(module, nn.Linear):
                output.register_hook(lambda g: self._linear(prefix, module, x, g.detach()))
            elif isinstance(module, nn.LayerNorm):
                xhat = nn.functional.layer_norm(x, module.normalized_shape, eps=module.eps)
                output.register_hook(lambda g: self._layer_norm(prefix, module, xhat, g.detach()))
            else:
                self._leaves.append(output)
                output.register_hook(lambda g: self._embedding(prefix, module, x, g.detach()))

        return hook

    def __enter__(self) -> PerExampleFisher:
        self._handles = [m.register_forward_hook(self._forward_hook(n)) for n, m in self.modules]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    # -- driving ---------------------------------------------------------------------------
    def start_batch(self, batch_size: int, lengths: Sequence[int] | None = None) -> None:
        """Begin a batch; `lengths` (real tokens per example, padding after them) lets the
        hooks skip padded positions, whose gradients are exactly zero."""
        self._leaves = []
        self._batch = batch_size
        self._lengths = list(lengths) if lengths is not None else None

    def backward(self, summed_loss: torch.Tensor, batch_size: int) -> None:
        """Run the hooks for one batch: autograd computes activation gradients only."""
        leaves = self._leaves
        if not leaves:
            raise ModelError("no embedding output was recorded; call start_batch before forward")
        torch.autograd.grad(summed_loss, leaves)
        self.count += batch_size
        self._leaves = []

    def vector(self) -> np.ndarray:
        """The Fisher diagonal (mean over examples), parameters in the encoder's order."""
        if self.count == 0:
            raise FuteError("no examples went through the Fisher pass")
        return (
            torch.cat([self.sums[n].reshape(-1) for n in self.param_names]).div_(self.count).numpy()
        )

    def layout(self) -> list[tuple[str, int]]:
        return [(n, int(self.sums[n].numel())) for n in self.param_names]


def classifier_forward(encoder: nn.Module, head: nn.Module):
    """logits = head(mean-pooled token states); position ids are explicit, one row per example."""

    def forward(batch: Batch) -> torch.Tensor:
        b, t = batch.input_ids.shape
        inputs = batch.model_inputs()
        inputs["position_ids"] = torch.arange(t).unsqueeze(0).expand(b, t)
        hidden = encoder(**inputs).last_hidden_state
        return head(mean_pool(hidden, batch.attention_mask))

    return forward


def fisher_diagonal(
    encoder: nn.Module,
    head: nn.Module,
    surrogate: Surrogate,
    items: Sequence[dict],
    targets: torch.Tensor,
    batch_size: int = 32,
    word_embeddings: bool = False,
    progress: bool | None = None,
    kernel: bool = True,
) -> tuple[np.ndarray, PerExampleFisher]:
    """Mean over `items` of the squared per-example gradient of the soft cross-entropy."""
    from tqdm.auto import tqdm

    forward = classifier_forward(encoder, head)
    was_training = encoder.training
    encoder.eval()
    head.eval()
    with (
        PerExampleFisher(encoder, word_embeddings, kernel) as fisher,
        tqdm(
            total=len(items),
            desc="fisher",
            unit="ex",
            disable=(not progress) if progress is not None else None,
            leave=False,
        ) as bar,
    ):
        for idx in length_batches(items, batch_size):
            fisher.start_batch(len(idx), [len(items[i]["input_ids"]) for i in idx])
            logits = forward(surrogate.collate([items[i] for i in idx]))
            fisher.backward(soft_cross_entropy(logits, targets[idx]).sum(), len(idx))
            bar.update(len(idx))
    encoder.train(was_training)
    return fisher.vector(), fisher


def fisher_diagonal_loop(
    encoder: nn.Module,
    head: nn.Module,
    surrogate: Surrogate,
    items: Sequence[dict],
    targets: torch.Tensor,
    word_embeddings: bool = False,
) -> np.ndarray:
    """The same quantity by one backward pass per example: slow, for tests and benchmarks."""
    forward = classifier_forward(encoder, head)
    probe = PerExampleFisher(encoder, word_embeddings, kernel=False)
    params = dict(encoder.named_parameters())
    chosen = [params[n] for n in probe.param_names]
    encoder.eval()
    head.eval()
    sums = [torch.zeros_like(p) for p in chosen]
    for i in range(len(items)):
        logits = forward(surrogate.collate([items[i]]))
        grads = torch.autograd.grad(soft_cross_entropy(logits, targets[i : i + 1]).sum(), chosen)
        for s, g in zip(sums, grads, strict=True):
            s += g.pow(2)
    return torch.cat([s.reshape(-1) for s in sums]).div_(len(items)).numpy()


class FisherMethod(TrainedMethod):
    """Fine-tune surrogate + seeded head, then take the diagonal empirical Fisher."""

    name = "fisher"
    Params = FisherParams
    verb = "fine-tuning"

    def build(self, surrogate: Surrogate, label_names, seed: int) -> Classifier:
        """The surrogate's fresh encoder and a seeded head, both trained."""
        encoder = surrogate.fresh_encoder()
        head = label_head(surrogate.hidden_size, label_names, seed)
        params = [*encoder.parameters(), *head.parameters()]
        return Classifier(classifier_forward(encoder, head), [encoder, head], params)

    def vectorise(self, classifier, surrogate, items, targets, seed, progress):
        """The Fisher diagonal over a seeded subset of the training examples (extras: its
        per-unit means and per-layer sketches), projected to `projection_dim` values."""
        p = self.params
        encoder, head = classifier.modules
        order = np.random.default_rng(derived_seed(seed, "fisher-sample")).permutation(len(items))
        chosen = sorted(order[: p.fisher_examples].tolist())
        vector, fisher = fisher_diagonal(
            encoder,
            head,
            surrogate,
            [items[i] for i in chosen],
            targets[chosen],
            batch_size=p.fisher_batch_size,
            word_embeddings=p.word_embeddings,
            progress=progress,
        )
        info = dict(
            fisher_examples=len(chosen),
            full_dim=int(vector.size),
            uncovered_parameters=fisher.uncovered,
            per_example_kernel=fisher.kernel,
        )
        layout = [(n, tuple(fisher.sums[n].shape)) for n in fisher.param_names]
        extras = {
            FISHER_UNITS: fisher_unit_means(vector, layout),
            **component_sketch(grouped_blocks(vector, layout), seed),
        }
        if p.projection_dim:
            from fute.engine.projection import SparseProjection

            proj = SparseProjection(vector.size, p.projection_dim, seed)
            info["projection"] = proj.describe()
            vector = proj(vector)
        return vector.astype(np.float32), info, extras
