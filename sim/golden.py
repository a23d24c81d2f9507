"""Golden model: the exact integer result of a bundle (DESIGN.md section 2).

Works from the bundle alone.  Activations are int16 codes held in int64
arrays; each layer computes ``acc = bias + W a`` exactly (sparse int64), then
``y = (acc + 2^(s-1)) >> s`` (no rounding term when ``s == 0``), saturation to
int16 and ReLU where the layer has it.  Internally everything is in hardware
row order; the last layer's ``row_perm`` is undone on the way out.
"""

import numpy as np

from ..config import ACT_MAX, ACT_MIN
from ..errors import InputError

__all__ = ["quantize_input", "dequantize_output", "output_stage", "forward", "run"]


def _as_batch(x, n_in, what):
    x = np.asarray(x)
    shape = x.shape
    single = x.ndim == 1
    if single:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != n_in:
        raise InputError(f"{what}: expected {n_in} values per vector (shape ({n_in},) or "
                         f"(batch, {n_in})), got shape {shape}")
    if x.shape[0] == 0:
        raise InputError(f"{what}: empty batch")
    return x, single


def quantize_input(bundle, x, raw=False, what="input"):
    """Input codes (int64, ``(batch, n_in)``) from floats, or from int16 codes if ``raw``.

    Returns the codes and whether ``x`` was a single vector.
    """
    x, single = _as_batch(x, bundle.n_in, what)
    if x.dtype.kind not in "fiub":
        raise InputError(f"{what}: non-numeric dtype {x.dtype}")
    if x.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(x))
        if bad.size:
            b, j = bad[0]
            raise InputError(f"{what}: value [{b}, {j}] is {x[b, j]}")
    if raw:
        if x.dtype.kind == "f" and (x != np.round(x)).any():
            b, j = np.argwhere(x != np.round(x))[0]
            raise InputError(f"{what}: --raw expects integer codes, value [{b}, {j}] is {x[b, j]}")
        codes = x.astype(np.int64)
        out = (codes < ACT_MIN) | (codes > ACT_MAX)
        if out.any():
            b, j = np.argwhere(out)[0]
            raise InputError(f"{what}: code [{b}, {j}] = {codes[b, j]} is outside int16")
        return codes, single
    scaled = np.round(x.astype(np.float64) * 2.0 ** bundle.layers[0].in_frac)
    return np.clip(scaled, ACT_MIN, ACT_MAX).astype(np.int64), single


def dequantize_output(bundle, codes):
    """Float values of output codes."""
    return np.asarray(codes, dtype=np.float64) / 2.0 ** bundle.layers[-1].out_frac


def output_stage(acc, shift, relu):
    """Round, shift, saturate and ReLU accumulators (int64 array) to int16 codes."""
    acc = np.asarray(acc, dtype=np.int64)
    y = (acc + (1 << (shift - 1))) >> shift if shift > 0 else acc
    y = np.clip(y, ACT_MIN, ACT_MAX)
    return np.maximum(y, 0) if relu else y


def forward(bundle, codes):
    """Run all layers on input codes ``(batch, n_in)``.

    Returns
    -------
    list of numpy.ndarray
        ``len(layers) + 1`` arrays of codes in hardware order: the input of each
        layer, then the last layer's output (still in hardware row order).
    """
    acts = [np.asarray(codes, dtype=np.int64)]
    for layer in bundle.layers:
        a = acts[-1]
        acc = np.asarray(layer.matrix() @ a.T).T + layer.hw_bias()[None, :]
        acts.append(output_stage(acc, layer.shift, layer.relu))
    return acts


def unpermute(bundle, y_hw):
    """Output codes in the user's order from hardware row order."""
    perm = bundle.layers[-1].row_perm
    if perm is None:
        return y_hw
    y = np.empty_like(y_hw)
    y[:, perm] = y_hw
    return y


def run(bundle, codes):
    """Output codes ``(batch, n_out)`` in the user's order for input codes."""
    return unpermute(bundle, forward(bundle, codes)[-1])
