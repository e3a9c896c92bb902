"""LLM answers per second from a fleet of OpenAI-compatible servers (issue 13, point 6).

Starts llama.cpp servers (``python -m llama_cpp.server``, one thread each, prompts evaluated one token at a
time so that every server gives the same bits) on 127.0.0.1
serving the bundled SmolLM2 GGUF, and times `cached_predict` (no answer cache) of a short
chat prompt over a fixed pool sample with 1 and 2 servers and 1 / 4 / 16 requests in
flight per server. Every configuration answers the same inputs, and its answers are
checked to be bit-identical to those of the first configuration (one server, one request).

    python -m benchmarks.scale_fleet                    # results/fleet.{json,md}
    python -m benchmarks.scale_fleet --inputs 16 --in-flight 1,4

`section_fleet(args, stages)` follows the section convention of scale.py, so the
same measurement can be run as a section of that benchmark.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from benchmarks.harness.provenance import environment, provenance_markdown
from benchmarks.harness.results import add_common_args, results_dir, write_results
from benchmarks.harness.stages import Stages
from benchmarks.harness.tables import markdown_table

PROMPT = {
    "id": "bench-fleet-chat",
    "task": "sentiment",
    "system": "Answer in one word.",
    "template": "Positive or negative?\n{{ text }}",
    "verbalizer": {"negative": ["negative"], "positive": ["positive"]},
    "chat": True,
}
WORDS = 24  # each input is cut to its first words, so requests have a bounded length


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(threads: int) -> tuple[subprocess.Popen, str]:
    from fute.models.backends.transformers_lm import smollm2_gguf_path

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf_path())]
        + ["--host", "127.0.0.1", "--port", str(port), "--model_alias", "smollm2"]
        + ["--n_threads", str(threads), "--n_ctx", "512", "--n_batch", "1", "--n_ubatch", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/models", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}") from None
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError(f"llama_cpp.server on {url} not ready after 180 s")


def chat_template() -> str:
    import gguf

    from fute.models.backends.transformers_lm import smollm2_gguf_path

    field = gguf.GGUFReader(smollm2_gguf_path()).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def section_fleet(args: argparse.Namespace, stages: Stages) -> tuple[list[dict], str]:
    from fute.data.pool import sample_pool
    from fute.models import OpenAILM, PromptedLM, cached_predict

    n_inputs = getattr(args, "inputs", 16)
    in_flight = getattr(args, "in_flight", [1, 4, 16])
    server_counts = getattr(args, "servers", [1, 2])
    threads = getattr(args, "server_threads", 1)
    texts = [" ".join(t.split()[:WORDS]) for t in sample_pool(n_inputs, seed=0).texts]
    template = chat_template()
    prompt = Path(tempfile.mkdtemp(prefix="fute-bench-fleet-")) / "prompt.json"
    prompt.write_text(json.dumps(PROMPT))
    servers: list[tuple[subprocess.Popen, str]] = []
    rows: list[dict] = []
    reference = None
    try:
        with stages(f"start {max(server_counts)} llama.cpp servers"):
            servers = [start_server(threads) for _ in range(max(server_counts))]
        urls = [url for _, url in servers]  # warm every server up (first requests are slow)
        lm = OpenAILM(urls, "smollm2", chat_template=template, first_timeout=120, timeout=900)
        cached_predict(PromptedLM(lm, str(prompt)), texts[:4], cache=False, progress=False)
        for count in server_counts:
            for k in in_flight:
                urls = [url for _, url in servers[:count]]
                lm = OpenAILM(
                    urls,
                    "smollm2",
                    chat_template=template,
                    first_timeout=120,
                    max_in_flight=k,
                    timeout=900,  # a queued request counts too: 16 x ~6 s waits here
                )
                model = PromptedLM(lm, str(prompt), batch_size=4)
                with stages(f"{count} server(s) x {k} in flight"):
                    start = time.perf_counter()
                    answers = cached_predict(model, texts, cache=False, progress=False)
                    seconds = time.perf_counter() - start
                if reference is None:
                    reference = answers
                row = {
                    "servers": count,
                    "in_flight_per_server": k,
                    "inputs": n_inputs,
                    "requests": sum(s.answers for s in lm.fleet.servers),
                    "seconds": round(seconds, 2),
                    "answers_per_s": round(n_inputs / seconds, 2),
                    "requests_per_s": round(sum(s.answers for s in lm.fleet.servers) / seconds, 2),
                    "per_server_requests": [s.answers for s in lm.fleet.servers],
                    "same_answers": bool(np.array_equal(answers, reference)),
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        for proc, _ in servers:
            proc.kill()
            proc.wait(timeout=30)
    table = markdown_table(
        ["servers", "in flight / server", "answers/s", "requests/s", "seconds", "split", "same"],
        [
            [
                r["servers"],
                r["in_flight_per_server"],
                f"{r['answers_per_s']:.2f}",
                f"{r['requests_per_s']:.2f}",
                f"{r['seconds']:.1f}",
                " / ".join(map(str, r["per_server_requests"])),
                "yes" if r["same_answers"] else "NO",
            ]
            for r in rows
        ],
    )
    md = (
        f"## LLM answers from a fleet of servers ({n_inputs} pool inputs, 2 answer words, "
        f"llama.cpp SmolLM2-135M Q4_1, {threads} thread per server)\n\n{table}\n\n"
        "An answer is one input's label distribution: one request per answer word (each "
        "prompt echoed with its log-probabilities) plus one alignment probe per run. 'same': "
        "the answers are bit-identical to those of the first row.\n\n" + LIMITS
    )
    return rows, md


LIMITS = """### What this machine can and cannot show

This is a shared 2-core virtual machine without a GPU, and other jobs ran during the
measurement, so these are lower bounds on speed. Two llama.cpp servers here share the same
two cores, so a second server can at best double the rate (one core each) and only when
nothing else runs; more requests in flight cannot help a llama.cpp server, which answers
one request at a time (requests wait in its queue), beyond hiding the round trip between
requests. What the table does show: the fleet keeps every server busy, splits the work
between them, and gives the same answers whichever server answered.

On a real fleet each vLLM server has its own GPU and batches the requests in flight
(continuous batching), so the rate should grow with the requests in flight per server
until the GPU is saturated (typically tens to hundreds of short prompts at once), and
linearly with the number of servers, since servers share nothing and the client only
posts JSON (a few hundred requests per second per client thread pool)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(parser)
    parser.add_argument("--inputs", type=int, default=16, help="pool inputs to answer")
    parser.add_argument(
        "--in-flight",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 4, 16],
        help="comma-separated requests in flight per server",
    )
    parser.add_argument(
        "--servers",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 2],
        help="comma-separated numbers of servers",
    )
    parser.add_argument("--server-threads", type=int, default=1, help="threads per server")
    args = parser.parse_args()
    env = environment()
    stages = Stages()
    rows, md = section_fleet(args, stages)
    settings = vars(args) | {"out": str(args.out)}
    payload = {"environment": env, "settings": settings, "fleet": rows}
    text = "\n".join(
        ["# Fleet: LLM answers per second", "", md, "", provenance_markdown(env, settings, stages)]
    )
    write_results("fleet", payload, text, results_dir(args))


if __name__ == "__main__":
    main()
