"""What accuracy a compressed model kept: the float, pruned and compressed
models scored on your data.

A data file is an ``.npz`` with ``x`` (inputs, as ``eie simulate`` takes them)
and ``y`` (targets); ``x_test``/``y_test`` are accepted too.  The task comes
from the targets and the model's outputs:

* integer targets and several outputs: classification by argmax (accuracy);
* integer targets (0/1) and one output: binary classification, the output
  thresholded at 0 (a logit; accuracy);
* float targets: regression (root mean squared error).
"""

import numpy as np

from ..errors import InputError, ModelError
from .model import Model, is_lstm

__all__ = ["Task", "load_data", "evaluate", "retrain", "ACCURACY_DROP_WARNING"]

#: An accuracy lost to compression beyond this (2 points) is warned about.
ACCURACY_DROP_WARNING = 0.02


class Task:
    """How predictions are scored against targets."""

    def __init__(self, kind):
        self.kind = kind

    @classmethod
    def of(cls, y, n_out):
        y = np.asarray(y)
        if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
            return cls("regression")
        if y.dtype.kind not in "iufb":
            raise InputError(f"targets must be numbers, not {y.dtype}")
        if n_out == 1:
            if not np.isin(y, (0, 1)).all():
                raise InputError("a model with one output is scored as a binary classifier: "
                                 "its targets must be 0 or 1 (float targets: regression)")
            return cls("binary")
        if y.size and (y.min() < 0 or y.max() >= n_out):
            raise InputError(f"class labels must be in [0, {n_out - 1}] (the model has {n_out} "
                             f"outputs), found {int(y.min())}..{int(y.max())}")
        return cls("multiclass")

    @property
    def loss(self):
        return self.kind

    @property
    def metric(self):
        return "RMSE" if self.kind == "regression" else "accuracy"

    def predict(self, out):
        if self.kind == "multiclass":
            return np.argmax(out, axis=-1)
        if self.kind == "binary":
            return (out[..., 0] > 0).astype(np.int64)
        return out

    def score(self, out, y):
        out = np.asarray(out, dtype=np.float64)
        if self.kind == "regression":
            return float(np.sqrt(np.mean((out.reshape(np.shape(y)) - y) ** 2)))
        return float(np.mean(self.predict(out) == np.asarray(y)))

    def format(self, value):
        return f"{value:.4g}" if self.kind == "regression" else f"{value:.2%}"

    def drop(self, before, after):
        """How much worse ``after`` is (accuracy points, or relative RMSE)."""
        if self.kind == "regression":
            return (after - before) / max(before, 1e-12)
        return before - after


def load_data(path, what="data"):
    """``(x, y)`` from an ``.npz`` with ``x``/``y`` (or ``x_test``/``y_test``)."""
    from .model import ARCHIVE_ERRORS
    try:
        d = np.load(path, allow_pickle=False)
        if not hasattr(d, "files"):
            raise InputError(f"{path}: {what} must be an .npz archive with x and y "
                             f"(np.savez(path, x=..., y=...)), not a single array")
        with d:
            names = set(d.files)
            for xk, yk in (("x", "y"), ("x_test", "y_test")):
                if {xk, yk} <= names:
                    x, y = d[xk], d[yk]
                    break
            else:
                raise InputError(f"{path}: {what} needs arrays x and y (or x_test and y_test); "
                                 f"it has {', '.join(sorted(names)) or 'none'}")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file ({what})") from None
    except ARCHIVE_ERRORS as e:
        raise InputError(f"{path}: not a NumPy .npz file ({e})") from None
    if x.dtype.kind not in "fiu" or y.dtype.kind not in "fiub":
        raise InputError(f"{path}: x and y must be numbers, got {x.dtype} and {y.dtype}")
    if len(x) != len(y) or len(x) == 0:
        raise InputError(f"{path}: x has {len(x)} samples and y {len(y)}; they must match "
                         f"and not be empty")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise InputError(f"{path}: x holds NaN or inf")
    return x, y


def _with_weights(layers, coos):
    """``layers`` (``(kind, w, b)``) with the weight matrices of COO tuples."""
    out = []
    for (kind, _, bias), (rows, cols, vals, shape) in zip(layers, coos):
        mat = np.zeros(shape)
        mat[rows, cols] = vals
        out.append((kind, mat, bias))
    return out


def evaluate(model, bundle, x, y, density=None, prune_scope="layer", pruned_model=None,
             saturation_threshold=0.001, strict=False):
    """Scores of the float model, the pruned float model and the compressed
    model (golden, int16) on ``(x, y)``, with the saturation on that data.

    Returns a dict: ``task``, ``metric``, ``float``, ``pruned``, ``compressed``,
    ``drop`` (float to compressed: accuracy points, or relative RMSE) and
    ``saturation`` (per point of the model, as ``eie simulate`` reports it).
    """
    from ..api import simulate
    from .compress import prune
    from .model import float_forward

    if not isinstance(model, Model):
        raise ModelError("evaluate() needs the Model the bundle was compressed from")
    relu = model.relu_flags()
    if bundle.recurrent and np.ndim(x) == 2:
        x = np.asarray(x)[None]
    try:
        layers = model.float_layers()
        out_float = float_forward(layers, relu, x)
    except ValueError as e:
        raise InputError(f"data: x of shape {np.shape(x)} does not fit the model ({e})") from None
    task = Task.of(y, out_float.shape[-1])
    if pruned_model is None:        # the model pruned as the compiler prunes it
        pruned = _with_weights(layers, prune([m for _, m, _ in layers], density, prune_scope))
    else:                           # pruned otherwise (retrained, refit)
        pruned = pruned_model.float_layers()
    out_pruned = float_forward(pruned, relu, x)
    out_eie, report = simulate(bundle, x, what="evaluation data",
                               saturation_threshold=saturation_threshold, strict=strict)
    scores = {k: task.score(o, y) for k, o in (("float", out_float), ("pruned", out_pruned),
                                                ("compressed", out_eie))}
    return {"task": task.kind, "metric": task.metric, **scores,
            "drop": task.drop(scores["float"], scores["compressed"]),
            "saturation": report["saturation"], "samples": int(len(y))}


def retrain(model, x, y, density, rng=None, log=print, progress=None):
    """Deep Compression's prune-retrain-share on a float MLP with training
    data ``(x, y)``; returns the retrained :class:`Model` (each layer's
    weights in at most 15 values, kept exactly by the compiler)."""
    from .retrain import prune_retrain_share

    if any(is_lstm(w) for w in model[0]):
        raise ModelError("--retrain trains MLPs; for a model with LSTM layers use "
                         "eie.gen.prune.refit_prune (pruning fitted to sample inputs)")
    rng = rng or np.random.default_rng(0)
    ws = [np.array(w, dtype=np.float64) for w in model[0]]
    bs = [np.zeros(w.shape[0]) if b is None else np.array(b, dtype=np.float64)
          for w, b in zip(ws, model[1])]
    relu = model.relu_flags()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != ws[0].shape[1]:
        raise InputError(f"training data: x must be (n, {ws[0].shape[1]}), got {x.shape}")
    task = Task.of(y, ws[-1].shape[0])
    y = np.asarray(y, dtype=np.float64 if task.kind == "regression" else np.int64)
    prune_retrain_share(ws, bs, x, y, density if density is not None else 1.0, rng,
                        loss=task.loss, relu=relu, log=log, progress=progress)
    return Model(ws, bs, relu=relu, names=model.names, source=model.source)


