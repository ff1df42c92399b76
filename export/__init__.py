"""Exporting training runs to one self-describing ONNX file (and, later, quantizing it)."""

from edgefuse.export.onnx_export import ExportResult, ParityError, to_onnx

__all__ = ["to_onnx", "ExportResult", "ParityError"]
