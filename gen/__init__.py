"""Compiler side: Deep Compression, EIE's compressed layout, and the bundle on disk."""

from .bundle import Bundle, Layer
from .compress import CompressOptions, compress
from .model import LSTM, Model, load_model
from .report import compression_report, format_report

__all__ = ["Bundle", "Layer", "CompressOptions", "compress", "load_model", "LSTM", "Model",
           "compression_report", "format_report"]
