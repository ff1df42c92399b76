"""Quantizing an edgefuse model: static/dynamic int8 and fp16, accuracy- and latency-aware."""

from edgefuse.export.quantize.api import QuantizeResult, quantize
from edgefuse.export.quantize.config import PRESETS, Calibration, Mode, Prefer, QuantizeConfig, QuantizeError

__all__ = ["quantize", "QuantizeConfig", "QuantizeResult", "QuantizeError", "Mode", "Calibration", "Prefer", "PRESETS"]
