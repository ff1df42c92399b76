"""The inputs every benchmarked model sees: real rows of a data split, or seeded synthetic ones.

Every worker builds its feeds with the same function and seed, through the model's own
`InputBuilder`, so the float, quantized and PyTorch models run on identical arrays.
"""

from __future__ import annotations

import os

import numpy as np

from edgefuse.runtime.contract import ModelContract
from edgefuse.runtime.inputs import Example, InputBuilder
from edgefuse.runtime.manifest import Row, read_dataset


def data_rows(data: str | os.PathLike | None, split: str) -> list[Row] | None:
    """The rows of `split` in the data set folder `data`, or None without a data set."""
    return read_dataset(data, splits=(split,))[split] if data else None


def bench_examples(contract: ModelContract, count: int, rows: list[Row] | None = None, seed: int = 0) -> list[Example]:
    """`count` examples: the first rows of the split (cycled), or synthetic ones with every modality.

    Synthetic examples have every modality the model takes present, so no encoder is skipped:
    random RGB pixels at the model's size, 0.1-amplitude noise for one window at the model's rate,
    and eight words drawn from the label names.
    """
    if rows:
        return [Example(image=r.image, audio=r.audio, text=r.text) for r in (rows[i % len(rows)] for i in range(count))]
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(count):
        image = rng.integers(0, 256, (contract.image.height, contract.image.width, 3), dtype=np.uint8) if contract.image else None
        audio = (0.1 * rng.standard_normal(contract.audio.window_samples)).astype(np.float32) if contract.audio else None
        text = " ".join(rng.choice(list(contract.labels), 8)) if contract.text else None
        examples.append(Example(image=image, audio=audio, text=text))
    return examples


def batch_feeds(contract: ModelContract, batches: list[int], rows: list[Row] | None = None, seed: int = 0) -> dict[int, dict[str, np.ndarray]]:
    """{batch size: feeds}: one build at the largest batch, sliced, so every sample has the same text length."""
    full = InputBuilder(contract).build(bench_examples(contract, max(batches), rows, seed))
    return {b: {name: np.ascontiguousarray(array[:b]) for name, array in full.items()} for b in batches}
