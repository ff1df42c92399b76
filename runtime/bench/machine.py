"""The machine a benchmark ran on: CPU model and flags, cores, OS and package versions."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

# Flags that decide which kernels onnxruntime and PyTorch pick (int8 speed needs VNNI / dot-product).
KERNEL_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                "avx512_bf16", "amx_tile", "amx_int8", "asimd", "asimddp", "sve", "i8mm")
PACKAGES = ("edgefuse", "numpy", "onnxruntime", "torch", "matplotlib", "onnx")


def cpu_info() -> dict:
    """{"model", "flags" (all, sorted), "kernel_flags" (those that pick kernels), "logical_cores"}."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware") and value.strip():
                model = value.strip()
            elif key in ("flags", "features"):
                flags.update(value.split())
    return {
        "model": model,
        "flags": sorted(flags),
        "kernel_flags": [f for f in KERNEL_FLAGS if f in flags],
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


def versions() -> dict:
    """Installed versions of the packages that shape the figures (None where absent); no imports."""
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict:
    """{"cpu", "os", "memory_mb", "load_average"}: load shows how busy the machine was."""
    memory_mb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        first = meminfo.read_text(encoding="utf-8").splitlines()[0]  # "MemTotal: N kB"
        memory_mb = int(first.split()[1]) / 1024.0
    return {
        "cpu": cpu_info(),
        "os": f"{platform.system()} {platform.release()}",
        "memory_mb": memory_mb,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
