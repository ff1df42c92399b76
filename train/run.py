"""A training run folder: `model.safetensors` + `config.json` + `train.toml` (+ `log.jsonl`,
`resume.safetensors`). Nothing is pickled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from edgefuse.runtime import _atomic
from edgefuse.runtime.contract import ModelContract
from edgefuse.runtime.errors import EdgefuseError
from edgefuse.train.config import TrainConfig
from edgefuse.train.model import FusedClassifier, ModelArgs

WEIGHTS, CONFIG, LOG, TOML = "model.safetensors", "config.json", "log.jsonl", "train.toml"


class RunError(EdgefuseError):
    """A run folder is missing, incomplete or inconsistent."""


def save_run(out: Path, model: FusedClassifier, config: TrainConfig, contract: ModelContract, extra: dict) -> None:
    """Write weights and config atomically (each file is replaced whole)."""
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    _atomic.write_bytes(out / WEIGHTS, save(state))
    document = {"train": config.to_dict(), "model": model.args.to_dict(), "contract": contract.to_dict(), **extra}
    _atomic.write_text(out / CONFIG, json.dumps(document, indent=2, sort_keys=True))
    _atomic.write_text(out / TOML, config.to_toml())  # `edgefuse train --config RUN/train.toml` repeats the run


def read_run_config(run: str | os.PathLike) -> dict:
    path = Path(run) / CONFIG
    if not path.is_file():
        raise RunError(f"{run} is not a training run (no {CONFIG}); pass the --out folder of `edgefuse train`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path} is not valid JSON ({e}); retrain or restore the run") from None


def load_run(run: str | os.PathLike) -> FusedClassifier:
    """The trained model of `run`, in eval mode; `forward` takes the graph's input names as kwargs."""
    model, _ = load_run_with_contract(run)
    return model


def load_run_with_contract(run: str | os.PathLike) -> tuple[FusedClassifier, ModelContract]:
    document = read_run_config(run)
    weights = Path(run) / WEIGHTS
    if not weights.is_file():
        raise RunError(f"{run} has no {WEIGHTS}; training did not finish an epoch — train again or --resume")
    try:
        model = FusedClassifier(ModelArgs.from_dict(document["model"]))
        contract = ModelContract.from_dict(document["contract"])
        model.load_state_dict(load_file(str(weights)))
    except (KeyError, TypeError, RuntimeError, SafetensorError) as e:
        raise RunError(f"{run} is inconsistent ({type(e).__name__}: {str(e)[:200]}); retrain it") from None
    return model.eval(), contract


def append_log(out: Path, record: dict) -> None:
    with open(out / LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def rewrite_log(out: Path, records: list[dict]) -> None:
    """Replace the log with `records` (atomically)."""
    _atomic.write_text(out / LOG, "".join(json.dumps(r) + "\n" for r in records))


def read_log(run: str | os.PathLike) -> list[dict]:
    path = Path(run) / LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads or os.cpu_count() or 1)
