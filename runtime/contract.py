"""The model contract: everything a device needs to turn raw input into a label.

It is one JSON document stored in the ONNX file's `metadata_props` under `CONTRACT_KEY`.
Training writes it, export embeds it, the runtime reads it; nothing else travels with a model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from edgefuse.runtime.errors import ContractError

CONTRACT_KEY = "edgefuse.contract"
SCHEMA_VERSION = "1.1"
MODALITIES = ("image", "audio", "text")


@dataclass(frozen=True)
class ImageSpec:
    """Host-side image preprocessing; normalization happens inside the graph."""

    height: int = 32
    """Rows of the tensor fed to the graph, in pixels."""
    width: int = 32
    """Columns of the tensor fed to the graph, in pixels."""
    color_order: str = "RGB"
    """Channel order of the tensor: "RGB", "BGR" or "GRAY" (one channel)."""
    resize: str = "bilinear"
    """Interpolation used to reach (height, width): "bilinear" or "nearest"."""
    input: str = "image"
    """Graph input: float32 (B, C, H, W), values 0..1."""
    presence: str = "image_present"
    """Graph input: float32 (B,), 1 where an image is given, 0 where absent."""

    @property
    def channels(self) -> int:
        return 1 if self.color_order == "GRAY" else 3

    def __post_init__(self) -> None:
        _check(self.color_order in ("RGB", "BGR", "GRAY"), f"image.color_order must be RGB, BGR or GRAY, got {self.color_order!r}")
        _check(self.resize in ("bilinear", "nearest"), f"image.resize must be bilinear or nearest, got {self.resize!r}")
        _check(self.height > 0 and self.width > 0, f"image size must be positive, got {self.height}x{self.width}")


@dataclass(frozen=True)
class AudioSpec:
    """Host-side audio preprocessing; the log-mel frontend is inside the graph."""

    sample_rate: int = 16000
    """Rate in Hz that the graph expects; the host resamples to it."""
    window_samples: int = 16000
    """Samples per prediction window (window_samples / sample_rate seconds)."""
    channels: int = 1
    """Channels fed to the graph (always mixed down to mono)."""
    n_fft: int = 256
    """Frontend frame length in samples (informational: baked into the graph). 16 ms at 16 kHz."""
    hop_length: int = 320
    """Frontend hop in samples (informational: baked into the graph). 20 ms at 16 kHz, as in
    TensorFlow's micro_speech. With 16 ms frames and bands to 4 kHz the DFT costs 3.2 MFLOP per
    second of audio instead of 31.5 at 25/10 ms to 8 kHz, and the CNN after it sees half the frames
    (benchmarks/results/frontend_formulation.md)."""
    n_mels: int = 40
    """Mel bands of the frontend (informational: baked into the graph)."""
    f_min: float = 20.0
    """Lowest mel band edge in Hz (informational: baked into the graph)."""
    f_max: float = 4000.0
    """Highest mel band edge in Hz (informational: baked into the graph). 4 kHz, as TensorFlow's
    Mfcc op and the keyword-spotting models built on it: the telephone band carries what spoken
    commands need, and the frontend computes only the DFT bins the bands weigh — half of them."""
    input: str = "audio"
    """Graph input: float32 (B, S), samples in -1..1 at `sample_rate`."""
    presence: str = "audio_present"
    """Graph input: float32 (B,), 1 where audio is given, 0 where absent."""

    @property
    def window_seconds(self) -> float:
        return self.window_samples / self.sample_rate

    def __post_init__(self) -> None:
        _check(self.sample_rate > 0, f"audio.sample_rate must be positive, got {self.sample_rate}")
        _check(self.n_fft > 0 and self.hop_length > 0, f"audio.n_fft and audio.hop_length must be positive, got {self.n_fft}, {self.hop_length}")
        _check(0 <= self.f_min < self.f_max <= self.sample_rate / 2,
               f"audio.f_min and audio.f_max must satisfy 0 <= f_min < f_max <= sample_rate / 2, got {self.f_min}, {self.f_max}")
        first_frame = math.ceil(self.n_fft / self.hop_length) * self.hop_length  # the frontend cuts whole hops
        _check(self.window_samples >= first_frame, f"audio.window_samples ({self.window_samples}) must be >= {first_frame} to hold one frontend frame")
        _check(self.channels == 1, f"audio.channels must be 1 (mono), got {self.channels}")


@dataclass(frozen=True)
class TextSpec:
    """Tokenizer and length; the serialized Hugging Face `tokenizers` JSON travels inside."""

    tokenizer: str = field(repr=False, default="")
    """The tokenizer as `tokenizers.Tokenizer.to_str()` JSON."""
    max_length: int = 32
    """Tokens fed to the graph at most; longer text is truncated."""
    input_ids: str = "text_ids"
    """Graph input: int64 (B, L) token ids, padded with `pad_id`."""
    attention_mask: str = "text_mask"
    """Graph input: int64 (B, L), 1 for real tokens, 0 for padding."""
    presence: str = "text_present"
    """Graph input: float32 (B,), 1 where text is given, 0 where absent (empty text is absent)."""
    pad_id: int = 0
    """Token id used for padding."""

    def __post_init__(self) -> None:
        _check(self.max_length > 0, f"text.max_length must be positive, got {self.max_length}")
        _check(bool(self.tokenizer), "text.tokenizer is empty: the contract must carry the tokenizer JSON")


@dataclass(frozen=True)
class ModelContract:
    """What a `.onnx` file promises: its labels, inputs, preprocessing and provenance."""

    labels: tuple[str, ...]
    """Class names, in the order of the logits."""
    image: ImageSpec | None = None
    """Image input, or None when the model has no image branch."""
    audio: AudioSpec | None = None
    """Audio input, or None when the model has no audio branch."""
    text: TextSpec | None = None
    """Text input, or None when the model has no text branch."""
    outputs: tuple[str, ...] = ("logits", "probs")
    """Graph outputs, each float32 (B, K)."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Training and evaluation figures (e.g. val accuracy), free-form numbers."""
    quantization: dict[str, Any] | None = None
    """How this file was quantized (mode, float nodes, accuracy vs parent), or None for float."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Package versions, data hash, creation time, training config."""
    schema_version: str = SCHEMA_VERSION
    """Version of this schema, "MAJOR.MINOR"; readers refuse an unknown major."""

    def __post_init__(self) -> None:
        _check(len(self.labels) >= 2, f"a classifier needs at least 2 labels, got {list(self.labels)}")
        _check(len(set(self.labels)) == len(self.labels), f"labels must be unique, got {list(self.labels)}")
        _check(any(self.spec(m) for m in MODALITIES), "the contract names no modality (image, audio or text)")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this model takes, in canonical order."""
        return tuple(m for m in MODALITIES if self.spec(m) is not None)

    def spec(self, modality: str) -> ImageSpec | AudioSpec | TextSpec | None:
        return getattr(self, modality)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes: Any) -> ModelContract:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelContract:
        version = str(d.get("schema_version", ""))
        major = version.split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise ContractError(
                f"unsupported edgefuse contract schema_version {version or 'missing'!r} (this edgefuse reads "
                f"{SCHEMA_VERSION.split('.')[0]}.x); re-export the model with this edgefuse version or upgrade edgefuse"
            )
        try:
            return cls(
                labels=tuple(d["labels"]),
                image=_spec(ImageSpec, d["image"]) if d.get("image") else None,
                audio=_spec(AudioSpec, _with_1_0_bands(d["audio"])) if d.get("audio") else None,
                text=_spec(TextSpec, d["text"]) if d.get("text") else None,
                outputs=tuple(d.get("outputs", ("logits", "probs"))),
                metrics=dict(d.get("metrics") or {}),
                quantization=d.get("quantization"),
                provenance=dict(d.get("provenance") or {}),
                schema_version=version,
            )
        except (KeyError, TypeError) as e:
            raise ContractError(f"malformed edgefuse contract ({type(e).__name__}: {e}); re-export the model") from None

    @classmethod
    def from_json(cls, text: str) -> ModelContract:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ContractError(f"edgefuse contract is not valid JSON ({e}); re-export the model") from None
        if not isinstance(d, dict):
            raise ContractError("edgefuse contract is not a JSON object; re-export the model")
        return cls.from_dict(d)


def _spec(cls: type, d: dict[str, Any]) -> Any:
    """`cls` from its fields in `d`; fields a newer minor version added are ignored."""
    return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


def _with_1_0_bands(audio: dict[str, Any]) -> dict[str, Any]:
    """Schema 1.0 had no f_max: its mel bands ran up to Nyquist."""
    return {"f_max": audio.get("sample_rate", AudioSpec.sample_rate) / 2, **audio}


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ContractError(message)
