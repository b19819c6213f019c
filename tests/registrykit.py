"""A local Spawning-compatible opt-out registry for integration tests (127.0.0.1 only).

``POST /api/v2/query/urls/`` with newline-separated URLs answers
``{"urls": [{"url", "optOut", "optIn"}, …]}``; every request is logged (the URLs it asked about),
and the server can be switched to answer 503 ("down") or be stopped altogether.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/api/v2/query/urls/"


class RegistryServer:
    def __init__(self, opted_out: Iterable[str] = (), opted_in: Iterable[str] = ()) -> None:
        self.opted_out = set(opted_out)
        self.opted_in = set(opted_in)
        self.down = False  # answer 503 to everything
        self.delay = 0.0  # seconds before each answer (a registry across the internet)
        self.batches: list[list[str]] = []
        self.auth: list[str | None] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                urls = [u for u in self.rfile.read(length).decode("utf-8").split("\n") if u]
                with owner._lock:
                    owner.batches.append(urls)
                    owner.auth.append(self.headers.get("Authorization"))
                    down = owner.down
                time.sleep(owner.delay)
                if down or self.path != PATH:
                    self.send_response(503 if down else 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"urls": [owner.answer(u) for u in urls]}).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, url: str) -> dict[str, Any]:
        return {"url": url, "optOut": url in self.opted_out, "optIn": url in self.opted_in}

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{PATH}"

    def asked(self) -> list[str]:
        """Every URL asked about, in order (with repeats)."""
        with self._lock:
            return [url for batch in self.batches for url in batch]

    def __enter__(self) -> RegistryServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def flapping(registry: RegistryServer, every: float, limit: float = 120.0) -> Iterator[None]:
    """While the block runs (at most ``limit`` seconds), the registry goes down and comes back
    up every ``every`` seconds; it is up again afterwards."""
    stop = threading.Event()

    def flap() -> None:
        deadline = time.monotonic() + limit
        while not stop.wait(every) and time.monotonic() < deadline:
            registry.down = not registry.down

    thread = threading.Thread(target=flap, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        registry.down = False
