"""One Predictor shared by 8 threads gives exactly the results of serial calls."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from _tiny_models import write_tiny_model
from edgefuse.runtime import Predictor, read_dataset
from edgefuse.runtime.windows import predict_windows

THREADS = 8


def make_examples(tmp_path) -> list[dict]:
    """Files and arrays of every modality, some absent, some unusual (grayscale, 8 kHz stereo)."""
    rng = np.random.default_rng(5)
    examples = []
    for i in range(12):
        image = (rng.random((20 + i, 16, 3)) * 255).astype(np.uint8)
        audio = (0.3 * np.sin(np.arange(1200 + 100 * i) / (3 + i))).astype(np.float32)
        if i % 3 == 0:
            Image.fromarray(image[..., 0]).save(tmp_path / f"{i}.png")
            sf.write(tmp_path / f"{i}.wav", np.stack([audio, -audio], axis=1), 8000)
            examples.append({"image": tmp_path / f"{i}.png", "audio": tmp_path / f"{i}.wav", "text": f"one {i} 猫"})
        else:
            examples.append({"image": image if i % 2 else None, "audio": audio, "text": ["", "two", "seven 🐦"][i % 3]})
    return examples


def run_shared(predictor: Predictor, examples: list[dict], rounds: int = 4) -> list[list[np.ndarray]]:
    """Each thread predicts every example `rounds` times in its own order; results are put back in order."""
    results: list[list[np.ndarray]] = [[] for _ in examples]
    lock, start, errors = threading.Lock(), threading.Barrier(THREADS), []

    def work(seed: int) -> None:
        order = np.random.default_rng(seed).permutation(np.tile(np.arange(len(examples)), rounds))
        start.wait()  # all threads call into the one session at the same time
        try:
            for i in order:
                probs = np.array(list(predictor.predict(**examples[i]).probs.values()))
                with lock:
                    results[i].append(probs)
        except Exception as e:  # reported below; a thread's exception would otherwise vanish
            errors.append(e)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def assert_identical_to_serial(predictor: Predictor, examples: list[dict]) -> None:
    serial = [np.array(list(predictor.predict(**e).probs.values())) for e in examples]
    shared = run_shared(predictor, examples)
    for i, (want, got) in enumerate(zip(serial, shared)):
        assert len(got) == THREADS * 4
        for probs in got:
            np.testing.assert_array_equal(probs, want, err_msg=f"example {i}")


def test_shared_predictor_matches_serial_calls(tmp_path):
    predictor = Predictor.from_file(write_tiny_model(tmp_path / "tiny.onnx"), threads=2)
    assert_identical_to_serial(predictor, make_examples(tmp_path))


def test_windowed_prediction_is_thread_safe_too(tmp_path):
    predictor = Predictor.from_file(write_tiny_model(tmp_path / "tiny.onnx"))
    sf.write(tmp_path / "long.wav", (0.3 * np.sin(np.arange(30000) / 7)).astype(np.float32), 22050)
    want = predict_windows(predictor, tmp_path / "long.wav").prediction.probs
    got, errors = [], []

    def work():
        try:
            got.append(predict_windows(predictor, tmp_path / "long.wav").prediction.probs)
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and got == [want] * THREADS


@pytest.mark.slow
def test_shared_trained_model_matches_serial_calls(exported, demo_data):
    """The same on the real trained and exported demo model (convolutions, attention, in-graph log-mel)."""
    predictor = Predictor.from_file(exported.path)
    rows = read_dataset(demo_data)["test"][:12]
    examples = [{"image": r.image, "audio": r.audio, "text": r.text if i % 2 else None} for i, r in enumerate(rows)]
    assert_identical_to_serial(predictor, examples)
