"""Shared fixtures: the tiny demo data set, one short training run and its exported model.

They are built once per session from the real demo builder, so every test sees real data.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

REQUIRE_SERVICES = os.environ.get("EDGEFUSE_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"


def skip_or_fail(reason: str) -> None:
    """Skip on a user's machine that lacks a real component; fail in CI, where it must exist."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    from edgefuse.train.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("data") / "digits3", seed=1, size="tiny")


@pytest.fixture(scope="session")
def trained_run(demo_data, tmp_path_factory):
    from edgefuse.train import TrainConfig, fit

    run = tmp_path_factory.mktemp("runs") / "tiny"
    fit(demo_data, run, TrainConfig(epochs=4, seed=0))
    return run


@pytest.fixture(scope="session")
def exported(trained_run, tmp_path_factory):
    from edgefuse.export import to_onnx

    return to_onnx(trained_run, tmp_path_factory.mktemp("models") / "tiny.onnx")
