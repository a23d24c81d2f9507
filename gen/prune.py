"""One-shot pruning that looks at the data: activation-aware selection and a
least-squares refit of the weights kept.

Magnitude pruning without retraining loses accuracy fast below ~50% density.
When sample inputs are at hand but no training loop is (a pretrained model
from ONNX or safetensors), two steps recover most of it:

1. **selection** by ``|w_ij| * rms(a_j)``: a weight counts as much as the
   input it multiplies carries (the criterion of Sun et al., "Wanda", 2023);
2. **refit**: for each output row, the weights kept are solved by ridge least
   squares so that the row's pre-activations on the sample inputs match the
   dense layer's (layer-wise reconstruction, as in optimal brain surgeon).

Each layer is fitted on the *dense* model's inputs to it.  An LSTM layer is
treated as the matrix ``[W_ih | W_hh]`` over its inputs ``[x_t; h_{t-1}]``
of every step.
"""

import numpy as np

from ..errors import ModelError
from ..recurrent import LSTM_KIND
from .model import LSTM, Model

__all__ = ["layer_inputs", "refit_prune"]


def layer_inputs(layers, relu, x):
    """Every layer's inputs on ``x`` in the float model, ``(samples, n_in)`` each
    (an LSTM's ``[x_t; h_{t-1}]`` over all steps and sequences, steps outermost).

    ``layers`` are ``(kind, w, b)`` as in :func:`eie.gen.model.float_forward`.
    """
    from .model import float_forward
    x = np.asarray(x, dtype=np.float64)
    if any(kind == LSTM_KIND for kind, _, _ in layers) and x.ndim == 2:
        x = x[None]
    seen = []
    float_forward(layers, relu, x, inputs=seen)
    return seen


def _refit_layer(w, keep, inputs, ridge, target):
    """Rows of ``w`` with only ``keep`` nonzero, refit so that ``inputs @ w.T``
    matches ``target``."""
    gram = inputs.T @ inputs
    scale = ridge * max(np.trace(gram) / gram.shape[0], 1e-12)
    out = np.zeros_like(w)
    for r in range(w.shape[0]):
        k = np.flatnonzero(keep[r])
        if k.size:
            a = gram[np.ix_(k, k)] + scale * np.eye(k.size)
            out[r, k] = np.linalg.solve(a, inputs[:, k].T @ target[:, r])
    return out


def _share_layer(w, bias, inputs, target, max_iter=300):
    """Weight sharing fitted to the data: k-means on ``w``'s nonzeros (as the
    compiler does), then the 15 shared values solved by least squares so that
    the layer's outputs on ``inputs`` match ``target`` (bias excluded), then
    the bias moved by the mean error left (bias correction)."""
    from .compress import share_weights

    rows, cols = np.nonzero(w)
    if rows.size == 0:
        return w, bias
    centroids, labels, _ = share_weights(w[rows, cols], max_iter)
    basis = []
    for k in range(centroids.size):
        mask = np.zeros_like(w)
        sel = labels == k
        mask[rows[sel], cols[sel]] = 1.0
        basis.append((inputs @ mask.T).ravel())
    basis = np.stack(basis, axis=1)
    fitted, *_ = np.linalg.lstsq(basis, target.ravel(), rcond=None)
    shared = np.zeros_like(w)
    shared[rows, cols] = fitted[labels]
    shift = (target - inputs @ shared.T).mean(axis=0)
    bias = shift if bias is None else np.asarray(bias, dtype=np.float64) + shift
    return shared, bias


def _forward_one(kind, w, b, relu, a):
    """One layer of the float model on a batch (sequences for an LSTM)."""
    from .model import float_forward
    return float_forward([(kind, w, b)], [relu], a)


def refit_prune(model, x, density, ridge=1e-3, share=False):
    """Prune a float :class:`~eie.gen.model.Model` to ``density`` using sample
    inputs ``x`` (activation-aware selection, least-squares refit).

    Parameters
    ----------
    model : Model
    x : array_like
        Sample inputs: ``(batch, n_in)``, or sequences for a model with LSTM layers.
    density : float or list
        Fraction of each layer's weights kept (one value, or one per layer;
        ``None`` leaves a layer as it is).
    ridge : float
        Ridge term, relative to the mean input energy.
    share : bool
        Also share each layer's weights (at most 15 values, fitted to the
        data, the bias corrected), so the compiler keeps them exactly.

    Returns
    -------
    Model
        The pruned model (same biases, ReLUs and names).
    """
    from .compress import keep_largest

    weights, biases = model
    n = len(weights)
    densities = list(density) if isinstance(density, (list, tuple)) else [density] * n
    if len(densities) != n:
        raise ModelError(f"density: {len(densities)} values for {n} layers")
    relu = model.relu_flags()
    layers = model.float_layers()
    student = np.asarray(x, dtype=np.float64)       # the inputs the pruned model makes
    recurrent = any(kind == LSTM_KIND for kind, _, _ in layers)
    if recurrent and student.ndim == 2:
        student = student[None]
    teacher = layer_inputs(layers, relu, student)
    out, out_b = [], []
    for l, ((kind, w, b), d, orig) in enumerate(zip(layers, densities, weights)):
        if kind == LSTM_KIND:
            seen = layer_inputs([(kind, w, b)], [relu[l]], student)[0]
        else:       # rows in the order layer_inputs gives: step-major
            seen = np.swapaxes(student, 0, 1) if recurrent else student
            seen = seen.reshape(-1, seen.shape[-1])
        # Target: the dense layer on the dense model's inputs (an LSTM's h
        # columns come from the dense cell run on the pruned model's x).
        target = teacher[l] @ w.T
        fit_w, fit_b = w, b
        if d is not None:
            if not 0 < d <= 1:
                raise ModelError(f"density {d!r} must be in (0, 1]")
            rms = np.sqrt(np.mean(seen ** 2, axis=0))
            keep = keep_largest((np.abs(w) * rms[None, :]).ravel(),
                                int(d * w.size)).reshape(w.shape)     # at most d
            fit_w = _refit_layer(w, keep, seen, ridge, target)
        if share:
            fit_w, fit_b = _share_layer(fit_w, b, seen, target)
        if kind == LSTM_KIND:
            n_x = orig.w_ih.shape[1]
            out.append(LSTM(fit_w[:, :n_x], fit_w[:, n_x:], fit_b, None))
            out_b.append(None)
        else:
            out.append(fit_w)
            out_b.append(fit_b)
        student = _forward_one(kind, fit_w, fit_b, relu[l], student)
    return Model(out, out_b, relu=model.relu, names=model.names, source=model.source)
