"""Turning validated manifest rows into tensors, through the runtime's own preprocessing."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from edgefuse.runtime.contract import ModelContract
from edgefuse.runtime.inputs import Example, InputBuilder
from edgefuse.runtime.manifest import Row


def examples_of(rows: list[Row]) -> list[Example]:
    return [Example(image=r.image, audio=r.audio, text=r.text) for r in rows]


def tensorize(rows: list[Row], contract: ModelContract, desc: str = "loading", chunk: int = 256, quiet: bool = False) -> dict[str, torch.Tensor]:
    """Rows → the graph's inputs for all N rows, plus `label` (N,) int64; absent modalities are zeros."""
    builder, examples = InputBuilder(contract), examples_of(rows)
    steps = tqdm(range(0, len(rows), chunk), desc=desc, unit="chunk", leave=False, disable=quiet)
    parts = [builder.build(examples[i : i + chunk]) for i in steps]
    out = {}
    for name in parts[0]:
        arrays = [p[name] for p in parts]
        if arrays[0].dtype == np.int64:  # token ids and masks: pad every chunk to the longest
            width = max(a.shape[1] for a in arrays)
            arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in arrays]
        out[name] = torch.from_numpy(np.concatenate(arrays))
    index = {label: i for i, label in enumerate(contract.labels)}
    out["label"] = torch.tensor([index[r.label] for r in rows], dtype=torch.int64)
    return out


def take(data: dict[str, torch.Tensor], index) -> dict[str, torch.Tensor]:
    """The rows `index` (a sequence of ints) of every tensor in `data`."""
    idx = torch.as_tensor(list(index), dtype=torch.int64)
    return {k: v[idx] for k, v in data.items()}


def batches(data: dict[str, torch.Tensor], batch_size: int, generator: torch.Generator | None = None):
    """Yield dicts of (b, ...) slices; shuffled when `generator` is given."""
    n = len(data["label"])
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield {k: v[idx] for k, v in data.items()}


def drop_modalities(batch: dict[str, torch.Tensor], contract: ModelContract, p: dict[str, float], generator: torch.Generator) -> None:
    """Modality dropout in place: hide each present modality m with probability p[m], keeping at least one.

    Only the presence input changes (the data stays): the model must ignore data whose presence
    is 0, which every fusion strategy does by construction.
    """
    names = [contract.spec(m).presence for m in contract.modalities]
    probs = torch.tensor([p.get(m, 0.0) for m in contract.modalities])  # (M,)
    if float(probs.max()) <= 0 or len(names) < 2:
        return
    present = torch.stack([batch[n] for n in names], dim=1)  # (b, M)
    keep = (torch.rand(present.shape, generator=generator) >= probs).float() * present
    empty = keep.sum(dim=1) == 0
    keep[empty] = present[empty]  # never hide the last modality of an example
    for i, n in enumerate(names):
        batch[n] = keep[:, i].contiguous()


def augment(batch: dict[str, torch.Tensor], contract: ModelContract, generator: torch.Generator) -> None:
    """Train-only augmentation in place, before the graph: audio time shift and gain, image shift."""
    if contract.audio:
        audio = batch[contract.audio.input]
        max_shift = contract.audio.sample_rate // 10
        shifts = torch.randint(-max_shift, max_shift + 1, (audio.shape[0],), generator=generator).tolist()
        gains = torch.empty(audio.shape[0], 1).uniform_(0.5, 1.5, generator=generator)
        batch[contract.audio.input] = torch.stack([torch.roll(a, s) for a, s in zip(audio, shifts)]) * gains
    if contract.image:
        dy, dx = torch.randint(-2, 3, (2,), generator=generator).tolist()
        batch[contract.image.input] = torch.roll(batch[contract.image.input], shifts=(dy, dx), dims=(2, 3))
