"""Quantization settings: a frozen dataclass with enum fields, validated once, plus named presets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from edgefuse.runtime.errors import EdgefuseError


class QuantizeError(EdgefuseError):
    """Quantization could not produce a model that meets the request (bad settings, budget, speed)."""


class Mode(str, Enum):
    DYNAMIC = "dynamic"
    """Int8 weights; activations quantized per call at run time. MatMul/Gemm only: dynamic int8
    convolutions measured up to 6x slower than float on AVX2."""
    STATIC = "static"
    """QDQ int8 weights and activations with ranges calibrated on training data."""
    FP16 = "fp16"
    """Float16 weights and compute; inputs and outputs stay float32."""
    AUTO = "auto"
    """Time candidate static plans on this machine; keep int8 only where it is faster (or smaller)."""


class Calibration(str, Enum):
    MINMAX = "minmax"
    ENTROPY = "entropy"
    PERCENTILE = "percentile"


class Prefer(str, Enum):
    SPEED = "speed"
    """Never write a quantized model slower than its float parent."""
    SIZE = "size"
    """Smallest model within the accuracy budget, whatever its speed (the report says so)."""


@dataclass(frozen=True)
class QuantizeConfig:
    """How `quantize` turns a float model into a smaller one."""

    mode: Mode = Mode.AUTO
    """Which plan family to produce."""
    calibration: Calibration = Calibration.MINMAX
    """How activation ranges are computed from the calibration feeds (static/auto)."""
    per_channel: bool = True
    """One weight scale per output channel (static/auto): much better accuracy for convs."""
    reduce_range: bool = True
    """7-bit weights: avoids int16 overflow in the u8 x s8 AVX2 kernels (the fastest probe plan)."""
    activations_unsigned: bool = True
    """u8 activations with s8 weights (the AVX2 fast path), else s8/s8."""
    max_drop: float | None = 0.003
    """Largest allowed validation-accuracy drop vs the float parent (fraction; None: unchecked)."""
    prefer: Prefer = Prefer.SPEED
    """What `auto` optimizes when several plans fit the accuracy budget."""
    calibration_rows: int = 256
    """Training-split rows used for calibration."""
    calibration_batch: int = 32
    """Rows per calibration feed."""
    keep_float_scopes: tuple[str, ...] = ("audio/frontend",)
    """Exporter scopes kept float whatever the plan: the log-mel frontend (power spectrum and log
    span ~10 decades, far beyond an 8-bit range)."""
    max_exclusion_steps: int = 8
    """Accuracy repair rounds (each keeps more nodes in float)."""
    nodes_per_step: int = 2
    """Most damaging nodes moved to float per repair round."""
    timing_runs: int = 30
    """Timed runs per batch size and plan in `auto` (medians are compared)."""
    seed: int = 0
    extra: dict = field(default_factory=dict)
    """Passed through to onnxruntime's quantizer `extra_options`."""

    def __post_init__(self) -> None:
        problems = []
        for name, kind in (("mode", Mode), ("calibration", Calibration), ("prefer", Prefer)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError:
                problems.append(f"{name} {value!r} is not one of {', '.join(k.value for k in kind)}")
        if self.max_drop is not None and not 0 <= self.max_drop < 1:
            problems.append(f"max_drop {self.max_drop} must be a fraction in [0, 1), e.g. 0.003 for 0.3 points")
        for name in ("calibration_rows", "calibration_batch", "max_exclusion_steps", "nodes_per_step", "timing_runs"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if problems:
            raise QuantizeError("; ".join(problems))

    def replace(self, **changes) -> QuantizeConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in self.__dict__.items() if k != "extra"}


def avx2() -> QuantizeConfig:
    """x86 without VNNI: QDQ u8 activations / s8 per-channel weights with reduce_range, speed first."""
    return QuantizeConfig()


def arm64() -> QuantizeConfig:
    """ARM64 (sdot/udot): s8/s8 with full 8-bit range; the dot-product kernels need no reduce_range."""
    return QuantizeConfig(reduce_range=False, activations_unsigned=False)


def smallest() -> QuantizeConfig:
    """Smallest file within the accuracy budget, whatever its speed."""
    return QuantizeConfig(prefer=Prefer.SIZE)


PRESETS = {"avx2": avx2, "arm64": arm64, "smallest": smallest}
