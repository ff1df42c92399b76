"""Training fused text + image + audio classifiers (PyTorch).

Names are imported on first use, so `edgefuse.train.config` (used by the CLI's help) loads
without torch. No submodule shares a name with an export (the loop lives in `loop`, not `fit`),
so importing a submodule never shadows a function here.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "TrainConfig": "edgefuse.train.config",
    "load_config": "edgefuse.train.config",
    "fit": "edgefuse.train.loop",
    "resume": "edgefuse.train.loop",
    "load_run": "edgefuse.train.run",
    "FusedClassifier": "edgefuse.train.model",
    "ModelArgs": "edgefuse.train.model",
    "evaluate_run": "edgefuse.train.evaluate",
}

__all__ = list(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'edgefuse.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
