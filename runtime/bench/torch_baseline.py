"""The PyTorch eager model of a training run, behind the same small interface as `Predictor`.

This is the one bench module that reaches into `edgefuse.train` (and so torch). It is imported
only when a benchmark is given `--torch RUN`, never by `edgefuse.runtime` itself, so the
runtime-only install keeps working; without torch it raises MissingDependencyError.
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from edgefuse.runtime.errors import MissingDependencyError
from edgefuse.runtime.inputs import InputBuilder


def import_train():
    """`edgefuse.train.run` (and so torch), or MissingDependencyError naming the extra."""
    try:
        return importlib.import_module("edgefuse.train.run")
    except ImportError as e:
        raise MissingDependencyError(
            f"the PyTorch baseline (--torch) needs torch ({e}); install it with: pip install 'edgefuse[train]'"
        ) from None


class TorchPredictor:
    """A run's eager model: `.contract`, `.builder` and `.run(feeds) -> probs`, like `Predictor`.

    `evaluate()` accepts it unchanged, so accuracy is scored by the same code as ONNX models.
    """

    def __init__(self, run: str | os.PathLike, threads: int):
        train_run = import_train()
        import torch

        self._torch = torch
        torch.set_num_threads(threads)
        self.model, self.contract = train_run.load_run_with_contract(run)
        self.builder = InputBuilder(self.contract)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Feeds (graph input names → arrays with batch B) → probs (B, K) float32, eager mode."""
        torch = self._torch
        with torch.inference_mode():
            logits = self.model(**{name: torch.from_numpy(array) for name, array in feeds.items()})
            return logits.softmax(dim=-1).numpy()


def set_interop_threads() -> None:
    """One inter-op thread, as the onnxruntime sessions use; must run before any torch work."""
    torch = importlib.import_module("torch")
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process; the value then stays as it was
        pass
