"""The training configuration: one typed dataclass, validated all at once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edgefuse.runtime.errors import EdgefuseError


class ConfigError(EdgefuseError):
    """One or more configuration values are invalid; the message lists each."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything `fit` needs besides the data; saved beside the checkpoint."""

    epochs: int = 12
    """Passes over the training split."""
    batch_size: int = 64
    """Examples per optimizer step."""
    lr: float = 2e-3
    """Peak AdamW learning rate (after linear warmup, then cosine decay)."""
    weight_decay: float = 0.02
    """AdamW weight decay."""
    warmup_fraction: float = 0.05
    """Fraction of all steps spent warming the learning rate up from zero."""
    grad_clip: float = 1.0
    """Gradient norm clip."""
    label_smoothing: float = 0.05
    """Cross-entropy label smoothing."""
    modality_dropout: float = 0.25
    """Probability that a present modality is hidden in a training example (one always stays)."""
    dim: int = 128
    """Width of modality tokens and transformers."""
    conv_widths: tuple[int, ...] = (32, 64, 128)
    """Channels of the image and audio CNN stages."""
    image_size: int = 32
    """Images are resized to image_size x image_size."""
    color_order: str = "RGB"
    """Channel order fed to the graph: RGB, BGR or GRAY."""
    sample_rate: int = 16000
    """Audio rate in Hz fed to the graph."""
    window_seconds: float = 1.0
    """Audio window per prediction, in seconds."""
    text_max_length: int = 24
    """Tokens per text at most."""
    vocab_size: int = 512
    """Byte-level BPE vocabulary trained on the training texts."""
    seed: int = 0
    """Seed for weights, shuffling, augmentation and modality dropout."""
    threads: int = 0
    """torch intra-op threads; 0 uses every core."""

    def __post_init__(self) -> None:
        problems = [p for p in self._problems() if p]
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        return [
            _positive("epochs", self.epochs),
            _positive("batch_size", self.batch_size),
            _positive("lr", self.lr),
            _in_range("weight_decay", self.weight_decay, 0, 1),
            _in_range("warmup_fraction", self.warmup_fraction, 0, 0.5),
            _positive("grad_clip", self.grad_clip),
            _in_range("label_smoothing", self.label_smoothing, 0, 0.5),
            _in_range("modality_dropout", self.modality_dropout, 0, 0.9),
            _positive("dim", self.dim),
            None if self.dim % 4 == 0 else f"dim must be a multiple of 4 (attention heads), got {self.dim}",
            None if self.conv_widths and all(w > 0 for w in self.conv_widths) else f"conv_widths must be positive, got {self.conv_widths}",
            _in_range("image_size", self.image_size, 8, 1024),
            None if self.color_order in ("RGB", "BGR", "GRAY") else f"color_order must be RGB, BGR or GRAY, got {self.color_order!r}",
            _in_range("sample_rate", self.sample_rate, 4000, 96000),
            _in_range("window_seconds", self.window_seconds, 0.1, 30),
            _in_range("text_max_length", self.text_max_length, 1, 4096),
            _in_range("vocab_size", self.vocab_size, 300, 1_000_000),
            None if self.threads >= 0 else f"threads must be >= 0, got {self.threads}",
        ]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training config field(s) {unknown}; known: {sorted(known)}")
        d = dict(d)
        if "conv_widths" in d:
            d["conv_widths"] = tuple(d["conv_widths"])
        return cls(**d)


def _positive(name: str, value: float) -> str | None:
    return None if value > 0 else f"{name} must be > 0, got {value}"


def _in_range(name: str, value: float, low: float, high: float) -> str | None:
    return None if low <= value <= high else f"{name} must be in [{low}, {high}], got {value}"
