"""Length-aware batching of the transformers scorer: cuts that waste the least padding."""

import itertools
import random

import pytest

from fute.models.backends.transformers_lm import length_batches


def cost(widths, spans, call_cost):
    return sum((b - a) * widths[b - 1] + call_cost for a, b in spans)


def all_cuttings(n, max_rows):
    """Every way to cut range(n) into consecutive batches of at most max_rows."""
    for inner in itertools.product((False, True), repeat=n - 1):
        cuts = [0] + [i + 1 for i, c in enumerate(inner) if c] + [n]
        spans = list(zip(cuts, cuts[1:], strict=False))
        if all(b - a <= max_rows for a, b in spans):
            yield spans


@pytest.mark.parametrize("seed", range(20))
def test_cuts_are_the_cheapest_of_all_cuttings(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 10)
    widths = sorted(rng.choice([rng.randint(3, 12), rng.randint(40, 240)]) for _ in range(n))
    max_rows, call_cost = rng.randint(1, 5), rng.choice([0, 8, 32])
    spans = length_batches(widths, max_rows, call_cost)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(a < b and b - a <= max_rows for a, b in spans)
    assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:], strict=False))
    best = min(cost(widths, s, call_cost) for s in all_cuttings(n, max_rows))
    assert cost(widths, spans, call_cost) == best


def test_a_long_tail_gets_its_own_batch():
    widths = [20] * 15 + [240]
    assert length_batches(widths, 16, call_cost=32) == [(0, 15), (15, 16)]
    # equal lengths: no padding to save, so as few batches as max_rows allows
    assert len(length_batches([30] * 40, 16)) == 3
    assert length_batches([], 16) == []


def test_unsorted_widths_are_refused():
    with pytest.raises(ValueError, match="sorted"):
        length_batches([5, 3], 4)
