"""The training loop: AdamW, warmup + cosine, modality dropout, class weights, label smoothing,
early stopping and best-checkpoint selection on validation macro-F1, exact resume, and DDP.

Under torchrun every process trains its shard of each epoch; the main process alone validates,
logs and writes, then tells the others whether to stop.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from edgefuse.runtime.evaluate import macro_f1
from edgefuse.runtime.manifest import read_dataset
from edgefuse.train.config import ConfigError, TrainConfig
from edgefuse.train.data import augment, drop_modalities, take, tensorize
from edgefuse.train.distributed import Processes, unwrap
from edgefuse.train.model import FusedClassifier, count_parameters
from edgefuse.train.run import append_log, read_log, read_run_config, rewrite_log, save_run, set_threads
from edgefuse.train.setup import build_model, hash_manifests, make_contract, provenance  # noqa: F401 (re-exported)
from edgefuse.train.state import LoopState, load_state, save_state

RESUMABLE = ("epochs", "patience", "threads", "device")
"""Config fields a resumed run may change; the rest define the model and data it was started with."""


def fit(data: str | os.PathLike, out: str | os.PathLike, config: TrainConfig | None = None) -> dict | None:
    """Train on the data set folder `data`, write the run to `out`, return its best validation record.

    Under torchrun only rank 0 writes and returns the record; the other ranks return None.
    """
    return _run(data, Path(out), config or TrainConfig(), resume=False)


def resume(run: str | os.PathLike, data: str | os.PathLike | None = None, changes: dict | None = None) -> dict | None:
    """Continue `run` from its last finished epoch with its own config (and data, unless `data`).

    `changes` may set only the RESUMABLE fields (e.g. more epochs). Without changes the result
    equals an uninterrupted run's on CPU: weights, optimizer, schedule and RNGs are restored.
    """
    run = Path(run)
    saved = read_run_config(run)
    fixed = sorted(set(changes or {}) - set(RESUMABLE))
    if fixed:
        raise ConfigError(f"a resumed run keeps its config; only {', '.join(RESUMABLE)} may change, not {', '.join(fixed)}")
    config = TrainConfig.from_dict({**saved["train"], **(changes or {})})
    return _run(data or saved["data"]["path"], run, config, resume=True)


def _run(data, out: Path, config: TrainConfig, resume: bool) -> dict | None:
    procs = Processes.start(config.device)
    try:
        set_threads(config.threads or max(1, (os.cpu_count() or 1) // procs.world_size))
        torch.manual_seed(config.seed)
        dataset = read_dataset(data)
        contract = make_contract(dataset, config)
        train = tensorize(dataset["train"], contract, "loading train", quiet=not procs.is_main)
        val = tensorize(dataset["val"], contract, "loading val", quiet=not procs.is_main) if procs.is_main else None
        model = build_model(contract, config, train)
        extra = {"data": {"path": str(Path(data).resolve()), "sha256": hash_manifests(dataset)}, "parameters": count_parameters(model)}
        if procs.is_main:
            out.mkdir(parents=True, exist_ok=True)
        return _train_loop(model, contract, config, train, val, out, extra, procs, resume)
    finally:
        procs.close()


def _train_loop(model, contract, config, train, val, out, extra, procs: Processes, resume: bool) -> dict:
    generator = torch.Generator().manual_seed(config.seed)
    sampler = procs.sampler(len(train["label"]), config.seed)
    steps_per_epoch = math.ceil(len(sampler) / config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(config, steps_per_epoch))
    loop = LoopState(epoch=0, best={"val_macro_f1": -1.0}, epochs_since_best=0)
    if resume:
        loop = load_state(out, model, optimizer, schedule, generator)
        if procs.is_main:  # drop log lines of an epoch that finished logging but not its state
            rewrite_log(out, [r for r in read_log(out) if r["epoch"] <= loop.epoch])
    elif procs.is_main:
        (out / "log.jsonl").unlink(missing_ok=True)
    ddp = procs.wrap(model)
    weights = class_weights(train["label"], len(contract.labels), config.class_weights)
    weights = weights.to(procs.device) if weights is not None else None
    start = time.perf_counter() - (read_log(out)[-1]["seconds"] if resume and read_log(out) else 0.0)
    bar = tqdm(range(loop.epoch + 1, config.epochs + 1), desc="training", unit="epoch", disable=not procs.is_main)
    for epoch in bar:
        sampler.set_epoch(epoch)
        loss = _one_epoch(ddp, contract, config, train, list(sampler), weights, optimizer, schedule, generator, procs.device)
        stop = False
        if procs.is_main:
            stop = _after_epoch(model, contract, config, val, out, extra, loop, epoch, loss, start, procs.device)
            save_state(out, model, optimizer, schedule, generator, loop)
            bar.set_postfix(loss=f"{loss:.3f}", val_f1=f"{loop.last['val_macro_f1']:.3f}")
        if procs.agree(stop):
            break
    return loop.best if procs.is_main else None


def _one_epoch(model, contract, config, train, order, weights, optimizer, schedule, generator, device) -> float:
    """One pass over `order` (this process's shard); returns the mean training loss."""
    model.train()
    total, seen = 0.0, 0
    for start in range(0, len(order), config.batch_size):
        batch = take(train, order[start : start + config.batch_size])
        drop_modalities(batch, contract, config.modality_dropout, generator)
        augment(batch, contract, generator)
        labels = batch.pop("label").to(device)
        logits = model(**{k: v.to(device) for k, v in batch.items()})
        loss = F.cross_entropy(logits, labels, weight=weights, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        schedule.step()
        total, seen = total + loss.item() * len(labels), seen + len(labels)
    return total / max(1, seen)


def _after_epoch(model, contract, config, val, out, extra, loop: LoopState, epoch, loss, start, device) -> bool:
    """Validate, log, keep the best checkpoint; True when early stopping says stop."""
    labels, predicted = predict(model, val, device=device)
    record = {
        "epoch": epoch,
        "train_loss": loss,
        "val_accuracy": float(np.mean(predicted == labels)),
        "val_macro_f1": macro_f1(labels, predicted, len(contract.labels)),
        "seconds": time.perf_counter() - start,
    }
    append_log(out, record)
    loop.epoch, loop.last = epoch, record
    if record["val_macro_f1"] > loop.best["val_macro_f1"]:
        loop.best, loop.epochs_since_best = record, 0
        metrics = {"val_accuracy": record["val_accuracy"], "val_macro_f1": record["val_macro_f1"], "epoch": epoch}
        save_run(out, model, config, contract.replace(metrics=metrics), {**extra, "best": record})
    else:
        loop.epochs_since_best += 1
    return config.patience > 0 and loop.epochs_since_best >= config.patience


@torch.no_grad()
def predict(model: torch.nn.Module, data: dict[str, torch.Tensor], batch_size: int = 256, device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(labels, predicted class indices), both (N,) int64, for tensorized `data` in eval mode."""
    model = unwrap(model).eval()
    n, predicted = len(data["label"]), []
    for start in range(0, n, batch_size):
        batch = take(data, range(start, min(n, start + batch_size)))
        batch.pop("label")
        predicted.append(model(**{k: v.to(device) for k, v in batch.items()}).argmax(dim=1).cpu())
    return data["label"].numpy(), torch.cat(predicted).numpy() if predicted else np.zeros(0, np.int64)


def accuracy(model: FusedClassifier, data: dict[str, torch.Tensor], batch_size: int = 256) -> float:
    labels, predicted = predict(model, data, batch_size)
    return float(np.mean(labels == predicted)) if len(labels) else 0.0


def class_weights(labels: torch.Tensor, num_classes: int, mode: str) -> torch.Tensor | None:
    """(K,) float32 loss weights: None for "none"; inverse frequency with mean 1 over seen classes for "balanced"."""
    if mode == "none":
        return None
    counts = torch.bincount(labels, minlength=num_classes).float()
    seen = counts > 0
    weights = torch.ones(num_classes)
    weights[seen] = counts[seen].sum() / (seen.sum() * counts[seen])
    return weights


def warmup_cosine(config: TrainConfig, steps_per_epoch: int):
    """Step → learning-rate factor: linear warmup to 1, then cosine decay to 0 at the last step."""
    total = max(1, config.epochs * steps_per_epoch)
    warmup = max(1, int(config.warmup_fraction * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return factor


