"""Sanity probe of a demo data set: how far does each modality get alone?

``python -m edgefuse.train.demo.probe DIR`` fits one simple scikit-learn classifier per
modality on DIR's train split and prints test accuracy: overall, on rows where the modality
is informative and where it is destroyed (the ``destroyed`` field), plus two fusion figures:
*late fusion* (sum of the probes' log-probabilities) and *oracle fusion* (a row counts as right
if any informative modality's probe is right). A CNN does better than these probes; they show
that no single modality suffices and that fusion has room to reach the target.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edgefuse.runtime.errors import EdgefuseError

MODALITIES = ("image", "audio", "text")
SAMPLE_RATE = 16_000
N_FFT, HOP, N_MELS = 400, 160, 32  # 25 ms windows every 10 ms, as speech front ends use


def read_split(root: Path, split: str) -> list[dict]:
    """Rows of ``root/<split>.jsonl`` as dicts."""
    path = root / f"{split}.jsonl"
    if not path.is_file():
        raise EdgefuseError(f"no {path.name} in {root}; build one with edgefuse.train.demo.build_demo")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular HTK-mel filters from 0 Hz to Nyquist."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    mel_points = np.linspace(0.0, hz_to_mel(rate / 2), n_mels + 2)
    hz_points = 700.0 * (10 ** (mel_points / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    lo, mid, hi = hz_points[:-2, None], hz_points[1:-1, None], hz_points[2:, None]
    fb = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    return fb.astype(np.float32)


def log_mel(x: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """(S,) float32 at 16 kHz -> (frames, N_MELS) natural-log mel power."""
    n = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n] * np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return np.log(power @ fb.T + 1e-6).astype(np.float32)


def audio_features(x: np.ndarray, fb: np.ndarray, window: int = 70) -> np.ndarray:
    """(S,) clip -> (10 * N_MELS,) log-mel of its loudest `window` frames, pooled to 10 steps.

    The word sits at a random offset, so a flattened spectrogram would mostly learn where it
    is; cropping the loudest 0.7 s aligns the word. Its mean is removed, so gain does not count.
    """
    m = log_mel(x, fb)
    energy = np.convolve(m.mean(1), np.ones(window) / window, mode="valid")
    start = int(energy.argmax())
    crop = m[start:start + window]
    return (crop - crop.mean()).reshape(10, window // 10, N_MELS).mean(1).ravel()


def features(root: Path, rows: list[dict], modality: str) -> np.ndarray | list[str]:
    """Design matrix of one modality: (N, 1024) pixels, (N, 320) audio features, or N strings."""
    if modality == "text":
        return [r.get("text", "") for r in rows]
    if modality == "image":
        from PIL import Image

        return np.stack([np.asarray(Image.open(root / r["image"]), np.float32).ravel() / 255 for r in rows])
    import soundfile as sf

    fb = mel_filterbank()
    return np.stack([audio_features(sf.read(root / r["audio"], dtype="float32")[0], fb) for r in rows])


def make_probe(modality: str):
    """A fresh scikit-learn pipeline for `modality`."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if modality == "text":
        return make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
                             LogisticRegression(C=10.0, max_iter=2000))
    # Small MLPs: unlike logistic regression they tolerate the pixel shifts and voice changes.
    # Early stopping on a 10% slice of train keeps each fit to seconds.
    if modality == "image":
        return MLPClassifier((256,), alpha=1e-2, early_stopping=True, max_iter=300, random_state=0)
    return make_pipeline(StandardScaler(), MLPClassifier((256,), alpha=1e-1, early_stopping=True,
                                                         max_iter=500, random_state=0))


def probe(root: str | Path) -> dict:
    """Fit the probes on train, score test; returns the figures `main` prints (fractions 0..1)."""
    from threadpoolctl import threadpool_limits

    root = Path(root)
    train, test = read_split(root, "train"), read_split(root, "test")
    # These matrices are small: BLAS threads cost more in contention than they give (measured
    # 5-10x slower log-mel and MLP fits with 2 threads on a busy 2-core machine).
    with threadpool_limits(limits=1):
        return _fit_and_score(root, train, test)


def _fit_and_score(root: Path, train: list[dict], test: list[dict]) -> dict:
    y_train = np.array([r["label"] for r in train])
    y_test = np.array([r["label"] for r in test])
    destroyed = {m: np.array([m in r.get("destroyed", []) for r in test]) for m in MODALITIES}
    report, log_probs, correct = {}, [], {}
    for m in MODALITIES:
        model = make_probe(m).fit(features(root, train, m), y_train)
        proba = model.predict_proba(features(root, test, m))
        assert list(model.classes_) == sorted(set(y_train))
        pred = model.classes_[proba.argmax(1)]
        correct[m] = pred == y_test
        log_probs.append(np.log(proba + 1e-9))
        report[m] = {"all": correct[m].mean(), "informative": correct[m][~destroyed[m]].mean(),
                     "destroyed": correct[m][destroyed[m]].mean() if destroyed[m].any() else float("nan")}
    late = model.classes_[np.sum(log_probs, axis=0).argmax(1)] == y_test
    oracle = np.any([correct[m] & ~destroyed[m] for m in MODALITIES], axis=0)
    report["late_fusion"] = late.mean()
    report["oracle_fusion"] = oracle.mean()
    report["all_destroyed"] = np.all([destroyed[m] for m in MODALITIES], axis=0).mean()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-modality probe accuracy of a demo data set.")
    parser.add_argument("dir", type=Path, help="data set folder with train.jsonl and test.jsonl")
    args = parser.parse_args(argv)
    try:
        report = probe(args.dir)
    except EdgefuseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{'modality':<10}{'test':>8}{'informative':>13}{'destroyed':>11}")
    for m in MODALITIES:
        r = report[m]
        print(f"{m:<10}{r['all']:>8.1%}{r['informative']:>13.1%}{r['destroyed']:>11.1%}")
    print(f"late fusion (sum of log-probs): {report['late_fusion']:.1%}")
    print(f"oracle fusion (any informative probe right): {report['oracle_fusion']:.1%}")
    print(f"rows with every modality destroyed: {report['all_destroyed']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
