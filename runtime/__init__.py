"""The on-device runtime: numpy + onnxruntime only; never imports torch or onnx."""

from edgefuse.runtime.contract import CONTRACT_KEY, AudioSpec, ImageSpec, ModelContract, TextSpec
from edgefuse.runtime.errors import EdgefuseError
from edgefuse.runtime.manifest import Dataset, Row, read_dataset
from edgefuse.runtime.model_file import load_contract
from edgefuse.runtime.inputs import Example, InputBuilder
from edgefuse.runtime.predictor import Prediction, Predictor

__all__ = [
    "CONTRACT_KEY",
    "AudioSpec",
    "Dataset",
    "EdgefuseError",
    "Example",
    "ImageSpec",
    "InputBuilder",
    "ModelContract",
    "Prediction",
    "Predictor",
    "Row",
    "TextSpec",
    "load_contract",
    "read_dataset",
]
