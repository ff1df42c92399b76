"""Atomic writes survive SIGKILL at random moments; checkpoints are never unpickled.

A writer process replaces a file (or a folder) over and over while the test kills it at random
points; whatever instant the kill lands on, the target must be the old or the new complete
content. Run folders whose files are swapped for pickle payloads must fail with one clear
line — and the payload must not run.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgefuse.runtime.errors import EdgefuseError

KILLS = 12

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from edgefuse.runtime import _atomic

    target, mode = Path(sys.argv[1]), sys.argv[2]
    payloads = [bytes([65 + i]) * (3_000_000 + 1000 * i) for i in range(4)]  # each version is distinct
    print("ready", flush=True)
    i = 0
    while True:
        data = payloads[i % 4]
        if mode == "file":
            _atomic.write_bytes(target, data)
        else:
            with _atomic.replace_dir(target) as tmp:
                (tmp / "a.bin").write_bytes(data)
                (tmp / "b.bin").write_bytes(data[:1000])
        i += 1
    """
)


def versions() -> set[bytes]:
    return {bytes([65 + i]) * (3_000_000 + 1000 * i) for i in range(4)}


def kill_writer_at_random(target: Path, mode: str, seed: int) -> None:
    """Start a writer, let it run a random 20-400 ms, SIGKILL it."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), mode], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(np.random.default_rng(seed).uniform(0.02, 0.4))
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)


@pytest.mark.slow  # ~12 s: a dozen writer processes
def test_file_written_atomically_survives_sigkill(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old complete file")
    allowed = versions() | {b"old complete file"}
    for seed in range(KILLS):
        kill_writer_at_random(target, "file", seed)
        assert target.read_bytes() in allowed, f"kill {seed}: half-written file of {target.stat().st_size} bytes"
    assert target.read_bytes() != b"old complete file"  # the writer did get to replace it
    # Leftover temporaries are hidden dot-files beside the target, never the target itself.
    assert all(p.name.startswith(".model.onnx.") for p in tmp_path.iterdir() if p != target)


@pytest.mark.slow  # ~12 s: a dozen writer processes
def test_folder_replaced_atomically_survives_sigkill(tmp_path):
    target = tmp_path / "data"
    for seed in range(KILLS):
        kill_writer_at_random(target, "dir", 100 + seed)
        if seed == 0 and not target.exists():
            continue  # killed before the first folder was complete: nothing to check yet
        a, b = (target / "a.bin").read_bytes(), (target / "b.bin").read_bytes()
        assert a in versions() and b == a[:1000], f"kill {seed}: a mixed or partial folder"


@pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux-only; elsewhere two renames are used")
def test_folders_are_swapped_in_one_step_on_linux(tmp_path):
    from edgefuse.runtime._atomic import _exchange

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    assert _exchange(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "x").read_text() == "a" and not (tmp_path / "a" / "x").exists()


# ---------------------------------------------------------------- no pickle on any load path


class _Payload:
    """Unpickling this creates `marker`: proof that a loader executed the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def run_folder(tmp_path):
    """A genuine run folder written by the training code (an untrained model: saving is what matters)."""
    pytest.importorskip("torch")
    from _tiny_models import tiny_contract
    from edgefuse.train.config import TrainConfig
    from edgefuse.train.model import FusedClassifier, ModelArgs
    from edgefuse.train.run import load_run, save_run

    contract = tiny_contract(image=None, audio=None)
    model = FusedClassifier(ModelArgs(num_classes=3, modalities=("text",), dim=16, conv_widths=(8,), text_vocab=300, text_max_length=16, heads=2))
    save_run(tmp_path / "run", model, TrainConfig(), contract, {})
    load_run(tmp_path / "run")  # the untouched folder loads
    return tmp_path / "run"


def _torch_save_zip(path: Path, marker: Path) -> None:
    """A file laid out like torch.save's zip whose data.pkl is the payload."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(_Payload(marker)))
        z.writestr("archive/version", "3\n")


@pytest.mark.parametrize("victim", ["model.safetensors", "config.json"])
@pytest.mark.parametrize("payload", ["pickle", "torch.save zip"])
def test_pickle_payloads_in_a_run_fail_cleanly_without_running(run_folder, tmp_path, victim, payload):
    from edgefuse.train.run import load_run

    marker = tmp_path / "PWNED"
    if payload == "pickle":
        (run_folder / victim).write_bytes(pickle.dumps(_Payload(marker)))
    else:
        _torch_save_zip(run_folder / victim, marker)
    pickle.loads(pickle.dumps(_Payload(tmp_path / "control")))  # the payload is live: unpickling it does run
    assert (tmp_path / "control").exists()
    with pytest.raises(EdgefuseError) as err:
        load_run(run_folder)
    assert "\n" not in str(err.value) and not marker.exists()


@pytest.mark.parametrize("payload", ["pickle", "torch.save zip"])
def test_pickle_payload_as_resume_state_fails_cleanly_without_running(run_folder, tmp_path, payload):
    import torch

    from edgefuse.train.run import load_run
    from edgefuse.train.state import STATE, load_state

    marker = tmp_path / "PWNED"
    if payload == "pickle":
        (run_folder / STATE).write_bytes(pickle.dumps(_Payload(marker)))
    else:
        _torch_save_zip(run_folder / STATE, marker)
    model = load_run(run_folder).train()
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    with pytest.raises(EdgefuseError) as err:
        load_state(run_folder, model, optimizer, scheduler, torch.Generator())
    assert "\n" not in str(err.value) and not marker.exists()


@pytest.mark.slow
def test_export_cli_refuses_a_pickled_run_without_running_it(run_folder, tmp_path):
    marker = tmp_path / "PWNED"
    (run_folder / "model.safetensors").write_bytes(pickle.dumps(_Payload(marker)))
    out = subprocess.run([sys.executable, "-m", "edgefuse", "export", str(run_folder), "--out", str(tmp_path / "m.onnx")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert not marker.exists() and not (tmp_path / "m.onnx").exists()
