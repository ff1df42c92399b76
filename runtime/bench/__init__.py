"""Benchmarking model files side by side: speed, size, memory, accuracy and distance to the CPU's limit.

Torch-free like the rest of the runtime; `--torch RUN` baselines load torch lazily in their
own worker process. Plots need matplotlib (`pip install 'edgefuse[bench]'`).
"""

from edgefuse.runtime.bench.report import markdown, write_reports
from edgefuse.runtime.bench.runner import BenchError, BenchOptions, benchmark

__all__ = ["BenchError", "BenchOptions", "benchmark", "markdown", "write_reports"]
