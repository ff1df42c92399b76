"""The `edgefuse` command: a thin argparse layer over the package functions.

Runtime subcommands import only edgefuse.runtime; training and export import torch lazily.
Every user error becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

from edgefuse.runtime.errors import EdgefuseError, MissingDependencyError


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except EdgefuseError as e:
        print(f"edgefuse: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("edgefuse: interrupted", file=sys.stderr)
        sys.exit(130)


def build_parser() -> argparse.ArgumentParser:
    from edgefuse import __version__

    parser = argparse.ArgumentParser(prog="edgefuse", description="Fused camera + microphone + text classifiers for edge devices.")
    parser.add_argument("--version", action="version", version=f"edgefuse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="build data sets").add_subparsers(dest="data_command", required=True, metavar="KIND")
    demo = data.add_parser("demo", help="build the digits3 demo data set (images, speech, text)")
    demo.add_argument("--out", required=True, help="folder to write (replaced whole)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--size", choices=["tiny", "full"], default="full")
    demo.set_defaults(handler=_data_demo)

    train = sub.add_parser(
        "train", help="train a fused classifier on a data set folder",
        description="Train a fused classifier. Settings: defaults < --config TOML < the flags below. "
        "Several processes: torchrun --nproc_per_node=N -m edgefuse.train --data DIR --out RUN",
    )
    train.add_argument("--data", help="folder with train/val/test manifests (with --resume: default the run's own)")
    train.add_argument("--out", help="run folder to write")
    train.add_argument("--config", help="TOML file of training settings (e.g. a run's train.toml)")
    train.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last finished epoch")
    importlib.import_module("edgefuse.train.config").add_arguments(train)
    train.set_defaults(handler=_train)

    export = sub.add_parser("export", help="export a training run to one self-describing .onnx file")
    export.add_argument("run", help="training run folder")
    export.add_argument("--out", required=True, help="the .onnx file to write")
    export.add_argument("--data", help="data set for the parity check (default: the run's own)")
    export.set_defaults(handler=_export)

    predict = sub.add_parser("predict", help="predict one example with a model file (any modalities may be left out)")
    predict.add_argument("model", help=".onnx file made by edgefuse")
    predict.add_argument("--image", help="image file (PNG, JPEG, ...)")
    predict.add_argument("--audio", help="audio file (WAV, FLAC, OGG)")
    predict.add_argument("--text", help="text")
    predict.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    predict.add_argument("--sha256", help="refuse the model unless its SHA-256 digest is this (64 hex digits)")
    predict.set_defaults(handler=_predict)

    inspect = sub.add_parser("inspect", help="print the contract inside a model file as JSON")
    inspect.add_argument("model")
    inspect.add_argument("--sha256", help="refuse the model unless its SHA-256 digest is this (64 hex digits)")
    inspect.set_defaults(handler=_inspect)

    evaluate = sub.add_parser("evaluate", help="score a training run or a model file on a data split, with the modality ablation table")
    evaluate.add_argument("model", metavar="RUN_OR_MODEL", help="training run folder (PyTorch) or .onnx file made by edgefuse (onnxruntime)")
    evaluate.add_argument("--data", help="data set folder (default for a run: the data it was trained on)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--out", help="folder for evaluation.json, evaluation.md and PNG plots")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    evaluate.set_defaults(handler=_evaluate)
    importlib.import_module("edgefuse.live").register(sub)
    importlib.import_module("edgefuse.bench").register(sub)
    importlib.import_module("edgefuse.quantize").register(sub)
    return parser


def _needs(extra: str, module: str):
    """Import a torch-side module, or explain which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(f"this command needs the {extra!r} extra ({e}); install it with: pip install 'edgefuse[{extra}]'") from None


def _data_demo(args) -> None:
    demo = _needs("train", "edgefuse.train.demo")
    start = time.perf_counter()
    path = demo.build_demo(args.out, seed=args.seed, size=args.size)
    print(f"wrote demo data set to {path} in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def _train(args) -> None:
    from edgefuse.train.config import load_config, overrides_from_args

    train = _needs("train", "edgefuse.train.loop")  # the package itself loads lazily; the loop needs torch
    overrides = overrides_from_args(args)
    if args.resume:
        best = train.resume(args.resume, args.data, overrides)
        if best is not None:  # None on torchrun's other ranks: only rank 0 reports
            print(json.dumps({"run": args.resume, **best}))
        return
    if not args.data or not args.out:
        raise EdgefuseError("train needs --data DIR and --out RUN (or --resume RUN to continue a run)")
    best = train.fit(args.data, args.out, load_config(args.config, overrides))
    if best is not None:  # None on torchrun's other ranks: only rank 0 reports
        print(json.dumps({"run": args.out, **best}))


def _export(args) -> None:
    export = _needs("export", "edgefuse.export")
    result = export.to_onnx(args.run, args.out, data=args.data)
    print(json.dumps({"model": str(result.path), "bytes": result.bytes, "parity_samples": result.samples, "parity_max_abs_diff": result.parity}))


def _predict(args) -> None:
    from edgefuse.runtime import Predictor

    if args.image is None and args.audio is None and not (args.text and args.text.strip()):
        raise EdgefuseError("no input given; pass at least one of --image FILE, --audio FILE, --text TEXT")
    from edgefuse.runtime.windows import predict_any_length

    predictor = Predictor.from_file(args.model, threads=args.threads, sha256=args.sha256)
    print(json.dumps(predict_any_length(predictor, text=args.text, image=args.image, audio=args.audio)))


def _inspect(args) -> None:
    from edgefuse.runtime import load_contract

    print(json.dumps(load_contract(args.model, sha256=args.sha256).to_dict(), indent=2, sort_keys=True))


def _evaluate(args) -> None:
    from pathlib import Path

    from edgefuse.runtime.evaluate import format_report

    if Path(args.model).is_dir():  # a training run: PyTorch
        run_eval = _needs("train", "edgefuse.train.evaluate")
        result = run_eval.evaluate_run(args.model, args.data, args.split)
        if args.out:
            run_eval.write_run_report(args.model, result, args.out)
    else:
        from edgefuse.runtime import Predictor, read_dataset
        from edgefuse.runtime.evaluate import evaluate, write_report
        from edgefuse.runtime.plots import plot_confusion

        if not args.data:
            raise EdgefuseError("evaluating a model file needs --data DIR (the data set folder)")
        rows = read_dataset(args.data, splits=(args.split,))[args.split]
        result = evaluate(Predictor.from_file(args.model), rows)
        if args.out:
            write_report(result, args.out, title=f"Evaluation of {Path(args.model).name}")
            plot_confusion(result, Path(args.out) / "confusion.png")
    print(json.dumps(result, indent=2) if args.json else format_report(result, f"Evaluation on {args.split}"))
