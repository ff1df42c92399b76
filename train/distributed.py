"""One process or many (torchrun): process group, device, sharding and rank-0-only side effects."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler


@dataclass(frozen=True)
class Processes:
    """This process's place among `world_size` training processes (1 without torchrun)."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Only the main process logs, shows progress and writes files."""
        return self.rank == 0

    @classmethod
    def start(cls, device: str = "auto") -> Processes:
        """Join the torchrun process group when WORLD_SIZE > 1: nccl on CUDA, gloo on CPU."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if device == "cuda" and not torch.cuda.is_available():
            from edgefuse.train.config import ConfigError

            raise ConfigError("device: cuda was asked for but torch sees no CUDA device; use --device cpu (or auto)")
        use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
        if world_size == 1:
            return cls(0, 1, torch.device("cuda" if use_cuda else "cpu"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if use_cuda:
            torch.cuda.set_device(local_rank)
        if not dist.is_initialized():
            # torch.distributed.nn binds the WORLD group as default arguments when first imported,
            # and DDP imports it (through torch._dynamo) after the group exists. That reference
            # outlives destroy_process_group, so gloo's threads live on to interpreter exit, where
            # tearing them down sometimes aborts ("terminate called without an active exception").
            # Imported before the group exists, it binds None.
            importlib.import_module("torch.distributed.nn")
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        return cls(dist.get_rank(), world_size, torch.device(f"cuda:{local_rank}" if use_cuda else "cpu"))

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model DDP-wrapped when there are several processes (gradients averaged across them)."""
        model = model.to(self.device)
        if self.world_size == 1:
            return model
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def sampler(self, n: int, seed: int) -> DistributedSampler:
        """This process's shard of range(n), reshuffled per epoch by `set_epoch`."""
        return DistributedSampler(range(n), num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=seed)

    def agree(self, flag: bool) -> bool:
        """The main process's `flag`, on every process (e.g. whether to stop early)."""
        if self.world_size == 1:
            return flag
        tensor = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.broadcast(tensor, src=0)
        return bool(tensor.item())

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model
