"""A private PulseAudio server with a null sink, for microphone tests through real PortAudio and ALSA.

The server runs on its own socket and runtime folder under a temporary directory, so it never
touches the user's audio setup. Clients reach it through PULSE_SERVER; ALSA's `pulse` PCM (from
libasound2-plugins) routes PortAudio to it, and the sink's monitor is the default source.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

SINK = "edgefuse_test"


class PulseServer:
    """Start with `start()` (or as a context manager); `env` is what clients need."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.socket = self.root / "native"
        self.process: subprocess.Popen | None = None
        self.log = self.root / "pulseaudio.log"

    @property
    def env(self) -> dict[str, str]:
        """Client environment: the private server and the sink's monitor as the default source."""
        return {"PULSE_SERVER": f"unix:{self.socket}", "PULSE_SOURCE": f"{SINK}.monitor", "PULSE_SINK": SINK}

    def missing(self) -> str | None:
        """Why this machine cannot run the server, or None."""
        for tool, package in (("pulseaudio", "pulseaudio"), ("pactl", "pulseaudio-utils"), ("paplay", "pulseaudio-utils")):
            if shutil.which(tool) is None:
                return f"{tool} not found; install it with `apt-get install {package}`"
        return None

    def start(self, timeout: float = 15.0) -> PulseServer:
        home, runtime = self.root / "home", self.root / "runtime"
        home.mkdir(parents=True, exist_ok=True)
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        daemon_env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime),
                      "PULSE_RUNTIME_PATH": str(runtime / "pulse"), "XDG_CONFIG_HOME": str(home / ".config")}
        daemon_env.pop("PULSE_SERVER", None)
        cmd = [
            "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--disable-shm=yes",
            "--log-target=stderr", "-L", f"module-null-sink sink_name={SINK} rate=44100 channels=2",
            "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
        ]
        # As root, pulseaudio warns that it is not meant to run as root but works in this per-user mode.
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(cmd, env=daemon_env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pulseaudio exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            if self.pactl("info").returncode == 0:
                self.pactl("set-default-source", f"{SINK}.monitor")
                self.pactl("set-default-sink", SINK)
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pulseaudio did not answer within {timeout} s: {self.log.read_text()[-2000:]}")

    def pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env={**os.environ, **self.env}, capture_output=True, text=True, timeout=10)

    def play(self, wav: Path) -> subprocess.CompletedProcess:
        """Play `wav` into the null sink and return when it has been played."""
        return subprocess.run(["paplay", f"--device={SINK}", str(wav)], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=60, check=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> PulseServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def pulse_fixture(tmp_path_factory):
    """Start a private server, point this process's PortAudio at it, and undo both afterwards."""
    from conftest import skip_or_fail

    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    reason = server.missing()
    if reason:
        skip_or_fail(reason)
    try:
        server.start()
    except RuntimeError as e:
        skip_or_fail(f"cannot start pulseaudio: {e}")
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    try:
        from edgefuse.runtime.capture.microphone import import_sounddevice

        sd = import_sounddevice()
    except Exception as e:  # noqa: BLE001 (reported as the skip reason)
        server.stop()
        skip_or_fail(f"sounddevice/PortAudio unusable: {e}")
    # PortAudio lists devices once, when initialized; re-scan now that the server is up.
    sd._terminate()
    sd._initialize()
    names = [d["name"] for d in sd.query_devices()]
    if "pulse" not in names:
        server.stop()
        skip_or_fail(f"PortAudio has no 'pulse' device (found {names}); install it with `apt-get install libasound2-plugins`")
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sd._terminate()
        sd._initialize()
