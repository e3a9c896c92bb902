"""Evaluation: ranking metrics and label-free prompt-selection baselines, as pure functions."""

from fute.evaluation.labels import align_label_columns
from fute.evaluation.metrics import kendall, ndcg, ndcg_at_k, regret_at_k, spearman, vu_rho
from fute.evaluation.prompt_baselines import (
    global_entropy,
    local_entropy,
    mdl,
    mutual_information,
    perplexity_score,
    zps_logprob,
    zps_prob,
    zps_scores,
    zps_vote,
)

__all__ = [
    "align_label_columns",
    "global_entropy",
    "kendall",
    "local_entropy",
    "mdl",
    "mutual_information",
    "ndcg",
    "ndcg_at_k",
    "perplexity_score",
    "regret_at_k",
    "spearman",
    "vu_rho",
    "zps_logprob",
    "zps_prob",
    "zps_scores",
    "zps_vote",
]
