"""A small HTTP file server on 127.0.0.1 for the model-download tests (no network needed).

    with LocalFileServer({"m.pth": data}) as srv:
        url = srv.url("m.pth")

Serves ``GET`` with ``Range: bytes=N-`` (206 / 416) unless ``range_support`` is off, 404 for
unknown paths, and can misbehave on request: ``drop_after[path] = n`` sends the headers of the
whole file, ``n`` bytes, then closes the connection (once); ``hold[path] = (n, event)`` sends
``n`` bytes then waits for ``event`` (at most 30 s) before the rest. ``requests`` records
``(path, Range header)``. Started and stopped by the ``with`` block; every wait is bounded.
"""

from __future__ import annotations

import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        owner = self.server.owner
        path = self.path.lstrip("/")
        rng = self.headers.get("Range")
        with owner.lock:
            owner.requests.append((path, rng))
            data = owner.files.get(path)
            drop = owner.drop_after.pop(path, None)
            hold = owner.hold.pop(path, None)
            if hold is not None:
                owner.active_holds.append(hold[1])
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and owner.range_support:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        try:
            if drop is not None:
                self.wfile.write(body[:drop])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if hold is not None:
                n, event = hold
                self.wfile.write(body[:n])
                self.wfile.flush()
                event.wait(30)
                body = body[n:]
            self.wfile.write(body)
        except OSError:   # the client went away (a cancelled download)
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "LocalFileServer"


class LocalFileServer:
    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.drop_after: dict[str, int] = {}
        self.hold: dict[str, tuple[int, threading.Event]] = {}
        self.range_support = True
        self.requests: list[tuple[str, str | None]] = []
        self.active_holds: list[threading.Event] = []
        self.lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def __enter__(self) -> "LocalFileServer":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="local-http-server")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for event in [e for _, e in self.hold.values()] + self.active_holds:
            event.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def unused_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
