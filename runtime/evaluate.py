"""Scoring a model on a data split: accuracy, macro-F1, per-class precision/recall, the confusion
matrix and the modality ablation table; as a dict (JSON-ready) and as Markdown.

`evaluate` takes anything with `.contract`, `.builder` and `.run(feeds) -> (B, K) scores`: an
onnxruntime Predictor here, a PyTorch run in edgefuse.train.evaluate — one scoring code path.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np

from edgefuse.runtime import _atomic
from edgefuse.runtime.inputs import Example
from edgefuse.runtime.manifest import Row
from edgefuse.runtime.predictor import Predictor


def evaluate(predictor: Predictor, rows: list[Row], batch_size: int = 256) -> dict:
    """Accuracy and macro-F1 with every modality as given, and accuracy for every non-empty subset.

    A subset's accuracy feeds only those modalities (others absent, presence 0) on every row.
    """
    c = predictor.contract
    index = {label: i for i, label in enumerate(c.labels)}
    labels = np.array([index[r.label] for r in rows])
    feeds = predictor.builder.build([Example(image=r.image, audio=r.audio, text=r.text) for r in rows])
    predicted = _argmax(predictor, feeds, batch_size)
    subsets = {}
    for n in range(1, len(c.modalities) + 1):
        for subset in itertools.combinations(c.modalities, n):
            hidden = _hide(feeds, c, [m for m in c.modalities if m not in subset])
            subsets["+".join(subset)] = float(np.mean(_argmax(predictor, hidden, batch_size) == labels))
    confusion = confusion_matrix(labels, predicted, len(c.labels))
    return {
        "rows": len(rows),
        "accuracy": float(np.mean(predicted == labels)),
        "macro_f1": macro_f1(labels, predicted, len(c.labels)),
        "subsets": subsets,
        "labels": list(c.labels),
        "per_class": per_class(confusion, c.labels),
        "confusion": confusion.tolist(),
    }


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class(confusion: np.ndarray, labels) -> dict[str, dict]:
    """Label → precision, recall, F1 and support (true rows); 0.0 where a ratio has no denominator."""
    out = {}
    for k, label in enumerate(labels):
        tp, predicted, support = int(confusion[k, k]), int(confusion[:, k].sum()), int(confusion[k].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[str(label)] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return out


def macro_f1(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> float:
    scores = []
    for k in range(num_classes):
        tp = np.sum((predicted == k) & (labels == k))
        fp, fn = np.sum((predicted == k) & (labels != k)), np.sum((predicted != k) & (labels == k))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def _hide(feeds: dict[str, np.ndarray], contract, modalities: list[str]) -> dict[str, np.ndarray]:
    """Feeds with `modalities` absent: zero data, presence 0 — exactly what a device feeds."""
    out = dict(feeds)
    for m in modalities:
        spec = contract.spec(m)
        data = [spec.input_ids, spec.attention_mask] if m == "text" else [spec.input]
        for name in data:
            out[name] = np.zeros_like(feeds[name])
        out[spec.presence] = np.zeros_like(feeds[spec.presence])
    return out


def _argmax(predictor: Predictor, feeds: dict[str, np.ndarray], batch_size: int) -> np.ndarray:
    n = len(next(iter(feeds.values())))
    out = [predictor.run({k: v[i : i + batch_size] for k, v in feeds.items()}).argmax(axis=1) for i in range(0, n, batch_size)]
    return np.concatenate(out)


def format_table(result: dict) -> str:
    """A Markdown table of `evaluate`'s result, largest modality subsets first."""
    lines = [
        f"{result['rows']} rows · accuracy {result['accuracy']:.2%} · macro-F1 {result['macro_f1']:.4f}",
        "",
        "| modalities fed | accuracy |",
        "|---|---|",
    ]
    for subset, acc in sorted(result["subsets"].items(), key=lambda kv: (-kv[0].count("+"), kv[0])):
        lines.append(f"| {subset} | {acc:.2%} |")
    return "\n".join(lines)


def format_report(result: dict, title: str = "Evaluation") -> str:
    """The whole result as Markdown: summary and ablation table, per-class table, confusion matrix."""
    lines = [f"# {title}", "", format_table(result), "", "## Per class", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, m in result["per_class"].items():
        lines.append(f"| {label} | {m['precision']:.2%} | {m['recall']:.2%} | {m['f1']:.4f} | {m['support']} |")
    labels = result["labels"]
    lines += ["", "## Confusion matrix (rows: true, columns: predicted)", "", "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for label, row in zip(labels, result["confusion"]):
        lines.append(f"| **{label}** | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_report(result: dict, out: str | os.PathLike, title: str = "Evaluation") -> list[Path]:
    """Write `evaluation.json` and `evaluation.md` into the folder `out`; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [
        _atomic.write_text(out / "evaluation.json", json.dumps(result, indent=2)),
        _atomic.write_text(out / "evaluation.md", format_report(result, title)),
    ]
