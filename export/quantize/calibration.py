"""Calibration and evaluation feeds drawn through the runtime's own preprocessing.

The quantizer sees exactly what a device feeds: rows of a split → `InputBuilder(contract).build`
(decode, resample, resize, tokenize, presence flags), the same function `Predictor` uses.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from edgefuse.export.quantize.config import QuantizeError
from edgefuse.runtime.contract import ModelContract
from edgefuse.runtime.inputs import Example, InputBuilder
from edgefuse.runtime.manifest import Row, read_dataset


def split_rows(data: str | os.PathLike, split: str) -> list[Row]:
    """Rows of `split` in data set folder `data`, or a QuantizeError naming the fix."""
    if not Path(data).is_dir():
        raise QuantizeError(f"data set folder {str(data)!r} does not exist; pass --data DIR with train/val/test manifests")
    rows = read_dataset(data, splits=(split,))[split]
    if not rows:
        raise QuantizeError(f"the {split} split of {data} is empty; quantization needs {split} rows")
    return rows


def sample_rows(rows: list[Row], count: int, seed: int) -> list[Row]:
    """Up to `count` rows, a seeded random subset (calibration must not see only the first class)."""
    if len(rows) <= count:
        return list(rows)
    picked = np.random.default_rng(seed).choice(len(rows), size=count, replace=False)
    return [rows[i] for i in sorted(picked)]


def build_feeds(contract: ModelContract, rows: list[Row]) -> dict[str, np.ndarray]:
    """Model feeds (contract input name → batch array) for `rows`, exactly as the runtime builds them."""
    return InputBuilder(contract).build([Example(image=r.image, audio=r.audio, text=r.text) for r in rows])


def batches(feeds: dict[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
    """`feeds` cut into consecutive batches of at most `size` rows."""
    n = len(next(iter(feeds.values())))
    return [{k: v[i : i + size] for k, v in feeds.items()} for i in range(0, n, size)]


class FeedReader(CalibrationDataReader):
    """onnxruntime's calibration protocol over prepared feed batches; `rewind` allows reuse."""

    def __init__(self, feed_batches: list[dict[str, np.ndarray]]):
        self.feed_batches = feed_batches
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self.feed_batches):
            return None
        self._next += 1
        return self.feed_batches[self._next - 1]

    def __len__(self) -> int:
        return len(self.feed_batches)

    def rewind(self) -> None:
        self._next = 0
