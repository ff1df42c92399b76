"""Latency measured on the machine that quantizes: the evidence `auto` and the report rely on.

Models are timed interleaved (one run of each in turn, in a shuffled order) so that load from other processes on
a shared machine falls on all of them alike; medians are compared. Intra-op threads do not
spin while idle: a session that just ran would otherwise busy-wait on the cores the next one
needs, and interleaving many sessions would measure that contention instead of the models.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from edgefuse.export.quantize.accuracy import session


def batch_of(feeds: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """`size` rows of `feeds`, repeating rows when the split has fewer."""
    n = len(next(iter(feeds.values())))
    index = np.arange(size) % n
    return {k: np.ascontiguousarray(v[index]) for k, v in feeds.items()}


def median_latency_ms(models: dict[str, Path], feeds: dict[str, np.ndarray], batch_sizes: tuple[int, ...],
                      runs: int, threads: int | None = None) -> dict[str, dict[int, float]]:
    """Model name → batch size → median wall time of one `session.run`, in milliseconds."""
    threads = threads or os.cpu_count() or 1
    sessions = {name: session(path, threads, spinning=False) for name, path in models.items()}
    out: dict[str, dict[int, float]] = {name: {} for name in models}
    for size in batch_sizes:
        batch = batch_of(feeds, size)
        times: dict[str, list[float]] = {name: [] for name in models}
        for s in sessions.values():  # warm-up: first-touch allocations are not steady state
            s.run(None, batch)
        order = list(sessions.items())
        for run in range(runs):
            # a fresh order each run: no model is always the one that runs first after the others
            np.random.default_rng(run).shuffle(order)
            for name, s in order:
                start = time.perf_counter()
                s.run(None, batch)
                times[name].append((time.perf_counter() - start) * 1e3)
        for name in models:
            out[name][size] = float(np.median(times[name]))
    return out


def ratios(latency: dict[str, dict[int, float]], reference: str) -> dict[str, dict[int, float]]:
    """Latency of every model relative to `reference` (below 1.0 = faster)."""
    return {name: {b: ms / latency[reference][b] for b, ms in per_batch.items()} for name, per_batch in latency.items()}
