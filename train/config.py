"""The training configuration: one typed dataclass, loadable from TOML, validated all at once.

Values come from (lowest to highest precedence) the field defaults, a TOML file (`--config`),
and command-line overrides (`--epochs 20`, `--modality-dropout image=0.3,audio=0.2`). Every
invalid value is reported in one error naming the field and what it accepts. This module
imports only the standard library so `edgefuse --help` never loads torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgefuse.runtime.contract import AudioSpec
from edgefuse.runtime.errors import EdgefuseError

MODALITIES = ("image", "audio", "text")
FUSION_NAMES = ("attention", "concat", "late", "gated")
CLASS_WEIGHTS = ("none", "balanced")
COLOR_ORDERS = ("RGB", "BGR", "GRAY")
DEVICES = ("auto", "cpu", "cuda")

PRESETS: dict[str, dict[str, Any]] = {
    "small": {"dim": 128, "conv_widths": (32, 64, 128), "text_layers": 2, "fusion_layers": 1},
    "base": {"dim": 256, "conv_widths": (64, 128, 256), "text_layers": 4, "fusion_layers": 2},
}
"""Encoder width and depth per preset; explicit dim/conv_widths/text_layers/fusion_layers win."""


class ConfigError(EdgefuseError):
    """One or more configuration values are invalid; the message lists each."""


DEFAULT_DROPOUT = {"image": 0.55, "audio": 0.4, "text": 0.6}
"""Text is hidden most: it is the strongest modality, and a model that leans on it fails when it
is missing. Against 0.4 for every modality (benchmarks/results/fusion.md vs fusion_md40.md, same
frontend), these rates lift the worst one-missing accuracy on the demo test split for every fusion:
concat 91.1% to 93.6% (fused 98.4% to 98.9%), late 91.2% to 92.8%, gated 86.8% to 91.5%, attention
84.6% to 91.6%."""


def _default_dropout() -> dict[str, float]:
    return dict(DEFAULT_DROPOUT)


@dataclass(frozen=True)
class TrainConfig:
    """Everything `fit` needs besides the data; saved beside the checkpoint (config.json, train.toml)."""

    preset: str = "small"
    """Encoder size: small or base (width and depth of every encoder and the fusion)."""
    fusion: str = "concat"
    """Fusion strategy: concat, late, gated or attention (concat measured best on the demo)."""
    epochs: int = 8
    """Passes over the training split at most (early stopping may end sooner)."""
    batch_size: int = 64
    """Examples per optimizer step (per process under torchrun)."""
    lr: float = 2e-3
    """Peak AdamW learning rate (after linear warmup, then cosine decay)."""
    weight_decay: float = 0.02
    """AdamW weight decay."""
    warmup_fraction: float = 0.05
    """Fraction of all steps spent warming the learning rate up from zero."""
    grad_clip: float = 1.0
    """Gradient L2-norm clip."""
    label_smoothing: float = 0.05
    """Cross-entropy label smoothing (0 disables)."""
    class_weights: str = "none"
    """Loss weight per class: none, or balanced (inverse training-split frequency, mean 1)."""
    patience: int = 0
    """Stop after this many epochs without a better validation macro-F1; 0 never stops early."""
    modality_dropout: dict[str, float] = field(default_factory=_default_dropout)
    """Probability per modality that a present one is hidden in a training example (one always stays)."""
    dim: int | None = None
    """Width of modality tokens and transformers; None takes the preset's."""
    conv_widths: tuple[int, ...] | None = None
    """Channels of the image and audio CNN stages; None takes the preset's."""
    text_layers: int | None = None
    """Transformer blocks in the text encoder; None takes the preset's."""
    fusion_layers: int | None = None
    """Transformer blocks in attention fusion; None takes the preset's."""
    image_size: int = 32
    """Images are resized to image_size x image_size."""
    color_order: str = "RGB"
    """Channel order fed to the graph: RGB, BGR or GRAY."""
    sample_rate: int = 16000
    """Audio rate in Hz fed to the graph."""
    window_seconds: float = 1.0
    """Audio window per prediction, in seconds."""
    mel_f_max: float = AudioSpec.f_max
    """Highest mel band edge in Hz, at most sample_rate / 2: 4 kHz suits speech; raise it for sounds above."""
    text_max_length: int = 24
    """Tokens per text at most."""
    vocab_size: int = 512
    """Byte-level BPE vocabulary trained on the training texts."""
    seed: int = 0
    """Seed for weights, shuffling, augmentation and modality dropout."""
    threads: int = 0
    """torch intra-op threads; 0 uses every core (divided among torchrun processes)."""
    device: str = "auto"
    """Where to train: auto (CUDA when available), cpu or cuda."""

    def __post_init__(self) -> None:
        problems = _range_problems(dataclasses.asdict(self))
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))

    def model_dims(self) -> dict[str, Any]:
        """dim, conv_widths, text_layers, fusion_layers: the preset's, overridden by explicit values."""
        dims = dict(PRESETS[self.preset])
        for name in dims:
            if getattr(self, name) is not None:
                dims[name] = getattr(self, name)
        return dims

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Build from plain values (TOML, JSON or CLI strings); every problem is reported at once."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        problems = [f"unknown field {k!r} (known: {', '.join(known)})" for k in d if k not in known]
        values = {}
        for name, raw in d.items():
            if name in known:
                try:
                    values[name] = _coerce(name, raw)
                except (TypeError, ValueError) as e:
                    problems.append(f"{name}: {e}")
        defaults = dataclasses.asdict(cls())
        problems += _range_problems({**defaults, **values}, only=set(values))
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))
        return cls(**values)

    def to_toml(self) -> str:
        """The config as a TOML document that `--config` reads back (None fields are left out)."""
        lines = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            lines.append(f'# {_docstrings().get(f.name, "")}')
            lines.append(f"{f.name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def load_config(path: str | os.PathLike | None = None, overrides: dict | None = None) -> TrainConfig:
    """Defaults ← TOML file at `path` (top level or a [train] table) ← `overrides`."""
    values: dict = {}
    if path is not None:
        values.update(read_toml(path))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return TrainConfig.from_dict(values)


def read_toml(path: str | os.PathLike) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the tomli backport (in the train extra)
        import tomli as tomllib
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; pass a TOML file to --config")
    try:
        document = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p} is not valid TOML ({e}); fix the file") from None
    return dict(document.get("train", document))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--field-name VALUE` override per config field, parsed later by `from_dict`."""
    docs = _docstrings()
    for f in dataclasses.fields(TrainConfig):
        choices = {"preset": tuple(PRESETS), "fusion": FUSION_NAMES, "class_weights": CLASS_WEIGHTS, "device": DEVICES}.get(f.name)
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", dest=f"cfg_{f.name}", metavar="VALUE" if not choices else None,
            choices=choices, help=docs.get(f.name),
        )


def overrides_from_args(args: argparse.Namespace) -> dict:
    return {f.name: getattr(args, f"cfg_{f.name}") for f in dataclasses.fields(TrainConfig) if getattr(args, f"cfg_{f.name}", None) is not None}


def _coerce(name: str, raw: Any) -> Any:
    """One raw value (TOML/JSON typed, or a CLI string) → the field's type; ValueError says what it takes."""
    if name == "modality_dropout":
        return _coerce_dropout(raw)
    if name == "conv_widths":
        if raw is None:
            return None
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not items:
            raise ValueError(f"expected a list of positive integers like 32,64,128, got {raw!r}")
        return tuple(_as_int(i, raw) for i in items)
    if name in ("dim", "text_layers", "fusion_layers") and raw is None:
        return None
    kind = type(getattr(TrainConfig(), name)) if name not in ("dim", "text_layers", "fusion_layers") else int
    if kind is int:
        return _as_int(raw, raw)
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {raw!r}") from None
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got {raw!r}")
    return raw


def _as_int(value: Any, whole: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"expected an integer, got {whole!r}")
    try:
        return int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"expected an integer, got {whole!r}") from None


def _coerce_dropout(raw: Any) -> dict[str, float]:
    """0.3 (every modality), "image=0.3,audio=0.2" or {"image": 0.3} → {modality: p} (unnamed keep their default)."""
    if isinstance(raw, str) and "=" in raw:
        raw = dict(part.split("=", 1) for part in raw.split(",") if part.strip())
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - set(MODALITIES))
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; allowed: {', '.join(MODALITIES)}")
        out = _default_dropout()
        for k, v in raw.items():
            out[k.strip()] = _coerce("label_smoothing", v)  # any float field's parser
        return out
    p = _coerce("label_smoothing", raw)
    return {m: p for m in MODALITIES}


def _range_problems(v: dict, only: set[str] | None = None) -> list[str]:
    """Messages for every out-of-range value in `v` (restricted to names in `only` when given)."""
    checks = {
        "preset": _one_of(v["preset"], tuple(PRESETS)),
        "fusion": _one_of(v["fusion"], FUSION_NAMES),
        "class_weights": _one_of(v["class_weights"], CLASS_WEIGHTS),
        "color_order": _one_of(v["color_order"], COLOR_ORDERS),
        "device": _one_of(v["device"], DEVICES),
        "epochs": _between(v["epochs"], 1, 100_000),
        "batch_size": _between(v["batch_size"], 1, 1_000_000),
        "lr": _between(v["lr"], 1e-8, 10.0),
        "weight_decay": _between(v["weight_decay"], 0, 1),
        "warmup_fraction": _between(v["warmup_fraction"], 0, 0.5),
        "grad_clip": _between(v["grad_clip"], 1e-6, 1e6),
        "label_smoothing": _between(v["label_smoothing"], 0, 0.5),
        "patience": _between(v["patience"], 0, 100_000),
        "modality_dropout": next((f"{m}={p} must be in [0, 0.9]" for m, p in v["modality_dropout"].items() if not 0 <= p <= 0.9), None),
        "dim": None if v["dim"] is None else (_between(v["dim"], 4, 4096) or (None if v["dim"] % 4 == 0 else f"must be a multiple of 4 (attention heads), got {v['dim']}")),
        "conv_widths": None if v["conv_widths"] is None else next((f"every width must be in [1, 4096], got {v['conv_widths']}" for w in v["conv_widths"] if not 1 <= w <= 4096), None),
        "text_layers": None if v["text_layers"] is None else _between(v["text_layers"], 0, 64),
        "fusion_layers": None if v["fusion_layers"] is None else _between(v["fusion_layers"], 1, 64),
        "image_size": _between(v["image_size"], 8, 1024),
        "sample_rate": _between(v["sample_rate"], 4000, 96000),
        "window_seconds": _between(v["window_seconds"], 0.1, 30),
        "mel_f_max": _between(v["mel_f_max"], 2 * AudioSpec.f_min, v["sample_rate"] / 2),
        "text_max_length": _between(v["text_max_length"], 1, 4096),
        "vocab_size": _between(v["vocab_size"], 300, 1_000_000),
        "seed": _between(v["seed"], 0, 2**63 - 1),
        "threads": _between(v["threads"], 0, 4096),
    }
    return [f"{name}: {msg}" for name, msg in checks.items() if msg and (only is None or name in only)]


def _one_of(value: str, allowed: tuple[str, ...]) -> str | None:
    return None if value in allowed else f"must be one of {', '.join(allowed)}, got {value!r}"


def _between(value: float, low: float, high: float) -> str | None:
    return None if low <= value <= high else f"must be in [{low}, {high}], got {value}"


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)  # ints, floats and JSON-escaped strings are valid TOML


def _docstrings() -> dict[str, str]:
    """Field name → its one-line docstring, read from this module's source (for --help and TOML)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(TrainConfig))
    body, docs = tree.body[0].body, {}
    for node, after in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docs[node.target.id] = after.value.value
    return docs
