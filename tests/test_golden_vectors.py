"""Same inputs and seed, same vectors: embeddings are compared with the ones saved in
tests/golden/ (made by tests/golden/make_golden.py before the package was reorganised).

Bit for bit on a machine like the one that saved them (same CPU vector capability and
library versions); elsewhere float rounding may differ, so there the check is a tight
tolerance and the test says which one it used."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
_spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

SAVED = np.load(GOLDEN / "vectors.npz")
SAME_MACHINE = json.loads((GOLDEN / "vectors.json").read_text()) == golden.fingerprint()


@pytest.mark.parametrize("name", sorted(golden.CASES))
def test_vectors_are_the_saved_ones(name):
    assert set(SAVED.files) == set(golden.CASES)
    now = np.asarray(golden.make(name).vector)
    before = SAVED[name]
    assert now.shape == before.shape and now.dtype == before.dtype
    if SAME_MACHINE:
        assert np.array_equal(now, before), f"{name}: max difference {np.abs(now - before).max()}"
    else:
        np.testing.assert_allclose(now, before, rtol=1e-4, atol=1e-6, err_msg=name)
