"""A tiny threaded HTTP server on 127.0.0.1 (random port) for download tests; nothing reaches the internet.

Use the ``file_server`` fixture by importing it into a test module (``from _http_server import file_server``).
Serve bytes with ``server.add("/path", data)``; ``server.requests`` counts the GET requests per path;
``server.fail_next("/path", n)`` answers the next ``n`` requests with HTTP 500; ``server.stop()`` shuts it down.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FileServer:
    """Serves in-memory files over HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.running = True

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; returns its URL."""
        self.files[path] = data
        return self.url(path)

    def fail_next(self, path: str, count: int = 1) -> None:
        """Answer the next ``count`` requests for ``path`` with HTTP 500."""
        with self._lock:
            self._failures[path] += count

    def stop(self) -> None:
        if self.running:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self.running = False

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with server._lock:
                    server.requests[path] += 1
                    failing = server._failures[path] > 0
                    if failing:
                        server._failures[path] -= 1
                data = server.files.get(path)
                if failing or data is None:
                    self.send_error(500 if failing else 404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        return Handler


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    try:
        yield server
    finally:
        server.stop()


def isolate_downloads(tmp_path, monkeypatch):
    """A fresh download cache under ``tmp_path`` and no mirror / offline switch from the environment.

    Download test modules call it from their autouse fixture; returns the cache folder.
    """
    from sclong_tl import _download, settings

    monkeypatch.setenv(_download.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setattr(settings, "_cache_dir", None)
    monkeypatch.delenv(_download.ENV_MIRROR, raising=False)
    monkeypatch.delenv(_download.ENV_OFFLINE, raising=False)
    return tmp_path / "cache"
