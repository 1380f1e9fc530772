"""A loopback HTTP server for download tests (127.0.0.1, ephemeral port, stops by itself).

It serves in-memory fixture files with HTTP Range support and can misbehave on
purpose: drop the connection half-way through a file once, answer 503 a number of
times, redirect, or answer 404 for anything it does not know. Every request is
recorded (path, query, Range header) for the assertions. The server shuts down on
``__exit__`` and, as a safety net, after ``lifetime`` seconds.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Request:
    path: str
    query: str
    range: str | None


@dataclass
class FixtureServer:
    """Context manager; ``url(path)`` gives ``http://127.0.0.1:PORT/path``."""

    files: dict[str, bytes] = field(default_factory=dict)
    drop_once: set[str] = field(default_factory=set)
    fail_times: dict[str, int] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    chunk_delay: float = 0.0  # seconds slept after every 8 KiB sent (simulates a slow link)
    lifetime: float = 60.0
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._dropped: set[str] = set()
        self._httpd: ThreadingHTTPServer | None = None

    # ----------------------------------------------------------------- control
    def __enter__(self) -> "FixtureServer":
        server = self
        handler = type("Handler", (_Handler,), {"fixture": server})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fixture-http")
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            self._timer.cancel()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not running"
        return self._httpd.server_address[1]

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == "/" + path.lstrip("/")]


class _Handler(BaseHTTPRequestHandler):
    fixture: FixtureServer
    timeout = 10  # socket timeout: a stuck client cannot hold a thread for ever

    def log_message(self, format: str, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        fx = self.fixture
        parts = urlsplit(self.path)
        path, rng = parts.path, self.headers.get("Range")
        with fx._lock:
            fx.requests.append(Request(path, parts.query, rng))
            failing = fx.fail_times.get(path, 0)
            if failing:
                fx.fail_times[path] = failing - 1
        if path in fx.redirects:
            self.send_response(302)
            self.send_header("Location", fx.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if failing:
            self._reply(503, b"try again later")
            return
        body = fx.files.get(path)
        if body is None:
            self._reply(404, b"not found")
            return
        start = 0
        if rng:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        chunk = body[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        with fx._lock:
            drop = path in fx.drop_once and path not in fx._dropped
            if drop:
                fx._dropped.add(path)
        if drop:  # promise the whole body, send half, hang up
            self.wfile.write(chunk[: len(chunk) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if fx.chunk_delay <= 0:
            self.wfile.write(chunk)
            return
        for i in range(0, len(chunk), 8192):
            self.wfile.write(chunk[i: i + 8192])
            self.wfile.flush()
            time.sleep(fx.chunk_delay)

    def _reply(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
