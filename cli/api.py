"""High-level functions shared by the Python API and the command line."""

import os
import warnings

import numpy as np

from .errors import EieError, InputError, SaturationError, SaturationWarning
from .sim import cycle_model, golden, rtl

__all__ = ["infer", "simulate", "run_on_board", "DEFAULT_SATURATION_THRESHOLD"]

#: Fraction of values allowed to saturate at a point of the model before a warning.
DEFAULT_SATURATION_THRESHOLD = 0.001


def as_bundle(bundle, what="bundle"):
    """A :class:`~eie.gen.bundle.Bundle`, or one loaded from a directory path."""
    from .gen.bundle import Bundle
    if isinstance(bundle, Bundle):
        return bundle
    if isinstance(bundle, (str, os.PathLike)):
        return Bundle.load(bundle)
    raise InputError(f"{what} must be an eie.Bundle or a bundle directory, not "
                     f"{type(bundle).__name__}")


def check_saturation(stats, threshold=DEFAULT_SATURATION_THRESHOLD, strict=False):
    """Warn (:class:`SaturationWarning`), or raise :class:`SaturationError` if
    ``strict``, for each point of the model where more than ``threshold`` of
    the values saturated.  Returns the report's ``"saturation"`` list."""
    threshold = _number(threshold, "saturation_threshold", 0, 1)
    for s in stats:
        if s.saturated and s.fraction > threshold:
            if strict:
                raise SaturationError(s.message())
            warnings.warn(s.message(), SaturationWarning, stacklevel=3)
    return [s.to_json() for s in stats]


def _number(value, what, lo, hi):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise InputError(f"{what} must be a number, not {value!r}")
    if not lo <= float(value) <= hi:
        raise InputError(f"{what}={value} is out of range [{lo}, {hi}]")
    return float(value)


def infer(bundle, x, raw=False, what="input"):
    """Golden-model output for input ``x`` (floats, or int16 codes if ``raw``).

    Returns floats (or codes if ``raw``), one vector or a batch like ``x``
    (for a model with LSTM layers: one sequence ``(T, n)`` or a batch of them).
    """
    bundle = as_bundle(bundle)
    codes, single = golden.quantize_input(bundle, x, raw, what)
    y = golden.run(bundle, codes)
    y = y if raw else golden.dequantize_output(bundle, y)
    return y[0] if single else y


def simulate(bundle, x, raw=False, progress=None, what="input", sim="golden", bake=False,
             bundle_dir=None, saturation_threshold=DEFAULT_SATURATION_THRESHOLD, strict=False):
    """Output and cycle counts of a bundle on inputs.

    Parameters
    ----------
    sim : {"golden", "verilator", "icarus"}
        ``golden``: NumPy golden model (values) and cycle model (cycles).
        ``verilator``/``icarus``: the generated Verilog under cocotb; values
        and cycles come from the hardware (its output files and counters).
    bake : bool
        RTL only: bake the model into the Verilog instead of loading it
        through the host port.
    bundle_dir : path, optional
        RTL only: where the bundle is saved (else a temporary copy is written).
    what : str
        Names the input in error messages (e.g. its file).
    saturation_threshold : float
        Fraction of the values at a point of the model (the input, a layer's
        outputs) that may saturate before a :class:`~eie.errors.SaturationWarning`.
    strict : bool
        Raise :class:`~eie.errors.SaturationError` instead of warning.
    progress : callable, optional
        Wraps the loop over the batch, ``progress(iterable, description=, total=)``.

    Returns
    -------
    y : numpy.ndarray
        Output floats (codes if ``raw``), one vector or a batch like ``x``.
    report : dict
        ``{"cycles": total over the batch, "layers": [{"name", "cycles", ...}], ...}``.
        For the RTL, ``golden_match`` and ``cycle_model_match`` say whether the
        hardware agreed with the two models.
    """
    if sim not in ("golden",) + rtl.SIMULATORS:
        raise EieError(f"unknown simulator {sim!r}: choose golden, "
                       f"{', '.join(rtl.SIMULATORS)}")
    bundle = as_bundle(bundle)
    codes, single, y_model, report = _models(bundle, x, raw, what, progress,
                                             saturation_threshold, strict)
    y_hw = y_model
    if sim != "golden":
        y_hw, cycles, layer_cycles = rtl.run(bundle, codes, sim, bake=bake,
                                             bundle_dir=bundle_dir, progress=progress)
        report = hardware_report(bundle, report, y_model, y_hw, cycles, layer_cycles, sim)
    return _outputs(bundle, y_hw, raw, single), report


def _models(bundle, x, raw, what, progress, saturation_threshold, strict):
    """Input codes, golden outputs (hardware order) and the cycle model's report."""
    stats = golden.saturation_stats(bundle)
    codes, single = golden.quantize_input(bundle, x, raw, what, stats=stats[0])
    items = range(codes.shape[0])
    if progress is not None:
        items = progress(items, description="cycle model", total=len(items))
    if bundle.recurrent:
        y_model, acts = golden.forward_sequence(bundle, codes, stats)
        report = cycle_model.summarize_sequences(
            bundle, [cycle_model.sequence_cycles(bundle, acts, b) for b in items])
    else:
        acts = golden.forward(bundle, codes, stats)
        y_model = acts[-1]
        report = cycle_model.summarize(bundle, [cycle_model.item_cycles(bundle, acts, b)
                                                for b in items])
    report["sim"] = "golden"
    report["saturation"] = check_saturation(stats, saturation_threshold, strict)
    return codes, single, y_model, report


def _outputs(bundle, y_hw, raw, single):
    y = golden.unpermute(bundle, y_hw)
    y = y if raw else golden.dequantize_output(bundle, y)
    return y[0] if single else y


def hardware_report(bundle, model, y_model, y_hw, cycles, layer_cycles, source):
    """The report of a run on hardware (RTL or board), from its own counters,
    with ``golden_match`` and ``cycle_model_match`` against the models'."""
    report = {
        "cycles": int(cycles.sum()), "batch": int(cycles.shape[0]),
        "per_input": [int(c) for c in cycles.reshape(cycles.shape[0], -1).sum(axis=1)],
        "layers": [{"name": layer.name, "cycles": int(layer_cycles[:, l].sum())}
                   for l, layer in enumerate(bundle.layers)],
        "sim": source,
        "golden_match": bool(np.array_equal(y_hw, y_model)),
        "cycle_model_match": bool(report_cycles_equal(model, cycles, layer_cycles)),
    }
    if bundle.recurrent:
        report.update(steps=model["steps"], runs_per_step=model["runs_per_step"],
                      per_step=[[int(c) for c in seq] for seq in cycles])
    report["saturation"] = model["saturation"]
    return report


def run_on_board(bundle, x, board, raw=False, progress=None, what="input",
                 saturation_threshold=DEFAULT_SATURATION_THRESHOLD, strict=False):
    """Run inputs on an FPGA board (:class:`eie.host.Board`, model loaded).

    Like :func:`simulate` (floats or codes in and out, sequences for a model
    with LSTM layers), with the outputs and cycles read from the board; the
    report says whether they equal the golden and cycle models.
    """
    bundle = as_bundle(bundle)
    codes, single, y_model, report = _models(bundle, x, raw, what, None,
                                             saturation_threshold, strict)
    items = range(codes.shape[0])
    if progress is not None:
        items = progress(items, description="board", total=len(items))
    run = board.run_sequence if bundle.recurrent else board.run
    results = [run(codes[b]) for b in items]
    y_hw = np.array([r[0] for r in results], dtype=np.int64)
    cycles = np.array([r[1] for r in results], dtype=np.int64)
    layer_cycles = np.array([r[2] for r in results], dtype=np.int64).reshape(len(results), -1)
    report = hardware_report(bundle, report, y_model, y_hw, cycles, layer_cycles, "board")
    return _outputs(bundle, y_hw, raw, single), report


def report_cycles_equal(model_report, cycles, layer_cycles):
    """Whether hardware counters equal the cycle model's figures."""
    if "per_step" in model_report:
        if model_report["per_step"] != [[int(c) for c in seq] for seq in cycles]:
            return False
    elif model_report["per_input"] != [int(c) for c in cycles]:
        return False
    return all(layer["cycles"] == int(layer_cycles[:, l].sum())
               for l, layer in enumerate(model_report["layers"]))
