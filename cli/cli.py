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

    train = sub.add_parser("train", help="train a fused classifier on a data set folder")
    train.add_argument("--data", required=True, help="folder with train/val/test manifests")
    train.add_argument("--out", required=True, help="run folder to write")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--threads", type=int, help="torch threads (default: all cores)")
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
    predict.set_defaults(handler=_predict)

    inspect = sub.add_parser("inspect", help="print the contract inside a model file as JSON")
    inspect.add_argument("model")
    inspect.set_defaults(handler=_inspect)

    evaluate = sub.add_parser("evaluate", help="score a model file on a data split, with the modality ablation table")
    evaluate.add_argument("model", help=".onnx file made by edgefuse")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    evaluate.set_defaults(handler=_evaluate)
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
    train = _needs("train", "edgefuse.train")
    overrides = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "seed", "threads") if getattr(args, k) is not None}
    best = train.fit(args.data, args.out, train.TrainConfig(**overrides))
    print(json.dumps({"run": args.out, **best}))


def _export(args) -> None:
    export = _needs("export", "edgefuse.export")
    result = export.to_onnx(args.run, args.out, data=args.data)
    print(json.dumps({"model": str(result.path), "bytes": result.bytes, "parity_samples": result.samples, "parity_max_abs_diff": result.parity}))


def _predict(args) -> None:
    from edgefuse.runtime import Predictor

    if args.image is None and args.audio is None and not (args.text and args.text.strip()):
        raise EdgefuseError("no input given; pass at least one of --image FILE, --audio FILE, --text TEXT")
    predictor = Predictor.from_file(args.model, threads=args.threads)
    print(json.dumps(predictor.predict(text=args.text, image=args.image, audio=args.audio).to_dict()))


def _inspect(args) -> None:
    from edgefuse.runtime import load_contract

    print(json.dumps(load_contract(args.model).to_dict(), indent=2, sort_keys=True))


def _evaluate(args) -> None:
    from edgefuse.runtime import Predictor, read_dataset
    from edgefuse.runtime.evaluate import evaluate, format_table

    rows = read_dataset(args.data, splits=(args.split,))[args.split]
    result = evaluate(Predictor.from_file(args.model), rows)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
