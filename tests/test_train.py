"""Training: run folder, determinism, exact resume, early stopping, class weights, evaluation,
and a data set of only text + audio with its own labels."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgefuse.train.config import TrainConfig, load_config  # noqa: E402

TINY = {"dim": 32, "conv_widths": (8, 16), "text_layers": 1, "threads": 2}
"""A small architecture so the training tests stay fast on 2 cores."""


def _records(run):
    from edgefuse.train.run import read_log

    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_log(run)]


def test_balanced_class_weights_are_inverse_frequency_with_mean_one():
    from edgefuse.train.loop import class_weights

    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    weights = class_weights(labels, 4, "balanced")
    assert torch.allclose(weights[:3], torch.tensor([6 / 9, 6 / 3, 6 / 6]))  # n / (classes seen * count)
    assert weights[3] == 1.0  # a class absent from training keeps weight 1
    assert class_weights(labels, 4, "none") is None


def test_trained_run_folder_has_everything_to_rebuild_and_repeat_it(trained_run):
    from edgefuse.train import load_run
    from edgefuse.train.run import read_log, read_run_config

    document = read_run_config(trained_run)
    assert document["model"]["fusion"] == "concat"
    assert document["best"]["val_macro_f1"] == max(r["val_macro_f1"] for r in read_log(trained_run))
    assert load_config(trained_run / "train.toml") == TrainConfig.from_dict(document["train"])
    assert (trained_run / "resume.safetensors").is_file()
    model = load_run(trained_run)
    assert not model.training


@pytest.mark.slow
def test_same_seed_same_metrics_and_resume_loses_no_epoch(demo_data, tmp_path, monkeypatch):
    import edgefuse.train.loop as loop
    from edgefuse.train import fit, resume

    config = TrainConfig(epochs=3, seed=3, fusion="gated", **TINY)
    fit(demo_data, tmp_path / "a", config)
    fit(demo_data, tmp_path / "b", config)
    assert _records(tmp_path / "a") == _records(tmp_path / "b")  # same seed → same metrics on CPU

    real, calls = loop._one_epoch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed during the third epoch
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(demo_data, tmp_path / "c", config)
    monkeypatch.setattr(loop, "_one_epoch", real)
    assert len(_records(tmp_path / "c")) == 2
    resume(tmp_path / "c")
    assert _records(tmp_path / "c") == _records(tmp_path / "a")
    from safetensors.torch import load_file

    a, c = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "c" / "model.safetensors"))
    assert all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.slow
def test_early_stopping_on_validation_macro_f1(demo_data, tmp_path):
    from edgefuse.train import fit

    # With a learning rate of ~0 only BatchNorm statistics move, so macro-F1 soon stops improving.
    best = fit(demo_data, tmp_path / "run", TrainConfig(epochs=8, lr=1e-8, warmup_fraction=0.0, patience=1, **TINY))
    scores = [r["val_macro_f1"] for r in _records(tmp_path / "run")]
    assert len(scores) < 8, "patience 1 never stopped training"
    assert all(scores[i] > max(scores[:i], default=-1) for i in range(len(scores) - 1))  # improved until...
    assert scores[-1] <= max(scores[:-1])  # ...the one epoch without improvement, then stopped
    assert best["val_macro_f1"] == max(scores)


def test_resume_refuses_changes_to_the_model(trained_run):
    from edgefuse.train import resume
    from edgefuse.train.config import ConfigError

    with pytest.raises(ConfigError, match="only epochs, patience, threads, device may change, not dim, fusion"):
        resume(trained_run, changes={"fusion": "late", "dim": 64})


@pytest.mark.slow
def test_evaluate_a_run_and_its_onnx_file_the_same_way(trained_run, exported, demo_data, tmp_path, capsys):
    from edgefuse.cli import main

    main(["evaluate", str(trained_run), "--out", str(tmp_path / "run_eval"), "--json"])
    run_result = json.loads(capsys.readouterr().out)
    main(["evaluate", str(exported.path), "--data", str(demo_data), "--out", str(tmp_path / "onnx_eval"), "--json"])
    onnx_result = json.loads(capsys.readouterr().out)
    for result in (run_result, onnx_result):
        confusion = np.array(result["confusion"])
        assert confusion.sum() == result["rows"] and len(result["subsets"]) == 7
        assert np.trace(confusion) / confusion.sum() == pytest.approx(result["accuracy"])
        recall = {label: m["recall"] for label, m in result["per_class"].items()}
        assert recall == pytest.approx({label: confusion[i, i] / confusion[i].sum() for i, label in enumerate(result["labels"])})
    assert abs(run_result["accuracy"] - onnx_result["accuracy"]) <= 0.02  # same scoring code, float-level differences only
    assert sorted(p.name for p in (tmp_path / "run_eval").iterdir()) == ["confusion.png", "evaluation.json", "evaluation.md", "training_curves.png"]
    assert sorted(p.name for p in (tmp_path / "onnx_eval").iterdir()) == ["confusion.png", "evaluation.json", "evaluation.md"]
    assert (tmp_path / "run_eval" / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Confusion matrix" in (tmp_path / "run_eval" / "evaluation.md").read_text(encoding="utf-8")


def _text_audio_copy(demo_data, out):
    """The demo data set without its images, and with word labels: a user's text + audio data set."""
    shutil.copytree(demo_data / "audio", out / "audio")
    words = "zero one two three four five six seven eight nine".split()
    for split in ("train", "val", "test"):
        rows = [json.loads(line) for line in (demo_data / f"{split}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
        lines = []
        for row in rows:
            row.pop("image", None)
            row["label"] = words[int(row["label"])]
            if row.get("audio") or (row.get("text") or "").strip():
                lines.append(json.dumps(row))
        (out / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


@pytest.mark.slow
def test_a_text_and_audio_data_set_trains_exports_and_predicts(demo_data, tmp_path):
    from edgefuse.export import to_onnx
    from edgefuse.runtime import Predictor
    from edgefuse.runtime.errors import InputError
    from edgefuse.train import fit

    data = _text_audio_copy(demo_data, tmp_path / "data")
    fit(data, tmp_path / "run", TrainConfig(epochs=2, fusion="concat", **TINY))
    result = to_onnx(tmp_path / "run", tmp_path / "ta.onnx")
    predictor = Predictor.from_file(result.path)
    assert predictor.contract.modalities == ("audio", "text")
    assert "image" not in [i.name for i in predictor.session.get_inputs()]
    wav = next((data / "audio" / "test").iterdir())
    prediction = predictor.predict(text="seven", audio=str(wav))
    assert prediction.label in {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
    with pytest.raises(InputError, match="no input for image"):
        predictor.predict(image=np.zeros((8, 8, 3), np.uint8))
