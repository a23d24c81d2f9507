"""Deep Compression's training loop for MLPs, in NumPy: iterative magnitude
pruning with retraining, then 4-bit weight sharing with the centroids
fine-tuned (Han et al., Deep Compression, sections 2-3).

The loss follows the task (:class:`eie.gen.evaluate.Task`): softmax
cross-entropy for several classes, logistic loss on one output for two,
mean squared error for regression.  ``eie demo`` trains its digits MLP with it
and ``eie compress --retrain TRAIN.npz`` retrains a user's MLP.
"""

import numpy as np

from ..errors import ModelError
from .compress import keep_largest
from .kmeans import kmeans_1d

__all__ = ["train_mlp", "forward_mlp", "prune_retrain_share", "PRUNE_STEPS"]

#: Pruning schedule: multiples of the target density, retraining after each.
PRUNE_STEPS = (5.0, 3.0, 2.0, 1.4, 1.0)


def forward_mlp(ws, bs, x, relu=None):
    """Activations of every layer (``relu``: per layer, default all but the last)."""
    relu = relu if relu is not None else [l < len(ws) - 1 for l in range(len(ws))]
    acts = [x]
    for w, b, r in zip(ws, bs, relu):
        z = acts[-1] @ w.T + b
        acts.append(np.maximum(z, 0) if r else z)
    return acts


def _output_grad(out, y, loss):
    """d(mean loss)/d(output) for a batch."""
    n = len(y)
    if loss == "multiclass":
        p = np.exp(out - out.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(n), y] -= 1
        return p / n
    if loss == "binary":
        g = np.zeros_like(out)
        z = out[:, 0]
        g[:, 0] = (np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))),
                            np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z)))) - y) / n
        return g
    target = y.reshape(out.shape)
    return 2 * (out - target) / out.size


def _grads(ws, bs, x, y, loss, relu):
    acts = forward_mlp(ws, bs, x, relu)
    delta = _output_grad(acts[-1], y, loss)
    gw, gb = [None] * len(ws), [None] * len(ws)
    for l in range(len(ws) - 1, -1, -1):
        gw[l] = delta.T @ acts[l]
        gb[l] = delta.sum(axis=0)
        if l:
            delta = delta @ ws[l]
            if relu[l - 1]:
                delta = delta * (acts[l] > 0)
    return gw, gb


def _expand(shared):
    """Dense weight matrices from per-layer ``(labels, centroids)`` (label -1: pruned)."""
    return [np.where(lab >= 0, c[np.maximum(lab, 0)], 0.0) for lab, c in shared]


def train_mlp(x, y, ws, bs, epochs, rng, masks=None, lr=2e-3, shared=None, progress=None,
              label="train", loss="multiclass", relu=None):
    """Adam on the task's loss, in place.  ``masks`` keep pruned weights at zero;
    ``shared`` (per layer ``(labels, centroids)``) trains the centroids instead
    (Deep Compression's codebook fine-tuning: a centroid's gradient is the sum
    of its weights' gradients)."""
    relu = relu if relu is not None else [l < len(ws) - 1 for l in range(len(ws))]
    out = ws
    params = [c for _, c in shared] + list(bs) if shared else list(ws) + list(bs)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    epochs_it = range(epochs)
    if progress:
        epochs_it = progress(epochs_it, description=label, total=epochs)
    for _ in epochs_it:
        order = rng.permutation(len(x))
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            if shared:
                ws = _expand(shared)
            gw, gb = _grads(ws, bs, x[idx], y[idx], loss, relu)
            if shared:
                gw = [np.bincount(lab[lab >= 0], g[lab >= 0], minlength=c.size)
                      for (lab, c), g in zip(shared, gw)]
            elif masks:
                gw = [g * mk for g, mk in zip(gw, masks)]
            step += 1
            for p, g, mp, vp in zip(params, gw + gb, m, v):
                mp *= 0.9
                mp += 0.1 * g
                vp *= 0.999
                vp += 0.001 * g * g
                p -= lr * (mp / (1 - 0.9 ** step)) / (np.sqrt(vp / (1 - 0.999 ** step)) + 1e-8)
    if shared:
        out[:] = _expand(shared)
    return out, bs


def prune_retrain_share(ws, bs, x, y, density, rng, loss="multiclass", relu=None,
                        epochs=(25, 80, 10), log=print, progress=None, evaluate=None):
    """Prune to ``density`` (one value or one per layer) in the steps of
    :data:`PRUNE_STEPS` with retraining, then share each layer's weights in 15
    values (k-means) and fine-tune the centroids.  Works in place; returns
    the figures ``evaluate(ws, bs)`` gives after pruning and after sharing."""
    densities = list(density) if isinstance(density, (list, tuple)) else [density] * len(ws)
    if len(densities) != len(ws):
        raise ModelError(f"density: {len(densities)} values for {len(ws)} layers")
    step_epochs, final_epochs, share_epochs = epochs
    masks = [np.ones_like(w) for w in ws]
    for step in PRUNE_STEPS:
        for l, w in enumerate(ws):
            d = 1.0 if densities[l] is None else densities[l]
            k = int(round(min(1.0, step * d) * w.size))
            masks[l] = keep_largest(np.abs(w).ravel(), k).reshape(w.shape).astype(float)
            w *= masks[l]
        final = step == PRUNE_STEPS[-1]
        train_mlp(x, y, ws, bs, final_epochs if final else step_epochs, rng, masks=masks,
                  lr=1e-3 if final else 2e-3, progress=progress, label=f"prune x{step}",
                  loss=loss, relu=relu)
    figures = {}
    if evaluate:
        figures["pruned"] = evaluate(ws, bs)
    shared = []
    for w in ws:
        labels = np.full(w.shape, -1)
        nz = w != 0
        c, lab, _, _ = kmeans_1d(w[nz], 15)
        labels[nz] = lab
        shared.append((labels, c))
    train_mlp(x, y, ws, bs, share_epochs, rng, shared=shared, lr=5e-4, progress=progress,
              label="tune centroids", loss=loss, relu=relu)
    if evaluate:
        figures["shared"] = evaluate(ws, bs)
    return figures
