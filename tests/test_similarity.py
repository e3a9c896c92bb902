"""Named similarities: hand-computed values, invariances, the registry and its errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fute.core.errors import FuteError
from fute.ranking.similarity import (
    SIMILARITIES,
    SimilarityError,
    behaviour,
    get_similarity,
    reference_centre,
)

cosine = get_similarity("cosine")
centred = get_similarity("centred-cosine")
task2vec = get_similarity("task2vec")
rrf = get_similarity("rrf-components")
maxsim = get_similarity("maxsim")
behave = get_similarity("behaviour")

vectors = st.lists(st.floats(-10, 10), min_size=3, max_size=3).filter(
    lambda v: np.linalg.norm(v) > 1e-3
)
non_negative = st.lists(st.just(0.0) | st.floats(1e-6, 10), min_size=4, max_size=4)
scales = st.floats(0.01, 100)


# ---------------------------------------------------------------------------------------
# registry


def test_registry_names_and_unknown_name():
    assert set(SIMILARITIES) == {
        "cosine",
        "centred-cosine",
        "task2vec",
        "rrf-components",
        "maxsim",
        "behaviour",
    }
    for name, sim in SIMILARITIES.items():
        assert get_similarity(name) is sim
        assert sim.formula and sim.source
    with pytest.raises(SimilarityError, match="unknown similarity 'dot'.*cosine.*behaviour"):
        get_similarity("dot")
    assert issubclass(SimilarityError, FuteError)


def test_options_are_checked_by_name():
    with pytest.raises(SimilarityError, match=r"unknown option\(s\) \['centre'\]; it takes: none"):
        cosine([1, 0], [0, 1], centre=[0, 0])
    with pytest.raises(SimilarityError, match=r"missing option\(s\) \['centre'\]"):
        centred.scores([1, 0], [[0, 1]])
    assert centred.required == ("centre",)
    assert rrf.options == ("components", "k")


def test_bad_vectors_are_refused():
    with pytest.raises(SimilarityError, match="3 coordinates"):
        cosine.scores([1, 0, 0], [[1, 0]])
    with pytest.raises(SimilarityError, match="NaN"):
        cosine([1, float("nan")], [1, 0])
    with pytest.raises(SimilarityError, match="NaN"):
        cosine.scores([1, 0], [[1, 0], [float("inf"), 0]])
    with pytest.raises(SimilarityError, match="non-empty 1-D"):
        cosine([], [])
    assert cosine.scores([1, 0], []).shape == (0,)
    with pytest.raises(SimilarityError, match="candidates must be a regular array of numbers"):
        cosine.scores([1, 0], [[1, 0], [1]])
    with pytest.raises(SimilarityError, match="target must be a regular array of numbers"):
        cosine(["a", "b"], [1, 0])
    with pytest.raises(SimilarityError, match="must be numbers"):
        maxsim([[1, 0]], [["x", "y"]])


# ---------------------------------------------------------------------------------------
# cosine


def test_cosine_by_hand():
    assert cosine([1, 0], [1, 1]) == pytest.approx(1 / math.sqrt(2))
    assert cosine([1, 2], [-2, -4]) == pytest.approx(-1.0)
    assert cosine([0, 0], [1, 1]) == 0.0  # a zero vector has no direction
    np.testing.assert_allclose(
        cosine.scores([1, 0], [[1, 1], [0, 3], [-2, 0]]), [1 / math.sqrt(2), 0.0, -1.0]
    )


def test_batches_split_rows_without_changing_scores(monkeypatch):
    rng = np.random.default_rng(0)
    t, c = rng.normal(size=6), rng.normal(size=(50, 6))
    whole = cosine.scores(t, c)
    monkeypatch.setattr("fute.ranking.similarity.arrays._BLOCK_ELEMENTS", 13)  # blocks of 2 rows
    np.testing.assert_allclose(cosine.scores(t, c), whole, rtol=1e-12)
    np.testing.assert_allclose(whole, [cosine(t, row) for row in c], rtol=1e-12)
    # float32 candidates are scored in float32, without a float64 copy: 6-7 digits
    np.testing.assert_allclose(cosine.scores(t, c.astype(np.float32)), whole, atol=1e-6)
    np.testing.assert_allclose(
        centred.scores(t, c.astype(np.float32), centre=c[0] / 10),
        centred.scores(t, c, centre=c[0] / 10),
        atol=1e-6,
    )


@settings(max_examples=50, deadline=None)
@given(vectors, vectors, scales, scales)
def test_cosine_symmetric_scale_invariant_bounded(a, b, s, r):
    x = cosine(a, b)
    assert -1.0 <= x <= 1.0
    assert x == pytest.approx(cosine(b, a), abs=1e-12)
    assert cosine(np.multiply(a, s), np.multiply(b, r)) == pytest.approx(x, abs=1e-9)


# ---------------------------------------------------------------------------------------
# centred cosine


# a tight cluster: shared direction e0, each member has its own small residue
CLUSTER = np.array([[10, 1, 0], [10, 0, 1], [10, -1, 0], [10, 0, -1]], dtype=float)


def test_reference_centre_is_mean_of_unit_rows():
    c = reference_centre(CLUSTER)
    np.testing.assert_allclose(c, [10 / math.sqrt(101), 0, 0])
    # norms do not weigh: the same directions at other lengths give the same centre
    np.testing.assert_allclose(reference_centre(CLUSTER * [[1], [50], [0.1], [3]]), c, atol=1e-15)


def test_centring_removes_what_the_cluster_shares():
    c = reference_centre(CLUSTER)
    m1, m2, m3 = CLUSTER[:3]
    assert cosine(m1, m2) > 0.98  # the shared direction dominates plain cosine
    assert centred(m1, m2, centre=c) == pytest.approx(0.0, abs=1e-12)  # residues orthogonal
    assert centred(m1, m3, centre=c) == pytest.approx(-1.0)  # residues opposite
    np.testing.assert_allclose(
        centred.scores(m1, CLUSTER, centre=c), [1.0, 0.0, -1.0, 0.0], atol=1e-12
    )


def test_orthogonal_pair_becomes_opposite_around_its_mean():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    c = reference_centre([a, b])  # [0.5, 0.5]
    assert cosine(a, b) == 0.0
    assert centred(a, b, centre=c) == pytest.approx(-1.0)


def test_per_kind_centres():
    target, cand = np.array([3.0, 4.0]), np.array([0.0, 2.0])
    ct, cc = np.array([0.5, 0.5]), np.array([0.0, 0.2])
    # unit(target) - ct = [0.1, 0.3]; unit(cand) - cc = [0, 0.8]
    expected = (0.3 * 0.8) / (math.hypot(0.1, 0.3) * 0.8)
    assert centred(target, cand, centre=ct, candidate_centre=cc) == pytest.approx(expected)
    with pytest.raises(SimilarityError, match="centres have 3 and 3 coordinates"):
        centred(target, cand, centre=[1, 0, 0])


def test_centred_batch_matches_the_definition():
    """The batch works from dot products; check it against centring each row explicitly."""
    rng = np.random.default_rng(4)
    t, c = rng.normal(size=5), rng.normal(size=(30, 5)) * rng.uniform(0.01, 100, (30, 1))
    c[7] = 0.0  # a zero vector: u = 0, so u - c_b = -c_b
    ct, cc = reference_centre(rng.normal(size=(4, 5))), reference_centre(c[:3])
    x = t / np.linalg.norm(t) - ct
    norms = np.linalg.norm(c, axis=1, keepdims=True)
    rows = np.divide(c, norms, out=np.zeros_like(c), where=norms > 0) - cc
    direct = rows @ x / (np.linalg.norm(rows, axis=1) * np.linalg.norm(x))
    np.testing.assert_allclose(
        centred.scores(t, c, centre=ct, candidate_centre=cc), direct, atol=1e-12
    )


def test_a_pair_score_does_not_change_when_other_vectors_are_stored():
    c = reference_centre(CLUSTER)
    rng = np.random.default_rng(1)
    t, b = rng.normal(size=3), rng.normal(size=3)
    alone = centred.scores(t, [b], centre=c)[0]
    with_others = centred.scores(t, np.vstack([rng.normal(size=(20, 3)), b]), centre=c)[-1]
    assert with_others == pytest.approx(alone, abs=1e-12)


def test_reference_centre_refuses_too_few_or_zero_vectors():
    with pytest.raises(SimilarityError, match="at least 2 rows"):
        reference_centre([[1.0, 2.0]])
    with pytest.raises(SimilarityError, match="zero vector"):
        reference_centre([[1.0, 2.0], [0.0, 0.0]])


@settings(max_examples=50, deadline=None)
@given(vectors, vectors, scales, scales)
def test_centred_symmetric_scale_invariant_bounded(a, b, s, r):
    c = reference_centre(CLUSTER)
    x = centred(a, b, centre=c)
    assert -1.0 <= x <= 1.0
    assert x == pytest.approx(centred(b, a, centre=c), abs=1e-9)
    assert centred(np.multiply(a, s), np.multiply(b, r), centre=c) == pytest.approx(x, abs=1e-7)


# ---------------------------------------------------------------------------------------
# Task2Vec


def test_task2vec_by_hand():
    assert task2vec([1, 1], [1, 1]) == pytest.approx(1.0)
    assert task2vec([1, 0], [0, 1]) == 0.0  # disjoint supports: ratios [1, 0] and [0, 1]
    # sums [4, 2]: ratios [3/4, 1/2] and [1/4, 1/2]
    expected = (0.75 * 0.25 + 0.5 * 0.5) / math.sqrt((0.75**2 + 0.25) * (0.25**2 + 0.25))
    assert task2vec([3, 1], [1, 1]) == pytest.approx(expected)
    # a coordinate that is zero on both sides is left out, not divided by eps
    assert task2vec([3, 0, 1], [1, 0, 1]) == pytest.approx(expected)
    assert task2vec([0, 0], [1, 2]) == 0.0


def test_task2vec_is_unit_free():
    """Tiny Fisher values (small gradients) give the same score as large ones."""
    a, b = np.array([3.0, 1.0, 0.5]), np.array([1.0, 1.0, 2.0])
    assert task2vec(a * 1e-12, b * 1e-12) == pytest.approx(task2vec(a, b), rel=1e-12)


def test_task2vec_refuses_negative_coordinates():
    with pytest.raises(SimilarityError, match="negative coordinates.*signed projection"):
        task2vec([1, -0.5], [1, 1])
    with pytest.raises(SimilarityError, match="negative"):
        task2vec.scores([1, 1], [[1, 1], [0, -1]])


@settings(max_examples=50, deadline=None)
@given(non_negative, non_negative, scales)
def test_task2vec_symmetric_bounded_jointly_scale_invariant(a, b, s):
    x = task2vec(a, b)
    assert 0.0 <= x <= 1.0
    assert x == pytest.approx(task2vec(b, a), abs=1e-12)
    assert task2vec(np.multiply(a, s), np.multiply(b, s)) == pytest.approx(x, abs=1e-9)
    if np.sum(a) > 0:
        assert task2vec(a, a) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# per-component reciprocal-rank fusion

T = [1, 0, 1, 0]  # two components of two coordinates each
CANDS = np.array(
    [
        [1, 0, 0, 1],  # A: cosines 1 and 0
        [0, 1, 1, 0],  # B: 0 and 1
        [1, 1, 1, 1],  # C: 0.707 and 0.707
    ],
    dtype=float,
)


def test_rrf_components_by_hand():
    # ranks per component: (A 1, C 2, B 3) and (B 1, C 2, A 3)
    np.testing.assert_allclose(
        rrf.scores(T, CANDS, components=[(0, 2), (2, 4)]),
        [1 / 61 + 1 / 63, 1 / 63 + 1 / 61, 2 / 62],
    )
    np.testing.assert_allclose(
        rrf.scores(T, CANDS, components=[(0, 2), (2, 4)], k=0), [4 / 3, 4 / 3, 1.0]
    )
    # whole-vector cosine ranks C first; fusing per-component ranks puts it last
    assert cosine.scores(T, CANDS).argmax() == 2
    assert rrf.scores(T, CANDS, components={"layer0": (0, 2), "layer1": (2, 4)}).argmin() == 2


def test_rrf_components_is_permutation_equivariant():
    rng = np.random.default_rng(2)
    t, c = rng.normal(size=6), rng.normal(size=(9, 6))
    comps = [(0, 1), (1, 4), (4, 6)]
    order = rng.permutation(9)
    np.testing.assert_allclose(
        rrf.scores(t, c[order], components=comps), rrf.scores(t, c, components=comps)[order]
    )


def test_rrf_components_has_no_pair_score_and_checks_components():
    with pytest.raises(SimilarityError, match=r"no score for one pair: use \.scores"):
        rrf(T, CANDS[0], components=[(0, 2)])
    for comps, msg in [
        ([], "empty"),
        ([(0, 5)], "0 <= start < stop <= dim"),
        ([(2, 2)], "0 <= start < stop"),
        ([(0, 3), (2, 4)], "overlaps"),
        (["ab"], "not a .start, stop. pair"),
    ]:
        with pytest.raises(SimilarityError, match=msg):
            rrf.scores(T, CANDS, components=comps)


# ---------------------------------------------------------------------------------------
# MaxSim


def test_maxsim_by_hand():
    t = [[1, 0], [0, 1]]
    c = [[1, 0], [2, 0]]
    # target -> candidate: best cosines 1 and 0, mean 0.5; back: 1 and 1, mean 1
    assert maxsim(t, c, symmetric=False) == pytest.approx(0.5)
    assert maxsim(c, t, symmetric=False) == pytest.approx(1.0)
    assert maxsim(t, c) == pytest.approx(0.75)
    assert maxsim(t, c) == pytest.approx(maxsim(c, t))
    assert maxsim(t, t) == pytest.approx(1.0)


def test_maxsim_input_forms_agree():
    rng = np.random.default_rng(3)
    t, c = rng.normal(size=(4, 5)), rng.normal(size=(6, 3, 5))
    stacked = maxsim.scores(t, c)
    np.testing.assert_allclose(maxsim.scores(t, list(c)), stacked)
    np.testing.assert_allclose(
        maxsim.scores(t.ravel(), c.reshape(6, 15), dim=5), stacked, rtol=1e-12
    )
    # candidates with different numbers of positions
    ragged = [c[0], c[1][:2]]
    np.testing.assert_allclose(
        maxsim.scores(t, ragged), [stacked[0], maxsim(t, c[1][:2])], rtol=1e-12
    )
    with pytest.raises(SimilarityError, match="whole number of positions"):
        maxsim(t.ravel(), t.ravel()[:-1], dim=5)
    with pytest.raises(SimilarityError, match="dim 4"):
        maxsim.scores(t, [np.ones((2, 4))])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_maxsim_ignores_position_order(seed):
    """Prefix positions carry no order in attention, so permuting them must not matter."""
    rng = np.random.default_rng(seed)
    t, c = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    x = maxsim(t, c)
    assert -1.0 <= x <= 1.0
    assert maxsim(t[rng.permutation(4)], c[rng.permutation(5)]) == pytest.approx(x)


# ---------------------------------------------------------------------------------------
# behaviour

POS = np.array([0.1, 0.5, 0.9])
ANSWERS = np.stack([1 - POS, POS], axis=1)  # columns: negative, positive


def test_behaviour_by_hand():
    labels = ["negative", "positive"]
    assert behaviour(ANSWERS, ANSWERS, labels=labels, candidate_labels=labels) == pytest.approx(1)
    # same answers, columns in another order and spelling: matched by normalised name
    swapped = ANSWERS[:, ::-1]
    assert behaviour(
        ANSWERS, swapped, labels=labels, candidate_labels=[" Positive", "NEGATIVE"]
    ) == pytest.approx(1.0)
    # labels swapped: the other model calls positive what this one calls negative
    assert behaviour(ANSWERS, swapped, labels=labels, candidate_labels=labels) == pytest.approx(
        -1.0
    )
    # one shared label: centred [-.4, 0, .4] and [-.1, .1, 0]: 0.04 / sqrt(.32 * .02) = 0.5
    other = np.stack([[0.2, 0.4, 0.3], [0.8, 0.6, 0.7]], axis=1)
    assert behaviour(
        ANSWERS, other, labels=labels, candidate_labels=["positive", "neutral"]
    ) == pytest.approx(0.5)


def test_constant_answers_score_zero():
    labels = ["negative", "positive"]
    constant = np.tile([0.3, 0.7], (3, 1))
    assert behaviour(ANSWERS, constant, labels=labels, candidate_labels=labels) == 0.0
    # float noise on a constant, perfectly correlated with the target, still scores 0
    wiggle = constant + np.outer(POS - 0.5, [-1e-9, 1e-9])
    assert behaviour(ANSWERS, wiggle, labels=labels, candidate_labels=labels) == 0.0
    assert behaviour(ANSWERS, wiggle, labels=labels, candidate_labels=labels, min_std=0) == (
        pytest.approx(1.0)
    )


def test_behaviour_errors_and_batched_form():
    labels = ["negative", "positive"]
    with pytest.raises(SimilarityError, match="share no label name"):
        behaviour(ANSWERS, ANSWERS, labels=labels, candidate_labels=["spam", "ham"])
    with pytest.raises(SimilarityError, match="3 and 2 pool items"):
        behaviour(ANSWERS, ANSWERS[:2], labels=labels, candidate_labels=labels)
    with pytest.raises(SimilarityError, match="repeat"):
        behaviour(ANSWERS, ANSWERS, labels=["pos", "POS"], candidate_labels=labels)
    with pytest.raises(SimilarityError, match="one column per label"):
        behaviour(ANSWERS, ANSWERS, labels=["a"], candidate_labels=labels)
    cands = [ANSWERS, ANSWERS[:, ::-1], ANSWERS]
    names = [labels, labels, ["spam", "ham"]]
    scores = behave.scores(ANSWERS, cands, labels=labels, candidate_labels=names, on_disjoint="nan")
    np.testing.assert_allclose(scores, [1.0, -1.0, np.nan])
    with pytest.raises(SimilarityError, match="candidate 2 shares no label"):
        behave.scores(ANSWERS, cands, labels=labels, candidate_labels=names)
    # one label list for every candidate
    np.testing.assert_allclose(
        behave.scores(ANSWERS, cands[:2], labels=labels, candidate_labels=labels), [1.0, -1.0]
    )
    assert behave(ANSWERS, cands[1], labels=labels, candidate_labels=labels) == pytest.approx(-1)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_behaviour_symmetric_and_bounded(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.dirichlet(np.ones(3), size=8), rng.dirichlet(np.ones(2), size=8)
    la, lb = ["x", "y", "z"], ["z", "x"]
    x = behaviour(a, b, labels=la, candidate_labels=lb)
    assert -1.0 <= x <= 1.0
    assert behaviour(b, a, labels=lb, candidate_labels=la) == pytest.approx(x)
