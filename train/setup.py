"""Everything a run is built from besides the loop: its contract, its model, its provenance."""

from __future__ import annotations

import hashlib
import platform
from datetime import datetime, timezone

import torch

import edgefuse
from edgefuse.runtime.contract import AudioSpec, ImageSpec, ModelContract, TextSpec
from edgefuse.runtime.manifest import Dataset
from edgefuse.train.config import TrainConfig
from edgefuse.train.model import FusedClassifier, ModelArgs
from edgefuse.train.tokenizer import train_tokenizer


def make_contract(dataset: Dataset, config: TrainConfig) -> ModelContract:
    """The contract of a model trained on `dataset` with `config` (tokenizer trained here).

    Only the modalities the data set has become graph inputs: a text+audio data set gives a
    model with no image input at all.
    """
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
        audio=AudioSpec(sample_rate=config.sample_rate, window_samples=window, f_max=config.mel_f_max) if "audio" in m else None,
        text=text,
        provenance=provenance(dataset),
    )


def model_args(contract: ModelContract, config: TrainConfig, text_vocab: int) -> ModelArgs:
    """The architecture for `contract` at the config's preset (explicit widths/depths win)."""
    audio = contract.audio or AudioSpec()
    return ModelArgs(
        num_classes=len(contract.labels),
        modalities=contract.modalities,
        fusion=config.fusion,
        image_channels=contract.image.channels if contract.image else 3,
        text_vocab=max(text_vocab, config.vocab_size),
        text_max_length=config.text_max_length,
        sample_rate=audio.sample_rate,
        n_fft=audio.n_fft,
        hop_length=audio.hop_length,
        n_mels=audio.n_mels,
        f_min=audio.f_min,
        f_max=audio.f_max,
        **config.model_dims(),
    )


def build_model(contract: ModelContract, config: TrainConfig, train: dict[str, torch.Tensor]) -> FusedClassifier:
    """A freshly initialised model (seeded by the caller) with image statistics of `train` fixed in."""
    vocab = int(train[contract.text.input_ids].max()) + 1 if contract.text else 0
    model = FusedClassifier(model_args(contract, config, vocab))
    if contract.image:  # data-set statistics, fixed into the graph (never per-image)
        images = train[contract.image.input][train[contract.image.presence] > 0]
        if len(images):
            encoder = model.encoders["image"]
            encoder.mean.copy_(images.mean(dim=(0, 2, 3)).view(1, -1, 1, 1))
            encoder.std.copy_(images.std(dim=(0, 2, 3)).clamp(min=1e-3).view(1, -1, 1, 1))
    return model


def hash_manifests(dataset: Dataset) -> str:
    """SHA-256 over the split manifests: which data a run saw."""
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
