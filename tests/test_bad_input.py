"""Every bad or unusual input a device may meet: a documented exception, or a prediction.

`INPUT_CASES` and `MANIFEST_CASES` are the source of the table in docs/robustness.md; each case is
run through the Python API here and, when it is a file or a string, through the `edgefuse` CLI in a
subprocess (exit code 2 and one line on stderr, never a traceback).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from _tiny_models import write_tiny_model
from edgefuse.runtime import Predictor, read_dataset
from edgefuse.runtime.errors import EdgefuseError, InputError, ManifestError
from edgefuse.runtime.preprocess.image import MAX_PIXELS


@dataclass(frozen=True)
class InputCase:
    """One input given to `Predictor.predict(**kwargs)`, and what edgefuse does with it."""

    area: str
    name: str
    make: Callable[[Path], dict]
    """tmp folder → predict() keyword arguments (paths, arrays or strings)."""
    error: type[EdgefuseError] | None
    message: str
    """Substring of the one-line error; for error None, what the prediction shows."""


def _png(tmp: Path, name: str, pixels: np.ndarray, **save) -> dict:
    Image.fromarray(pixels).save(tmp / name, **save)
    return {"image": tmp / name}


def _bytes(tmp: Path, name: str, data: bytes, key: str) -> dict:
    (tmp / name).write_bytes(data)
    return {key: tmp / name}


def _valid_png_bytes() -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 48, 3)) * 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _png_bomb(tmp: Path, width: int, height: int) -> dict:
    """A 1x1 PNG whose IHDR claims width x height (valid CRC): the decoder would allocate it all."""
    data = bytearray(_png_header_only())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return _bytes(tmp, f"bomb{width}.png", bytes(data), "image")


def _png_header_only() -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _wav(tmp: Path, name: str, samples: np.ndarray, rate: int, **kw) -> dict:
    sf.write(tmp / name, samples, rate, **kw)
    return {"audio": tmp / name}


def _tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.4 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def _truncated_wav(tmp: Path) -> dict:
    _wav(tmp, "full.wav", _tone(1.0, 16000), 16000, subtype="PCM_16")
    data = (tmp / "full.wav").read_bytes()
    return _bytes(tmp, "cut.wav", data[: len(data) // 2], "audio")


def _truncated(tmp: Path, fmt: str) -> dict:
    _wav(tmp, f"full.{fmt}", _tone(1.0, 48000), 48000)
    data = (tmp / f"full.{fmt}").read_bytes()
    return _bytes(tmp, f"cut.{fmt}", data[: len(data) // 2], "audio")


def _unknown_codec(tmp: Path) -> dict:
    """A WAV whose fmt chunk names codec 0x1234, which no decoder implements."""
    _wav(tmp, "pcm.wav", _tone(0.5, 16000), 16000, subtype="PCM_16")
    data = bytearray((tmp / "pcm.wav").read_bytes())
    data[20:22] = struct.pack("<H", 0x1234)
    return _bytes(tmp, "codec.wav", bytes(data), "audio")


def _nan_wav(tmp: Path) -> dict:
    x = _tone(1.0, 16000)
    x[100], x[200] = np.nan, np.inf
    return _wav(tmp, "nan.wav", x, 16000, subtype="FLOAT")


def _image_cases() -> list[InputCase]:
    rng = np.random.default_rng(0)
    rgb = (rng.random((40, 30, 3)) * 255).astype(np.uint8)
    return [
        InputCase("image", "missing path", lambda t: {"image": t / "nope.png"}, InputError, "image file not found"),
        InputCase("image", "zero bytes", lambda t: _bytes(t, "empty.png", b"", "image"), InputError, "is empty (0 bytes)"),
        InputCase("image", "truncated PNG", lambda t: _bytes(t, "cut.png", _valid_png_bytes()[:400], "image"), InputError, "truncated or corrupted"),
        InputCase("image", "not an image (text)", lambda t: _bytes(t, "text.png", b"hello\n" * 50, "image"), InputError, "not an image in a supported format"),
        InputCase("image", "PostScript (would run Ghostscript)", lambda t: _bytes(t, "a.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n", "image"),
                  InputError, "not an image in a supported format"),
        InputCase("image", f"PNG header claiming 9000x8000 (> {MAX_PIXELS:,} px)", lambda t: _png_bomb(t, 9000, 8000), InputError, "declares 9000x8000 pixels"),
        InputCase("image", "PNG header claiming 100000x100000", lambda t: _png_bomb(t, 100000, 100000), InputError, "pixels"),
        InputCase("image", "NaN in an array", lambda t: {"image": np.full((4, 4, 3), np.nan, np.float32)}, InputError, "NaN or Inf"),
        InputCase("image", "array with 5 channels", lambda t: {"image": np.zeros((4, 4, 5), np.uint8)}, InputError, "expected (H, W)"),
        InputCase("image", "empty array", lambda t: {"image": np.zeros((0, 4, 3), np.uint8)}, InputError, "image is empty"),
        InputCase("image", "int64 array", lambda t: {"image": np.zeros((4, 4, 3), np.int64)}, InputError, "dtype int64 is not supported"),
        InputCase("image", "grayscale PNG", lambda t: _png(t, "gray.png", rgb[..., 0]), None, "prediction"),
        InputCase("image", "RGBA PNG", lambda t: _png(t, "rgba.png", np.dstack([rgb, rgb[..., :1]])), None, "prediction"),
        InputCase("image", "16-bit grayscale PNG", lambda t: _png(t, "g16.png", (rng.random((20, 20)) * 65535).astype(np.uint16)), None, "prediction"),
        InputCase("image", "1x1 PNG", lambda t: _png(t, "one.png", rgb[:1, :1]), None, "prediction"),
        InputCase("image", "palette PNG with transparency", lambda t: _png(t, "p.png", rgb[..., 0] // 64, transparency=0), None, "prediction"),
        InputCase("image", "CMYK JPEG", lambda t: {"image": _cmyk(t)}, None, "prediction"),
        InputCase("image", "very wide 4000x3 PNG", lambda t: _png(t, "wide.png", np.zeros((3, 4000, 3), np.uint8)), None, "prediction"),
    ]


def _cmyk(tmp: Path) -> Path:
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).convert("CMYK").save(tmp / "cmyk.jpg")
    return tmp / "cmyk.jpg"


def _audio_cases() -> list[InputCase]:
    cases = [
        InputCase("audio", "missing path", lambda t: {"audio": t / "nope.wav"}, InputError, "audio file not found"),
        InputCase("audio", "zero bytes", lambda t: _bytes(t, "empty.wav", b"", "audio"), InputError, "is empty (0 bytes)"),
        InputCase("audio", "WAV header without frames", lambda t: _wav(t, "noframes.wav", np.zeros(0, np.float32), 16000), InputError, "has a header but no samples"),
        InputCase("audio", "MP3 (not accepted)", lambda t: _bytes(t, "a.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(500), "audio"), InputError, "not audio in a supported format"),
        InputCase("audio", "random bytes", lambda t: _bytes(t, "noise.wav", np.random.default_rng(1).bytes(3000), "audio"), InputError, "not audio in a supported format"),
        InputCase("audio", "WAV magic then random bytes", lambda t: _bytes(t, "riff.wav", b"RIFF\x00\x10\x00\x00WAVE" + np.random.default_rng(1).bytes(3000), "audio"), InputError, "cannot decode audio"),
        InputCase("audio", "unsupported codec (WAV format 0x1234)", _unknown_codec, InputError, "unsupported codec"),
        InputCase("audio", "truncated FLAC", lambda t: _truncated(t, "flac"), InputError, "truncated or corrupted"),
        InputCase("audio", "truncated OGG", lambda t: _truncated(t, "ogg"), InputError, "cannot decode audio"),
        InputCase("audio", "NaN/Inf samples in a float WAV", _nan_wav, InputError, "NaN or Inf"),
        InputCase("audio", "NaN in an array", lambda t: {"audio": np.array([0.0, np.nan], np.float32)}, InputError, "NaN or Inf"),
        InputCase("audio", "3-D array", lambda t: {"audio": np.zeros((2, 2, 2), np.float32)}, InputError, "expected a non-empty"),
        InputCase("audio", "array at 500 Hz", lambda t: {"audio": np.zeros(100, np.float32), "sample_rate": 500}, InputError, "out of range"),
        InputCase("audio", "truncated WAV (half the data)", _truncated_wav, None, "prediction from the samples present"),
        InputCase("audio", "8-bit unsigned PCM", lambda t: _wav(t, "u8.wav", _tone(1.0, 8000), 8000, subtype="PCM_U8"), None, "prediction"),
        InputCase("audio", "24-bit PCM", lambda t: _wav(t, "s24.wav", _tone(1.0, 44100), 44100, subtype="PCM_24"), None, "prediction"),
        InputCase("audio", "32-bit float", lambda t: _wav(t, "f32.wav", _tone(1.0, 48000), 48000, subtype="FLOAT"), None, "prediction"),
        InputCase("audio", "64-bit float", lambda t: _wav(t, "f64.wav", _tone(1.0, 22050), 22050, subtype="DOUBLE"), None, "prediction"),
        InputCase("audio", "stereo FLAC", lambda t: _wav(t, "st.flac", _tone(1.0, 32000, 2), 32000), None, "prediction"),
        InputCase("audio", "6-channel WAV", lambda t: _wav(t, "six.wav", _tone(1.0, 48000, 6), 48000), None, "prediction"),
        InputCase("audio", "int16 array at 8 kHz", lambda t: {"audio": (_tone(1.0, 8000) * 30000).astype(np.int16), "sample_rate": 8000}, None, "prediction"),
        InputCase("audio", "file 3.5x the window (sliding windows in the CLI)", lambda t: _wav(t, "long.wav", _tone(0.35, 16000), 16000), None, "prediction"),
    ]
    cases += [
        InputCase("audio", f"{rate} Hz OGG" if rate == 44100 else f"{rate} Hz WAV", (lambda r: lambda t: _wav(t, f"r{r}.{'ogg' if r == 44100 else 'wav'}", _tone(1.0, r), r))(rate), None, "prediction")
        for rate in (8000, 11025, 16000, 44100, 96000)
    ]
    return cases


def _text_cases() -> list[InputCase]:
    return [
        InputCase("text", "bytes instead of str", lambda t: {"text": b"seven"}, InputError, "text must be a string"),
        InputCase("text", "empty string (modality absent)", lambda t: {"text": "", "image": np.zeros((4, 4), np.uint8)}, None, "prediction without text"),
        InputCase("text", "only whitespace (modality absent)", lambda t: {"text": " \t\n\u3000", "image": np.zeros((4, 4), np.uint8)}, None, "prediction without text"),
        InputCase("text", "1 MB of text (truncated to max_length tokens)", lambda t: {"text": "seven eight " * 90_000}, None, "prediction"),
        InputCase("text", "emoji and CJK", lambda t: {"text": "猫 🐦🐦 七 ٧ 𝟕"}, None, "prediction"),
        InputCase("text", "control characters and NUL", lambda t: {"text": "a\x00b\x07\x1b[31m\r\u200b\u202e"}, None, "prediction"),
        InputCase("text", "lone surrogate", lambda t: {"text": "seven \ud800"}, None, "prediction"),
    ]


INPUT_CASES = [
    *_image_cases(),
    *_audio_cases(),
    *_text_cases(),
    InputCase("none", "no input at all", lambda t: {}, InputError, "has no input at all"),
    InputCase("none", "all inputs empty/None", lambda t: {"text": "", "image": None, "audio": None}, InputError, "has no input at all"),
]


def cli_args(kwargs: dict) -> list[str] | None:
    """`edgefuse predict` arguments for a case, or None when the input cannot be given on a command line."""
    args = []
    for key, value in kwargs.items():
        if value is None:
            continue
        if key not in ("image", "audio", "text") or not isinstance(value, (str, Path)) or value == "":
            return None
        if isinstance(value, str) and ("\x00" in value or len(value) > 100_000 or any(0xD800 <= ord(c) <= 0xDFFF for c in value)):
            return None  # argv cannot carry NUL or lone surrogates, and has a length limit
        args += [f"--{key}", str(value)]
    return args


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="module")
def predictor(model):
    return Predictor.from_file(model)


def case_id(case) -> str:
    return f"{case.area}: {case.name}"


@pytest.mark.parametrize("case", INPUT_CASES, ids=case_id)
def test_input_case_through_the_api(case: InputCase, predictor, tmp_path):
    kwargs = case.make(tmp_path)
    if case.error is None:
        p = predictor.predict(**kwargs)
        assert abs(sum(p.probs.values()) - 1) < 1e-5 and p.label in predictor.labels
        given = {k for k, v in kwargs.items() if k in ("image", "audio") and v is not None}
        assert given <= set(p.present) and ("text" in p.present) == ("without text" not in case.message and "text" in kwargs)
        return
    with pytest.raises(case.error) as err:
        predictor.predict(**kwargs)
    assert case.message in str(err.value) and "\n" not in str(err.value), str(err.value)


@pytest.mark.slow  # ~20 s: one CLI process per case
def test_every_bad_file_and_string_fails_in_the_cli_with_one_line(model, tmp_path):
    """Each error case that can be typed on a command line: exit 2, one stderr line, no traceback."""
    runs = []
    for i, case in enumerate(INPUT_CASES):
        folder = tmp_path / str(i)
        folder.mkdir()
        args = cli_args(case.make(folder))
        if case.error is not None and args is not None:
            runs.append((case, args))
    assert len(runs) >= 15
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda r: _cli("predict", model, *r[1]), runs))
    for (case, _), out in zip(runs, results):
        assert out.returncode == 2, (case.name, out.stderr)
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("edgefuse: error: "), (case.name, out.stderr)
        assert "Traceback" not in out.stderr and out.stdout == "", case.name


@pytest.mark.slow  # ~20 s: one CLI process per case
def test_unusual_but_valid_files_work_in_the_cli(model, tmp_path):
    picks = [c for c in INPUT_CASES if c.error is None and c.area in ("image", "audio") and cli_args(c.make(tmp_path)) is not None]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: _cli("predict", model, *cli_args(c.make(tmp_path))), picks))
    for case, out in zip(picks, results):
        assert out.returncode == 0, (case.name, out.stderr)
        assert json.loads(out.stdout)["label"] in ("cat", "dog", "bird")


def test_long_audio_uses_sliding_windows_in_the_cli(model, tmp_path):
    long = _wav(tmp_path, "long.wav", _tone(0.35, 16000), 16000)["audio"]  # window is 0.1 s
    out = _cli("predict", model, "--audio", long)
    result = json.loads(out.stdout)
    assert out.returncode == 0 and result["fusion"] == "mean" and result["windows"] == 6  # 0, .05, ..., .25 s
    short = _wav(tmp_path, "short.wav", _tone(0.1, 16000), 16000)["audio"]
    assert "windows" not in json.loads(_cli("predict", model, "--audio", short).stdout)


def test_no_input_in_the_cli(model):
    out = _cli("predict", model)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "no input given" in out.stderr


def test_very_long_text_is_cut_to_the_contract_length(predictor):
    ids, mask, present = predictor.builder.tokenizer.encode(["seven eight " * 90_000, "猫" * 5])
    assert ids.shape[1] == predictor.contract.text.max_length and present.tolist() == [1.0, 1.0]
    assert mask[0].all() and mask[1].sum() < ids.shape[1]


# ---------------------------------------------------------------- manifests


@dataclass(frozen=True)
class ManifestCase:
    name: str
    rows: list
    message: str


MANIFEST_CASES = [
    ManifestCase("image file missing", [{"label": "x", "image": "missing.png"}], "image: file not found 'missing.png'"),
    ManifestCase("path leaving the folder", [{"label": "x", "audio": "../../etc/passwd"}], "leaves the data set folder"),
    ManifestCase("absolute path", [{"label": "x", "image": "/etc/passwd"}], "leaves the data set folder"),
    ManifestCase("label missing", [{"text": "hi"}], "label: missing or empty"),
    ManifestCase("label only in val/test (unknown label)", None, "does not occur in train"),
    ManifestCase("duplicate rows", [{"label": "x", "text": "a"}, {"label": "x", "text": "a"}], "duplicate of train.jsonl:1"),
    ManifestCase("row with no modality", [{"label": "x"}], "no text, image or audio"),
    ManifestCase("line that is not JSON", ["{oops"], "not valid JSON"),
    ManifestCase("row that is a list", [[1, 2]], "a row must be a JSON object"),
    ManifestCase("text that is a number", [{"label": "x", "text": 5}], "text: must be a string"),
    ManifestCase("empty manifest", [], "no rows"),
]


def write_manifests(root: Path, train: list | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = lambda rows: "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    (root / "train.jsonl").write_text(lines(train if train is not None else [{"label": "x", "text": "a"}, {"label": "y", "text": "b"}]))
    (root / "val.jsonl").write_text(lines([{"label": "x", "text": "c"}]))
    (root / "test.jsonl").write_text(lines([{"label": "x" if train is not None else "zebra", "text": "d"}]))
    return root


@pytest.mark.parametrize("case", MANIFEST_CASES, ids=lambda c: c.name)
def test_manifest_case(case: ManifestCase, tmp_path):
    root = write_manifests(tmp_path / "data", case.rows)
    with pytest.raises(ManifestError, match="problem") as err:
        read_dataset(root)
    assert case.message in str(err.value), str(err.value)


def test_manifest_errors_in_the_cli_name_every_problem_without_traceback(model, tmp_path):
    root = write_manifests(tmp_path / "data", None)
    (root / "test.jsonl").write_text('{"label": "x", "image": "missing.png"}\n{"text": "no label"}\n')
    out = _cli("evaluate", model, "--data", root)
    lines = out.stderr.splitlines()
    assert out.returncode == 2 and "Traceback" not in out.stderr
    # One headline, then one indented line per problem (the listing is the point of this message).
    assert lines[0].startswith("edgefuse: error: 2 problem(s)") and len(lines) == 3


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgefuse", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_docs_table_is_generated_from_these_cases():
    """docs/robustness.md shows the real outcome of every case; regenerate with tests/_robustness_table.py."""
    from _robustness_table import current, render

    assert current() == render(), "docs/robustness.md is stale: run .venv/bin/python tests/_robustness_table.py"
