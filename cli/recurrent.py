"""Recurrent layers: the host's LSTM gate arithmetic and the run schedule.

EIE computes only ``W a``.  An LSTM layer with input size ``I`` and hidden size
``H`` is one EIE layer with ``n_in = I + H`` (the previous layer's output, then
its own ``h_{t-1}``) and ``n_out = 4H`` (gates i, f, g, o in PyTorch's order),
whose output stage has no ReLU.  After it, the host computes, in float64 with
``z = code / 2^out_frac``::

    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);  g = tanh(z_g)
    c = f * c + i * g;  h = o * tanh(c)

and ``h``'s code is ``clip(round_half_even(h * 2^in_frac))`` to int16: the next
layer, and the same layer at the next step, read ``h`` at the LSTM's
``in_frac``.  ``h_0 = c_0 = 0``.  The golden model, the RTL host driver and
the float reference all use :func:`lstm_cell`, so they cannot disagree.
"""

import numpy as np

from .config import ACT_MAX, ACT_MIN

__all__ = ["LSTM_KIND", "FC_KIND", "sigmoid", "lstm_cell", "lstm_step_codes", "segments"]

FC_KIND = "fc"
LSTM_KIND = "lstm"


def sigmoid(z):
    """The logistic function, without overflow warnings for large ``|z|``."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def lstm_cell(z, c):
    """One LSTM step from gate pre-activations ``z`` (``(..., 4H)``, gates i,
    f, g, o) and the cell state ``c`` (``(..., H)``); returns ``(h, c)`` in
    float64."""
    z = np.asarray(z, dtype=np.float64)
    i, f, g, o = np.split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def lstm_step_codes(layer, gate_codes, c):
    """The host's step after an LSTM layer ran on EIE.

    Parameters
    ----------
    layer : eie.gen.bundle.Layer
        The LSTM layer (``kind == "lstm"``).
    gate_codes : numpy.ndarray
        ``(batch, 4H)`` output codes of the layer, hardware row order.
    c : numpy.ndarray
        ``(batch, H)`` float64 cell state.

    Returns
    -------
    h_codes : numpy.ndarray
        ``(batch, H)`` int64 codes of ``h`` at the layer's ``in_frac``.
    c : numpy.ndarray
        The new cell state.
    """
    gates = np.asarray(gate_codes, dtype=np.int64)
    if layer.row_perm is not None:
        natural = np.empty_like(gates)
        natural[..., layer.row_perm] = gates
        gates = natural
    h, c = lstm_cell(gates / 2.0 ** layer.out_frac, c)
    codes = np.clip(np.round(h * 2.0 ** layer.in_frac), ACT_MIN, ACT_MAX).astype(np.int64)
    return codes, c


def segments(layers):
    """The hardware runs of one time step, as ``(first, last)`` layer indices.

    Each LSTM layer runs on its own: the host writes ``h_{t-1}`` into its input
    file right before it (after the layer in front of it has written the rest)
    and does the gate arithmetic right after it.  Fully connected layers
    between them run back to back in one run.  A model without LSTM layers is
    one run of all its layers.
    """
    runs, start = [], 0
    for l, layer in enumerate(layers):
        if getattr(layer, "kind", FC_KIND) == LSTM_KIND:
            if start < l:
                runs.append((start, l - 1))
            runs.append((l, l))
            start = l + 1
    if start < len(layers):
        runs.append((start, len(layers) - 1))
    return runs
