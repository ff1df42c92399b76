"""The bench document as a Markdown report, and `bench.json` + plots + HTML in an output folder."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from edgefuse.runtime import _atomic


def _mb(n: float | None) -> str:
    return "–" if n is None else f"{n / 1e6:.2f}" if n > 1e4 else f"{n:.1f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "–" if x is None else format(x, fmt)


def models_table(document: dict) -> list[str]:
    """One row per model: size, cold start, batch-1 latency, throughput per batch, RSS, limit."""
    batches = document["settings"]["batches"]
    head = ["model", "precision", "size MB", "init ms", "first ms", "p50 ms", "p90 ms", "p99 ms", "mean±std ms",
            *[f"b{b} samples/s" for b in batches], "peak RSS MiB", "% matmul limit"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in document["models"]:
        lat, cold = e["latency_ms"], e["cold_start"]
        rates = {t["batch"]: t["samples_per_s"] for t in e["throughput"]}
        cells = [e["name"], e["precision"], _mb(e["file_bytes"]), _num(cold["init_s"] * 1e3, ".0f"),
                 _num(cold["first_inference_s"] * 1e3, ".1f"), _num(lat["p50"]), _num(lat["p90"]), _num(lat["p99"]),
                 f"{lat['mean']:.2f}±{lat['std']:.2f}", *[_num(rates.get(b), ".0f") for b in batches],
                 _num(e["rss_mb"]["peak"], ".0f"), _pct(e["limit"]["fraction_of_matmul_peak"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def accuracy_table(document: dict) -> list[str]:
    """Accuracy, macro-F1, agreement and accuracy per modality subset, one row per model."""
    scored = [e for e in document["models"] if e.get("accuracy")]
    if not scored:
        return []
    subsets = sorted({s for e in scored for s in e["accuracy"]["subsets"]}, key=lambda s: (-s.count("+"), s))
    head = ["model", "accuracy", "macro-F1", "top-1 agreement", *subsets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in scored:
        a = e["accuracy"]
        lines.append("| " + " | ".join([e["name"], _pct(a["accuracy"]), _num(a["macro_f1"], ".4f"),
                                         _pct(a["top1_agreement_with_first"]), *[_pct(a["subsets"].get(s)) for s in subsets]]) + " |")
    return lines


def profile_lines(document: dict) -> list[str]:
    """Top operators by share of batch-1 node time, per ONNX model."""
    lines = []
    for e in document["models"]:
        profile = e.get("profile")
        if not profile:
            continue
        top = ", ".join(f"{o['op']} {o['share']:.0%}" for o in profile["batch_1"]["top_ops"][:6])
        big = ", ".join(f"{o['op']} {o['share']:.0%}" for o in profile["largest_batch"]["top_ops"][:4])
        lines.append(f"- **{e['name']}**: batch 1: {top}; largest batch: {big}; "
                     f"{profile['flops']['flops'] / 1e6:.1f} MFLOPs/sample")
    return lines


def markdown(document: dict) -> str:
    """The whole report as Markdown: machine line, tables, profiles, comparisons, flags, notes."""
    m, s, peak = document["machine"], document["settings"], document["matmul_peak"]
    lines = [
        f"**{m['cpu']['model']}** · {s['threads']} threads · flags {' '.join(m['cpu']['kernel_flags']) or '–'} · "
        f"onnxruntime {document['versions']['onnxruntime']} · float matmul limit {peak['gflops']:.1f} GFLOP/s "
        f"(sgemm {peak['size']}³) · inputs: {('split ' + s['split'] + ' of ' + s['data']) if s['data'] else 'synthetic'}",
        "", *models_table(document),
    ]
    accuracy = accuracy_table(document)
    if accuracy:
        lines += ["", *accuracy]
    profiles = profile_lines(document)
    if profiles:
        lines += ["", "Top operators (onnxruntime profile, share of node time):", *profiles]
    if document["comparisons"]:
        lines += ["", "Speed-ups (baseline time / model time):"]
        for c in document["comparisons"]:
            per_batch = ", ".join(f"b{b} {x:.2f}×" for b, x in c["throughput_speedup"].items())
            lines.append(f"- {c['model']} vs {c['baseline']}: p50 latency {c['latency_p50_speedup']:.2f}×; throughput {per_batch}")
    flags = [f"- {e['name']}: {f}" for e in document["models"] for f in e["flags"]]
    if flags:
        lines += ["", "Flags:", *flags]
    if document.get("notes"):
        lines += ["", *[f"Note: {n}" for n in document["notes"]]]
    return "\n".join(lines)


def write_reports(document: dict, out: str | os.PathLike) -> dict[str, Path]:
    """Write bench.json, bench.md, the PNG plots and bench.html into `out`; return {kind: path}.

    Without matplotlib the plots are skipped and a note in the document says how to get them.
    """
    from edgefuse.runtime.bench.plots import PlotsUnavailable, make_plots

    out = Path(out)
    written: dict[str, Path] = {}
    try:
        plots = make_plots(document)
    except PlotsUnavailable as e:
        plots = {}
        document.setdefault("notes", []).append(str(e))
    for name, png in plots.items():
        written[name] = _atomic.write_bytes(out / f"{name}.png", png)
    written["json"] = _atomic.write_text(out / "bench.json", json.dumps(document, indent=2, sort_keys=True))
    written["markdown"] = _atomic.write_text(out / "bench.md", markdown(document) + "\n")
    written["html"] = _atomic.write_text(out / "bench.html", html_report(document, plots))
    return written


def html_report(document: dict, plots: dict[str, bytes]) -> str:
    """One self-contained HTML page: the Markdown report as preformatted text and the plots inline."""
    import base64

    images = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(png).decode()}"><figcaption>{name}</figcaption></figure>'
        for name, png in plots.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>edgefuse bench</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;overflow-x:auto}"
        "img{max-width:100%}</style></head><body><h1>edgefuse bench</h1>"
        f"<p>{html.escape(document['created'])}</p><pre>{html.escape(markdown(document))}</pre>{images}</body></html>\n"
    )
