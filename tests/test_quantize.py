"""Quantization: static/dynamic int8 and fp16 files that load anywhere, say what they did, and keep accuracy.

Fast tests check the graph surgery and settings on real constants; the slow ones quantize the
tiny demo model (trained once per session) on the tiny demo data set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from conftest import skip_or_fail
from edgefuse.export.compact import compact_names, merge_duplicate_initializers
from edgefuse.export.frontend_graph import synthesize_frontend_constants
from edgefuse.export.quantize import QuantizeConfig, QuantizeError, quantize
from edgefuse.export.quantize.auto import layer_of
from edgefuse.runtime import AudioSpec, Predictor, load_contract, read_dataset
from edgefuse.train.frontend import band_bins, dft_matrix, mel_filterbank, power_mel_matrix

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "edgefuse", *map(str, args)], capture_output=True, text=True, timeout=600)


def _identity_of(constant: np.ndarray, as_initializer: bool) -> onnx.ModelProto:
    """A graph whose output is `constant` plus its (zero) input: the constant stored one of two ways."""
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, list(constant.shape))
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, list(constant.shape))
    tensor = numpy_helper.from_array(constant, "kernel")
    nodes = [] if as_initializer else [helper.make_node("Constant", [], ["kernel"], name="/model/audio/frontend/Constant", value=tensor)]
    nodes.append(helper.make_node("Add", ["x", "kernel"], ["y"], name="/model/audio/frontend/Add"))
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[tensor] if as_initializer else [])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


FRONTENDS = [
    AudioSpec(),  # 16 kHz, 20 Hz to 4 kHz: bins 1..63 of 256
    AudioSpec(n_fft=400, hop_length=160, f_max=8000.0),
    AudioSpec(n_fft=255, hop_length=128),  # odd frame length: no Nyquist bin
    AudioSpec(sample_rate=22050, window_samples=22050, n_fft=1024, hop_length=512, n_mels=80, f_min=0.0, f_max=11025.0),
]


def _frontend_constants(audio: AudioSpec) -> dict[str, np.ndarray]:
    filters = mel_filterbank(audio.sample_rate, audio.n_fft, audio.n_mels, audio.f_min, audio.f_max)
    bins = band_bins(filters)
    return {"dft": dft_matrix(audio.n_fft, bins), "mel": power_mel_matrix(filters, bins)}


@pytest.mark.parametrize("as_initializer", [True, False])
@pytest.mark.parametrize("audio", FRONTENDS, ids=lambda a: f"{a.sample_rate}-{a.n_fft}-{a.f_max:g}")
def test_frontend_constants_are_computed_in_graph_and_match(audio, as_initializer):
    for name, want in _frontend_constants(audio).items():
        proto = _identity_of(want, as_initializer)
        stored = proto.ByteSize()
        assert synthesize_frontend_constants(proto, None) == []  # no audio spec: left alone
        assert synthesize_frontend_constants(proto, audio) == ["kernel"], name
        onnx.checker.check_model(proto, full_check=True)
        assert proto.ByteSize() < stored // 5  # the matrix is gone; only scalars and band edges remain
        got = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": np.zeros_like(want)})[0]
        assert np.max(np.abs(got - want)) <= 1e-5, name


def test_synthesis_avoids_names_left_by_an_earlier_one():
    """quant_pre_process can keep a scalar of the parent's synthesized subgraph (merged with an equal constant)."""
    proto = _identity_of(_frontend_constants(AudioSpec())["dft"], as_initializer=True)
    leftover = numpy_helper.from_array(np.array(1, np.int64), "/model/audio/frontend/constant_0/one")
    proto.graph.initializer.append(leftover)
    assert synthesize_frontend_constants(proto, AudioSpec()) == ["kernel"]
    onnx.checker.check_model(proto, full_check=True)  # initializer names stay unique


def test_other_constants_are_left_alone():
    rng = np.random.default_rng(0)
    dft = _frontend_constants(AudioSpec())["dft"]
    proto = _identity_of(rng.standard_normal(dft.shape).astype(np.float32), as_initializer=True)
    assert synthesize_frontend_constants(proto, AudioSpec()) == []
    proto = _identity_of(dft, as_initializer=True)
    assert synthesize_frontend_constants(proto, AudioSpec(f_max=3000.0)) == []  # another frontend's matrix
    assert len(proto.graph.initializer) == 1


def test_copies_of_a_constant_are_merged_and_names_compacted():
    """The quantizer gives each consumer its own copy of a shared constant (e.g. the attention head masks)."""
    mask = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3, 4])
    nodes = [helper.make_node("Mul", ["x", "/model/text/blocks.0/mask"], ["/model/a"], name="/model/text/blocks.0/Mul"),
             helper.make_node("Mul", ["/model/a", "/model/text/blocks.1/mask"], ["/model/b"], name="/model/text/blocks.1/Mul"),
             helper.make_node("Add", ["/model/b", "/model/offset"], ["y"], name="/model/Add")]
    inits = [numpy_helper.from_array(mask, "/model/text/blocks.0/mask"), numpy_helper.from_array(mask.copy(), "/model/text/blocks.1/mask"),
             numpy_helper.from_array(mask + 1, "/model/offset")]  # same shape, other values: kept
    proto = helper.make_model(helper.make_graph(nodes, "g", [x], [y], initializer=inits), opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    feeds = {"x": np.ones((3, 4), np.float32)}
    want = ort.InferenceSession(proto.SerializeToString()).run(None, feeds)[0]
    assert merge_duplicate_initializers(proto) == 1
    assert compact_names(proto) > 0
    onnx.checker.check_model(proto, full_check=True)
    assert len(proto.graph.initializer) == 2 and proto.graph.node[0].input[1] == proto.graph.node[1].input[1]
    assert [n.name for n in proto.graph.node] == ["/model/text/blocks.0/Mul", "/model/text/blocks.1/Mul", "/model/Add"]  # node names stay
    np.testing.assert_array_equal(ort.InferenceSession(proto.SerializeToString()).run(None, feeds)[0], want)


def test_config_collects_every_problem():
    with pytest.raises(QuantizeError) as e:
        QuantizeConfig(mode="int4", max_drop=3.0, calibration_rows=0)
    message = str(e.value)
    assert "mode 'int4'" in message and "max_drop" in message and "calibration_rows" in message


def test_cli_missing_model_is_one_line(tmp_path):
    out = cli("quantize", tmp_path / "nope.onnx", "--out", tmp_path / "q.onnx", "--data", tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "does not exist" in out.stderr, out.stderr


# --- slow: the tiny demo model ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def static_int8(exported, demo_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("quantized") / "tiny.int8.onnx"
    return quantize(exported.path, out, demo_data, QuantizeConfig(mode="static", max_drop=0.05, timing_runs=5), progress=False)


@pytest.fixture(scope="module")
def fp16(exported, demo_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("quantized") / "tiny.fp16.onnx"
    return quantize(exported.path, out, demo_data, QuantizeConfig(mode="fp16", max_drop=0.05, timing_runs=5), progress=False)


@pytest.mark.slow
def test_static_int8_file_records_what_it_did(static_int8, exported, demo_data):
    proto = onnx.load(str(static_int8.path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version <= 8 and all(o.version <= 17 for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    assert any(n.op_type == "DequantizeLinear" for n in proto.graph.node)
    contract = load_contract(static_int8.path)
    q = contract.quantization
    assert q["mode"] == "static" and q["calibration"]["split"] == "train" and q["calibration"]["rows"] > 0
    reason_of = {n: why for why, nodes in q["float_nodes_by_reason"].items() for n in nodes}
    frontend = [n for n in reason_of if "audio/frontend" in n]
    assert frontend and all("kept float" in reason_of[n] for n in frontend)
    assert {"accuracy", "drop", "top1_agreement"} <= set(q["validation_vs_parent"])
    # the frontend really is float: no Q/DQ node feeds or follows a frontend node
    assert not [n for n in proto.graph.node if "audio/frontend" in n.name and n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert static_int8.path.stat().st_size < 0.35 * exported.path.stat().st_size


@pytest.mark.slow
def test_static_int8_report_has_every_figure(static_int8):
    report = json.loads(static_int8.report_paths[0].read_text())
    t = report["test_vs_parent"]
    assert set(t["float"]["subsets"]) == set(t["quantized"]["subsets"]) and len(t["quantized"]["subsets"]) == 7
    assert {"1", "32"} == set(t["latency_ms"]["quantized"]) == set(t["latency_ratio"])
    assert 0 < t["bytes"]["ratio"] < 1 and 0 <= t["top1_agreement"] <= 1 and "macro_f1" in t["quantized"]
    assert "Accuracy repair" in static_int8.report_paths[1].read_text()


@pytest.mark.slow
def test_static_int8_agrees_with_float(static_int8, exported, demo_data):
    rows = read_dataset(demo_data)["test"]
    float_model, int8 = Predictor.from_file(exported.path), Predictor.from_file(static_int8.path)
    feeds = float_model.builder.build([r for r in _examples(rows)])
    agreement = np.mean(float_model.run(feeds).argmax(1) == int8.run(feeds).argmax(1))
    assert agreement >= 0.9  # tiny, barely trained model; the benchmark holds the full one to 99.5%


def _examples(rows):
    from edgefuse.runtime.inputs import Example

    return [Example(image=r.image, audio=r.audio, text=r.text) for r in rows]


@pytest.mark.slow
def test_damaging_nodes_ranks_real_quantized_nodes(exported, demo_data, tmp_path):
    from tqdm import tqdm

    from edgefuse.export.quantize import plans
    from edgefuse.export.quantize.accuracy import damaging_nodes
    from edgefuse.export.quantize.api import _debug_reader, _job, _quantized_nodes

    config = QuantizeConfig(mode="static", calibration_rows=64)
    job = _job(config, exported.path, load_contract(exported.path), demo_data, tmp_path, tqdm(disable=True))
    plan = plans.Plan("all", None, plans.COMPUTE_OPS, plans.kept_float_by_scope(job.prepared.proto, config))
    built = job.build(plan, "probe")
    quantized = _quantized_nodes(job, plan)
    worst = damaging_nodes(job.prepared.path, built, _debug_reader(job), quantized, 3, tmp_path)
    assert len(worst) == 3 and all(node in quantized for node, _ in worst)
    assert [db for _, db in worst] == sorted(db for _, db in worst)  # worst (lowest SQNR) first


@pytest.mark.slow
def test_fp16_keeps_float32_io(fp16, exported):
    session = ort.InferenceSession(str(fp16.path))
    assert all(i.type in ("tensor(float)", "tensor(int64)") for i in session.get_inputs())
    assert all(o.type == "tensor(float)" for o in session.get_outputs())
    proto = onnx.load(str(fp16.path))
    onnx.checker.check_model(proto, full_check=True)
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
    assert load_contract(fp16.path).quantization["mode"] == "fp16"
    flags = fp16.report["flags"]
    ratio = fp16.report["test_vs_parent"]["latency_ratio"]
    assert all(any(f"batch {b}" in f for f in flags) for b, r in ratio.items() if r > 1.0)  # slower is always reported


@pytest.mark.slow
def test_auto_never_writes_a_slower_model(exported, demo_data, tmp_path):
    out = tmp_path / "auto.onnx"
    try:
        result = quantize(exported.path, out, demo_data, QuantizeConfig(mode="auto", max_drop=0.05, timing_runs=5), progress=False)
    except QuantizeError as e:
        assert "no int8 plan" in str(e) and not out.exists()
        return
    decision = result.report["decision"]
    chosen = decision["candidates"][decision["chosen"]]
    assert all(r <= 1.0 for r in chosen["ratio"].values())  # as measured when it was chosen
    assert result.report["flags"] == [] or all("slower" in f or "drop" in f for f in result.report["flags"])


@pytest.mark.slow
def test_quantizing_a_quantized_model_is_refused(static_int8, demo_data, tmp_path):
    out = cli("quantize", static_int8.path, "--out", tmp_path / "again.onnx", "--data", demo_data, "--mode", "static")
    assert out.returncode == 2 and "already quantized" in out.stderr and out.stderr.count("\n") == 1


@pytest.mark.slow
def test_optimized_model_keeps_contract_and_predictions(exported, tmp_path):
    from edgefuse.export.optimize import optimize

    path = optimize(exported.path, tmp_path / "opt.onnx", level="basic")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    contract = load_contract(path)
    assert contract.labels == load_contract(exported.path).labels
    assert contract.provenance["offline_optimization"]["level"] == "basic"


@pytest.mark.slow
@pytest.mark.parametrize("which", ["static_int8", "fp16"])
def test_quantized_models_run_on_onnxruntime_1_18(which, request):
    python = ROOT / ".venv-ort118" / "bin" / "python"
    if not python.exists():
        skip_or_fail("no .venv-ort118 (run `make compat`) to check onnxruntime 1.18")
    model = request.getfixturevalue(which).path
    out = cli("predict", model, "--text", "seven", python=str(python))
    assert out.returncode == 0, out.stderr
    version = subprocess.run([str(python), "-c", "import onnxruntime; print(onnxruntime.__version__)"], capture_output=True, text=True)
    assert version.stdout.startswith("1.18")


@pytest.mark.parametrize("node,layer", [
    ("/model/audio/cnn/convs/convs.1/convs.1.0/Conv", "audio/cnn/convs/convs.1"),
    ("/model/audio/cnn/convs/convs.1/convs.1.2/Relu_output_0_nchwc", "audio/cnn/convs/convs.1"),  # onnxruntime's fused Conv+Relu
    ("/model/audio/cnn/convs/convs.1/convs.1.2/Relu_output_0_QuantizeLinear_kernel_time", "audio/cnn/convs/convs.1"),
    ("/model/text/blocks.0/qkv/MatMul", "text/blocks.0/qkv"),
    ("Transpose_token_3", ""),
])
def test_profiled_nodes_map_to_the_layer_they_belong_to(node, layer):
    assert layer_of(node) == layer


def test_auto_takes_the_smallest_of_the_plans_as_fast_as_the_fastest():
    from edgefuse.export.quantize.auto import _ranked
    from edgefuse.export.quantize.config import Prefer
    from edgefuse.export.quantize.plans import Plan

    def row(b1, b32, size):
        return {"ratio": {"1": b1, "32": b32}, "bytes": size}

    table = {"small": row(0.82, 0.78, 1_100_000), "fast": row(0.80, 0.78, 2_400_000),
             "slower": row(0.92, 0.88, 900_000), "worse than float": row(1.05, 0.70, 800_000)}
    order = _ranked([Plan(name) for name in table], table, Prefer.SPEED)
    assert [p.name for p in order] == ["small", "fast", "slower"]  # within 3% of the fastest: size decides
