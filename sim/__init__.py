"""Reference models (golden result, cycle count) and simulator drivers."""

from . import cycle_model, golden

__all__ = ["golden", "cycle_model"]
