"""Resumable training state: one `resume.safetensors` (tensors + JSON metadata), never pickle.

Written whole and atomically at the end of every epoch, so `--resume` loses no finished epoch
and an interruption mid-write leaves the previous state intact. It holds the current (not the
best) weights, the AdamW moments, the scheduler position and every RNG the loop draws from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from edgefuse.runtime import _atomic
from edgefuse.runtime.errors import EdgefuseError

STATE = "resume.safetensors"


class ResumeError(EdgefuseError):
    """A run cannot be resumed (no state, or a state that does not fit the run)."""


@dataclass
class LoopState:
    """Where the loop stands after `epoch` finished epochs."""

    epoch: int
    best: dict
    """The best validation record so far (epoch, val_macro_f1, ...)."""
    epochs_since_best: int
    last: dict = field(default_factory=dict)
    """The latest epoch's record (not saved: the log holds it)."""


def save_state(out: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler, generator: torch.Generator, loop: LoopState) -> None:
    """Write the whole resumable state of the loop to `out/resume.safetensors` atomically."""
    tensors = {f"model/{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    optim = optimizer.state_dict()
    for index, slots in optim["state"].items():
        for name, value in slots.items():
            tensors[f"optim/{index}/{name}"] = torch.as_tensor(value).detach().clone().contiguous()
    tensors["rng/loop"] = generator.get_state()
    tensors["rng/torch"] = torch.get_rng_state()
    meta = {
        "loop": {"epoch": loop.epoch, "best": loop.best, "epochs_since_best": loop.epochs_since_best},
        "param_groups": optim["param_groups"],
        "scheduler": {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"},
    }
    _atomic.write_bytes(out / STATE, save(tensors, metadata={"state": json.dumps(meta)}))


def load_state(run: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler, generator: torch.Generator) -> LoopState:
    """Restore everything `save_state` wrote into the given (freshly built) objects."""
    path = run / STATE
    if not path.is_file():
        raise ResumeError(f"{run} has no {STATE} (it finished no epoch, or was trained before resuming existed); train it again")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()["state"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        model.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
        optimizer.load_state_dict({"state": _optimizer_slots(tensors), "param_groups": meta["param_groups"]})
        # The schedule's lambda is rebuilt from the config, not stored: None entries say so.
        scheduler.load_state_dict({**meta["scheduler"], "lr_lambdas": [None] * len(optimizer.param_groups)})
    except (SafetensorError, KeyError, ValueError, RuntimeError) as e:
        raise ResumeError(f"{path} does not fit this run ({type(e).__name__}: {str(e)[:200]}); train it again") from None
    generator.set_state(tensors["rng/loop"])
    torch.set_rng_state(tensors["rng/torch"])
    loop = meta["loop"]
    return LoopState(epoch=loop["epoch"], best=loop["best"], epochs_since_best=loop["epochs_since_best"])


def _optimizer_slots(tensors: dict[str, torch.Tensor]) -> dict[int, dict[str, torch.Tensor]]:
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, name = key.split("/", 2)
            slots.setdefault(int(index), {})[name] = value
    return slots
