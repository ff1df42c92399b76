"""PNG plots of an evaluation and of a training run (matplotlib, imported lazily).

matplotlib comes with the `train` and `bench` extras; without it `require` names the extra.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from edgefuse.runtime import _atomic
from edgefuse.runtime._deps import require


def _pyplot():
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")  # files only: never open a window on a headless device
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str | os.PathLike) -> Path:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    _pyplot().close(figure)
    return _atomic.write_bytes(path, buffer.getvalue())


def plot_confusion(result: dict, path: str | os.PathLike) -> Path:
    """The confusion matrix of an `evaluate` result as a PNG: counts, rows true, columns predicted."""
    plt = _pyplot()
    matrix, labels = np.array(result["confusion"]), result["labels"]
    size = 2.5 + 0.45 * len(labels)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45 if max(map(len, labels)) > 3 else 0)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"accuracy {result['accuracy']:.2%} · macro-F1 {result['macro_f1']:.3f}")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            axes.text(j, i, str(count), ha="center", va="center", fontsize=8, color="white" if count > threshold else "black")
    return _save(figure, path)


def plot_training_curves(records: list[dict], path: str | os.PathLike) -> Path:
    """Training loss and validation accuracy / macro-F1 per epoch (a run's log.jsonl) as a PNG."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in records]
    figure, (loss_axes, val_axes) = plt.subplots(1, 2, figsize=(9, 3.5))
    loss_axes.plot(epochs, [r["train_loss"] for r in records], marker="o")
    loss_axes.set(xlabel="epoch", ylabel="training loss", title="training loss")
    for key, name in (("val_accuracy", "accuracy"), ("val_macro_f1", "macro-F1")):
        points = [(r["epoch"], r[key]) for r in records if key in r]
        if points:
            val_axes.plot(*zip(*points), marker="o", label=name)
    val_axes.set(xlabel="epoch", ylabel="validation", title="validation")
    val_axes.legend()
    val_axes.grid(alpha=0.3)
    loss_axes.grid(alpha=0.3)
    return _save(figure, path)
