"""How fast is the batched per-example Fisher, against the two things it must beat?

On the same real examples (sentiment-imdb inputs, MiniLM surrogate, max length 64), each
in its own fresh process so peak memory is its own:

* ``mean-gradient``: a plain batched forward + backward of the mean loss (what one training
  step costs without the optimiser): the ceiling the Fisher pass is compared with;
* ``activation-backward``: forward + backward to the embedding output only (no weight
  gradients at all): the part of the Fisher pass that is not per-example work, so its
  throughput bounds the Fisher pass from above even if squared gradients were free;
* ``fisher-hooks``: fute's batched per-example Fisher (`fute.engine.methods.fisher`), squared
  linear-layer gradients by the compiled kernel of `fute.engine.methods.kernels` (the default);
* ``fisher-hooks-torch``: the same without the kernel (pure torch: a matmul per example,
  then a square-and-add pass), what runs where no C compiler exists;
* ``fisher-hooks+words``: the same with the word-embedding matrix included;
* ``fisher-loop``: one backward pass per example, squaring each gradient (the naive way);
* ``fisher-vmap``: ``torch.func.vmap(grad(...))`` over the batch, the other batched option
  (recorded as failed if transformers' attention code cannot be vmapped).

Reported: examples/second (best of `--repeats`), peak resident memory of the process, the
FLOPs of one pass counted by ``torch.utils.flop_counter`` and the achieved fraction of
this machine's measured float32 matmul peak. The targets (issue 3): Fisher throughput
>= 0.5 x mean-gradient and >= 3 x the per-example loop.

    python -m benchmarks.fisher_speed         # make bench-speed
    python -m benchmarks.fisher_speed --quick # fewer examples, pipeline check
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time

from benchmarks.harness.provenance import environment, matmul_peak, provenance_markdown
from benchmarks.harness.results import add_common_args, results_dir, write_results
from benchmarks.harness.stages import Stages
from benchmarks.harness.tables import markdown_table

VARIANTS = (
    "mean-gradient",
    "activation-backward",
    "fisher-hooks",
    "fisher-hooks-torch",
    "fisher-hooks+words",
    "fisher-loop",
    "fisher-loop+words",
    "fisher-vmap",
)


def _setup(n: int, max_length: int):
    import torch

    from fute.data.catalog import load_dataset
    from fute.engine.methods.training import label_head
    from fute.space import load_surrogate

    surrogate = load_surrogate()
    data = load_dataset("sentiment-imdb").sample(n, seed=0)
    items = surrogate.tokenize(data.texts, None, max_length)
    targets = torch.from_numpy(data.targets())
    encoder = surrogate.fresh_encoder().eval()
    head = label_head(surrogate.hidden_size, data.label_names, seed=0)
    return surrogate, items, targets, encoder, head


def _pass(variant: str, surrogate, items, targets, encoder, head, batch_size: int) -> None:
    """One pass of `variant` over all items."""
    import torch

    from fute.engine.methods.fisher import classifier_forward, fisher_diagonal, fisher_diagonal_loop
    from fute.engine.methods.training import batches, length_batches, soft_cross_entropy

    if variant == "mean-gradient":
        # the same length-sorted batches as the Fisher pass: equal padding, a fair ceiling
        forward = classifier_forward(encoder, head)
        for idx in length_batches(items, batch_size):
            encoder.zero_grad(set_to_none=True)
            logits = forward(surrogate.collate([items[i] for i in idx]))
            soft_cross_entropy(logits, targets[idx]).mean().backward()
    elif variant == "activation-backward":
        forward = classifier_forward(encoder, head)
        captured = []
        words = encoder.get_input_embeddings()
        handle = words.register_forward_hook(lambda m, i, o: captured.append(o))
        try:
            for idx in length_batches(items, batch_size):
                captured.clear()
                logits = forward(surrogate.collate([items[i] for i in idx]))
                torch.autograd.grad(soft_cross_entropy(logits, targets[idx]).sum(), captured)
        finally:
            handle.remove()
    elif variant.startswith("fisher-hooks"):
        fisher_diagonal(
            encoder,
            head,
            surrogate,
            items,
            targets,
            batch_size,
            "+words" in variant,
            progress=False,
            kernel=not variant.endswith("-torch"),
        )
    elif variant.startswith("fisher-loop"):
        fisher_diagonal_loop(encoder, head, surrogate, items, targets, variant.endswith("words"))
    elif variant == "fisher-vmap":
        from torch.func import functional_call, grad, vmap

        params = {
            k: v.detach() for k, v in encoder.named_parameters() if "word_embeddings" not in k
        }
        sums = {k: torch.zeros_like(v) for k, v in params.items()}

        def loss(p, ids, mask, y):
            out = functional_call(
                encoder, p, (ids.unsqueeze(0),), {"attention_mask": mask.unsqueeze(0)}
            )
            pooled = (out.last_hidden_state * mask[None, :, None]).sum(1) / mask.sum()
            return soft_cross_entropy(head(pooled), y.unsqueeze(0)).sum()

        per_example = vmap(grad(loss), in_dims=(None, 0, 0, 0))
        for idx in batches(len(items), batch_size, None):
            b = surrogate.collate([items[i] for i in idx])
            g = per_example(params, b.input_ids, b.attention_mask, targets[idx])
            for k in sums:
                sums[k] += g[k].pow(2).sum(0)
    else:
        raise ValueError(variant)


def _measure(
    variant: str, n: int, pool: int, max_length: int, batch_size: int, repeats: int, queue
) -> None:
    """Child process: time `variant`, count its FLOPs once, report peak memory.

    Every variant draws the same `pool` examples; a slow variant uses the first `n` of them.
    """
    try:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        torch.manual_seed(0)
        surrogate, items, targets, encoder, head = _setup(pool, max_length)
        setup = (surrogate, items[:n], targets[:n], encoder, head)
        _pass(variant, *setup, batch_size=batch_size)  # warm-up (allocator, first-call costs)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            _pass(variant, *setup, batch_size=batch_size)
            times.append(time.perf_counter() - start)
        flops = None
        if not variant.startswith(
            "fisher-loop"
        ):  # the loop's FLOPs equal the hooks' minus batching
            # the compiled kernel's arithmetic is invisible to torch's counter: count the
            # pure-torch path, which does the same multiply-adds
            counted = variant
            if variant.startswith("fisher-hooks"):
                counted = variant.removesuffix("-torch") + "-torch"
            counter = FlopCounterMode(display=False)
            with counter:
                _pass(counted, *setup, batch_size=batch_size)
            flops = counter.get_total_flops()
        queue.put(
            {
                "variant": variant,
                "ok": True,
                "examples": n,
                "seconds": min(times),
                "seconds_all": times,
                "examples_per_s": n / min(times),
                "flops": flops,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "threads": torch.get_num_threads(),
            }
        )
    except Exception as exc:  # noqa: BLE001 - a variant that cannot run is a result too
        queue.put(
            {
                "variant": variant,
                "ok": False,
                "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            }
        )


def run_variant(
    variant: str, n: int, pool: int, max_length: int, batch_size: int, repeats: int, timeout: float
) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_measure, args=(variant, n, pool, max_length, batch_size, repeats, queue)
    )
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return {"variant": variant, "ok": False, "error": f"timed out after {timeout:.0f} s"}
    return (
        queue.get()
        if not queue.empty()
        else {"variant": variant, "ok": False, "error": f"exit code {proc.exitcode}"}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--examples", type=int, default=128)
    parser.add_argument(
        "--loop-examples",
        type=int,
        default=None,
        help="examples for the slow loop and vmap variants (default: --examples, the same data)",
    )
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--repeats", type=int, default=5, help="passes per variant; the best one is reported"
    )
    args = parser.parse_args()
    if args.quick:
        args.examples, args.loop_examples, args.repeats = 32, 8, 1
    if args.loop_examples is None:
        args.loop_examples = args.examples

    env, stages = environment(), Stages()
    with stages("matmul peak"):
        peak = matmul_peak()
    rows = []
    for variant in VARIANTS:
        n = (
            args.loop_examples
            if variant.startswith(("fisher-loop", "fisher-vmap"))
            else args.examples
        )
        with stages(variant):
            r = run_variant(
                variant,
                n,
                args.examples,
                args.max_length,
                args.batch_size,
                args.repeats,
                timeout=900,
            )
        if r["ok"] and r["flops"]:
            r["gflops_per_s"] = r["flops"] / r["seconds"] / 1e9
            r["fraction_of_matmul_peak"] = r["gflops_per_s"] / peak
        print(json.dumps(r), flush=True)
        rows.append(r)

    by = {r["variant"]: r for r in rows}

    def ratio(a: str, b: str) -> float | None:
        if by.get(a, {}).get("ok") and by.get(b, {}).get("ok"):
            return by[a]["examples_per_s"] / by[b]["examples_per_s"]
        return None

    ratios = {
        "fisher_vs_mean_gradient": ratio("fisher-hooks", "mean-gradient"),
        "fisher_vs_loop": ratio("fisher-hooks", "fisher-loop"),
        "activation_backward_vs_loop": ratio("activation-backward", "fisher-loop"),
        "mean_gradient_vs_loop": ratio("mean-gradient", "fisher-loop"),
        "fisher_torch_vs_mean_gradient": ratio("fisher-hooks-torch", "mean-gradient"),
        "fisher_torch_vs_loop": ratio("fisher-hooks-torch", "fisher-loop"),
        "fisher_words_vs_loop_words": ratio("fisher-hooks+words", "fisher-loop+words"),
        "fisher_vs_vmap": ratio("fisher-hooks", "fisher-vmap"),
    }
    settings = {
        "examples": args.examples,
        "loop_examples": args.loop_examples,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "data": "sentiment-imdb (seeded sample)",
        "surrogate": "all-MiniLM-L6-v2",
    }
    table = markdown_table(
        ["variant", "examples/s", "peak RSS (MiB)", "GFLOP/s", "of matmul peak", "note"],
        [
            [
                r["variant"],
                f"{r['examples_per_s']:.1f}" if r["ok"] else "-",
                f"{r['peak_rss_mib']:.0f}" if r["ok"] else "-",
                f"{r['gflops_per_s']:.1f}" if r.get("gflops_per_s") else "-",
                f"{r['fraction_of_matmul_peak']:.0%}" if r.get("fraction_of_matmul_peak") else "-",
                "" if r["ok"] else r["error"],
            ]
            for r in rows
        ],
    )

    def show(x: float | None) -> str:
        return f"{x:.2f}" if x is not None else "n/a"

    md = "\n".join(
        [
            "# Fisher extraction speed",
            "",
            f"float32 matmul peak of this machine: {peak:.1f} GFLOP/s (2048 x 2048, best of 10).",
            "",
            table,
            "",
            f"- Fisher (hooks) / plain forward+backward: **{show(ratios['fisher_vs_mean_gradient'])}** (target >= 0.5)",
            f"- Fisher (hooks) / per-example loop: **{show(ratios['fisher_vs_loop'])}** (target >= 3)",
            f"- that ratio if the per-example squared gradients cost nothing (forward + activation backward alone / loop): {show(ratios['activation_backward_vs_loop'])}",
            f"- that ratio if they cost what the batched weight gradient costs (the same FLOPs, one large matmul: plain forward+backward / loop): {show(ratios['mean_gradient_vs_loop'])}",
            f"- without the compiled kernel (pure torch): {show(ratios['fisher_torch_vs_mean_gradient'])} of forward+backward, {show(ratios['fisher_torch_vs_loop'])}x the loop",
            f"- with the word-embedding matrix: Fisher (hooks+words) / loop+words: {show(ratios['fisher_words_vs_loop_words'])}",
            f"- Fisher (hooks) / torch.func.vmap: {show(ratios['fisher_vs_vmap'])}",
            "",
            provenance_markdown(env, settings, stages),
        ]
    )
    write_results(
        "fisher_speed",
        {
            "environment": env,
            "settings": settings,
            "matmul_peak_gflops": peak,
            "variants": rows,
            "ratios": ratios,
        },
        md,
        results_dir(args),
    )


if __name__ == "__main__":
    main()
