"""Activation-aware pruning with a least-squares refit, and data-fitted sharing."""

import numpy as np
import pytest

import eie
from eie.errors import ModelError
from eie.gen.compress import keep_largest
from eie.gen.prune import layer_inputs, refit_prune


def _mlp(rng):
    ws = [rng.normal(0, 0.3, (24, 16)), rng.normal(0, 0.3, (8, 24))]
    bs = [rng.normal(0, 0.1, 24), rng.normal(0, 0.1, 8)]
    return eie.Model(ws, bs)


def test_refit_beats_magnitude_pruning(rng):
    model = _mlp(rng)
    # Inputs of very different scales: magnitude alone picks the wrong weights.
    x = rng.normal(size=(400, 16)) * np.geomspace(0.05, 5, 16)
    want = model.forward(x)
    pruned = refit_prune(model, x, 0.3)
    for w, orig in zip(pruned.weights, model.weights):
        assert np.count_nonzero(w) <= int(0.3 * orig.size)
    magnitude = [np.where(keep_largest(np.abs(w).ravel(), int(0.3 * w.size)).reshape(w.shape),
                          w, 0) for w in model.weights]
    err_refit = np.abs(pruned.forward(x) - want).mean()
    err_mag = np.abs(eie.Model(magnitude, model.biases).forward(x) - want).mean()
    assert err_refit < 0.5 * err_mag


def test_share_leaves_fifteen_values_kept_exactly(rng):
    model = _mlp(rng)
    x = rng.normal(size=(300, 16))
    shared = refit_prune(model, x, [None, 0.5], share=True)
    assert np.count_nonzero(shared.weights[0]) == model.weights[0].size   # not pruned
    for w in shared.weights:
        assert np.unique(w[w != 0]).size <= 15
    bundle = eie.compress(shared, n_pe=2, calibration=x)
    assert [s["codebook_mode"] for s in bundle.meta["compression"]] == ["exact", "exact"]
    plain = eie.compress(model, n_pe=2, calibration=x, density=[None, 0.5])
    want = model.forward(x)
    assert np.abs(eie.infer(bundle, x) - want).mean() < np.abs(eie.infer(plain, x) - want).mean()


def test_lstm_layer_inputs_and_refit(rng):
    lstm = eie.LSTM(rng.normal(0, .4, (16, 5)), rng.normal(0, .4, (16, 4)), rng.normal(0, .1, 16))
    model = eie.Model([lstm, rng.normal(0, .4, (3, 4))], [None, None])
    x = rng.normal(size=(2, 30, 5))
    seen = layer_inputs([("lstm", lstm.matrix(), lstm.bias()), ("fc", model.weights[1], None)],
                        [False, False], x)
    assert seen[0].shape == (60, 9) and seen[1].shape == (60, 4)
    np.testing.assert_array_equal(seen[0][:2, 5:], 0)        # h_0 = 0
    pruned = refit_prune(model, x, [0.4, None], share=True)
    assert isinstance(pruned.weights[0], eie.LSTM)
    assert np.count_nonzero(pruned.weights[0].matrix()) <= int(0.4 * 16 * 9)
    assert np.abs(pruned.forward(x) - model.forward(x)).mean() < 0.1
    with pytest.raises(ModelError, match="density"):
        refit_prune(model, x, [0.4])
