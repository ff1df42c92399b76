"""Small real ONNX models with an edgefuse contract, built with the `onnx` package in milliseconds.

They let the model-file, bad-input and concurrency tests run real onnxruntime sessions without
training. The graph is deterministic and uses every input, so wrong feeds change its output:
image (B,3,8,8), audio (B,S), text_ids/text_mask (B,L) and the three presences → logits/probs (B,3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgefuse.runtime.contract import CONTRACT_KEY, AudioSpec, ImageSpec, ModelContract, TextSpec

LABELS = ("cat", "dog", "bird")


def tiny_contract(**changes) -> ModelContract:
    from edgefuse.train.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["one two three four five six seven eight nine zero", "猫 dog 🐦"], 300)
    contract = ModelContract(
        labels=LABELS,
        image=ImageSpec(height=8, width=8),
        audio=AudioSpec(sample_rate=16000, window_samples=1600),
        text=TextSpec(tokenizer=tokenizer.to_str(), max_length=16),
    )
    return contract.replace(**changes)


def tiny_graph(extra_nodes: list | None = None) -> onnx.GraphProto:
    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    inputs = [
        helper.make_tensor_value_info("image", f32, ["batch", 3, 8, 8]),
        helper.make_tensor_value_info("audio", f32, ["batch", "samples"]),
        helper.make_tensor_value_info("text_ids", i64, ["batch", "tokens"]),
        helper.make_tensor_value_info("text_mask", i64, ["batch", "tokens"]),
        *[helper.make_tensor_value_info(f"{m}_present", f32, ["batch"]) for m in ("image", "audio", "text")],
    ]
    outputs = [helper.make_tensor_value_info(n, f32, ["batch", 3]) for n in ("logits", "probs")]
    rng = np.random.default_rng(7)
    weights = numpy_helper.from_array(rng.normal(size=(9, 3)).astype(np.float32), "weights")
    bias = numpy_helper.from_array(np.array([0.1, -0.2, 0.05], np.float32), "bias")
    one = numpy_helper.from_array(np.array([1], np.int64), "axis1")
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["img_feat"], axes=[2, 3], keepdims=0),
        helper.make_node("Abs", ["audio"], ["audio_abs"]),
        helper.make_node("ReduceMean", ["audio_abs"], ["audio_feat"], axes=[1], keepdims=1),
        helper.make_node("ReduceMax", ["audio"], ["audio_peak"], axes=[1], keepdims=1),
        helper.make_node("Cast", ["text_ids"], ["ids_f"], to=f32),
        helper.make_node("Cast", ["text_mask"], ["mask_f"], to=f32),
        helper.make_node("Mul", ["ids_f", "mask_f"], ["ids_masked"]),
        helper.make_node("ReduceMean", ["ids_masked"], ["text_feat_raw"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["text_feat_raw", "text_scale"], ["text_feat"]),
        *[helper.make_node("Unsqueeze", [f"{m}_present", "axis1"], [f"{m}_p"]) for m in ("image", "audio", "text")],
        helper.make_node("Concat", ["img_feat", "audio_feat", "audio_peak", "text_feat", "image_p", "audio_p", "text_p"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "weights"], ["mm"]),
        helper.make_node("Add", ["mm", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
        *(extra_nodes or []),
    ]
    scale = numpy_helper.from_array(np.array([0.02], np.float32), "text_scale")
    return helper.make_graph(nodes, "tiny", inputs, outputs, initializer=[weights, bias, one, scale])


def tiny_model_proto(contract: ModelContract | None = None, graph: onnx.GraphProto | None = None) -> onnx.ModelProto:
    model = helper.make_model(graph or tiny_graph(), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if contract is not False:
        model.metadata_props.add(key=CONTRACT_KEY, value=(contract or tiny_contract()).to_json())
    onnx.checker.check_model(model)
    return model


def write_tiny_model(path: Path, contract: ModelContract | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(tiny_model_proto(contract), str(path))
    return path
