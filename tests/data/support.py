"""Helpers for the data-stage tests: tiny real image datasets, real archives, a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import http.server
import io
import socket
import struct
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SPLIT_COUNTS = {"trainA": 4, "trainB": 5, "testA": 2, "testB": 3}


def make_dataset(folder: Path, counts: dict = SPLIT_COUNTS, seed: int = 0) -> Path:
    """A CycleGAN layout of small real images: JPEGs of several sizes, plus an RGBA PNG and a greyscale JPEG."""
    rng = np.random.default_rng(seed)
    for split, n in counts.items():
        (folder / split).mkdir(parents=True)
        for i in range(n):
            h, w = 18 + 3 * i, 26 - 2 * i
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / split / f"{split}_{i:03d}.jpg", quality=90)
        Image.fromarray(rng.integers(0, 256, (21, 17, 4), dtype=np.uint8), "RGBA").save(folder / split / "z_alpha.png")
        Image.fromarray(rng.integers(0, 256, (15, 22), dtype=np.uint8), "L").save(folder / split / "z_grey.jpg")
    (folder / "trainA" / "notes.txt").write_text("not an image: skipped, as the reference does\n")
    return folder


def zip_folder(folder: Path, top: str | None, padding: int = 0) -> bytes:
    """The folder as a zip, under one top folder like the catalogue's zips; padding adds a random blob (size)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{top}/{path.relative_to(folder)}" if top else str(path.relative_to(folder)))
        if padding:
            zf.writestr(f"{top}/extra/blob.bin", np.random.default_rng(1).bytes(padding))
    return out.getvalue()


class Server:
    """Serves `files` with Range support; `faults[path]` is a list of faults, one used up per request:
    "503", "404", "drop" (reset the connection after half the body), "short" (close cleanly after half),
    "slow" (send the whole body in small, spaced chunks). Every request is recorded in `log`."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = {}
        self.log: list[dict] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def served(self, path: str) -> int:
        return sum(r["sent"] for r in self.log if r["path"] == path)


def _handler(server: Server):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            record = {"path": self.path, "range": self.headers.get("Range"), "sent": 0, "status": None}
            server.log.append(record)
            queue = server.faults.get(self.path, [])
            fault = queue.pop(0) if queue else None
            body = server.files.get(self.path)
            if body is None or fault in ("404", "503"):
                record["status"] = 503 if fault == "503" else 404
                self.send_response(record["status"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
            record["status"] = 206 if start else 200
            self.send_response(record["status"])
            self.send_header("Content-Length", str(len(body) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            rest = body[start:]
            if fault in ("drop", "short"):
                self._send(record, rest[: len(rest) // 2])
                if fault == "drop":  # RST instead of FIN; first let the client read what arrived (a reset discards it)
                    time.sleep(0.3)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            step = 32 << 10 if fault == "slow" else len(rest) or 1
            try:
                for i in range(0, len(rest), step):
                    self._send(record, rest[i: i + step])
                    if fault == "slow":
                        time.sleep(0.02)
            except OSError:  # the client went away (a killed preparer)
                self.close_connection = True

        def _send(self, record, data):
            self.wfile.write(data)
            self.wfile.flush()
            record["sent"] += len(data)

        def finish(self):
            try:
                super().finish()
            except OSError:  # the connection was dropped on purpose, or the client was killed
                pass

        def log_message(self, *args):
            pass

    return Handler
