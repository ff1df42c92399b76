"""A tiny HTTP MJPEG server (multipart/x-mixed-replace) on 127.0.0.1, like an IP camera's stream."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

BOUNDARY = "edgefuseframe"


class MjpegServer:
    """Serves `frames` ((H, W, 3) uint8 RGB) as JPEGs at `fps`, looping; each connection ends
    after `frames_per_connection` frames (None: never), which is how a camera dropping a client looks."""

    def __init__(self, frames: list[np.ndarray], fps: float = 25.0, frames_per_connection: int | None = None):
        import cv2

        self.jpegs = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
                      for f in frames]
        self.fps, self.frames_per_connection = fps, frames_per_connection
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self.path != "/stream.mjpg":
                    self.send_error(404)
                    return
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                sent = 0
                try:
                    while server.frames_per_connection is None or sent < server.frames_per_connection:
                        jpeg = server.jpegs[sent % len(server.jpegs)]
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode())
                        self.wfile.write(jpeg + b"\r\n")
                        sent += 1
                        time.sleep(1.0 / server.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MjpegServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
