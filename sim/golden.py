"""Golden model: the exact integer result of a bundle (DESIGN.md section 2).

Works from the bundle alone.  Activations are int16 codes held in int64
arrays; each layer computes ``acc = bias + W a`` exactly (sparse int64), then
``y = (acc + 2^(s-1)) >> s`` (no rounding term when ``s == 0``), saturation to
int16 and ReLU where the layer has it.  Internally everything is in hardware
row order; the last layer's ``row_perm`` is undone on the way out.
"""

import math

import numpy as np

from ..config import ACT_MAX, ACT_MIN
from ..errors import InputError
from ..recurrent import lstm_step_codes

__all__ = ["quantize_input", "dequantize_output", "output_stage", "forward", "forward_sequence",
           "layer_step", "run", "Saturation", "saturation_stats"]


def _as_batch(x, n_in, what, recurrent=False):
    """``x`` as a batch: ``(batch, n_in)``, or ``(batch, T, n_in)`` for a sequence
    model; and whether it was one vector (one sequence)."""
    try:
        x = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise InputError(f"{what}: not a rectangular array of numbers ({e})") from None
    shape = x.shape
    if recurrent:
        if x.ndim == 1:
            raise InputError(f"{what}: the model has an LSTM layer and takes sequences, shape "
                             f"(T, {n_in}) or (batch, T, {n_in}); got a 1-D input of shape "
                             f"{shape}")
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.ndim != 3 or x.shape[2] != n_in:
            raise InputError(f"{what}: expected sequences of {n_in} values per step (shape "
                             f"(T, {n_in}) or (batch, T, {n_in})), got shape {shape}")
        if x.shape[1] == 0:
            raise InputError(f"{what}: empty sequence (T = 0)")
    else:
        single = x.ndim == 1
        if single:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != n_in:
            raise InputError(f"{what}: expected {n_in} values per vector (shape ({n_in},) or "
                             f"(batch, {n_in})), got shape {shape}")
    if x.shape[0] == 0:
        raise InputError(f"{what}: empty batch")
    return x, single


def quantize_input(bundle, x, raw=False, what="input", stats=None):
    """Input codes (int64, ``(batch, n_in)``, or ``(batch, T, n_in)`` for a model
    with an LSTM layer) from floats, or from int16 codes if ``raw``.

    Returns the codes and whether ``x`` was a single vector (sequence).
    """
    x, single = _as_batch(x, bundle.n_in, what, bundle.recurrent)
    if x.dtype.kind not in "fiub":
        raise InputError(f"{what}: non-numeric dtype {x.dtype}")
    if x.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(x))
        if bad.size:
            at = tuple(int(i) for i in bad[0])
            raise InputError(f"{what}: value {list(at)} is {x[at]}")
    if raw:
        if x.dtype.kind == "f" and (x != np.round(x)).any():
            at = tuple(int(i) for i in np.argwhere(x != np.round(x))[0])
            raise InputError(f"{what}: --raw expects integer codes, value {list(at)} is {x[at]}")
        out = (x < ACT_MIN) | (x > ACT_MAX)
        if out.any():
            at = tuple(int(i) for i in np.argwhere(out)[0])
            raise InputError(f"{what}: code {list(at)} = {x[at]} is outside int16")
        return x.astype(np.int64), single
    scaled = np.round(x.astype(np.float64) * 2.0 ** bundle.layers[0].in_frac)
    if stats is not None:
        over = (scaled > ACT_MAX) | (scaled < ACT_MIN)
        stats.add(int(np.count_nonzero(over)), scaled.size,
                  float(np.abs(scaled[over]).max(initial=0)) if over.any() else 0)
    return np.clip(scaled, ACT_MIN, ACT_MAX).astype(np.int64), single


def dequantize_output(bundle, codes):
    """Float values of output codes."""
    return np.asarray(codes, dtype=np.float64) / 2.0 ** bundle.out_frac


def output_stage(acc, shift, relu, stats=None):
    """Round, shift, saturate and ReLU accumulators (int64 array) to int16 codes.

    ``stats``, if a :class:`Saturation`, counts the values that saturate (a
    negative one that ReLU zeroes anyway does not count).
    """
    acc = np.asarray(acc, dtype=np.int64)
    y = (acc + (1 << (shift - 1))) >> shift if shift > 0 else acc
    if stats is not None:
        over = (y > ACT_MAX) | ((y < ACT_MIN) & (not relu))
        stats.add(int(np.count_nonzero(over)), y.size,
                  int(np.abs(y[over]).max(initial=0)) if over.any() else 0)
    y = np.clip(y, ACT_MIN, ACT_MAX)
    return np.maximum(y, 0) if relu else y


class Saturation:
    """Values that saturated at one point of the model (the input or a layer's
    output), and the fractional bits that would have held them."""

    def __init__(self, name, frac):
        self.name, self.frac = name, frac
        self.saturated = self.total = 0
        self.peak = 0.0          # largest magnitude that saturated, in codes at ``frac``

    def add(self, saturated, total, peak):
        self.saturated += saturated
        self.total += total
        self.peak = max(self.peak, peak)

    @property
    def fraction(self):
        return self.saturated / self.total if self.total else 0.0

    @property
    def fits_frac(self):
        """Most fractional bits that would have held every value (``frac`` if none saturated)."""
        if not self.saturated:
            return self.frac
        return max(0, self.frac - math.ceil(math.log2(self.peak / ACT_MAX)))

    def to_json(self):
        return {"name": self.name, "saturated": self.saturated, "total": self.total,
                "fraction": self.fraction, "frac": self.frac, "fits_frac": self.fits_frac}

    def message(self):
        what = "input values" if self.name == "input" else f"outputs of layer {self.name}"
        fix = (f"{self.fits_frac} fractional bits would hold them" if self.fits_frac < self.frac
               else "no fractional-bit setting holds them")
        return (f"{self.saturated} of {self.total} {what} ({self.fraction:.2%}) saturate at "
                f"{self.frac} fractional bits; {fix} (recompress with --act-frac, or "
                f"--calibrate on representative inputs)")


def saturation_stats(bundle):
    """Fresh counters: the input, then every layer's output."""
    return [Saturation("input", bundle.in_frac)] + \
        [Saturation(layer.name, layer.out_frac) for layer in bundle.layers]


def forward(bundle, codes, stats=None):
    """Run all layers on input codes ``(batch, n_in)``.

    Returns
    -------
    list of numpy.ndarray
        ``len(layers) + 1`` arrays of codes in hardware order: the input of each
        layer, then the last layer's output (still in hardware row order).
    """
    if bundle.recurrent:
        raise InputError("the model has LSTM layers: run it with forward_sequence")
    acts = [np.asarray(codes, dtype=np.int64)]
    for l, layer in enumerate(bundle.layers):
        acts.append(layer_step(layer, acts[-1], None if stats is None else stats[l + 1]))
    return acts


def unpermute(bundle, y_hw):
    """Output codes in the user's order from hardware row order (the last axis)."""
    last = bundle.layers[-1]
    if last.row_perm is None or last.is_lstm:      # an LSTM's h is in its natural order
        return y_hw
    y = np.empty_like(y_hw)
    y[..., last.row_perm] = y_hw
    return y


def layer_step(layer, a, stats=None):
    """One layer on input codes ``a`` ``(batch, n_in)``: output codes, hardware order."""
    acc = np.asarray(layer.matrix() @ a.T).T + layer.hw_bias()[None, :]
    return output_stage(acc, layer.shift, layer.relu, stats)


def forward_sequence(bundle, codes, stats=None):
    """Run a model with LSTM layers on input sequences ``(batch, T, n_in)``.

    Every layer runs once per step, in order; after an LSTM layer the host's
    gate arithmetic (:func:`eie.recurrent.lstm_step_codes`) turns its gate
    codes into ``h`` codes, which the next layer reads and which the same
    layer reads at the next step after its input.

    Returns
    -------
    y : numpy.ndarray
        ``(batch, T, n_out)`` output codes (hardware row order for a last fully
        connected layer, ``h`` in its natural order for a last LSTM).
    acts : list
        Per step, the per-layer input codes ``(batch, n_in)`` in hardware order
        (for the cycle model).
    """
    codes = np.asarray(codes, dtype=np.int64)
    batch, steps = codes.shape[:2]
    state = {l: (np.zeros((batch, layer.hidden), dtype=np.int64),
                 np.zeros((batch, layer.hidden)))
             for l, layer in enumerate(bundle.layers) if layer.is_lstm}
    ys, acts = [], []
    for t in range(steps):
        a = codes[:, t]
        inputs = []
        for l, layer in enumerate(bundle.layers):
            if layer.is_lstm:
                h, c = state[l]
                a = np.concatenate([a, h], axis=1)
            inputs.append(a)
            a = layer_step(layer, a, None if stats is None else stats[l + 1])
            if layer.is_lstm:
                h, c = lstm_step_codes(layer, a, c)
                state[l] = (h, c)
                a = h
        ys.append(a)
        acts.append(inputs)
    return np.stack(ys, axis=1), acts


def run(bundle, codes):
    """Output codes in the user's order for input codes: ``(batch, n_out)``, or
    ``(batch, T, n_out)`` for a model with LSTM layers."""
    if bundle.recurrent:
        return unpermute(bundle, forward_sequence(bundle, codes)[0])
    return unpermute(bundle, forward(bundle, codes)[-1])
