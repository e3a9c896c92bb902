"""Zero-call priors (CBM-calibrated MI) and rank fusion: hand-computed values and properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fute.core.errors import DataError
from fute.evaluation.priors import (
    calibrated_mutual_information,
    cbm_calibrate,
    descending_ranks,
    mutual_information,
    product_fusion,
    reciprocal_rank_fusion,
)

# a prompt biased towards label 0 on every input, whose answers still differ between inputs
BIASED = np.array([[0.9, 0.1], [0.7, 0.3]])


def _h(*p):
    return -sum(x * math.log(x) for x in p if x > 0)


def test_cbm_by_hand():
    # label means [0.8, 0.2]; ratios [1.125, 0.5] and [0.875, 1.5], then rows renormalised
    np.testing.assert_allclose(
        cbm_calibrate(BIASED),
        [[1.125 / 1.625, 0.5 / 1.625], [0.875 / 2.375, 1.5 / 2.375]],
    )


def test_cbm_leaves_balanced_answers_alone_and_keeps_dead_labels_at_zero():
    balanced = np.array([[0.8, 0.2], [0.2, 0.8]])
    np.testing.assert_allclose(cbm_calibrate(balanced), balanced)
    dead = np.array([[0.6, 0.4, 0.0], [0.2, 0.8, 0.0]])
    out = cbm_calibrate(dead)
    np.testing.assert_array_equal(out[:, 2], [0.0, 0.0])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_calibrated_mi_by_hand():
    q1, q2 = 1.125 / 1.625, 0.875 / 2.375
    mean = (q1 + q2) / 2
    expected = _h(mean, 1 - mean) - (_h(q1, 1 - q1) + _h(q2, 1 - q2)) / 2
    assert calibrated_mutual_information(BIASED) == pytest.approx(expected)
    # calibration removes the bias that MI penalises: here it raises the score
    assert calibrated_mutual_information(BIASED) > mutual_information(BIASED)
    # a prompt that answers the same on every input stays worthless
    assert calibrated_mutual_information(np.tile([0.9, 0.1], (5, 1))) == pytest.approx(0.0)


@pytest.mark.parametrize("bad", [[[0.5, 0.6]], [[1.0]], np.zeros((0, 2)), [0.5, 0.5]])
def test_priors_refuse_non_distributions(bad):
    with pytest.raises(DataError):
        cbm_calibrate(bad)
    with pytest.raises(DataError):
        calibrated_mutual_information(bad)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 30), st.integers(2, 5), st.integers(0, 10_000))
def test_cbm_rows_are_distributions_and_label_order_does_not_matter(n, labels, seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(labels) * 0.7, size=n)
    q = cbm_calibrate(p)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert (q >= 0).all()
    perm = rng.permutation(labels)
    np.testing.assert_allclose(cbm_calibrate(p[:, perm]), q[:, perm], atol=1e-12)
    assert -1e-9 <= calibrated_mutual_information(p) <= math.log(labels) + 1e-9


# ---------------------------------------------------------------------------------------
# fusion

OPPOSED = [[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]]


def test_descending_ranks_share_ties():
    np.testing.assert_array_equal(descending_ranks([0.2, 0.9, 0.2, 0.5]), [3.5, 1, 3.5, 2])


def test_rrf_by_hand():
    # ranks (1, 2, 3) and (3, 2, 1)
    np.testing.assert_allclose(
        reciprocal_rank_fusion(OPPOSED), [1 / 61 + 1 / 63, 2 / 62, 1 / 63 + 1 / 61]
    )
    np.testing.assert_allclose(reciprocal_rank_fusion(OPPOSED, k=0), [4 / 3, 1.0, 4 / 3])
    # weight 0 drops a list; a single list may be given flat
    np.testing.assert_allclose(
        reciprocal_rank_fusion(OPPOSED, weights=[1, 0]), reciprocal_rank_fusion(OPPOSED[0])
    )
    np.testing.assert_allclose(
        reciprocal_rank_fusion(OPPOSED, k=0, weights=[2, 1]), [2 + 1 / 3, 1.5, 2 / 3 + 1]
    )
    # ties: the two first share rank 1.5
    np.testing.assert_allclose(reciprocal_rank_fusion([[1, 1, 0]]), [1 / 61.5, 1 / 61.5, 1 / 63])


def test_product_fusion_vetoes_a_bottom_place():
    # rank-normalised: (1, 2/3, 1/3) and (1/3, 2/3, 1)
    fused = product_fusion(OPPOSED)
    np.testing.assert_allclose(fused, [1 / 3, 4 / 9, 1 / 3])
    # the candidate in the middle of both lists wins the product, loses RRF
    assert fused.argmax() == 1
    assert reciprocal_rank_fusion(OPPOSED).argmin() == 1
    np.testing.assert_allclose(product_fusion(OPPOSED, weights=[1, 0]), [1, 2 / 3, 1 / 3])
    np.testing.assert_allclose(product_fusion(OPPOSED, weights=[2, 1]), [1 / 3, 8 / 27, 1 / 9])


@pytest.mark.parametrize("fuse", [reciprocal_rank_fusion, product_fusion])
def test_fusion_refuses_bad_input(fuse):
    with pytest.raises(DataError, match="NaN"):
        fuse([[1.0, float("nan")]])
    with pytest.raises(DataError, match="shape"):
        fuse([])
    with pytest.raises(DataError, match="weights must be 2"):
        fuse(OPPOSED, weights=[1])
    with pytest.raises(DataError, match="not all zero"):
        fuse(OPPOSED, weights=[0, 0])
    with pytest.raises(DataError, match="non-negative"):
        fuse(OPPOSED, weights=[1, -1])


def test_rrf_refuses_bad_k():
    with pytest.raises(DataError, match="k must be"):
        reciprocal_rank_fusion(OPPOSED, k=-1)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(0, 10_000))
def test_fusion_uses_ranks_only_and_ignores_candidate_order(lists, n, seed):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 4, size=(lists, n)).astype(float)  # small range: many ties
    order = rng.permutation(n)
    monotone = np.exp(s) * 3 - 7  # a strictly increasing map of every score
    for fuse in (reciprocal_rank_fusion, product_fusion):
        fused = fuse(s)
        np.testing.assert_allclose(fuse(s[:, order]), fused[order])
        np.testing.assert_allclose(fuse(monotone), fused)
        # tied candidates in every list get equal fused scores
        for i in range(n):
            for j in range(n):
                if (s[:, i] == s[:, j]).all():
                    assert fused[i] == pytest.approx(fused[j])
    assert (product_fusion(s) > 0).all()
    assert (product_fusion(s) <= 1).all()
