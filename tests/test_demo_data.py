"""The demo data builder: format, determinism, and splits that keep test sources unseen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from edgefuse.runtime.errors import EdgefuseError
from edgefuse.train.demo import build_demo
from edgefuse.train.demo import phrases

SPLITS = ("train", "val", "test")
TINY_ROWS = {"train": 400, "val": 100, "test": 100}


def _rows(root: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (root / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo") / "digits3", seed=0, size="tiny", progress=False)


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tiny, tmp_path):
    again = build_demo(tmp_path / "again", seed=0, size="tiny", progress=False)
    other = build_demo(tmp_path / "other", seed=1, size="tiny", progress=False)
    for split in SPLITS:
        assert (again / f"{split}.jsonl").read_bytes() == (tiny / f"{split}.jsonl").read_bytes()
        assert (other / f"{split}.jsonl").read_bytes() != (tiny / f"{split}.jsonl").read_bytes()
    for row in _rows(tiny, "train")[:5] + _rows(tiny, "test")[-5:]:
        for key in ("image", "audio"):
            assert (again / row[key]).read_bytes() == (tiny / row[key]).read_bytes()
    first = _rows(tiny, "train")[0]
    assert (other / first["audio"]).read_bytes() != (tiny / first["audio"]).read_bytes()


def test_row_counts_labels_and_paths(tiny):
    for split in SPLITS:
        rows = _rows(tiny, split)
        assert len(rows) == TINY_ROWS[split]
        assert {r["label"] for r in rows} == {str(d) for d in range(10)}
        for r in rows:
            assert set(r) <= {"label", "text", "image", "audio", "voice", "destroyed"}
            assert (tiny / r["image"]).is_file() and (tiny / r["audio"]).is_file()
            assert not Path(r["image"]).is_absolute() and not Path(r["audio"]).is_absolute()
    assert (tiny / "README.md").is_file()


def test_files_have_the_promised_formats(tiny):
    for r in _rows(tiny, "val")[:20]:
        with Image.open(tiny / r["image"]) as img:
            assert img.format == "PNG" and img.size == (32, 32) and img.mode == "L"
        info = sf.info(tiny / r["audio"])
        assert (info.format, info.subtype) == ("WAV", "PCM_16")
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)


def test_some_rows_lack_text_and_text_is_never_empty(tiny):
    rows = [r for split in SPLITS for r in _rows(tiny, split)]
    missing = sum("text" not in r for r in rows)
    assert 0.03 * len(rows) < missing < 0.3 * len(rows)
    assert all(r["text"].strip() for r in rows if "text" in r)


def test_each_modality_is_destroyed_in_a_minority_of_rows(tiny):
    rows = _rows(tiny, "train")
    for m in ("image", "audio", "text"):
        share = np.mean([m in r["destroyed"] for r in rows])
        assert 0.15 < share < 0.35, (m, share)
    assert np.mean([len(r["destroyed"]) == 3 for r in rows]) < 0.02


def test_test_and_val_voices_are_unseen_in_training(tiny):
    voices = {split: {r["voice"] for r in _rows(tiny, split)} for split in SPLITS}
    assert voices["test"] and voices["val"]
    assert not voices["test"] & voices["train"]
    assert not voices["val"] & voices["train"]
    assert not voices["test"] & voices["val"]
    # A voice is accent+variant; the variant (timbre) must be unseen too, not only the pairing.
    variant = {split: {v.split("+", 1)[1] for v in vs} for split, vs in voices.items()}
    assert not variant["test"] & variant["train"]


def test_text_never_names_a_digit_it_should_not():
    rng = np.random.default_rng(0)
    for word in (*phrases.FILLERS, *phrases.NO_DIGIT_PHRASES, *(t.replace("{d}", "") for t in phrases.TEMPLATES)):
        assert not phrases.contains_digit_word(word), word
    for _ in range(300):
        text = phrases.destroyed_text(rng)
        assert text is None or not phrases.contains_digit_word(text)
    for digit in [d for d in range(10) for _ in range(30)]:
        tokens = [t.strip("?.!").lower() for t in phrases.informative_text(digit, rng).split()]
        # The digit is there as a numeral or as its word with at most one typo, and no other digit is.
        assert any(t == str(digit) or _edit_distance(t, phrases.DIGIT_WORDS[digit]) <= 1 for t in tokens), tokens
        others = {str(d) for d in range(10) if d != digit} | set(phrases.DIGIT_WORDS) - {phrases.DIGIT_WORDS[digit]}
        assert not others & set(tokens), tokens


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance counting an adjacent swap as one edit (what `phrases.typo` makes)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


@pytest.mark.parametrize("kwargs", [{"size": "huge"}, {"seed": -1}, {"seed": "0"}])
def test_bad_arguments_raise_a_clear_error(tmp_path, kwargs):
    with pytest.raises(EdgefuseError, match="size|seed"):
        build_demo(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()
