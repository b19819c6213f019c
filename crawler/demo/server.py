"""A small local web server for several origins at once: the demo site and the test-suite's web.

Why stdlib threads and not Twisted: the crawl runs Twisted's reactor in this same process, so a
server on that reactor would share the event loop with the client under test, and a slow route
would stall the crawler it is meant to test.  Here every origin is its own listening socket on
127.0.0.1 (an OS-chosen port), served from daemon threads, so origin-level signals (robots.txt,
ai.txt, tdmrep.json) differ per origin exactly as they do per site.

Every request is recorded in one shared log.  ``completed`` says whether the whole response was
handed to the client: the body is written in 16 KiB chunks after the headers are flushed, and a
client that hangs up (seen while waiting, or as a broken pipe while writing) leaves it False, so
tests can prove a body was not downloaded.  Bodies smaller than one chunk cannot show that; use
a large body and a ``body_delay``.
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
import select
import socket
import socketserver
import threading
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

__all__ = ["LoggedRequest", "Origin", "Request", "RequestLog", "Route", "SiteServer"]

CHUNK = 16 * 1024
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
_PLACEHOLDER = re.compile(rb"\{origin:([A-Za-z0-9_.-]+)\}")
_ROUTE_KEYS = frozenset(
    {"status", "body", "headers", "content_type", "delay", "body_delay", "redirect_to"}
)


@dataclass
class Route:
    """One canned response.  ``delay`` holds back the headers, ``body_delay`` the body."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str | list[str]] = field(default_factory=dict)  # list = repeated lines
    content_type: str | None = HTML
    delay: float = 0.0
    body_delay: float = 0.0
    redirect_to: str | None = None  # absolute URL or path; may use {origin:NAME}

    def __post_init__(self) -> None:
        if self.redirect_to is not None and self.status == 200:
            self.status = 301


@dataclass(frozen=True)
class Request:
    """What a callable route sees of the request (header names lower-cased, last line wins)."""

    origin: str
    method: str
    path: str  # the request target: path and query
    headers: Mapping[str, str]

    @property
    def user_agent(self) -> str:
        return self.headers.get("user-agent", "")


@dataclass
class LoggedRequest:
    """One request as the server saw it; ``completed`` once the whole response was sent."""

    origin: str
    method: str
    path: str  # the request target: path and query
    user_agent: str
    time: float  # time.time() when the request arrived
    completed: bool = False


class RequestLog:
    """Every request to every origin, in arrival order; safe to read while serving.

    Readers get copies.  ``completed`` is set just before the last chunk is written, so a client
    holding the whole body always finds it True; a hang-up sets it back to False.
    """

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._in_flight = 0
        self._changed = threading.Condition()

    def open(self, entry: LoggedRequest) -> LoggedRequest:
        with self._changed:
            self._entries.append(entry)
            self._in_flight += 1
        return entry

    def mark(self, entry: LoggedRequest, completed: bool) -> None:
        with self._changed:
            entry.completed = completed

    def close(self, entry: LoggedRequest, completed: bool) -> None:
        with self._changed:
            entry.completed = completed
            self._in_flight -= 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight == 0, timeout)

    def requests(self, origin: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        with self._changed:
            return [
                replace(e)
                for e in self._entries
                if (origin is None or e.origin == origin) and (path is None or e.path == path)
            ]

    def paths(self, origin: str) -> list[str]:
        return [e.path for e in self.requests(origin)]

    def count(self, origin: str, path: str) -> int:
        return len(self.requests(origin, path))

    def clear(self) -> None:
        with self._changed:
            self._entries.clear()


RouteLike: TypeAlias = Route | Callable[[Request], Route]


def not_found() -> Route:
    return Route(404, "<!doctype html><html lang=en><title>Not found</title><p>not found</p>")


def content_type_for(name: str) -> str:
    """The type a file is served with: what a plain static web server would send."""
    if name.endswith((".html", ".htm")):
        return HTML
    if name.endswith(".txt"):
        return TEXT
    if name.endswith(".json"):
        return JSON
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _textual(content_type: str | None) -> bool:
    ct = (content_type or "").lower()
    return ct.startswith("text/") or "json" in ct or "xml" in ct or "javascript" in ct


def file_route(root: Path, path: str) -> Route | None:
    """The file under ``root`` for a URL path; directories serve index.html.  Names starting
    with '_' (such as _routes.toml) are never served."""
    parts = [p for p in unquote(path.split("?", 1)[0]).split("/") if p]
    if any(p in (".", "..") or p.startswith("_") for p in parts):
        return None
    file = root.joinpath(*parts)
    if file.is_dir():
        if not path.split("?", 1)[0].endswith("/"):
            return Route(redirect_to=path.split("?", 1)[0] + "/")
        file = file / "index.html"
    if not file.is_file() or not file.resolve().is_relative_to(root.resolve()):
        return None
    return Route(body=file.read_bytes(), content_type=content_type_for(file.name))


class Origin:
    """One site: a name, routes keyed by path (with query if present), optionally a directory
    of files, and a default for everything else.  Listens once its SiteServer starts."""

    def __init__(
        self,
        name: str,
        routes: Mapping[str, RouteLike] | None = None,
        default: Route | None = None,
        *,
        root: Path | None = None,
    ) -> None:
        self.name = name
        self.routes: dict[str, RouteLike] = dict(routes or {})
        self.default = default if default is not None else not_found()
        self.root = root
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"origin {self.name!r} is not being served by a SiteServer")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def set_route(self, path: str, route: RouteLike) -> None:
        self.routes[path] = route

    def resolve(self, request: Request) -> Route:
        """The route for a request: exact target, then the path without its query, then a
        file, then the default."""
        target = request.path
        route = self.routes.get(target)
        if route is None and "?" in target:
            route = self.routes.get(target.split("?", 1)[0])
        if route is None and self.root is not None:
            route = file_route(self.root, target)
        if route is None:
            route = self.default
        return route if isinstance(route, Route) else route(request)


def load_routes(directory: Path) -> dict[str, RouteLike]:
    """Routes from ``directory/_routes.toml``: per path, overrides of the file served there."""
    file = directory / "_routes.toml"
    if not file.is_file():
        return {}
    routes: dict[str, RouteLike] = {}
    for path, spec in tomllib.loads(file.read_text("utf-8")).items():
        where = f"{file}: [{path!r}]"
        if not path.startswith("/") or not isinstance(spec, dict):
            raise ValueError(f"{where}: each entry is a table named by a path starting with '/'")
        unknown = sorted(set(spec) - _ROUTE_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; allowed: {sorted(_ROUTE_KEYS)}")
        base = file_route(directory, path) or Route()
        changes: dict[str, Any] = {}
        for key, kind in (("status", int), ("content_type", str), ("redirect_to", str)):
            if key in spec:
                changes[key] = _checked(spec[key], kind, f"{where}.{key}")
        for key in ("delay", "body_delay"):
            if key in spec:
                changes[key] = float(_checked(spec[key], (int, float), f"{where}.{key}"))
        if "body" in spec:
            changes["body"] = _checked(spec["body"], str, f"{where}.body")
        if "headers" in spec:
            changes["headers"] = _headers(spec["headers"], f"{where}.headers")
        routes[path] = replace(base, **changes)
    return routes


def _checked(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{where}: {value!r} has the wrong type")
    return value


def _headers(value: Any, where: str) -> dict[str, str | list[str]]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: must be a table of name = string or array of strings")
    out: dict[str, str | list[str]] = {}
    for name, lines in value.items():
        if isinstance(lines, list) and all(isinstance(v, str) for v in lines):
            out[name] = list(lines)
        else:
            out[name] = _checked(lines, str, f"{where}.{name}")
    return out


class SiteServer:
    """Serves origins from daemon threads until ``stop()`` (or the end of a ``with`` block).

    Sockets are bound in the constructor, so base URLs are known at once.
    """

    def __init__(self, origins: Iterable[Origin]) -> None:
        self._origins: dict[str, Origin] = {}
        for origin in origins:
            if origin.name in self._origins:
                raise ValueError(f"two origins are named {origin.name!r}")
            self._origins[origin.name] = origin
        self.log = RequestLog()
        self.errors: list[str] = []  # exceptions raised while serving, for test diagnostics
        self.stopping = threading.Event()
        self._servers: list[_OriginServer] = []
        self._threads: list[threading.Thread] = []
        self._stopped = False
        try:
            for origin in self._origins.values():
                self._servers.append(_OriginServer(origin, self))
        except OSError:
            for server in self._servers:
                server.server_close()
            raise
        for server in self._servers:
            origin = server.origin
            origin._port = server.server_port
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"demo-origin-{origin.name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    @classmethod
    def from_directory(cls, root: Path | str) -> SiteServer:
        """One origin per sub-directory of ``root`` (named after it), files served by path."""
        root = Path(root)
        origins = [
            Origin(d.name, load_routes(d), root=d)
            for d in sorted(root.iterdir())
            if d.is_dir() and not d.name.startswith((".", "_"))
        ]
        if not origins:
            raise ValueError(f"{root} has no origin directories")
        return cls(origins)

    def __enter__(self) -> SiteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origins(self) -> tuple[Origin, ...]:
        return tuple(self._origins.values())

    def origin(self, name: str) -> Origin:
        return self._origins[name]

    def base_urls(self) -> dict[str, str]:
        return {name: origin.base_url for name, origin in self._origins.items()}

    def substitute(self, text: str) -> str:
        """Replace every ``{origin:NAME}`` with that origin's base URL (unknown names stay)."""
        return self.substitute_bytes(text.encode("utf-8")).decode("utf-8")

    def substitute_bytes(self, data: bytes) -> bytes:
        if b"{origin:" not in data:
            return data
        urls = {name.encode(): url.encode() for name, url in self.base_urls().items()}
        return _PLACEHOLDER.sub(lambda m: urls.get(m.group(1), m.group(0)), data)

    # The request log, shared by every origin.
    def requests(self, origin: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        return self.log.requests(origin, path)

    def paths(self, origin: str) -> list[str]:
        return self.log.paths(origin)

    def count(self, origin: str, path: str) -> int:
        return self.log.count(origin, path)

    def clear(self) -> None:
        self.log.clear()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered (so every ``completed`` is final)."""
        return self.log.wait_idle(timeout)

    def stop(self) -> None:
        """Stop serving, hang up on open connections and join every thread; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()
        stoppers = [threading.Thread(target=s.shutdown, daemon=True) for s in self._servers]
        for thread in stoppers:
            thread.start()
        for thread in stoppers + self._threads:
            thread.join()
        for server in self._servers:
            server.abort_connections()
            server.server_close()  # joins the handler threads

    def render(self, origin: Origin, route: Route) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, header lines and body for a route, placeholders resolved."""
        body = route.body.encode("utf-8") if isinstance(route.body, str) else route.body
        content_type = route.content_type
        headers: list[tuple[str, str]] = []
        for name, value in route.headers.items():
            for line in [value] if isinstance(value, str) else value:
                headers.append((name, self.substitute(line)))
        names = {name.lower() for name, _ in headers}
        if route.redirect_to is not None and "location" not in names:
            location = self.substitute(route.redirect_to)
            if location.startswith("/"):
                location = origin.base_url + location
            headers.append(("Location", location))
            if not body:
                body = f'<!doctype html><title>Moved</title><a href="{location}">moved</a>'.encode()
                content_type = HTML
        if _textual(content_type):
            body = self.substitute_bytes(body)
        if route.status in (204, 304) or route.status < 200:
            body = b""
        elif "content-length" not in names:
            headers.append(("Content-Length", str(len(body))))
        if content_type and "content-type" not in names:
            headers.append(("Content-Type", content_type))
        return route.status, headers, body


class _OriginServer(ThreadingHTTPServer):
    """One origin's listening socket; knows its open connections so stop() can hang up."""

    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a crawler opens many at once,
    # and each dropped SYN costs a TCP retransmit timeout (1 s, 3 s, 7 s …).
    request_queue_size = 256
    block_on_close = True  # server_close() joins the (daemon) handler threads

    def __init__(self, origin: Origin, site: SiteServer) -> None:
        self.origin = origin
        self.site = site
        self._active: set[socket.socket] = set()
        self._active_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), slow in sandboxes.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            self._active.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._active_lock:
            self._active.discard(request)
        super().shutdown_request(request)

    def abort_connections(self) -> None:
        with self._active_lock:
            active = list(self._active)
        for sock in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.site.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10.0  # a client that connects and says nothing does not hold a thread forever
    server: _OriginServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log replaces stderr logging."""

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        self.close_connection = True
        length = self.headers.get("Content-Length", "")
        if length.isdigit():
            self.rfile.read(min(int(length), 1 << 20))
        target = self.path
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        origin, site = self.server.origin, self.server.site
        request = Request(
            origin.name, self.command, target, {k.lower(): v for k, v in self.headers.items()}
        )
        entry = site.log.open(
            LoggedRequest(origin.name, self.command, target, request.user_agent, time.time())
        )
        completed = False
        try:
            completed = self._respond(origin, site, request, entry)
        finally:
            site.log.close(entry, completed)

    def _respond(
        self, origin: Origin, site: SiteServer, request: Request, entry: LoggedRequest
    ) -> bool:
        try:
            route = origin.resolve(request)
        except Exception as exc:
            site.errors.append(f"{origin.name} {request.path}: route raised {exc!r}")
            route = Route(500, f"route raised {exc!r}", content_type=TEXT)
        if not self._pause(route.delay):
            return False
        status, headers, body = site.render(origin, route)
        if self.command == "HEAD":
            body = b""
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Connection", "close")
            if not body:
                site.log.mark(entry, True)  # before the client can see the end of it
            self.end_headers()  # flushes the headers
            if not body:
                return True
            if not self._pause(route.body_delay):
                return False
            view = memoryview(body)
            for start in range(0, len(body), CHUNK):
                if start + CHUNK >= len(body):
                    site.log.mark(entry, True)
                self.wfile.write(view[start : start + CHUNK])
            return True
        except OSError:  # broken pipe, connection reset, timeout: the client went away
            return False

    def _pause(self, seconds: float) -> bool:
        """Sleep; False as soon as the server stops or the client hangs up."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.server.site.stopping.wait(min(left, 0.02)) or self._peer_closed():
                return False
        return not self.server.site.stopping.is_set()

    def _peer_closed(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
