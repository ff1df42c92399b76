import json

import onnx
import pytest
from onnx import TensorProto, helper

from edgefuse.runtime import CONTRACT_KEY, AudioSpec, ImageSpec, ModelContract, TextSpec, load_contract
from edgefuse.runtime.errors import ContractError


def make_contract(**changes) -> ModelContract:
    contract = ModelContract(
        labels=("cat", "dog"),
        image=ImageSpec(height=24, width=32, color_order="BGR"),
        audio=AudioSpec(sample_rate=8000, window_samples=4000),
        text=TextSpec(tokenizer='{"fake": "tokenizer json"}', max_length=7),
        metrics={"val_accuracy": 0.5},
        provenance={"data_sha256": "abc"},
    )
    return contract.replace(**changes)


def write_identity_model(path, metadata: dict[str, str] | None = None) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)


def test_round_trip_through_json():
    contract = make_contract()
    again = ModelContract.from_json(contract.to_json())
    assert again == contract
    assert again.modalities == ("image", "audio", "text")
    assert again.image.channels == 3 and again.audio.window_seconds == 0.5


def test_round_trip_through_model_file(tmp_path):
    contract = make_contract(audio=None)
    write_identity_model(tmp_path / "m.onnx", {CONTRACT_KEY: contract.to_json(), "other": "kept"})
    assert load_contract(tmp_path / "m.onnx") == contract


def test_contract_is_frozen():
    with pytest.raises(AttributeError):
        make_contract().labels = ("x",)


@pytest.mark.parametrize("version", ["2.0", "0.9", "", None])
def test_unknown_or_missing_major_version_fails_in_one_line(version):
    d = make_contract().to_dict()
    if version is None:
        del d["schema_version"]
    else:
        d["schema_version"] = version
    with pytest.raises(ContractError, match="schema_version") as err:
        ModelContract.from_dict(d)
    assert "\n" not in str(err.value)


def test_newer_minor_version_is_read():
    d = make_contract().to_dict()
    d["schema_version"] = "1.7"
    d["audio"]["a_field_from_1_7"] = 3  # newer minor versions only add fields
    assert ModelContract.from_dict(d) == make_contract().replace(schema_version="1.7")


def test_schema_1_0_audio_bands_reach_nyquist():
    d = make_contract().to_dict()
    d["schema_version"] = "1.0"
    del d["audio"]["f_min"], d["audio"]["f_max"]
    audio = ModelContract.from_dict(d).audio
    assert (audio.f_min, audio.f_max) == (20.0, 4000.0)  # 8 kHz audio: Nyquist, which is also today's default
    d["audio"]["sample_rate"], d["audio"]["window_samples"] = 44100, 44100
    assert ModelContract.from_dict(d).audio.f_max == 22050.0


def test_model_without_contract_fails_clearly(tmp_path):
    write_identity_model(tmp_path / "plain.onnx")
    with pytest.raises(ContractError, match="no edgefuse contract"):
        load_contract(tmp_path / "plain.onnx")


@pytest.mark.parametrize("text", ["not json", "[1, 2]", json.dumps({"schema_version": "1.0"})])
def test_malformed_contract_fails_clearly(text):
    with pytest.raises(ContractError):
        ModelContract.from_json(text)


def test_invalid_values_are_refused():
    with pytest.raises(ContractError, match="color_order"):
        ImageSpec(color_order="CMYK")
    with pytest.raises(ContractError, match="at least 2 labels"):
        make_contract(labels=("only",))
    with pytest.raises(ContractError, match="unique"):
        make_contract(labels=("a", "a"))
    with pytest.raises(ContractError, match="must be >= 320 to hold one frontend frame"):
        AudioSpec(window_samples=300)  # one 256-sample frame, but the frontend cuts whole 320-sample hops
    with pytest.raises(ContractError, match="must be positive"):
        AudioSpec(hop_length=0)
    with pytest.raises(ContractError, match="f_max <= sample_rate / 2"):
        AudioSpec(sample_rate=6000, window_samples=6000)  # the default 4 kHz top band edge is above Nyquist
