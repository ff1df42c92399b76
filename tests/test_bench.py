"""`edgefuse bench`: real models in real worker processes; no test asserts a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edgefuse.runtime.bench import BenchError, BenchOptions, benchmark, markdown, write_reports
from edgefuse.runtime.bench.ort_profile import count_flops, op_time_summary, profile_runs
from edgefuse.runtime.bench.peak import matmul_model, matmul_peak
from edgefuse.runtime.bench.stats import latency_stats, time_calls

# Few runs: these tests check what is measured and reported, not how fast anything is.
QUICK = dict(runs=12, batch_runs=3, min_seconds=0.0, profile_runs=3, batches=(1, 4), threads=1)
MODEL_KEYS = {"name", "kind", "path", "precision", "quantization", "file_bytes", "contract", "pid", "cold_start",
              "warmup", "latency_ms", "latency_samples_ms", "throughput", "rss_mb", "text_tokens", "profile",
              "limit", "flags"}
DOCUMENT_KEYS = {"schema", "created", "machine", "versions", "settings", "matmul_peak", "models", "comparisons"}


def test_matmul_graph_computes_a_matmul_and_passes_the_onnx_checker():
    ort = pytest.importorskip("onnxruntime")
    payload = matmul_model(3, 5, 4)
    session = ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 5), dtype=np.float32), rng.standard_normal((5, 4), dtype=np.float32)
    np.testing.assert_allclose(session.run(None, {"A": a, "B": b})[0], a @ b, rtol=1e-5, atol=1e-5)
    onnx = pytest.importorskip("onnx")
    onnx.checker.check_model(onnx.load_from_string(payload), full_check=True)


def test_matmul_peak_reports_a_positive_rate_for_the_thread_count():
    peak = matmul_peak(threads=1, sizes=(64,), seconds=0.0)
    assert peak["gflops"] > 0 and peak["size"] == 64 and peak["threads"] == 1 and peak["runs"] >= 3


def test_flops_of_the_matmul_graph_are_exact(tmp_path):
    path = tmp_path / "mm.onnx"
    path.write_bytes(matmul_model(7, 11, 13))
    feeds = {"A": np.ones((7, 11), np.float32), "B": np.ones((11, 13), np.float32)}
    counted = count_flops(profile_runs(path, feeds, threads=1, runs=2, optimized=False), runs=2)
    assert counted == {"flops": 2 * 7 * 11 * 13, "by_op": {"MatMul": 2 * 7 * 11 * 13},
                       "by_component": {"(graph level)": 2 * 7 * 11 * 13}, "uncounted_ops": []}


def _conv_gemm_model(path):
    """Grouped Conv (N,4,9,9)->(N,6,5,5), batched MatMul, Gemm with transB: FLOPs known by hand."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    init = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
            for n, s in (("w", (6, 2, 3, 3)), ("m", (5, 7)), ("g", (3, 210)))]
    init.append(numpy_helper.from_array(np.array([-1, 210], np.int64), "flat"))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], group=2, strides=[2, 2], pads=[1, 1, 1, 1]),  # (N,6,5,5)
        helper.make_node("MatMul", ["c", "m"], ["mm"]),  # (N,6,5,5) @ (5,7) -> (N,6,5,7)
        helper.make_node("Reshape", ["mm", "flat"], ["f"]),  # (N, 210)
        helper.make_node("Gemm", ["f", "g"], ["y"], transB=1),  # (N, 3)
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(path))


def test_flops_of_grouped_conv_batched_matmul_and_transposed_gemm(tmp_path):
    _conv_gemm_model(tmp_path / "m.onnx")
    feeds = {"x": np.ones((2, 4, 9, 9), np.float32)}
    counted = count_flops(profile_runs(tmp_path / "m.onnx", feeds, threads=1, runs=1, optimized=False), runs=1)
    assert counted["by_op"] == {
        "Conv": 2 * (2 * 6 * 5 * 5) * (2 * 3 * 3),  # outputs x (in-channels per group x kernel)
        "MatMul": 2 * (2 * 6 * 5 * 7) * 5,
        "Gemm": 2 * (2 * 3) * 210,
    }


def test_op_summary_shares_add_up(tmp_path):
    _conv_gemm_model(tmp_path / "m.onnx")
    events = profile_runs(tmp_path / "m.onnx", {"x": np.ones((1, 4, 9, 9), np.float32)}, threads=1, runs=4)
    summary = op_time_summary(events, runs=4)
    assert summary["node_ms"] >= summary["node_ms_best"] > 0
    assert sum(o["share"] for o in summary["top_ops"]) == pytest.approx(1.0)
    assert sum(summary["components"].values()) == pytest.approx(1.0)
    assert summary["frontend_share"] == 0.0 and summary["quantize_dequantize_share"] == 0.0


def test_latency_stats_match_numpy_and_time_calls_honours_min_runs():
    seconds = np.linspace(0.001, 0.1, 101)
    stats = latency_stats(seconds)
    assert stats["runs"] == 101 and stats["min"] == pytest.approx(1.0)
    assert stats["p50"] == pytest.approx(np.percentile(seconds * 1000, 50))
    assert stats["p99"] == pytest.approx(np.percentile(seconds * 1000, 99))
    calls = []
    assert time_calls(lambda: calls.append(1), min_runs=17, min_seconds=0.0).size == 17 == len(calls)


def test_options_reject_bad_values_in_one_message(tmp_path):
    with pytest.raises(BenchError, match="batch sizes must be positive.*threads must be >= 1"):
        BenchOptions(batches=(0, 4), threads=0)
    with pytest.raises(BenchError, match="data set folder not found"):
        BenchOptions(data=str(tmp_path / "missing"))
    assert BenchOptions(batches=(32, 1, 8, 8)).batches == (1, 8, 32)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Two copies of a small real ONNX model with a contract (no training needed)."""
    pytest.importorskip("onnx")
    sys.path.insert(0, os.path.dirname(__file__))
    from _tiny_models import write_tiny_model

    folder = tmp_path_factory.mktemp("bench-models")
    first = write_tiny_model(folder / "tiny.onnx")
    second = shutil.copy(first, folder / "copy.onnx")
    return first, second


def test_benchmark_measures_each_model_in_its_own_process_and_writes_reports(tiny_models, tmp_path):
    document = benchmark(list(tiny_models), options=BenchOptions(**QUICK), show_progress=False)
    assert set(document) == DOCUMENT_KEYS
    assert document["versions"]["onnxruntime"] and document["machine"]["cpu"]["logical_cores"] >= 1
    assert document["settings"]["threads"] == 1 and document["matmul_peak"]["threads"] == 1
    pids = {m["pid"] for m in document["models"]}
    assert len(pids) == 2 and os.getpid() not in pids
    for model in document["models"]:
        assert set(model) == MODEL_KEYS
        lat = model["latency_ms"]
        assert lat["runs"] == len(model["latency_samples_ms"]) >= 12
        assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"]
        assert [t["batch"] for t in model["throughput"]] == [1, 4]
        assert all(t["samples_per_s"] > 0 for t in model["throughput"])
        assert model["rss_mb"]["peak"] >= model["rss_mb"]["after_load"] > 0
        assert model["cold_start"]["init_s"] > 0 and model["cold_start"]["first_inference_s"] > 0
        assert model["profile"]["flops"]["flops"] == model["limit"]["flops_per_sample"] > 0
        assert model["file_bytes"] == os.path.getsize(model["path"])
    assert [c["baseline"] for c in document["comparisons"]] == ["tiny"]

    written = write_reports(document, tmp_path / "out")
    assert json.loads(written["json"].read_text()) == json.loads(json.dumps(document))
    for name in ("latency", "throughput"):
        assert written[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = written["html"].read_text()
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page and "src=\"http" not in page
    text = markdown(document)
    assert "| tiny | fp32 |" in text and "| copy | fp32 |" in text


@pytest.mark.slow
def test_accuracy_reuses_evaluate_and_agreement_is_with_the_first_model(exported, demo_data, tmp_path):
    from edgefuse.runtime import Predictor, read_dataset
    from edgefuse.runtime.evaluate import evaluate

    copy = shutil.copy(exported.path, tmp_path / "copy.onnx")
    document = benchmark([exported.path, copy], options=BenchOptions(**QUICK, data=str(demo_data), profile=False),
                         show_progress=False)
    rows = read_dataset(demo_data, splits=("test",))["test"]
    expected = evaluate(Predictor.from_file(exported.path), rows)
    for model in document["models"]:
        accuracy = model["accuracy"]
        assert {k: accuracy[k] for k in expected} == expected
        assert accuracy["top1_agreement_with_first"] == 1.0
        assert model["profile"] is None and model["limit"]["flops_per_sample"] is None


def test_plots_are_skipped_with_a_note_without_matplotlib(tiny_models, tmp_path):
    document = benchmark(list(tiny_models[:1]), options=BenchOptions(**QUICK, profile=False), show_progress=False)
    (tmp_path / "doc.json").write_text(json.dumps(document))
    code = (
        "import sys, json; sys.modules['matplotlib'] = None\n"  # import of matplotlib now fails, as when absent
        "from edgefuse.runtime.bench import write_reports\n"
        f"doc = json.load(open({str(tmp_path / 'doc.json')!r}))\n"
        f"print(json.dumps(sorted(write_reports(doc, {str(tmp_path / 'out')!r}))))\n"
        "print(doc['notes'][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert json.loads(out[0]) == ["html", "json", "markdown"]
    assert "plots skipped" in out[1] and "pip install 'edgefuse[bench]'" in out[1]


def test_bench_imports_no_torch_onnx_or_matplotlib():
    code = ("import sys, edgefuse.runtime.bench, edgefuse.runtime.bench.worker, edgefuse.bench;"
            "print(sorted(m for m in ('torch', 'onnx', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "edgefuse", "bench", *args], capture_output=True, text=True)


def test_cli_user_errors_are_one_line_with_exit_code_2(tmp_path, tiny_models):
    missing = _cli(str(tmp_path / "nope.onnx"), "--out", str(tmp_path / "out"))
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "model file not found" in missing.stderr
    bad_batch = _cli(str(tiny_models[0]), "--batch", "1,x")
    assert bad_batch.returncode == 2 and "comma-separated integers" in bad_batch.stderr
    bad_run = _cli(str(tiny_models[0]), "--torch", str(tmp_path), "--out", str(tmp_path / "out"))
    assert bad_run.returncode == 2 and "not a finished training run" in bad_run.stderr


def test_cli_prints_the_table_and_writes_the_files(tiny_models, tmp_path):
    out = tmp_path / "report"
    done = _cli(*map(str, tiny_models), "--batch", "1,2", "--threads", "1", "--runs", "10", "--min-seconds", "0",
                "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("**") and "| tiny | fp32 |" in done.stdout
    assert {p.name for p in out.iterdir()} == {"bench.json", "bench.md", "bench.html", "latency.png", "throughput.png"}


@pytest.mark.slow
def test_torch_baseline_runs_the_same_inputs_and_agrees_with_its_export(exported, trained_run, demo_data, tmp_path):
    pytest.importorskip("torch")
    document = benchmark([exported.path], torch_run=trained_run, options=BenchOptions(**QUICK, data=str(demo_data)),
                         show_progress=False)
    onnx_model, torch_model = document["models"]
    assert torch_model["kind"] == "torch" and torch_model["profile"] is None
    assert torch_model["text_tokens"] == onnx_model["text_tokens"]
    # The export's parity gate bounds the difference at 1e-4, so the top-1 classes agree.
    assert torch_model["accuracy"]["top1_agreement_with_first"] >= 0.99
    assert torch_model["limit"]["flops_from"] == onnx_model["name"]
    assert torch_model["cold_start"]["import_s"] > 0 and torch_model["rss_mb"]["peak"] > 0
    assert [c["baseline"] for c in document["comparisons"]] == [torch_model["name"]]
    assert onnx_model["profile"]["batch_1"]["components"].get("audio/frontend", 0) > 0
