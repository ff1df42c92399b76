"""Shared by the benchmark scripts: run `benchmark()`, write results/<name>.json and .md atomically.

Every figure in the files is measured by the script that writes them; nothing is typed in.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from edgefuse.runtime import _atomic
from edgefuse.runtime.bench import BenchOptions, markdown

RESULTS = Path(__file__).resolve().parent / "results"


def machine_line(document: dict) -> str:
    m, v = document["machine"], document["versions"]
    return (f"{m['cpu']['model']}, {m['cpu']['usable_cores']} usable cores, flags {' '.join(m['cpu']['kernel_flags'])}; "
            f"{document['settings']['threads']} threads; onnxruntime {v['onnxruntime']}, torch {v['torch']}, "
            f"numpy {v['numpy']}; load average at the end {', '.join(f'{x:.1f}' for x in m['load_average'] or [])}")


def write_result(name: str, headline: dict, summary_lines: list[str], document: dict | None, command: str) -> Path:
    """results/<name>.json ({"command", "headline", "bench"}) and results/<name>.md (summary + full report)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, "headline": headline, "bench": document}
    _atomic.write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=2, sort_keys=True) + "\n")
    lines = [f"# {name}", "", f"`{command}`", ""]
    if document is not None:
        lines += [f"Measured {document['created']} on {machine_line(document)}.", ""]
    lines += summary_lines
    if document is not None:
        lines += ["", "## Full report", "", markdown(document)]
    _atomic.write_text(RESULTS / f"{name}.md", "\n".join(lines) + "\n")
    return RESULTS / f"{name}.md"


def add_bench_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The `edgefuse bench` settings every comparison script takes, and the result file name."""
    parser.add_argument("--data", default="data/digits3", help="data set for inputs and accuracy ('' for synthetic inputs)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--name", default=name, help="result file name under benchmarks/results/")


def bench_options(args: argparse.Namespace) -> BenchOptions:
    return BenchOptions(batches=tuple(int(b) for b in args.batches.split(",")), threads=args.threads, runs=args.runs,
                        data=args.data or None, split=args.split)
