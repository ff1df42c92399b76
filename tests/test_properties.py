"""Property-based tests (hypothesis) for preprocessing and manifest parsing.

Each property is something a device relies on for *any* input: shapes, dtypes and ranges hold,
nothing but a documented EdgefuseError escapes, and the data a user wrote is what is read back.
Runs are derandomized so CI sees the same examples every time.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from _tiny_models import tiny_contract
from edgefuse.runtime import ImageSpec, read_dataset
from edgefuse.runtime.errors import InputError, ManifestError
from edgefuse.runtime.preprocess import fit_window
from edgefuse.runtime.preprocess.audio import MAX_FLOAT_AMPLITUDE, to_mono_at_rate
from edgefuse.runtime.preprocess.image import image_to_tensor, resize
from edgefuse.runtime.preprocess.text import TextTokenizer, is_present

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

image_dtypes = st.sampled_from([np.uint8, np.uint16, np.float32, np.float64])
image_shapes = st.tuples(st.integers(1, 40), st.integers(1, 40)).flatmap(
    lambda hw: st.sampled_from([hw, (*hw, 1), (*hw, 2), (*hw, 3), (*hw, 4)]))
specs = st.builds(ImageSpec, height=st.integers(1, 24), width=st.integers(1, 24),
                  color_order=st.sampled_from(["RGB", "BGR", "GRAY"]), resize=st.sampled_from(["bilinear", "nearest"]))


@PROPERTY
@given(pixels=image_dtypes.flatmap(lambda dt: hnp.arrays(dt, image_shapes)), spec=specs)
def test_any_image_array_gives_a_unit_tensor_or_a_clear_error(pixels, spec):
    try:
        x = image_to_tensor(pixels, spec)
    except InputError as e:
        # Only non-finite floats are refused among these dtypes and shapes.
        assert np.issubdtype(pixels.dtype, np.floating) and not np.isfinite(pixels).all(), e
        return
    assert x.shape == (spec.channels, spec.height, spec.width) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= -1e-6 and x.max() <= 1 + 1e-6


@PROPERTY
@given(value=st.integers(0, 255), shape=image_shapes, spec=specs)
def test_a_flat_image_stays_flat(value, shape, spec):
    x = image_to_tensor(np.full(shape, value, np.uint8), spec)
    np.testing.assert_allclose(x, value / 255, atol=1e-5)


@PROPERTY
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(1, 30), st.integers(1, 30), st.just(1)),
                    elements=st.floats(0, 1, width=32)), size=st.tuples(st.integers(1, 30), st.integers(1, 30)))
def test_bilinear_resize_never_leaves_the_input_range(x, size):
    y = resize(x, *size)
    assert y.shape == (*size, 1)
    assert y.min() >= x.min() - 1e-5 and y.max() <= x.max() + 1e-5


audio_rates = st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000])


@PROPERTY
@given(samples=hnp.arrays(np.float32, st.tuples(st.integers(1, 3000), st.integers(1, 8)), elements=st.floats(-16, 16, width=32)),
       rate=audio_rates)
def test_any_finite_clip_resamples_to_a_finite_mono_clip(samples, rate):
    y = to_mono_at_rate(samples, rate, 16000)
    assert y.ndim == 1 and y.dtype == np.float32 and np.isfinite(y).all()
    assert abs(len(y) - len(samples) * 16000 / rate) <= 1
    if rate == 16000:
        np.testing.assert_allclose(y, samples.mean(axis=1), atol=1e-6)


@PROPERTY
@given(samples=hnp.arrays(st.sampled_from([np.int16, np.int32, np.uint8, np.float32, np.float64]), st.integers(1, 2000)))
def test_any_array_dtype_is_scaled_or_refused(samples):
    try:
        y = to_mono_at_rate(samples, 16000, 16000)
    except InputError as e:
        # Float samples must be finite and within +-MAX_FLOAT_AMPLITUDE; integer PCM is always accepted.
        assert np.issubdtype(samples.dtype, np.floating) and not (np.abs(samples) <= MAX_FLOAT_AMPLITUDE).all(), e
        return
    if np.issubdtype(samples.dtype, np.integer):
        assert np.abs(y).max() <= 1.0 + 1e-6  # PCM is scaled into -1..1


@PROPERTY
@given(x=hnp.arrays(np.float32, st.integers(0, 500), elements=st.floats(-1, 1, width=32)), n=st.integers(1, 400))
def test_fit_window_is_a_centred_crop_or_pad(x, n):
    y = fit_window(x, n)
    assert y.shape == (n,)
    if len(x) >= n:
        start = (len(x) - n) // 2
        np.testing.assert_array_equal(y, x[start : start + n])
    else:
        assert np.count_nonzero(y) == np.count_nonzero(x)
        np.testing.assert_allclose(y.sum(dtype=np.float64), x.sum(dtype=np.float64), atol=1e-3)


@pytest.fixture(scope="module")
def tokenizer():
    return TextTokenizer(tiny_contract().text)


@PROPERTY
@given(texts=st.lists(st.one_of(st.none(), st.text(max_size=300), st.text(alphabet=st.characters(codec=None), max_size=50)), min_size=1, max_size=6))
def test_any_unicode_text_tokenizes_within_the_contract_length(tokenizer, texts):
    ids, mask, present = tokenizer.encode(texts)
    assert ids.shape == mask.shape and ids.shape[0] == len(texts) and 1 <= ids.shape[1] <= tokenizer.spec.max_length
    for i, text in enumerate(texts):
        assert present[i] <= float(is_present(text))  # blank or None is never present
        assert (mask[i].sum() > 0) == bool(present[i])


# ---------------------------------------------------------------- manifests

labels = st.one_of(st.text(min_size=1, max_size=12), st.integers(-5, 50))
paths = st.sampled_from(["a.png", "sub/b.wav", "missing.png", "../up.png", "/abs.png", ""])
json_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
rows = st.one_of(
    st.fixed_dictionaries({"label": labels}, optional={"text": st.one_of(st.text(max_size=40), json_values), "image": paths, "audio": paths}),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    json_values,
    st.lists(json_values, max_size=3),
)


def _folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    (root / "sub").mkdir()
    (root / "a.png").write_bytes(b"png")
    (root / "sub" / "b.wav").write_bytes(b"wav")
    return root


@PROPERTY
@given(train=st.lists(rows, max_size=8), test=st.lists(rows, max_size=4), garbage=st.lists(st.text(max_size=30), max_size=2))
def test_any_jsonl_manifest_reads_or_raises_one_manifest_error(tmp_path_factory, train, test, garbage):
    root = _folder(tmp_path_factory)
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train) + "".join(g.replace("\n", " ") + "\n" for g in garbage))
    (root / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    try:
        data = read_dataset(root)
    except ManifestError as e:
        assert str(e).splitlines()[0].endswith(f"problem(s) in data set {root}:")
        return
    for row in (r for split in data.splits.values() for r in split):
        assert row.label.strip() == row.label and row.label
        for path in (row.image, row.audio):
            assert path is None or (path.is_file() and path.resolve().is_relative_to(root.resolve()))


valid_rows = st.lists(
    st.tuples(st.sampled_from(["x", "y", "zebra", "7"]), st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
              .filter(lambda t: t.strip()), st.sampled_from([None, "a.png", "sub/b.wav"])),
    min_size=1, max_size=10, unique_by=lambda r: r)


@PROPERTY
@given(train=valid_rows)
def test_valid_csv_rows_are_read_back_as_written(tmp_path_factory, train):
    root = _folder(tmp_path_factory)
    with open(root / "train.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "text", "image"])
        writer.writerows([label, text, image or ""] for label, text, image in train)
    (root / "val.jsonl").write_text(json.dumps({"label": train[0][0], "text": "v"}) + "\n")
    (root / "test.jsonl").write_text(json.dumps({"label": train[0][0], "text": "t"}) + "\n")
    data = read_dataset(root)
    got = [(r.label, r.text, r.image and r.image.relative_to(root.resolve()).as_posix()) for r in data["train"]]
    assert got == [(label, text, image) for label, text, image in train]
