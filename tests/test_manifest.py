import json

import numpy as np
import pytest
from PIL import Image

from edgefuse.runtime import read_dataset
from edgefuse.runtime.errors import ManifestError


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


@pytest.fixture
def folder(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    write_jsonl(tmp_path / "train.jsonl", [{"label": "x", "text": "hi", "image": "a.png"}, {"label": "y", "text": "yo"}])
    write_jsonl(tmp_path / "val.jsonl", [{"label": "x", "text": "hey"}])
    write_jsonl(tmp_path / "test.jsonl", [{"label": "y", "image": "a.png"}])
    return tmp_path


def test_numeric_labels_become_strings(folder):
    write_jsonl(folder / "val.jsonl", [{"label": 7, "text": "seven"}])
    write_jsonl(folder / "train.jsonl", [{"label": "7", "text": "7"}, {"label": "y", "text": "yo"}])
    assert read_dataset(folder)["val"][0].label == "7"


def test_valid_folder_reads(folder):
    data = read_dataset(folder)
    assert data.labels == ("x", "y")
    assert data.modalities == ("image", "text")
    assert data["train"][0].image == (folder / "a.png").resolve()
    assert data["train"][1].present() == ("text",)


def test_every_bad_row_is_reported_at_once(folder):
    write_jsonl(
        folder / "train.jsonl",
        [
            {"label": "x", "text": "ok"},
            "{not json",
            {"text": "no label"},
            {"label": "x", "image": "missing.png"},
            {"label": "x", "audio": "../outside.wav"},
            {"label": "x"},
            {"label": "x", "text": "ok"},
            [1, 2],
        ],
    )
    with pytest.raises(ManifestError) as err:
        read_dataset(folder)
    message = str(err.value)
    for expected in [
        "train.jsonl:2: not valid JSON",
        "train.jsonl:3: label: missing",
        "train.jsonl:4: image: file not found 'missing.png'",
        "train.jsonl:5: audio: '../outside.wav' leaves the data set folder",
        "train.jsonl:6: no text, image or audio",
        "train.jsonl:7: duplicate of train.jsonl:1",
        "train.jsonl:8: a row must be a JSON object",
        "test.jsonl:1: label: 'y' does not occur in train",
    ]:
        assert expected in message, expected
    assert message.startswith("8 problem(s)")


def test_csv_manifests_are_accepted(folder):
    (folder / "train.jsonl").unlink()
    (folder / "train.csv").write_text("label,text,image\nx,hello,a.png\ny,,a.png\n")
    data = read_dataset(folder)
    assert [r.text for r in data["train"]] == ["hello", None]


def test_missing_split_and_folder_are_named(tmp_path, folder):
    (folder / "val.jsonl").unlink()
    with pytest.raises(ManifestError, match="no val.jsonl or val.csv"):
        read_dataset(folder)
    with pytest.raises(ManifestError, match="not found"):
        read_dataset(tmp_path / "nope")


def test_only_requested_splits_are_read(folder):
    (folder / "train.jsonl").write_text("garbage\n")
    assert len(read_dataset(folder, splits=("test",))["test"]) == 1
