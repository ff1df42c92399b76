"""Timing loops and latency statistics. All times are wall-clock `time.perf_counter` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def time_calls(call: Callable[[], object], min_runs: int, min_seconds: float, max_seconds: float = 60.0) -> np.ndarray:
    """(n,) float64 seconds of n >= `min_runs` calls, run for at least `min_seconds`.

    Stops at `max_seconds` even below `min_runs` (at least 3 runs) so a huge model cannot stall
    the benchmark; the run count is reported with the figures.
    """
    times: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        if (len(times) >= min_runs and elapsed >= min_seconds) or (len(times) >= 3 and elapsed >= max_seconds):
            return np.asarray(times)


def latency_stats(seconds: np.ndarray) -> dict:
    """{"runs", "min", "p50", "p90", "p99", "mean", "std"}: the stats in milliseconds.

    Percentiles use numpy's default linear interpolation; p99 is stable only with >= 100 runs.
    """
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "runs": int(ms.size),
        "min": float(ms.min()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(ms.mean()),
        "std": float(ms.std()),
    }


def throughput(batch: int, seconds: np.ndarray) -> float:
    """Samples per second from per-batch times; the median resists other processes' bursts."""
    return batch / float(np.median(seconds))
