"""The live loop on real sources: a video file, followed text, and a microphone on a private
PulseAudio server playing a spoken digit; as a Python API (iterator, callback) and as `edgefuse live`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from _mjpeg import MjpegServer
from _pulse import pulse_fixture
from edgefuse.runtime import Predictor, read_dataset
from edgefuse.runtime.capture import Camera, TextInput
from edgefuse.runtime.errors import EdgefuseError
from edgefuse.runtime.live import LiveLoop
from edgefuse.runtime.preprocess.image import read_image_file
from test_capture import write_video

pytestmark = pytest.mark.slow  # needs trained models
pulse = pytest.fixture(scope="module")(pulse_fixture)
RESULT_KEYS = {"t", "label", "score", "present", "latency_ms", "dropped_frames", "audio_overflows"}


@pytest.fixture(scope="module")
def row(demo_data):
    """A test row whose image and text are both intact."""
    rows = read_dataset(demo_data, splits=("test",))["test"]
    return next(r for r in rows if r.text and r.image and len(r.text) > 2)


@pytest.fixture(scope="module")
def still_video(row, tmp_path_factory):
    """A lossless video showing `row`'s image in every frame."""
    return write_video(tmp_path_factory.mktemp("live") / "still.avi", [read_image_file(row.image)] * 10, fps=20)


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgefuse", *map(str, args)], capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_iterator_matches_file_predictions(exported, row, still_video):
    predictor = Predictor.from_file(exported.path)
    expected = predictor.predict(image=row.image, text=row.text)
    loop = LiveLoop(predictor, Camera(still_video, loop=True), text=TextInput.fixed(row.text),
                    hop=0.05, smooth=0.0, duration=1.0)
    results = list(loop)
    assert loop.summary.stopped_by == "duration" and loop.summary.hops == len(results) >= 3
    with_image = [r for r in results if "image" in r.present]
    assert with_image, "no hop saw a camera frame"
    for r in with_image:
        assert r.present == ("image", "text") and r.label == expected.label
        assert r.score == pytest.approx(expected.score, abs=1e-4)
        assert set(r.to_dict()) == RESULT_KEYS and r.latency_ms > 0
    assert 0 < loop.summary.real_time_factor < 1


def test_loop_ends_with_its_video_file(exported, row, still_video):
    loop = LiveLoop(Predictor.from_file(exported.path), Camera(still_video), text=TextInput.fixed(row.text), hop=0.05)
    results = list(loop)  # no duration: the 0.5 s video is the whole input
    assert loop.summary.stopped_by == "end of input" and results
    assert loop.camera.frames_read == 10


def test_piped_text_is_predicted_then_the_loop_ends(exported):
    predictor = Predictor.from_file(exported.path)
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "w") as writer:
        writer.write("seven\nthe digit three\n")
    with os.fdopen(read_fd) as reader:
        loop = LiveLoop(predictor, text=TextInput.stdin(reader), hop=0.05, smooth=0.0)
        results = list(loop)
    assert loop.summary.stopped_by == "end of input" and results
    assert results[-1].label == predictor.predict(text="the digit three").label and results[-1].present == ("text",)


@pytest.mark.needs_service
def test_a_stalled_stream_leaves_the_image_out_until_frames_flow_again(exported, row):
    predictor = Predictor.from_file(exported.path)
    picture = read_image_file(row.image)
    # The server drops the client after 5 frames; the camera waits 1.5 s before reconnecting.
    with MjpegServer([picture], fps=25, frames_per_connection=5) as server:
        camera = Camera(server.url, timeout=5, reconnect_delay=1.5)
        loop = LiveLoop(predictor, camera, text=TextInput.fixed(row.text), hop=0.05, duration=4.0, max_frame_age=0.3)
        present = [r.present for r in loop]
    assert camera.reconnects >= 1
    seen = "".join("I" if "image" in p else "-" for p in present)
    assert "I-" in seen and "-I" in seen, seen  # frames, then a stall without the image, then frames again
    assert all("text" in p for p in present)


def test_callback_form_stops_when_asked_and_releases_sources(exported, row, still_video):
    predictor = Predictor.from_file(exported.path)
    camera, text = Camera(still_video, loop=True), TextInput.fixed(row.text)
    loop = LiveLoop(predictor, camera, text=text, hop=0.02)
    seen = []

    def on_result(result):
        seen.append(result)
        if len(seen) == 3:
            loop.stop()

    summary = loop.run(on_result)
    assert len(seen) == 3 and summary.hops == 3 and summary.stopped_by == "stop"
    assert not camera._thread.is_alive()  # the reader thread was stopped with the loop


def test_smoothing_and_threshold_follow_the_text(exported, tmp_path):
    predictor = Predictor.from_file(exported.path)
    transcript = tmp_path / "words.txt"
    transcript.write_text("")
    smooth = 0.5
    texts = ["seven", "number seven", "three", "", "three"]
    with TextInput.follow(transcript, poll_seconds=0.01) as text:
        loop = LiveLoop(predictor, text=text, smooth=smooth, threshold=0.999)
        previous = None
        for i, words in enumerate(texts):
            with open(transcript, "a", encoding="utf-8") as f:
                f.write(words + "\n")
            deadline = time.monotonic() + 5
            while text.lines_read <= i and time.monotonic() < deadline:
                time.sleep(0.01)
            result = loop.step(float(i))
            if not words:  # a blank line clears the text: nothing present, nothing claimed
                assert result.present == () and result.label is None
                continue
            now = np.array(list(predictor.predict(text=words).probs.values()))
            expected = now if previous is None else smooth * previous + (1 - smooth) * now
            np.testing.assert_allclose(list(result.probs.values()), expected, atol=1e-5)
            assert result.score == pytest.approx(expected.max(), abs=1e-5)
            assert result.label is None if expected.max() < 0.999 else result.label == predictor.labels[int(expected.argmax())]
            previous = expected


def test_bad_settings_are_user_errors(exported, row):
    predictor = Predictor.from_file(exported.path)
    text = TextInput.fixed(row.text)
    for kwargs, message in (({"hop": 0}, "hop must be > 0"), ({"smooth": 1.0}, r"smooth must be in \[0, 1\)"),
                            ({"threshold": 2}, "threshold must be in"), ({"duration": -1}, "duration must be > 0")):
        with pytest.raises(EdgefuseError, match=message):
            LiveLoop(predictor, text=text, **kwargs)
    with pytest.raises(EdgefuseError, match="no input source"):
        LiveLoop(predictor)


def test_cli_prints_json_lines_and_a_summary(exported, row, still_video, tmp_path):
    transcript = tmp_path / "typed.txt"
    transcript.write_text(row.text + "\n")
    out = cli("live", exported.path, "--camera", still_video, "--loop-video", "--text", transcript,
              "--hop", "0.1", "--duration", "1.5", "--smooth", "0.3")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) >= 3 and all(set(line) == RESULT_KEYS for line in lines)
    expected = Predictor.from_file(exported.path).predict(image=row.image, text=row.text).label
    assert lines[-1]["label"] == expected and lines[-1]["present"] == ["image", "text"]
    summary = out.stderr.strip().splitlines()[-1]
    assert summary.startswith("edgefuse: live summary ")
    stats = json.loads(summary.split("summary ", 1)[1])
    assert stats["stopped_by"] == "duration" and stats["hops"] == len(lines) and stats["camera"]["frames_read"] > 0


def test_cli_ctrl_c_stops_cleanly_with_a_summary(exported, row, still_video):
    proc = subprocess.Popen([sys.executable, "-m", "edgefuse", "live", str(exported.path), "--camera", str(still_video),
                             "--loop-video", "--text", row.text, "--hop", "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert set(first) == RESULT_KEYS
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert json.loads(stderr.strip().splitlines()[-1].split("summary ", 1)[1])["stopped_by"] == "interrupt"


def test_cli_missing_hardware_is_one_line_exit_2(exported, tmp_path):
    cases = [
        (["--camera", "9"], "cannot open camera 9"),
        (["--camera", tmp_path / "gone.mp4"], "not a device index, a stream URL or an existing video file"),
        (["--mic", "no-such-microphone-anywhere"], "microphone"),
        ([], "no input source"),
    ]
    for args, message in cases:
        out = cli("live", exported.path, *args, "--duration", "1")
        assert out.returncode == 2, (args, out.stderr)
        errors = [line for line in out.stderr.splitlines() if line.startswith("edgefuse: error:")]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in out.stderr, out.stderr


# --- microphone: a spoken digit played into PulseAudio must come out of the live loop -----------


@pytest.fixture(scope="module")
def audio_model(demo_data, tmp_path_factory):
    """An audio-only model trained on the intact clips of the tiny demo set (the fused fixture
    leans on text, so its audio branch alone is near chance)."""
    from edgefuse.export import to_onnx
    from edgefuse.train import TrainConfig, fit

    root = tmp_path_factory.mktemp("audio_only")
    data = root / "data"
    shutil.copytree(demo_data / "audio", data / "audio")
    for split in ("train", "val", "test"):
        rows = [json.loads(line) for line in (demo_data / f"{split}.jsonl").read_text().splitlines()]
        kept = [json.dumps({"label": r["label"], "audio": r["audio"]}) for r in rows if "audio" not in r["destroyed"]]
        (data / f"{split}.jsonl").write_text("\n".join(kept) + "\n")
    fit(data, root / "run", TrainConfig(epochs=12, seed=0, conv_widths=(16, 32, 64), dim=64))
    return to_onnx(root / "run", root / "audio.onnx").path, data


def confident_clip(model: Path, data: Path) -> tuple[Path, str]:
    """A test clip the file-based predictor gets right, confidently, even shifted by ±50 ms in the
    window, with a label that silence does not get; so the live loop must hear it to say it."""
    predictor = Predictor.from_file(model)
    silence = predictor.predict(audio=np.zeros(16000, np.float32)).label
    best, best_score = None, 0.0
    for r in read_dataset(data, splits=("test",))["test"]:
        clip = read_audio(r.audio)
        shifted = [np.roll(np.pad(clip, 800), s)[800:-800] for s in (-800, -400, 0, 400, 800)]
        predictions = predictor.predict_batch([_audio_example(c) for c in shifted])
        if r.label != silence and all(p.label == r.label for p in predictions):
            score = min(p.score for p in predictions)
            if score > best_score:
                best, best_score = (r.audio, r.label), score
    if best is None or best_score < 0.5:
        pytest.fail(f"the audio fixture model is too weak: no test clip is predicted right with score >= 0.5 (best {best_score:.2f})")
    return best


def read_audio(path: Path) -> np.ndarray:
    from edgefuse.runtime.preprocess.audio import read_audio_file

    samples, rate = read_audio_file(path)
    assert rate == 16000
    return samples[:, 0]


def _audio_example(samples: np.ndarray):
    from edgefuse.runtime import Example

    return Example(audio=samples, sample_rate=16000)


@pytest.mark.needs_service
def test_live_loop_hears_the_digit_played_into_pulseaudio(pulse, audio_model, tmp_path):
    model, data = audio_model
    clip, digit = confident_clip(model, data)
    with pytest.raises(EdgefuseError, match="no input for the camera"):
        LiveLoop(Predictor.from_file(model), Camera(clip))  # an audio-only model cannot take a camera
    proc = subprocess.Popen([sys.executable, "-m", "edgefuse", "live", str(model), "--mic", "pulse", "--hop", "0.05",
                             "--smooth", "0", "--duration", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **pulse.env})
    lines: list[dict] = []
    reader = threading.Thread(target=lambda: lines.extend(json.loads(line) for line in proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(lines) < 10 and time.monotonic() < deadline:  # the loop runs, and hears only silence
            time.sleep(0.05)
        before = len(lines)
        pulse.play(clip)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    reader.join(timeout=5)
    assert proc.returncode == 0, stderr
    assert before >= 10, f"the live loop printed {before} lines before playback; stderr: {stderr}"
    assert all(line["label"] != digit for line in lines[:before]), "the digit was reported before it was played"
    heard = [line for line in lines[before:] if line["label"] == digit and "audio" in line["present"]]
    assert heard, f"digit {digit} never reported; labels after playback: {[line['label'] for line in lines[before:]]}"
    summary = json.loads(stderr.strip().splitlines()[-1].split("summary ", 1)[1])
    assert summary["microphone"]["resampled_to"] == 16000 and summary["audio_overflows"] >= 0


def test_bad_input_is_counted_and_the_loop_goes_on(exported, row, tmp_path):
    """A hop whose input cannot be decoded is reported with its error and counted; the next hop predicts."""
    from edgefuse.runtime.inputs import Example

    predictor = Predictor.from_file(exported.path)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with TextInput.fixed("seven") as text:
        loop = LiveLoop(predictor, text=text)
        hops = iter([Example(image=corrupt, text="seven"), Example(image=row.image, text="seven")])
        loop._take_inputs = lambda: next(hops)  # feed one undecodable picture, then a good one
        bad, good = loop.step(0.0), loop.step(0.25)
    assert bad.error and "corrupt.png" in bad.error and bad.present == () and bad.label is None
    assert loop.summary.bad_inputs == 1 and loop.summary.to_dict()["bad_inputs"] == 1
    assert good.error is None and good.present == ("image", "text")
    assert good.label == predictor.predict(image=row.image, text="seven").label
