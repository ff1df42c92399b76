"""`edgefuse bench`: measure model files (and a PyTorch baseline) side by side; see edgefuse.runtime.bench."""

from __future__ import annotations

import argparse
import sys


def _batches(text: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(b) for b in text.split(",") if b.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes must be comma-separated integers like 1,8,32, got {text!r}") from None
    if not batches or min(batches) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive, got {text!r}")
    return batches


def register(subparsers) -> None:
    """Add the `bench` subcommand to the `edgefuse` parser's subparsers."""
    bench = subparsers.add_parser(
        "bench", help="benchmark model files side by side: latency, throughput, memory, accuracy, distance to the CPU limit",
        description="Each model is measured in a fresh process on identical inputs. Prints a Markdown report; "
        "writes bench.json, bench.md, PNG plots and bench.html to --out.",
    )
    bench.add_argument("models", nargs="+", metavar="MODEL", help=".onnx files made by edgefuse (the first is the reference for agreement)")
    bench.add_argument("--torch", metavar="RUN", help="training run folder: add its PyTorch eager model as a baseline (needs edgefuse[train])")
    bench.add_argument("--data", help="data set folder: use its rows as inputs and score accuracy")
    bench.add_argument("--split", default="test", help="split of --data (default: test)")
    bench.add_argument("--batch", type=_batches, default=(1, 8, 32), metavar="1,8,32", help="batch sizes for throughput (default: 1,8,32)")
    bench.add_argument("--threads", type=int, help="intra-op threads for every model (default: all cores)")
    bench.add_argument("--runs", type=int, default=200, help="timed batch-1 runs at least (default: 200)")
    bench.add_argument("--min-seconds", type=float, default=1.0, help="each timed loop runs at least this long (default: 1.0)")
    bench.add_argument("--no-profile", action="store_true", help="skip onnxruntime profiling (op shares, FLOPs, limit)")
    bench.add_argument("--out", default="bench", help="folder for bench.json, bench.md, plots and bench.html (default: ./bench)")
    bench.set_defaults(handler=run_bench)


def run_bench(args) -> None:
    from edgefuse.runtime.bench import BenchOptions, benchmark, markdown, write_reports

    options = {"batches": args.batch, "runs": args.runs, "min_seconds": args.min_seconds,
               "profile": not args.no_profile, "data": args.data, "split": args.split}
    if args.threads is not None:
        options["threads"] = args.threads
    document = benchmark(args.models, torch_run=args.torch, options=BenchOptions(**options))
    written = write_reports(document, args.out)
    print(markdown(document))
    print(f"wrote {', '.join(str(p) for p in written.values())}", file=sys.stderr)
