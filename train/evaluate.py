"""Evaluating a training run with PyTorch, through the runtime's own scoring code.

`TorchScorer` gives a run the three things `edgefuse.runtime.evaluate.evaluate` uses from a
Predictor (`contract`, `builder`, `run`), so a run and its exported .onnx are scored by the
same code on the same feeds, and their numbers are directly comparable.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from edgefuse.runtime.evaluate import evaluate, write_report
from edgefuse.runtime.inputs import InputBuilder
from edgefuse.runtime.manifest import read_dataset
from edgefuse.train.run import load_run_with_contract, read_log, read_run_config


class TorchScorer:
    """A run's model behind the Predictor interface that `evaluate` needs."""

    def __init__(self, run: str | os.PathLike):
        self.model, self.contract = load_run_with_contract(run)
        self.builder = InputBuilder(self.contract)

    @torch.no_grad()
    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Graph feeds (B, ...) → probabilities (B, K) float32."""
        logits = self.model(**{k: torch.from_numpy(v) for k, v in feeds.items()})
        return logits.softmax(dim=-1).numpy()


def evaluate_run(run: str | os.PathLike, data: str | os.PathLike | None = None, split: str = "test") -> dict:
    """`evaluate` on `split` of `data` (default: the run's own data set) for the run's best checkpoint."""
    folder = data or read_run_config(run).get("data", {}).get("path")
    rows = read_dataset(folder, splits=(split,))[split]
    return evaluate(TorchScorer(run), rows)


def write_run_report(run: str | os.PathLike, result: dict, out: str | os.PathLike) -> list[Path]:
    """evaluation.json/.md plus confusion.png and (when the run has a log) training_curves.png in `out`."""
    from edgefuse.runtime.plots import plot_confusion, plot_training_curves

    paths = write_report(result, out, title=f"Evaluation of run {Path(run).name}")
    paths.append(plot_confusion(result, Path(out) / "confusion.png"))
    records = read_log(run)
    if records:
        paths.append(plot_training_curves(records, Path(out) / "training_curves.png"))
    return paths
