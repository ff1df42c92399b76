"""Finishing a quantization: the final file (contract, DFT synthesis, checks) and its report.

The report's figures come from the test split (validation when a data set has no test rows):
size, accuracy, macro-F1 and accuracy per modality subset (the runtime's own `evaluate`),
top-1 agreement with the float parent and median latency at batch 1 and 32.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from edgefuse.export.compact import compact_names, merge_duplicate_initializers, sort_topologically
from edgefuse.export.contract_io import embed_contract
from edgefuse.export.frontend_graph import synthesize_frontend_constants
from edgefuse.export.quantize.accuracy import predictions
from edgefuse.export.quantize.calibration import build_feeds, split_rows
from edgefuse.export.quantize.latency import median_latency_ms
from edgefuse.runtime import _atomic
from edgefuse.runtime.evaluate import evaluate
from edgefuse.runtime.manifest import read_dataset
from edgefuse.runtime.predictor import Predictor

IR_VERSION = 8
"""Highest IR version onnxruntime 1.18 loads with opset <= 19 models; the exporter uses it too."""


def finish(job, plan, built: Path, repair: list[dict], decision: dict, out: Path):
    """Write `out` (the model of `plan` with its contract) and out.report.{json,md}; return a QuantizeResult."""
    from edgefuse.export.quantize.api import QuantizeResult

    summary = {
        "mode": job.config.mode.value, "plan": {"name": plan.name, "scopes": plan.components, "op_types": plan.op_types},
        "settings": job.config.to_dict(), "float_nodes": dict(sorted(plan.float_nodes.items())),
        "calibration": job.calibration, "preparation": job.prepared.steps, "accuracy_repair": repair,
        "validation_vs_parent": {"float_accuracy": job.reference.accuracy, **repair[-1]},
        "parent": {"file": job.parent.name, "bytes": job.parent.stat().st_size}, "decision": decision,
    }
    draft = job.folder / "final.onnx"
    _atomic.write_bytes(draft, _final_bytes(built, job.contract.replace(quantization=_for_contract(summary))))
    measured = _measure(job, draft)
    summary["test_vs_parent"] = measured
    summary["flags"] = _flags(job, measured)
    job.progress.set_postfix_str("writing")
    path = _atomic.write_bytes(out, _final_bytes(built, job.contract.replace(quantization=_for_contract(summary))))
    report = {**summary, "file": str(path), "bytes": path.stat().st_size}
    paths = (_atomic.write_text(path.with_suffix(".report.json"), json.dumps(report, indent=2, default=str) + "\n"),
             _atomic.write_text(path.with_suffix(".report.md"), markdown(report) + "\n"))
    return QuantizeResult(path, report, paths)


def _for_contract(summary: dict) -> dict:
    """What the model file itself records: the report without the per-candidate and per-subset tables."""
    out = {k: v for k, v in summary.items() if k not in ("decision", "test_vs_parent", "settings", "float_nodes")}
    by_reason: dict[str, list[str]] = {}
    for node, why in summary["float_nodes"].items():  # grouped: each reason once, the file stays small
        by_reason.setdefault(why, []).append(node)
    out["float_nodes_by_reason"] = by_reason
    out["settings"] = {k: summary["settings"][k] for k in ("calibration", "per_channel", "reduce_range", "activations_unsigned", "max_drop", "prefer")}
    out["decision"] = {k: v for k, v in summary["decision"].items() if k != "candidates"}
    t = summary.get("test_vs_parent")
    if t:
        out["test_vs_parent"] = {"split": t["split"], "rows": t["rows"], "float_accuracy": t["float"]["accuracy"],
                                 "accuracy": t["quantized"]["accuracy"], "macro_f1": t["quantized"]["macro_f1"],
                                 "accuracy_drop": t["accuracy_drop"], "top1_agreement": t["top1_agreement"],
                                 "size_ratio": t["bytes"]["ratio"], "latency_ratio": t["latency_ratio"]}
    return out


def _final_bytes(built: Path, contract) -> bytes:
    """The built model with the frontend constants synthesized, copies merged, names compacted, the contract embedded, IR pinned, fully checked."""
    proto = onnx.load(str(built))
    synthesize_frontend_constants(proto, contract.audio)
    merge_duplicate_initializers(proto)
    compact_names(proto)
    sort_topologically(proto)
    if proto.ir_version > IR_VERSION and all(o.version <= 19 for o in proto.opset_import if o.domain in ("", "ai.onnx")):
        proto.ir_version = IR_VERSION
    proto.producer_name = "edgefuse"
    embed_contract(proto, contract)
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def _measure(job, model: Path) -> dict:
    """Both models on the test split: evaluate() tables, agreement, sizes and latency."""
    split = "test" if read_dataset(job.data, splits=("test",))["test"] else "val"
    rows = split_rows(job.data, split)
    feeds = build_feeds(job.contract, rows)
    agreement = float((predictions(model, feeds) == predictions(job.parent, feeds)).mean())
    scores = {name: evaluate(Predictor.from_file(path, warmup=False), rows) for name, path in (("float", job.parent), ("quantized", model))}
    latency = median_latency_ms({"float": job.parent, "quantized": model}, feeds, (1, 32), job.config.timing_runs)
    return {
        "split": split, "rows": len(rows), "float": scores["float"], "quantized": scores["quantized"],
        "accuracy_drop": scores["float"]["accuracy"] - scores["quantized"]["accuracy"], "top1_agreement": agreement,
        "bytes": {"float": job.parent.stat().st_size, "quantized": model.stat().st_size,
                  "ratio": model.stat().st_size / job.parent.stat().st_size},
        "latency_ms": {name: {str(b): ms for b, ms in per.items()} for name, per in latency.items()},
        "latency_ratio": {str(b): latency["quantized"][b] / latency["float"][b] for b in (1, 32)},
    }


def _flags(job, measured: dict) -> list[str]:
    """What a user must know before shipping this file."""
    flags = [f"slower than the FP32 parent at batch {b} ({r:.3f}x)" for b, r in measured["latency_ratio"].items() if r > 1.0]
    budget = job.config.max_drop
    if budget is not None and measured["accuracy_drop"] > budget:
        flags.append(f"test accuracy drop {measured['accuracy_drop'] * 100:.2f} pt exceeds the {budget * 100:.2f} pt budget "
                     "(the budget is enforced on the validation split)")
    return flags


def markdown(report: dict) -> str:
    t = report["test_vs_parent"]
    f, q = t["float"], t["quantized"]
    lines = [
        f"# Quantization report: {Path(report['file']).name}", "",
        f"Mode **{report['mode']}**, plan **{report['plan']['name']}**; parent {report['parent']['file']}; "
        f"calibration: {report['calibration']['rows']} {report['calibration']['split']} rows, {report['calibration']['method']}.", "",
        f"| on the {t['split']} split ({t['rows']} rows) | FP32 | {report['mode']} |", "|---|---|---|",
        f"| size | {t['bytes']['float']:,} B | {t['bytes']['quantized']:,} B ({t['bytes']['ratio']:.3f}x) |",
        f"| accuracy | {f['accuracy']:.2%} | {q['accuracy']:.2%} ({-t['accuracy_drop'] * 100:+.2f} pt) |",
        f"| macro-F1 | {f['macro_f1']:.4f} | {q['macro_f1']:.4f} |",
        f"| top-1 agreement with FP32 | | {t['top1_agreement']:.2%} |",
    ]
    for b in ("1", "32"):
        lines.append(f"| latency batch {b} (median ms) | {t['latency_ms']['float'][b]:.3f} | {t['latency_ms']['quantized'][b]:.3f} ({t['latency_ratio'][b]:.2f}x) |")
    lines += [f"| accuracy, {s} only | {f['subsets'][s]:.2%} | {q['subsets'][s]:.2%} |" for s in f["subsets"]]
    lines += ["", "## Accuracy repair (validation split)", "", "| step | nodes moved to float | accuracy | drop | agreement |", "|---|---|---|---|---|"]
    for s in report["accuracy_repair"]:
        moved = ", ".join(f"`{n['node']}` ({n['sqnr_db']:.1f} dB)" for n in s["float_nodes_added"]) or "–"
        lines.append(f"| {s['step']} | {moved} | {s['accuracy']:.2%} | {s['drop'] * 100:.2f} pt | {s['top1_agreement']:.2%} |")
    candidates = report["decision"].get("candidates")
    if candidates:
        lines += ["", "## Candidate plans timed on this machine", "", "| plan | b1 ratio | b32 ratio | bytes | first timing (b1, b32) |",
                  "|---|---|---|---|---|"]
        lines += [f"| {n} | {c['ratio']['1']:.2f}x | {c['ratio']['32']:.2f}x | {c.get('bytes', 0):,} | "
                  + (f"{c['screening_ratio']['1']:.2f}x, {c['screening_ratio']['32']:.2f}x, timed again with the other contenders |"
                     if "screening_ratio" in c else "|") for n, c in candidates.items()]
        lines += ["", f"Chosen: **{report['decision']['chosen']}** (prefer {report['decision']['prefer']})."]
    lines += ["", f"Nodes kept float: {len(report['float_nodes'])} (reasons in the JSON report and the model's contract)."]
    lines += ["", "Flags:", *[f"- {x}" for x in report["flags"]]] if report["flags"] else []
    return "\n".join(lines)
