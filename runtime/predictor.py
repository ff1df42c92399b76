"""Predicting with one self-describing `.onnx` file: raw image/audio/text in, a label out.

One `Predictor` may be shared by many threads: onnxruntime's `InferenceSession.run` is
thread-safe, and nothing here mutates shared state after construction. Sessions choose an
execution provider with a fallback to CPU, and run one warm-up inference on load so the first
real prediction does not pay for onnxruntime's lazy allocations.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from edgefuse.runtime.contract import ModelContract
from edgefuse.runtime.errors import InputError, ModelFileError
from edgefuse.runtime.inputs import Example, InputBuilder
from edgefuse.runtime.model_file import open_session, read_contract
from edgefuse.runtime.preprocess.audio import AudioSource
from edgefuse.runtime.preprocess.image import ImageSource

CPU = "CPUExecutionProvider"
PROVIDER_ALIASES = {
    "cpu": CPU,
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
}
"""Short names accepted for onnxruntime execution providers (full names are accepted too)."""


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one example."""

    label: str
    score: float
    """Probability of `label`, 0..1."""
    probs: dict[str, float]
    """Probability of every label."""
    present: tuple[str, ...]
    """Modalities that were given."""

    def to_dict(self) -> dict:
        return {"label": self.label, "score": self.score, "probs": self.probs, "present": list(self.present)}


def resolve_providers(requested: list[str] | None) -> tuple[list[str], list[str]]:
    """(providers to try in order, ending with CPU; names requested but not in this onnxruntime build).

    `requested` holds full onnxruntime names or the short names in PROVIDER_ALIASES; None means CPU.
    """
    import onnxruntime as ort

    available, known = ort.get_available_providers(), set(ort.get_all_providers())
    chosen, missing = [], []
    for name in requested or [CPU]:
        full = PROVIDER_ALIASES.get(name.lower(), name)
        if full not in known and full not in PROVIDER_ALIASES.values():
            known = ", ".join(PROVIDER_ALIASES)
            raise ModelFileError(f"unknown execution provider {name!r}; use one of {known} (this build has {', '.join(available)})")
        (chosen if full in available else missing).append(full)
    if CPU not in chosen:
        chosen.append(CPU)  # the fallback that every onnxruntime build has
    return list(dict.fromkeys(chosen)), missing


class Predictor:
    """Runs a model file on raw inputs. Create with `Predictor.from_file(path)`; share it freely between threads."""

    def __init__(self, session, contract: ModelContract, batch_size: int = 64):
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.session = session
        self.contract = contract
        self.builder = InputBuilder(contract)
        self.batch_size = batch_size
        """Examples per onnxruntime call in `predict_batch`; bounds memory for long lists."""
        self.fallback: list[str] = []
        """Requested execution providers that were not used, with the reason, e.g. "CUDAExecutionProvider: not in this build"."""
        self.warmup_ms: float | None = None
        """Wall time of the warm-up inference on load, in milliseconds (None: no warm-up)."""

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike,
        threads: int | None = None,
        providers: list[str] | None = None,
        *,
        warmup: bool = True,
        batch_size: int = 64,
        sha256: str | None = None,
    ) -> Predictor:
        """Load `path`. `threads`: onnxruntime intra-op threads (None: its default, all cores).

        `providers`: execution providers in order of preference (e.g. ["cuda"]); any that this
        onnxruntime build lacks or that fails to load falls back to CPU, listed in `.fallback`.
        `sha256`: 64 hex digits; the model is refused unless its file has this digest.
        """
        chosen, missing = resolve_providers(providers)
        fallback = [f"{name}: not in this onnxruntime build" for name in missing]
        try:
            session = open_session(path, threads=threads, providers=chosen, sha256=sha256)
        except ModelFileError as e:
            if chosen == [CPU]:
                raise
            # A GPU provider can fail at load (missing CUDA libraries, no device); CPU still works.
            fallback += [f"{name}: failed to load ({e})" for name in chosen if name != CPU]
            session = open_session(path, threads=threads, providers=[CPU], sha256=sha256)
        used = set(session.get_providers())
        fallback += [f"{name}: not used by onnxruntime" for name in chosen if name not in used and name != CPU]
        predictor = cls(session, read_contract(session, path), batch_size=batch_size)
        predictor.fallback = fallback
        if warmup:
            predictor.warm_up()
        return predictor

    @property
    def labels(self) -> tuple[str, ...]:
        return self.contract.labels

    @property
    def providers(self) -> list[str]:
        """Execution providers the session actually uses, in priority order."""
        return list(self.session.get_providers())

    def warm_up(self) -> float:
        """One inference on blank inputs of every modality; returns its wall time in milliseconds."""
        c = self.contract
        blank = Example(
            image=np.zeros((c.image.height, c.image.width, c.image.channels), np.float32) if c.image else None,
            audio=np.zeros(c.audio.window_samples, np.float32) if c.audio else None,
            text="warm up" if c.text else None,
        )
        start = time.perf_counter()
        self.run(self.builder.build([blank]))
        self.warmup_ms = (time.perf_counter() - start) * 1000.0
        return self.warmup_ms

    def predict(
        self,
        text: str | None = None,
        image: ImageSource | None = None,
        audio: AudioSource | None = None,
        sample_rate: int | None = None,
    ) -> Prediction:
        """One prediction; absent modalities (None, or blank text) are fed with presence 0."""
        return self.predict_batch([Example(image=image, audio=audio, text=text, sample_rate=sample_rate)])[0]

    def predict_batch(self, examples: list[Example]) -> list[Prediction]:
        """Predictions for any number of examples, run `batch_size` at a time; order is kept."""
        if not examples:
            raise InputError("no examples given; pass at least one")
        results: list[Prediction] = []
        for start in range(0, len(examples), self.batch_size):
            chunk = examples[start : start + self.batch_size]
            probs = self.run(self.builder.build(chunk))
            results += [self._prediction(p, e.present()) for p, e in zip(probs, chunk)]
        return results

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Run the graph on prepared feeds → probs (B, K) float32."""
        (probs,) = self.session.run([self.contract.outputs[-1]], feeds)
        return probs

    def prediction_from_probs(self, probs: np.ndarray, present: tuple[str, ...]) -> Prediction:
        """A Prediction from one row of probabilities (K,) float32, e.g. after smoothing."""
        return self._prediction(probs, present)

    def _prediction(self, probs: np.ndarray, present: tuple[str, ...]) -> Prediction:
        best = int(np.argmax(probs))
        return Prediction(
            label=self.labels[best],
            score=float(probs[best]),
            probs={label: float(p) for label, p in zip(self.labels, probs)},
            present=present,
        )
