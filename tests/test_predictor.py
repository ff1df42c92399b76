"""Predictor: batches, sharing between threads, intra-op threads, providers with CPU fallback, warm-up.

These are mechanics, not accuracy, so they run a small real ONNX model built in milliseconds
(tests/_tiny_models.py) through real onnxruntime sessions; its output depends on every input.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
import pytest

from _tiny_models import write_tiny_model
from edgefuse.runtime import EdgefuseError, Example, Predictor

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("predictor") / "tiny.onnx")


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    """24 varied examples: images and sounds present or not, random pixels and sound.

    Every example has the same text: the tiny graph, unlike a trained model, is not invariant to
    the token padding that a batch adds, so differing text lengths would differ by design."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(24):
        image = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8) if i % 3 != 0 else None
        audio = rng.standard_normal(1600 + 100 * i).astype(np.float32) * (0.05 + 0.05 * (i % 5)) if i % 4 != 1 else None
        out.append(Example(image=image, audio=audio, text="seven", sample_rate=16000))
    return out


def _probs(predictions) -> np.ndarray:
    return np.array([[p.probs[k] for k in sorted(p.probs)] for p in predictions])


def test_batches_of_any_size_match_one_by_one(model, examples):
    one = Predictor.from_file(model)
    one_by_one = [one.predict(text=e.text, image=e.image, audio=e.audio, sample_rate=16000) for e in examples]
    assert np.ptp(_probs(one_by_one), axis=0).max() > 1e-3  # the examples really give different answers
    for batch_size in (1, 5, 64):
        batched = Predictor.from_file(model, batch_size=batch_size).predict_batch(examples)
        assert [p.label for p in batched] == [p.label for p in one_by_one]
        assert [p.present for p in batched] == [e.present() for e in examples]
        np.testing.assert_allclose(_probs(batched), _probs(one_by_one), atol=1e-5)


def test_empty_batch_and_bad_batch_size_are_user_errors(model):
    with pytest.raises(EdgefuseError, match="no examples"):
        Predictor.from_file(model).predict_batch([])
    with pytest.raises(EdgefuseError, match="batch_size must be >= 1"):
        Predictor.from_file(model, batch_size=0)


def test_one_predictor_shared_by_threads_gives_the_serial_answers(model, examples):
    predictor = Predictor.from_file(model, threads=1)
    serial = _probs(predictor.predict_batch(examples))
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Single examples and whole batches interleaved, so threads run different shapes at once.
        singles = [pool.submit(predictor.predict_batch, [e]) for _ in range(4) for e in examples]
        batches = [pool.submit(predictor.predict_batch, examples) for _ in range(4)]
        threaded = _probs([f.result()[0] for f in singles])
        whole = [_probs(f.result()) for f in batches]
    np.testing.assert_allclose(threaded, np.tile(serial, (4, 1)), atol=1e-5)
    for probs in whole:
        np.testing.assert_allclose(probs, serial, atol=1e-5)


def test_intra_op_threads_are_applied(model):
    for threads in (1, 2):
        predictor = Predictor.from_file(model, threads=threads)
        assert predictor.session.get_session_options().intra_op_num_threads == threads


def test_missing_provider_falls_back_to_cpu(model):
    predictor = Predictor.from_file(model, providers=["cuda", "cpu"])
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert predictor.providers[0] == "CUDAExecutionProvider"
    else:
        assert predictor.providers == ["CPUExecutionProvider"]
        assert predictor.fallback and "CUDAExecutionProvider" in predictor.fallback[0]
    assert predictor.predict(text="seven").label in predictor.labels


def test_unknown_provider_is_a_user_error(model):
    with pytest.raises(EdgefuseError, match="unknown execution provider 'warp-drive'"):
        Predictor.from_file(model, providers=["warp-drive"])


def test_warm_up_on_load_does_not_change_answers(model, examples):
    warm = Predictor.from_file(model)
    cold = Predictor.from_file(model, warmup=False)
    assert warm.warmup_ms is not None and warm.warmup_ms > 0
    assert cold.warmup_ms is None
    np.testing.assert_allclose(_probs(warm.predict_batch(examples)), _probs(cold.predict_batch(examples)), atol=1e-6)
