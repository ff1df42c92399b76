"""PNG plots of a bench document (matplotlib, the `bench` extra): latency, throughput, accuracy."""

from __future__ import annotations

import io

from edgefuse.runtime._deps import require
from edgefuse.runtime.errors import MissingDependencyError


class PlotsUnavailable(MissingDependencyError):
    """matplotlib is not installed; the message says the plots were skipped and how to get them."""


def _pyplot():
    try:
        matplotlib = require("matplotlib")
    except MissingDependencyError as e:
        raise PlotsUnavailable(f"plots skipped: {e}") from None
    matplotlib.use("Agg")  # files only; never open a window on a headless device
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def latency_plot(plt, document: dict) -> bytes:
    """Box plot of every batch-1 run's latency (ms), one box per model."""
    models = document["models"]
    figure, axes = plt.subplots(figsize=(max(5, 1.6 * len(models)), 4))
    axes.boxplot([m["latency_samples_ms"] for m in models], showfliers=True)
    axes.set_xticks(range(1, len(models) + 1), [m["name"] for m in models], rotation=15)
    axes.set_ylabel("latency at batch 1 (ms)")
    axes.set_yscale("log")
    axes.set_title(f"Latency distribution ({document['settings']['threads']} threads)")
    return _png(figure)


def throughput_plot(plt, document: dict) -> bytes:
    """Samples per second versus batch size, one line per model (log-log)."""
    figure, axes = plt.subplots(figsize=(6, 4))
    for m in document["models"]:
        axes.plot([t["batch"] for t in m["throughput"]], [t["samples_per_s"] for t in m["throughput"]], marker="o", label=m["name"])
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("batch size")
    axes.set_ylabel("samples / s")
    axes.set_title("Throughput versus batch")
    axes.legend()
    return _png(figure)


def accuracy_plot(plt, document: dict) -> bytes | None:
    """Accuracy versus file size (MB), one point per model; None when nothing was scored."""
    scored = [m for m in document["models"] if m.get("accuracy")]
    if not scored:
        return None
    figure, axes = plt.subplots(figsize=(6, 4))
    for m in scored:
        axes.scatter(m["file_bytes"] / 1e6, m["accuracy"]["accuracy"] * 100, s=50)
        axes.annotate(m["name"], (m["file_bytes"] / 1e6, m["accuracy"]["accuracy"] * 100), textcoords="offset points", xytext=(5, 5))
    axes.set_xlabel("file size (MB)")
    axes.set_ylabel(f"accuracy on {document['settings']['split']} (%)")
    axes.set_title("Accuracy versus size")
    return _png(figure)


def make_plots(document: dict) -> dict[str, bytes]:
    """{"latency": png, "throughput": png[, "accuracy": png]}; raises PlotsUnavailable without matplotlib."""
    plt = _pyplot()
    plots = {"latency": latency_plot(plt, document), "throughput": throughput_plot(plt, document)}
    accuracy = accuracy_plot(plt, document)
    if accuracy is not None:
        plots["accuracy"] = accuracy
    plt.close("all")
    return plots
