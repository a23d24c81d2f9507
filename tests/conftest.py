import os
import sys

import numpy as np
import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

# CI must be reproducible: the property tests draw the same examples on every
# run.  EIE_HYPOTHESIS=explore draws fresh ones (and keeps failures in
# .hypothesis/ for replay), for hunting bugs locally.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile("explore" if os.environ.get("EIE_HYPOTHESIS") == "explore" else "ci")


def random_layers(rng, sizes, density=0.3, bias=True, values=None):
    """Random float layers for ``sizes = [n_in, h1, ..., n_out]``.

    ``values``: draw nonzeros from this list (exact codebooks) instead of a normal.
    """
    weights, biases = [], []
    for n_in, n_out in zip(sizes, sizes[1:]):
        mask = rng.random((n_out, n_in)) < density
        if values is None:
            w = rng.normal(0, 1 / np.sqrt(n_in * density + 1), (n_out, n_in))
        else:
            w = rng.choice(values, size=(n_out, n_in))
        weights.append(np.where(mask, w, 0.0))
        biases.append(rng.normal(0, 0.1, n_out) if bias else None)
    return weights, biases


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
