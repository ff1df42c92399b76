"""`edgefuse quantize` and `edgefuse optimize`: thin argparse layers over edgefuse.export."""

from __future__ import annotations

import argparse
import importlib
import json

from edgefuse.runtime.errors import MissingDependencyError


def register(subparsers) -> None:
    """Add the `quantize` and `optimize` subcommands to the `edgefuse` parser's subparsers."""
    q = subparsers.add_parser(
        "quantize", help="make an int8 or fp16 model that is measured, accurate and (by default) not slower",
        description="Calibrates on the training split through the runtime's own preprocessing, holds the accuracy "
        "budget on the validation split, reports on the test split. Writes OUT plus OUT.report.json/.md.")
    q.add_argument("model", help="FP32 .onnx made by `edgefuse export`")
    q.add_argument("--out", required=True, help="the quantized .onnx to write")
    q.add_argument("--data", required=True, help="data set folder with train/val/test manifests")
    q.add_argument("--mode", choices=["dynamic", "static", "fp16", "auto"],
                   help="auto (default): time int8 plans on this machine and keep int8 only where faster")
    q.add_argument("--calibration", choices=["minmax", "entropy", "percentile"], help="activation range method (default minmax)")
    q.add_argument("--per-channel", action=argparse.BooleanOptionalAction, help="per-output-channel weight scales (default on)")
    q.add_argument("--max-drop", type=float, help="largest validation accuracy drop, as a fraction (default 0.003 = 0.3 pt)")
    q.add_argument("--prefer", choices=["speed", "size"],
                   help="speed (default): never write a model slower than FP32; size: smallest within the budget")
    q.add_argument("--preset", choices=["avx2", "arm64", "smallest"], help="start from a named preset (flags override it)")
    q.add_argument("--calibration-rows", type=int, help="training rows used for calibration (default 256)")
    q.add_argument("--timing-runs", type=int, help="timed runs per plan and batch size (default 30)")
    q.set_defaults(handler=_quantize)

    o = subparsers.add_parser("optimize", help="onnxruntime offline graph optimization, keeping the contract")
    o.add_argument("model", help=".onnx made by edgefuse")
    o.add_argument("--out", required=True, help="the optimized .onnx to write")
    o.add_argument("--level", choices=["basic", "extended"], default="basic",
                   help="basic (default): portable ONNX; extended: onnxruntime-only fused ops")
    o.set_defaults(handler=_optimize)


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise MissingDependencyError(f"this command needs the 'export' extra ({e}); install it with: pip install 'edgefuse[export]'") from None


def _quantize(args) -> None:
    quantize = _module("edgefuse.export.quantize")
    base = quantize.PRESETS[args.preset]() if args.preset else quantize.QuantizeConfig()
    given = {"mode": args.mode, "calibration": args.calibration, "per_channel": args.per_channel, "max_drop": args.max_drop,
             "prefer": args.prefer, "calibration_rows": args.calibration_rows, "timing_runs": args.timing_runs}
    config = base.replace(**{k: v for k, v in given.items() if v is not None})  # flags override the preset
    result = quantize.quantize(args.model, args.out, args.data, config)
    t = result.report["test_vs_parent"]
    print(json.dumps({"model": str(result.path), "report": [str(p) for p in result.report_paths], "mode": result.report["mode"],
                      "plan": result.report["plan"]["name"], "size_ratio": round(t["bytes"]["ratio"], 4),
                      "accuracy_drop_pt": round(t["accuracy_drop"] * 100, 3), "top1_agreement": t["top1_agreement"],
                      "latency_ratio": t["latency_ratio"], "flags": result.report["flags"]}))


def _optimize(args) -> None:
    path = _module("edgefuse.export.optimize").optimize(args.model, args.out, level=args.level)
    print(json.dumps({"model": str(path), "bytes": path.stat().st_size, "level": args.level}))
