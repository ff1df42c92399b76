"""The whole chain on the tiny demo data: train → export (parity gate) → predict in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from conftest import skip_or_fail
from edgefuse.runtime import Predictor, load_contract, read_dataset
from edgefuse.runtime.contract import SCHEMA_VERSION
from edgefuse.runtime.evaluate import evaluate

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "edgefuse", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_export_passes_parity_and_checker(exported):
    assert exported.parity["logits"] <= 1e-4 and exported.parity["probs"] <= 1e-4
    proto = onnx.load(str(exported.path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == 8 and proto.opset_import[0].version == 17
    assert not any(n.op_type in ("STFT", "DFT") for n in proto.graph.node)
    assert os.path.getsize(exported.path) == exported.bytes  # one file, no external data


def test_accuracy_clearly_above_chance(exported, demo_data):
    rows = read_dataset(demo_data)["test"]
    result = evaluate(Predictor.from_file(exported.path), rows)
    assert result["accuracy"] >= 0.3, result  # chance is 0.1 with ten labels
    assert set(result["subsets"]) == {"image", "audio", "text", "image+audio", "image+text", "audio+text", "image+audio+text"}


def test_contract_carries_everything_a_device_needs(exported, demo_data):
    contract = load_contract(exported.path)
    assert contract.labels == tuple(str(i) for i in range(10))
    assert contract.modalities == ("image", "audio", "text")
    assert contract.audio.sample_rate == 16000 and contract.text.tokenizer
    assert contract.metrics["parity_max_abs_diff"]["logits"] <= 1e-4
    assert len(contract.provenance["data_sha256"]) == 64


def test_predict_cli_in_a_subprocess(exported, demo_data):
    row = json.loads((demo_data / "test.jsonl").read_text().splitlines()[0])
    out = cli("predict", exported.path, "--image", demo_data / row["image"], "--audio", demo_data / row["audio"], "--text", "seven")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["label"] in [str(i) for i in range(10)]
    assert abs(sum(result["probs"].values()) - 1) < 1e-4 and result["present"] == ["image", "audio", "text"]


def test_missing_modalities_are_normal(exported, demo_data):
    predictor = Predictor.from_file(exported.path)
    row = read_dataset(demo_data)["test"][0]
    for kwargs in [{"text": "seven"}, {"image": row.image}, {"audio": row.audio}, {"image": row.image, "text": ""}]:
        p = predictor.predict(**kwargs)
        assert np.isclose(sum(p.probs.values()), 1, atol=1e-4)
        assert p.present == tuple(k for k in ("image", "audio", "text") if kwargs.get(k))


def test_inspect_and_errors_are_one_line(exported, tmp_path):
    out = cli("inspect", exported.path)
    assert out.returncode == 0 and json.loads(out.stdout)["schema_version"] == SCHEMA_VERSION
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage")
    for args in [("predict", tmp_path / "junk.onnx", "--text", "x"), ("predict", exported.path), ("inspect", tmp_path / "nope.onnx")]:
        out = cli(*args)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr


def test_model_loads_on_oldest_supported_onnxruntime(exported, demo_data):
    python = ROOT / ".venv-ort118" / "bin" / "python"
    if not python.exists():
        skip_or_fail("no .venv-ort118 (run `make compat`) to check onnxruntime 1.18")
    out = cli("predict", exported.path, "--text", "seven", python=str(python))
    assert out.returncode == 0, out.stderr
    version = subprocess.run([str(python), "-c", "import onnxruntime; print(onnxruntime.__version__)"], capture_output=True, text=True)
    assert version.stdout.startswith("1.18")
