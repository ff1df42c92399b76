"""The four fusion strategies: shapes, presence masks honoured, every subset finite, ONNX parity."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from edgefuse.train.fusion import FUSIONS  # noqa: E402
from edgefuse.train.model import FusedClassifier, ModelArgs  # noqa: E402

MODALITIES = ("image", "audio", "text")


def tiny_model(fusion: str, modalities=MODALITIES) -> FusedClassifier:
    torch.manual_seed(0)
    args = ModelArgs(num_classes=5, modalities=modalities, fusion=fusion, dim=16, conv_widths=(8, 16), text_vocab=300,
                     text_max_length=12, text_layers=1, heads=2, n_mels=16, dropout=0.0)
    return FusedClassifier(args).eval()


def feeds(batch: int, present: dict[str, list[float]], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(batch, 3, 16, 16, generator=g),
        "audio": torch.randn(batch, 4000, generator=g),
        "text_ids": torch.randint(2, 300, (batch, 12), generator=g),
        "text_mask": torch.ones(batch, 12, dtype=torch.int64),
        **{f"{m}_present": torch.tensor(present[m]) for m in MODALITIES},
    }


@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_absent_modalities_do_not_change_the_logits(fusion):
    """Rows whose presence is 0 for a modality give the same logits whatever that modality's data is."""
    model = tiny_model(fusion)
    present = {"image": [1.0, 0.0, 1.0, 0.0], "audio": [1.0, 1.0, 0.0, 0.0], "text": [0.0, 1.0, 1.0, 1.0]}
    base = feeds(4, present, seed=0)
    with torch.no_grad():
        logits = model(**base)
        for m in MODALITIES:
            names = ["text_ids"] if m == "text" else [m]
            changed = dict(base, **{n: feeds(4, present, seed=1)[n] for n in names})
            other = model(**changed)
            absent = torch.tensor(present[m]) == 0
            assert torch.allclose(logits[absent], other[absent], atol=1e-5), f"{fusion}: absent {m} leaked into the logits"
            assert not torch.allclose(logits[~absent], other[~absent], atol=1e-5), f"{fusion}: present {m} is ignored"
    assert logits.shape == (4, 5)


@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_every_subset_of_modalities_gives_finite_distinct_outputs(fusion):
    model = tiny_model(fusion)
    outputs = []
    with torch.no_grad():
        for n in range(1, 4):
            for subset in itertools.combinations(MODALITIES, n):
                present = {m: [1.0 if m in subset else 0.0] * 2 for m in MODALITIES}
                logits = model(**feeds(2, present))
                assert torch.isfinite(logits).all()
                outputs.append(logits)
    assert len({tuple(o.flatten().round(decimals=4).tolist()) for o in outputs}) == 7


@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_a_model_of_two_modalities_has_no_input_for_the_third(fusion):
    model = tiny_model(fusion, modalities=("audio", "text"))
    present = {"image": [0.0], "audio": [1.0], "text": [1.0]}
    inputs = {k: v for k, v in feeds(1, present).items() if not k.startswith("image")}
    with torch.no_grad():
        assert model(**inputs).shape == (1, 5)
    assert "image" not in model.encoders


def test_late_fusion_averages_the_heads_of_present_modalities():
    model = tiny_model("late")
    present = {"image": [1.0], "audio": [1.0], "text": [0.0]}
    with torch.no_grad():
        both = model(**feeds(1, present))
        only = [model(**feeds(1, {**present, **{o: [0.0]}})) for o in ("audio", "image")]  # image only, audio only
    assert torch.allclose(both, (only[0] + only[1]) / 2, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_every_fusion_exports_through_the_parity_gate(fusion, demo_data, tmp_path):
    """An (untrained) model of each strategy on the demo contract exports and matches onnxruntime."""
    from edgefuse.export import to_onnx
    from edgefuse.runtime import Predictor
    from edgefuse.runtime.manifest import read_dataset
    from edgefuse.train.config import TrainConfig
    from edgefuse.train.run import save_run
    from edgefuse.train.setup import make_contract, model_args

    config = TrainConfig(fusion=fusion, dim=32, conv_widths=(8, 16), text_layers=1)
    contract = make_contract(read_dataset(demo_data), config)
    torch.manual_seed(0)
    model = FusedClassifier(model_args(contract, config, text_vocab=config.vocab_size))
    save_run(tmp_path / "run", model, config, contract, {"data": {"path": str(demo_data)}})
    result = to_onnx(tmp_path / "run", tmp_path / f"{fusion}.onnx", data=demo_data)
    assert max(result.parity.values()) <= 1e-4
    predictor = Predictor.from_file(result.path)
    assert predictor.predict(text="seven").label in contract.labels


def test_block_is_standard_multi_head_attention():
    """Channel-mask heads (no reshapes in the graph) equal the usual split-into-heads attention."""
    import math

    from edgefuse.train.fusion import Block, attention_bias

    torch.manual_seed(0)
    block = Block(64, 4, dropout=0.0).eval()
    x = torch.randn(3, 7, 64)
    keep = torch.ones(3, 7)
    keep[1, 5:] = 0  # padding keys in one row
    bias = attention_bias(keep)
    q, k, v = block.qkv(block.ln1(x)).split(64, dim=2)
    q, k, v = (t.reshape(3, 7, 4, 16).transpose(1, 2) for t in (q, k, v))
    heads = ((q @ k.transpose(-2, -1)) / math.sqrt(16) + bias).softmax(dim=-1) @ v
    want = x + block.proj(heads.transpose(1, 2).reshape(3, 7, 64))
    want = want + block.mlp(block.ln2(want))
    torch.testing.assert_close(block(x, bias), want, atol=1e-5, rtol=1e-5)
