"""Predicting with one self-describing `.onnx` file: raw image/audio/text in, a label out."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from edgefuse.runtime.contract import ModelContract
from edgefuse.runtime.inputs import Example, InputBuilder
from edgefuse.runtime.model_file import open_session, read_contract
from edgefuse.runtime.preprocess.audio import AudioSource
from edgefuse.runtime.preprocess.image import ImageSource


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


class Predictor:
    """Runs a model file on raw inputs. Create with `Predictor.from_file(path)`."""

    def __init__(self, session, contract: ModelContract):
        self.session = session
        self.contract = contract
        self.builder = InputBuilder(contract)

    @classmethod
    def from_file(cls, path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None) -> Predictor:
        session = open_session(path, threads=threads, providers=providers)
        return cls(session, read_contract(session, path))

    @property
    def labels(self) -> tuple[str, ...]:
        return self.contract.labels

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
        probs = self.run(self.builder.build(examples))
        return [self._prediction(p, e.present()) for p, e in zip(probs, examples)]

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Run the graph on prepared feeds → probs (B, K) float32."""
        (probs,) = self.session.run([self.contract.outputs[-1]], feeds)
        return probs

    def _prediction(self, probs: np.ndarray, present: tuple[str, ...]) -> Prediction:
        best = int(np.argmax(probs))
        return Prediction(
            label=self.labels[best],
            score=float(probs[best]),
            probs={label: float(p) for label, p in zip(self.labels, probs)},
            present=present,
        )
