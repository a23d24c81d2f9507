"""EIE: Efficient Inference Engine on compressed deep neural networks.

Python API::

    import eie
    bundle = eie.compress([w0, w1], [b0, b1], n_pe=8, density=0.1)
    bundle.save("model.eie")
    y = eie.infer(eie.Bundle.load("model.eie"), x)          # golden model, floats
    y, report = eie.simulate(bundle, x)                     # values and cycle counts
    y, report = eie.simulate(bundle, x, sim="verilator")    # the generated RTL
    open("eie.v", "w").write(eie.generate_verilog(bundle=bundle))

Subpackages: :mod:`eie.gen` (compiler, bundle), :mod:`eie.sim` (golden and
cycle models, simulator drivers), :mod:`eie.hw` (Amaranth gateware).
"""

from .config import HwConfig, Timing
from .errors import (AccuracyWarning, BundleError, CapacityError, EieError, EieWarning, InputError,
                     ModelError, SaturationError, SaturationWarning)
from .gen import LSTM, Bundle, CompressOptions, Model, compress, compression_report, load_model
from .api import infer, simulate
from .gen.verilog import generate as generate_verilog

__version__ = "0.1.0"

__all__ = ["HwConfig", "Timing", "EieError", "BundleError", "CapacityError", "InputError",
           "ModelError", "SaturationError", "EieWarning", "SaturationWarning", "AccuracyWarning",
           "Bundle", "LSTM", "Model", "CompressOptions", "compress",
           "compression_report", "load_model", "infer", "simulate", "generate_verilog",
           "__version__"]
