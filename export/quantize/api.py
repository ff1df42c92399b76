"""`quantize`: a float edgefuse model → one smaller file that is measured, accurate and (by default) faster."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from tqdm import tqdm

from edgefuse.export.contract_io import read_embedded_contract
from edgefuse.export.quantize import plans
from edgefuse.export.quantize.accuracy import Reference, damaging_nodes, predictions
from edgefuse.export.quantize.auto import choose_plan
from edgefuse.export.quantize.calibration import FeedReader, batches, build_feeds, sample_rows, split_rows
from edgefuse.export.quantize.config import Mode, QuantizeConfig, QuantizeError
from edgefuse.export.quantize.report import finish
from edgefuse.runtime.contract import ModelContract


@dataclass(frozen=True)
class QuantizeResult:
    path: Path
    report: dict
    report_paths: tuple[Path, Path]
    """The JSON and Markdown report written next to `path`."""


@dataclass
class Job:
    """Everything the plans of one quantization share."""

    config: QuantizeConfig
    parent: Path
    contract: ModelContract
    prepared: plans.Prepared
    reader: FeedReader
    reference: Reference
    folder: Path
    data: Path
    calibration: dict
    progress: tqdm

    def build(self, plan: plans.Plan, name: str) -> Path:
        """The model of `plan` (static/dynamic int8 or fp16 by the config's mode) in the scratch folder."""
        out = self.folder / f"{name}.onnx"
        if self.config.mode is Mode.FP16:
            onnx.save(plans.float16(onnx.load(str(self.parent)), plan), str(out))
        elif self.config.mode is Mode.DYNAMIC:
            plans.dynamic_int8(self.prepared, out, plan, self.config)
        else:
            plans.static_int8(self.prepared, out, plan, self.config, self.reader, self._ranges(plan))
        self.progress.update(1)
        return out

    def _ranges(self, plan: plans.Plan) -> Path:
        """Calibration cache file: ranges depend on the method and on which op types are calibrated."""
        return self.folder / f"ranges.{self.config.calibration.value}.{'-'.join(sorted(plan.op_types))}.json"


def quantize(model: str | os.PathLike, out: str | os.PathLike, data: str | os.PathLike,
             config: QuantizeConfig | None = None, progress: bool = True) -> QuantizeResult:
    """Quantize `model` (an edgefuse FP32 .onnx) into `out` using data set folder `data`.

    Calibration feeds come from the training split, accuracy decisions from the validation
    split, and the report's figures from the test split (validation if there is none).
    """
    config = config or QuantizeConfig()
    parent = Path(model)
    contract = _float_contract(parent)
    with plans.scratch() as folder, tqdm(desc=f"quantize ({config.mode.value})", unit="model", disable=not progress) as bar:
        job = _job(config, parent, contract, Path(data), Path(folder), bar)
        plan = plans.Plan("all", components=None, op_types=plans.WIDE_OPS if config.mode is Mode.STATIC else plans.COMPUTE_OPS,
                          float_nodes=plans.kept_float_by_scope(job.prepared.proto, config))
        if config.mode is Mode.AUTO:
            plan, built, repair, decision = choose_plan(job, plan, repair_accuracy)
        else:
            plan, built, repair = repair_accuracy(job, plan)
            decision = {"reason": f"--mode {config.mode.value}"}
        return finish(job, plan, built, repair, decision, Path(out))


def repair_accuracy(job: Job, plan: plans.Plan, name: str = "candidate") -> tuple[plans.Plan, Path, list[dict]]:
    """Build `plan`; while the validation drop exceeds the budget keep the most damaging nodes float.

    Returns the final plan, its model and one record per step (nodes moved, accuracy, drop).
    Raises QuantizeError when the budget still fails after the configured number of steps.
    """
    budget = job.config.max_drop
    built = job.build(plan, f"{name}.0")
    steps = [{"step": 0, "float_nodes_added": [], **job.reference.compare(built)}]
    for step in range(1, job.config.max_exclusion_steps + 1):
        if budget is None or steps[-1]["drop"] <= budget:
            return plan, built, steps
        if job.config.mode is not Mode.STATIC and job.config.mode is not Mode.AUTO:
            break  # per-node QDQ error exists only for static QDQ models
        worst = damaging_nodes(job.prepared.path, built, _debug_reader(job), _quantized_nodes(job, plan),
                               job.config.nodes_per_step, job.folder)
        if not worst:
            break
        plan = plan.with_float({node: f"accuracy repair step {step}: QDQ output SQNR {db:.1f} dB, among the worst" for node, db in worst})
        built = job.build(plan, f"{name}.{step}")
        steps.append({"step": step, "float_nodes_added": [{"node": n, "sqnr_db": db} for n, db in worst], **job.reference.compare(built)})
    if budget is not None and steps[-1]["drop"] > budget:
        trail = "; ".join(f"step {s['step']}: drop {s['drop'] * 100:.2f} pt" for s in steps)
        raise QuantizeError(f"{job.config.mode.value} quantization loses {steps[-1]['drop'] * 100:.2f} accuracy points on the validation split, "
                            f"over the --max-drop budget of {budget * 100:.2f} ({trail}); raise --max-drop or keep the float model")
    return plan, built, steps


def _float_contract(parent: Path) -> ModelContract:
    if not parent.is_file():
        raise QuantizeError(f"model file {str(parent)!r} does not exist; pass the FP32 .onnx made by `edgefuse export`")
    try:
        contract = read_embedded_contract(onnx.load(str(parent), load_external_data=False))
    except Exception as e:  # noqa: BLE001 - not an ONNX file, or one without an edgefuse contract
        raise QuantizeError(f"{parent} is not an edgefuse model ({type(e).__name__}); export one with `edgefuse export RUN --out FILE`") from e
    if contract.quantization is not None:
        raise QuantizeError(f"{parent} is already quantized ({contract.quantization.get('mode')}); quantize its float parent instead")
    return contract


def _job(config: QuantizeConfig, parent: Path, contract: ModelContract, data: Path, folder: Path, bar: tqdm) -> Job:
    train = sample_rows(split_rows(data, "train"), config.calibration_rows, config.seed)
    val = split_rows(data, "val")
    feeds = build_feeds(contract, train)
    index = {label: i for i, label in enumerate(contract.labels)}
    val_feeds = build_feeds(contract, val)
    reference = Reference(val_feeds, np.array([index[r.label] for r in val]), predictions(parent, val_feeds))
    calibration = {"data": str(data.resolve()), "split": "train", "rows": len(train), "seed": config.seed,
                   "method": config.calibration.value, "batch": config.calibration_batch}
    prepared = plans.prepare(parent, folder)
    return Job(config, parent, contract, prepared, FeedReader(batches(feeds, config.calibration_batch)), reference,
               folder, data, calibration, bar)


def _debug_reader(job: Job) -> FeedReader:
    """The first 64 calibration rows: enough to rank tensors, small enough to hold every activation."""
    first = job.reader.feed_batches
    rows = {k: np.concatenate([b[k] for b in first])[:64] for k in first[0]}
    return FeedReader(batches(rows, job.config.calibration_batch))


def _quantized_nodes(job: Job, plan: plans.Plan) -> set[str]:
    proto = job.prepared.proto
    excluded = set(plans.excluded_nodes(proto, plan))
    return {n.name for n in proto.graph.node if n.name not in excluded and n.op_type in plan.op_types}

