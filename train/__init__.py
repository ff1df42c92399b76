"""Training fused text + image + audio classifiers (PyTorch)."""

from edgefuse.train.config import TrainConfig
from edgefuse.train.fit import fit
from edgefuse.train.model import FusedClassifier, ModelArgs
from edgefuse.train.run import load_run

__all__ = ["TrainConfig", "fit", "load_run", "FusedClassifier", "ModelArgs"]
