"""High-level functions shared by the Python API and the command line."""

from .sim import cycle_model, golden

__all__ = ["infer", "simulate"]


def infer(bundle, x, raw=False, what="input"):
    """Golden-model output for input ``x`` (floats, or int16 codes if ``raw``).

    Returns floats (or codes if ``raw``), one vector or a batch like ``x``.
    """
    codes, single = golden.quantize_input(bundle, x, raw, what)
    y = golden.run(bundle, codes)
    y = y if raw else golden.dequantize_output(bundle, y)
    return y[0] if single else y


def simulate(bundle, x, raw=False, progress=None, what="input"):
    """Output of the golden model and cycle counts of the cycle model.

    Parameters
    ----------
    what : str
        Names the input in error messages (e.g. its file).
    progress : callable, optional
        Wraps the loop over the batch, ``progress(iterable, description=, total=)``.

    Returns
    -------
    y : numpy.ndarray
        Output floats (codes if ``raw``), one vector or a batch like ``x``.
    report : dict
        ``{"cycles": total over the batch, "layers": [{"name", "cycles", ...}], ...}``.
    """
    codes, single = golden.quantize_input(bundle, x, raw, what)
    acts = golden.forward(bundle, codes)
    items = range(codes.shape[0])
    if progress is not None:
        items = progress(items, description="cycle model", total=len(items))
    per_item = [cycle_model.item_cycles(bundle, acts, b) for b in items]
    report = cycle_model.summarize(bundle, per_item)
    report["sim"] = "golden"
    y = golden.unpermute(bundle, acts[-1])
    y = y if raw else golden.dequantize_output(bundle, y)
    return (y[0] if single else y), report
