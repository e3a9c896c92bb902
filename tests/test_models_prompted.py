"""PromptedLM on the real SmolLM2: verbalizer scoring, batching, and agreement across backends."""

import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import torch

from fute.models import LlamaCppLM, OpenAILM, PromptedLM, cached_predict, default_lm, predict
from fute.models.backends.transformers_lm import smollm2_gguf_path

pytestmark = pytest.mark.slow

REVIEWS = [
    "An absolute joy, I loved every minute.",
    "Boring, predictable and far too long.",
    "It was fine.",
    "The worst meal I have had in years.",
]
PAIRS = [
    ("The bridge opened in 1932.", "The bridge opened before 1950."),
    ("The bridge opened in 1932.", "The bridge opened in 2001."),
]
# The same Q4_1 weights: transformers de-quantises them to fp32, llama.cpp multiplies them
# with activations quantised to 8 bits. Tokens are identical; word log-likelihoods differ by
# up to ~0.1 nat, which moves label probabilities by up to ~0.06 (measured on this file's
# reviews). The stated cross-backend tolerance on probabilities is therefore 0.08.
CROSS_BACKEND_ATOL = 0.08


@pytest.fixture(scope="module")
def lm():
    return default_lm()


def full_sequence_logprob(lm, context, word):
    a, b = lm.encode(context, context=True), lm.encode(word, context=False)
    with torch.inference_mode():
        logits = lm._model(torch.tensor([a + b])).logits[0].double().log_softmax(-1)
    return sum(logits[len(a) - 1 + k, b[k]].item() for k in range(len(b)))


def test_scores_equal_unbatched_full_sequence(lm):
    words = [" positive", " entailment", " does not mention"]  # 1, 2 and 3 tokens
    contexts = [
        "Review: short. Sentiment:",
        "A much longer review that goes on and on about the plot. Sentiment:",
    ]
    got = lm.score(contexts, words)
    want = [[full_sequence_logprob(lm, c, w) for w in words] for c in contexts]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_shared_prefix_gives_the_same_scores(lm):
    """Contexts of one template share a prefix that runs once; scores must not change."""
    words = [" positive", " entailment", " does not mention"]
    head = "Read the review and say how the writer feels about the film.\nReview: "
    contexts = [head + r + "\nSentiment:" for r in REVIEWS]
    shared, _ = lm._shared_prefix([lm.encode(c, context=True) for c in contexts])
    assert shared >= 10  # the instruction is shared, so the fast path really runs
    got = default_lm(batch_size=3).score(contexts, words)  # two batches: the cache is copied
    plain = default_lm(share_prefix=False).score(contexts, words)
    np.testing.assert_allclose(got, plain, atol=1e-4)
    want = [[full_sequence_logprob(lm, c, w) for w in words] for c in contexts]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_prompted_probabilities(lm):
    model = PromptedLM(lm, "sent-good-bad")
    p = predict(model, REVIEWS)
    assert p.shape == (4, 2) and np.allclose(p.sum(1), 1)
    # one batch or one input at a time: same numbers
    single = np.concatenate([predict(model, [r]) for r in REVIEWS])
    np.testing.assert_allclose(p, single, atol=1e-5)
    # log-sum-exp over the label's words, then softmax over labels
    words = {"negative": [" bad", " poor", " awful"], "positive": [" good", " great", " excellent"]}
    lse = [
        np.logaddexp.reduce([full_sequence_logprob(lm, model.context(REVIEWS[0]), w) for w in ws])
        for ws in words.values()
    ]
    np.testing.assert_allclose(p[0], np.exp(lse) / np.exp(lse).sum(), atol=1e-4)


def test_chat_and_pair_prompts(lm):
    model = PromptedLM(lm, "nli-chat-system")
    assert model.arity == 2 and model.context(PAIRS[0]).endswith("<|im_start|>assistant\n")
    p = predict(model, PAIRS)
    assert p.shape == (2, 3) and np.allclose(p.sum(1), 1)


def test_cached_answers_of_prompted_lm(lm, tmp_path):
    model = PromptedLM(lm, "sent-review-colon")
    first = cached_predict(model, REVIEWS, cache=tmp_path, progress=False)
    other = PromptedLM(lm, "sent-tone")
    assert not np.array_equal(first, cached_predict(other, REVIEWS, cache=tmp_path, progress=False))
    assert len(list((tmp_path / "answers").glob("*.sqlite"))) == 2


def working_n_batch() -> int:
    """The llama.cpp batch size that runs here: 512, else 1 (some builds' batched CPU
    kernels crash with SIGSEGV; token-by-token evaluation avoids them), else 0."""
    probe = (
        "import sys; from llama_cpp import Llama; n = int(sys.argv[2]); "
        "m = Llama(model_path=sys.argv[1], logits_all=True, n_batch=n, n_ubatch=n, verbose=False); "
        "m.eval(m.tokenize(b'Review: it was fine. Sentiment:'))"
    )
    for n in (512, 1):
        cmd = [sys.executable, "-c", probe, str(smollm2_gguf_path()), str(n)]
        try:
            if subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0:
                return n
        except subprocess.TimeoutExpired:
            pass
    return 0


@pytest.fixture(scope="module")
def n_batch():
    pytest.importorskip("llama_cpp")
    n = working_n_batch()
    if not n:
        pytest.skip("llama-cpp-python cannot evaluate a prompt on this machine")
    return n


@pytest.mark.llamacpp
def test_llamacpp_matches_transformers(lm, n_batch):
    for prompt in ("sent-good-bad", "sent-chat-label"):
        a = predict(PromptedLM(lm, prompt), REVIEWS)
        b = predict(PromptedLM(LlamaCppLM(smollm2_gguf_path(), n_batch=n_batch), prompt), REVIEWS)
        np.testing.assert_allclose(a, b, atol=CROSS_BACKEND_ATOL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(n_batch):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(smollm2_gguf_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model_alias",
            "smollm2",
            "--n_batch",
            str(n_batch),
            "--n_ubatch",
            str(n_batch),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/models", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"llama_cpp.server exited with code {proc.returncode}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.llamacpp
def test_openai_server_matches_transformers(lm, server):
    """A chat prompt starts with SmolLM2's BOS token (<|im_start|>), for which
    llama-cpp-python's server aligns echoed log-probabilities correctly."""
    a = predict(PromptedLM(lm, "sent-chat-label"), REVIEWS)
    remote = OpenAILM(server, "smollm2", concurrency=2, chat_template=lm.tokenizer.chat_template)
    b = predict(PromptedLM(remote, "sent-chat-label"), REVIEWS)
    np.testing.assert_allclose(a, b, atol=CROSS_BACKEND_ATOL)
    assert (a.argmax(1) == b.argmax(1)).all()


@pytest.mark.llamacpp
def test_openai_server_with_shifted_logprobs_is_refused(server):
    """Plain prompts do not start with BOS: this server then shifts its echoed
    log-probabilities by one token, which the alignment probe must catch."""
    from fute.core.errors import ModelError

    remote = OpenAILM(server, "smollm2", concurrency=1)
    with pytest.raises(ModelError, match="shifted by one token"):
        predict(PromptedLM(remote, "sent-good-bad"), REVIEWS[:1])


def test_openai_unreachable_server_is_a_clear_error():
    from fute.core.errors import ModelError

    dead = OpenAILM(f"http://127.0.0.1:{free_port()}", "none", timeout=1, max_retries=1)
    with pytest.raises(ModelError, match="cannot reach"):
        dead.score(["x"], [" y"])
