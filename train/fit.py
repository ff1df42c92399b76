"""The training loop: AdamW, warmup + cosine, modality dropout, best-on-validation checkpoint."""

from __future__ import annotations

import hashlib
import math
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

import edgefuse
from edgefuse.runtime.contract import AudioSpec, ImageSpec, ModelContract, TextSpec
from edgefuse.runtime.manifest import Dataset, read_dataset
from edgefuse.train.config import TrainConfig
from edgefuse.train.data import augment, batches, drop_modalities, tensorize
from edgefuse.train.model import FusedClassifier, ModelArgs, count_parameters
from edgefuse.train.run import append_log, save_run, set_threads
from edgefuse.train.tokenizer import train_tokenizer


def fit(data: str | os.PathLike, out: str | os.PathLike, config: TrainConfig | None = None) -> dict:
    """Train on the data set folder `data`, write the run to `out`, return its metrics."""
    config = config or TrainConfig()
    out = Path(out)
    set_threads(config.threads)
    torch.manual_seed(config.seed)
    dataset = read_dataset(data)
    contract = make_contract(dataset, config)
    train = tensorize(dataset["train"], contract, "loading train")
    val = tensorize(dataset["val"], contract, "loading val")
    model = build_model(contract, config, train)
    out.mkdir(parents=True, exist_ok=True)
    (out / "log.jsonl").unlink(missing_ok=True)
    extra = {"data": {"path": str(Path(data).resolve()), "sha256": hash_manifests(dataset)}, "parameters": count_parameters(model)}
    best = _train_loop(model, contract, config, train, val, out, extra)
    return best


def _train_loop(model, contract, config, train, val, out, extra) -> dict:
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = math.ceil(len(train["label"]) / config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(config, steps_per_epoch))
    best: dict = {"val_accuracy": -1.0}
    start = time.perf_counter()
    bar = tqdm(range(1, config.epochs + 1), desc="training", unit="epoch")
    for epoch in bar:
        model.train()
        total, seen = 0.0, 0
        for batch in batches(train, config.batch_size, generator):
            drop_modalities(batch, contract, config.modality_dropout, generator)
            augment(batch, contract, generator)
            labels = batch.pop("label")
            loss = F.cross_entropy(model(**batch), labels, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            schedule.step()
            total, seen = total + loss.item() * len(labels), seen + len(labels)
        val_accuracy = accuracy(model, val)
        record = {"epoch": epoch, "train_loss": total / seen, "val_accuracy": val_accuracy, "seconds": time.perf_counter() - start}
        append_log(out, record)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}", val_acc=f"{val_accuracy:.3f}")
        if val_accuracy > best["val_accuracy"]:
            best = record
            save_run(out, model, config, contract.replace(metrics={"val_accuracy": val_accuracy, "epoch": epoch}), {**extra, "best": best})
    return best


@torch.no_grad()
def accuracy(model: FusedClassifier, data: dict[str, torch.Tensor], batch_size: int = 256) -> float:
    model.eval()
    correct = 0
    for batch in batches(data, batch_size):
        labels = batch.pop("label")
        correct += int((model(**batch).argmax(dim=1) == labels).sum())
    return correct / max(1, len(data["label"]))


def make_contract(dataset: Dataset, config: TrainConfig) -> ModelContract:
    """The contract of a model trained on `dataset` with `config` (tokenizer trained here)."""
    m = dataset.modalities
    text = None
    if "text" in m:
        texts = [r.text for r in dataset["train"] if r.text]
        tokenizer = train_tokenizer(texts, config.vocab_size)
        text = TextSpec(tokenizer=tokenizer.to_str(), max_length=config.text_max_length)
    window = int(round(config.window_seconds * config.sample_rate))
    return ModelContract(
        labels=dataset.labels,
        image=ImageSpec(height=config.image_size, width=config.image_size, color_order=config.color_order) if "image" in m else None,
        audio=AudioSpec(sample_rate=config.sample_rate, window_samples=window) if "audio" in m else None,
        text=text,
        provenance=provenance(dataset),
    )


def build_model(contract: ModelContract, config: TrainConfig, train: dict[str, torch.Tensor]) -> FusedClassifier:
    vocab = 0
    if contract.text:
        vocab = int(train[contract.text.input_ids].max()) + 1
    audio = contract.audio or AudioSpec()
    args = ModelArgs(
        num_classes=len(contract.labels),
        modalities=contract.modalities,
        dim=config.dim,
        conv_widths=config.conv_widths,
        image_channels=contract.image.channels if contract.image else 3,
        text_vocab=max(vocab, config.vocab_size),
        text_max_length=config.text_max_length,
        sample_rate=audio.sample_rate,
        n_fft=audio.n_fft,
        hop_length=audio.hop_length,
        n_mels=audio.n_mels,
    )
    model = FusedClassifier(args)
    if contract.image:  # data-set statistics, fixed into the graph (never per-image)
        images = train[contract.image.input][train[contract.image.presence] > 0]
        if len(images):
            encoder = model.encoders["image"]
            encoder.mean.copy_(images.mean(dim=(0, 2, 3)).view(1, -1, 1, 1))
            encoder.std.copy_(images.std(dim=(0, 2, 3)).clamp(min=1e-3).view(1, -1, 1, 1))
    return model


def hash_manifests(dataset: Dataset) -> str:
    digest = hashlib.sha256()
    for split in sorted(dataset.splits):
        for suffix in (".jsonl", ".csv"):
            path = dataset.root / f"{split}{suffix}"
            if path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def provenance(dataset: Dataset) -> dict:
    import numpy
    import tokenizers

    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "edgefuse": edgefuse.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "tokenizers": tokenizers.__version__,
        "python": platform.python_version(),
        "data_sha256": hash_manifests(dataset),
    }


def _warmup_cosine(config: TrainConfig, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    warmup = max(1, int(config.warmup_fraction * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return factor
