"""Hostile and broken model files: each is refused with one clear line before onnxruntime runs it.

The wire-format reader is checked against the `onnx` package on files it wrote. `MODEL_CASES`
also feeds the table in docs/robustness.md (see tests/_robustness_table.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import convert_model_to_external_data

from _tiny_models import tiny_contract, tiny_graph, tiny_model_proto, write_tiny_model
from edgefuse.runtime import Predictor, load_contract
from edgefuse.runtime._onnx_wire import MAX_NESTING, WireError, read_model
from edgefuse.runtime.contract import SCHEMA_VERSION
from edgefuse.runtime.errors import ContractError, EdgefuseError, ModelFileError
from edgefuse.runtime.model_file import ALLOWED_DOMAINS


# ---------------------------------------------------------------- the wire reader against `onnx`


def expected_summary(model: onnx.ModelProto) -> tuple[set, list, dict, dict]:
    """(operators, external locations, metadata, opsets) computed with the onnx package."""
    operators, locations = set(), []

    def tensor(t):
        if t.data_location == TensorProto.EXTERNAL:
            locations.append({e.key: e.value for e in t.external_data}.get("location", ""))

    def graph(g):
        for n in g.node:
            node(n)
        for t in g.initializer:
            tensor(t)
        for s in g.sparse_initializer:
            tensor(s.values), tensor(s.indices)

    def node(n):
        for a in n.attribute:
            if a.HasField("t"):
                tensor(a.t)
            for t in a.tensors:
                tensor(t)
            if a.HasField("g"):
                graph(a.g)
            for g in a.graphs:
                graph(g)
        operators.add((n.domain, n.op_type))

    graph(model.graph)
    for f in model.functions:
        for n in f.node:
            node(n)
    return operators, locations, {p.key: p.value for p in model.metadata_props}, {o.domain: o.version for o in model.opset_import}


def model_with_subgraphs_and_function() -> onnx.ModelProto:
    """An If whose branches hold a Loop-free subgraph with a constant tensor attribute, and a local function."""
    then_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["t"], value=numpy_helper.from_array(np.ones(3, np.float32), "c")),
         helper.make_node("Relu", ["t"], ["out"], domain="")],
        "then", [], [helper.make_tensor_value_info("out", TensorProto.FLOAT, [3])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Gelu", ["x"], ["out"], domain="com.microsoft")],
        "else", [], [helper.make_tensor_value_info("out", TensorProto.FLOAT, [3])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_graph, else_branch=else_graph),
         helper.make_node("Twice", ["y"], ["z"], domain="local.fn")],
        "g",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []), helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [3])],
        initializer=[numpy_helper.from_array(np.arange(4, dtype=np.int64), "unused")],
        sparse_initializer=[helper.make_sparse_tensor(
            numpy_helper.from_array(np.array([1.0], np.float32), "sv"), numpy_helper.from_array(np.array([0], np.int64), "si"), [4])],
    )
    function = helper.make_function("local.fn", "Twice", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])],
                                    [helper.make_opsetid("", 17)])
    model = helper.make_model(graph, functions=[function], opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1), helper.make_opsetid("local.fn", 1)])
    model.metadata_props.add(key="k", value="välue ✓")
    return model


def test_wire_reader_matches_onnx_on_tiny_model(tmp_path):
    model = tiny_model_proto()
    summary = read_model(model.SerializeToString())
    operators, locations, metadata, opsets = expected_summary(model)
    assert summary.operators == operators and summary.external_data == locations == []
    assert summary.metadata == metadata and summary.opsets == opsets and summary.ir_version == 8


def test_wire_reader_matches_onnx_in_subgraphs_functions_and_sparse_tensors():
    model = model_with_subgraphs_and_function()
    summary = read_model(model.SerializeToString())
    operators, _, metadata, opsets = expected_summary(model)
    assert summary.operators == operators
    assert ("com.microsoft", "Gelu") in summary.operators and ("", "Add") in summary.operators  # branch and function body
    assert summary.metadata == metadata == {"k": "välue ✓"} and summary.opsets == opsets


def test_wire_reader_finds_every_external_tensor(tmp_path):
    model = tiny_model_proto()
    convert_model_to_external_data(model, all_tensors_to_one_file=False, size_threshold=0)
    onnx.save_model(model, str(tmp_path / "m.onnx"))
    reread = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
    summary = read_model((tmp_path / "m.onnx").read_bytes())
    assert summary.external_data == expected_summary(reread)[1] and len(summary.external_data) == 4


@pytest.mark.parametrize("keep", [1, 3, 17, 100, -1])
def test_wire_reader_refuses_truncated_messages(keep):
    """Cutting the file anywhere leaves a field that claims bytes which are not there."""
    data = tiny_model_proto().SerializeToString()
    with pytest.raises(WireError):
        read_model(data[:keep])


def test_wire_reader_refuses_bad_wire_types_and_endless_varints():
    for data in [b"\x0b\x00", b"\x08" + b"\xff" * 11, b"\x00\x01", b"\x3a\x05ab"]:
        with pytest.raises(WireError):
            read_model(data)


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (written by hand: the protobuf library refuses deep nesting)."""
    length, size = b"", len(payload)
    while True:
        length += bytes([(size & 0x7F) | (0x80 if size > 0x7F else 0)])
        size >>= 7
        if not size:
            break
    return bytes([number << 3 | 2]) + length + payload


def test_wire_reader_refuses_deep_nesting():
    graph = _field(1, _field(4, b"Identity"))  # GraphProto.node → NodeProto.op_type
    for _ in range(MAX_NESTING + 1):  # NodeProto.attribute → AttributeProto.g → GraphProto.node
        graph = _field(1, _field(4, b"If") + _field(5, _field(6, graph)))
    read_model(b"\x08\x08" + _field(7, _field(1, _field(4, b"If") + _field(5, _field(6, _field(1, b"")))) ))  # shallow: fine
    with pytest.raises(WireError, match="nested"):
        read_model(b"\x08\x08" + _field(7, graph))


# ---------------------------------------------------------------- hostile files, one by one


@dataclass(frozen=True)
class ModelCase:
    """A model file a user might be handed, and what edgefuse does with it."""

    name: str
    make: Callable[[Path], Path]
    error: type[EdgefuseError] | None
    message: str
    """Substring of the one-line error (or, for None, what works)."""


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _tiny_bytes() -> bytes:
    return tiny_model_proto().SerializeToString()


def _corrupt(tmp: Path) -> Path:
    data = bytearray(_tiny_bytes())
    rng = np.random.default_rng(3)
    for i in rng.integers(0, len(data), 40):
        data[i] ^= 0xFF
    return _write(tmp / "corrupt.onnx", bytes(data))


def _with_op(tmp: Path, name: str, node, opset: str) -> Path:
    graph = tiny_graph(extra_nodes=[node])
    graph.output.append(helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(opset, 1)])
    model.ir_version = 8
    model.metadata_props.add(key="edgefuse.contract", value=tiny_contract().to_json())
    return _write(tmp / name, model.SerializeToString())


def _nested_custom_op(tmp: Path) -> Path:
    branch = helper.make_graph([helper.make_node("Evil", ["logits"], ["e"], domain="attacker.ops")], "b", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    node = helper.make_node("If", ["cond"], ["hidden"], then_branch=branch, else_branch=branch)
    return _with_op(tmp, "nested.onnx", node, "attacker.ops")


def _external(tmp: Path, location: str = "weights.bin", link: str | None = None) -> Path:
    """The tiny model with its weights in `location`; `link` makes that path a symlink to a real file."""
    folder = tmp / "model"
    folder.mkdir(exist_ok=True)
    model = tiny_model_proto()
    # Small tensors stay inline: onnxruntime needs constant shapes/axes while it loads the graph.
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=64)
    onnx.save_model(model, str(folder / "m.onnx"))
    if location != "weights.bin" or link:
        real = folder / "weights.bin"
        target = {"outside": tmp / "weights.bin", "dir": tmp / "elsewhere" / "weights.bin"}.get(link or "", real)
        if target != real:
            target.parent.mkdir(exist_ok=True)
            os.replace(real, target)
        if link == "file":
            os.replace(real, folder / "real.bin")
            os.symlink(folder / "real.bin", folder / location)
        elif link == "dir":
            os.symlink(target.parent, folder / Path(location).parent)
        for t in model.graph.initializer:
            for e in t.external_data:
                if e.key == "location":
                    e.value = location if location != "ABS" else str(target)
        onnx.save_model(model, str(folder / "m.onnx"))
    return folder / "m.onnx"


def _missing_external(tmp: Path) -> Path:
    path = _external(tmp)
    (path.parent / "weights.bin").unlink()
    return path


MODEL_CASES = [
    ModelCase("missing file", lambda t: t / "nope.onnx", ModelFileError, "model file not found"),
    ModelCase("zero bytes", lambda t: _write(t / "empty.onnx", b""), ModelFileError, "is empty (0 bytes)"),
    ModelCase("truncated (first half)", lambda t: _write(t / "half.onnx", _tiny_bytes()[: len(_tiny_bytes()) // 2]), ModelFileError, "not a valid ONNX file"),
    ModelCase("40 flipped bytes", _corrupt, ModelFileError, ""),
    ModelCase("random bytes", lambda t: _write(t / "random.onnx", np.random.default_rng(0).bytes(4096)), ModelFileError, ""),
    ModelCase("a text file", lambda t: _write(t / "text.onnx", b"hello, I am not a model\n" * 20), ModelFileError, ""),
    ModelCase("valid ONNX without the edgefuse contract", lambda t: _write(t / "plain.onnx", tiny_model_proto(contract=False).SerializeToString()),
              ContractError, "has no edgefuse contract"),
    ModelCase("contract that is not JSON", lambda t: _plain_with_contract(t, "{not json"), ContractError, "not valid JSON"),
    ModelCase("contract from a future schema", lambda t: _plain_with_contract(t, tiny_contract().to_json().replace(f'"{SCHEMA_VERSION}"', '"9.0"')),
              ContractError, "unsupported edgefuse contract schema_version"),
    ModelCase("custom-domain operator", lambda t: _with_op(t, "custom.onnx", helper.make_node("Evil", ["logits"], ["e"], domain="attacker.ops"), "attacker.ops"),
              ModelFileError, "Evil (attacker.ops)"),
    ModelCase("custom operator hidden in an If branch", _nested_custom_op, ModelFileError, "Evil (attacker.ops)"),
    ModelCase("onnxruntime-internal domain com.microsoft.nchwc", lambda t: _with_op(t, "nchwc.onnx", helper.make_node("ReorderInput", ["image"], ["r"], domain="com.microsoft.nchwc"), "com.microsoft.nchwc"),
              ModelFileError, "outside the allowed domains"),
    ModelCase("com.microsoft contrib operator (allowed)", lambda t: _with_op(t, "ms.onnx", helper.make_node("Gelu", ["logits"], ["g"], domain="com.microsoft"), "com.microsoft"),
              None, "loads and predicts"),
    ModelCase("external data beside the model (allowed)", _external, None, "loads and predicts"),
    ModelCase("external data path with ..", lambda t: _external(t, "../weights.bin", link="outside"), ModelFileError, "outside its folder"),
    ModelCase("external data absolute path", lambda t: _external(t, "ABS", link="outside"), ModelFileError, "outside its folder"),
    ModelCase("external data file is a symlink", lambda t: _external(t, "linked.bin", link="file"), ModelFileError, "symbolic link"),
    ModelCase("external data through a symlinked folder", lambda t: _external(t, "sub/weights.bin", link="dir"), ModelFileError, "symbolic link"),
    ModelCase("external data file missing", _missing_external, ModelFileError, "which is missing"),
]


def _plain_with_contract(tmp: Path, text: str) -> Path:
    model = tiny_model_proto(contract=False)
    model.metadata_props.add(key="edgefuse.contract", value=text)
    return _write(tmp / "badcontract.onnx", model.SerializeToString())


@pytest.mark.parametrize("case", MODEL_CASES, ids=[c.name for c in MODEL_CASES])
def test_model_file_case(case: ModelCase, tmp_path):
    path = case.make(tmp_path)
    if case.error is None:
        p = Predictor.from_file(path).predict(text="one", image=np.zeros((8, 8, 3), np.uint8))
        assert p.label in ("cat", "dog", "bird") and abs(sum(p.probs.values()) - 1) < 1e-5
        return
    with pytest.raises(case.error) as err:
        Predictor.from_file(path)
    message = str(err.value)
    assert case.message in message and "\n" not in message, message


def test_every_hostile_file_is_refused_before_onnxruntime_parses_it(tmp_path):
    """Refusals of domains and external data come from our checks, not from onnxruntime."""
    for case in MODEL_CASES:
        if case.error is ModelFileError and case.message in ("Evil (attacker.ops)", "outside its folder", "symbolic link"):
            folder = tmp_path / case.name.replace(" ", "_")
            folder.mkdir()
            with pytest.raises(ModelFileError) as err:
                Predictor.from_file(case.make(folder))
            assert "ONNXRuntimeError" not in str(err.value)


def test_allowed_domains_are_the_documented_ones():
    assert set(ALLOWED_DOMAINS) == {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}
    doc = (Path(__file__).resolve().parents[1] / "docs" / "robustness.md").read_text()
    for domain in ALLOWED_DOMAINS:
        assert f"`{domain!r}`" in doc or (domain == "" and "`''`" in doc)


# ---------------------------------------------------------------- integrity pin


def test_sha256_pin_accepts_the_right_digest_and_refuses_others(tmp_path):
    path = write_tiny_model(tmp_path / "m.onnx")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_contract(path, sha256=digest).labels == ("cat", "dog", "bird")
    assert Predictor.from_file(path, sha256="sha256:" + digest.upper()).labels == ("cat", "dog", "bird")
    with pytest.raises(ModelFileError, match="not the pinned"):
        Predictor.from_file(path, sha256="0" * 64)
    with pytest.raises(ModelFileError, match="not a SHA-256 digest"):
        load_contract(path, sha256="abc")
    path.write_bytes(path.read_bytes().replace(b"cat", b"cow"))  # same size, one label changed
    with pytest.raises(ModelFileError, match="file was changed or replaced"):
        load_contract(path, sha256=digest)


def test_pinned_model_with_external_data_is_refused(tmp_path):
    path = _external(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ModelFileError, match="pin does not cover"):
        Predictor.from_file(path, sha256=digest)


def test_cli_sha256_option(tmp_path):
    path = write_tiny_model(tmp_path / "m.onnx")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    run = lambda *a: subprocess.run([sys.executable, "-m", "edgefuse", *map(str, a)], capture_output=True, text=True, timeout=120)
    good = run("inspect", path, "--sha256", digest)
    assert good.returncode == 0, good.stderr
    for args in [("inspect", path, "--sha256", "f" * 64), ("predict", path, "--text", "one", "--sha256", "f" * 64)]:
        bad = run(*args)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not the pinned" in bad.stderr, bad.stderr


@pytest.mark.slow  # one CLI process per case
def test_every_bad_model_fails_in_the_cli_with_one_line(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for i, case in enumerate(MODEL_CASES):
        (tmp_path / str(i)).mkdir()
        paths.append((case, case.make(tmp_path / str(i))))
    run = lambda p: subprocess.run([sys.executable, "-m", "edgefuse", "predict", str(p), "--text", "one"],
                                   capture_output=True, text=True, timeout=120)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda cp: run(cp[1]), paths))
    for (case, _), out in zip(paths, results):
        if case.error is None:
            assert out.returncode == 0 and json.loads(out.stdout)["label"], (case.name, out.stderr)
        else:
            assert out.returncode == 2 and out.stdout == "", (case.name, out.stdout, out.stderr)
            assert out.stderr.count("\n") == 1 and out.stderr.startswith("edgefuse: error: "), (case.name, out.stderr)
