"""A hostile web server for tests: one origin on 127.0.0.1 that misbehaves on purpose.

``crawler/demo/server.py`` serves well-formed HTTP; this serves what it cannot express: a body
that drips a few bytes at a time, headers that never end, a body that never ends, a gzip bomb,
headers of a megabyte, a Content-Length that lies, bytes that are not what the headers say.
Plain sockets and one thread per connection, so every byte goes out exactly as scripted.

Bounded life: the server stops by itself ``lifetime`` seconds after it starts; each response
has at most ``response_seconds`` and a byte limit; every socket has a timeout; connections are
capped in number.  A test that forgets to stop it, or a client that stops reading, cannot leave
a thread spinning.

Each request is logged as an ``Exchange``: the bytes sent, ``completed`` when the whole
scripted response was written, ``hung_up`` when the client closed the connection first (the
proof that a cap cut a download short).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import random
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

HTML = "text/html; charset=utf-8"
_READ_LIMIT = 64 * 1024  # request head; anything longer is not a request we serve
_SOCKET_TIMEOUT = 5.0  # a peer that neither reads nor writes for this long is gone
_STEP = 0.05  # how often pauses look for a hang-up


class _Over(Exception):
    """The response must stop: the client hung up, or a time or byte limit was reached."""


@dataclass
class Exchange:
    """One request and how its response went."""

    path: str
    started: float
    bytes_sent: int = 0
    completed: bool = False  # the whole scripted response was written
    hung_up: bool = False  # the client closed the connection before that
    ended: float | None = None


class Conn:
    """What a script writes to: the client socket, counted, with the response's limits."""

    def __init__(
        self, sock: socket.socket, exchange: Exchange, deadline: float, max_bytes: int
    ) -> None:
        self.sock = sock
        self.exchange = exchange
        self.deadline = deadline
        self.max_bytes = max_bytes

    def send(self, data: bytes) -> None:
        if time.monotonic() >= self.deadline or self.exchange.bytes_sent >= self.max_bytes:
            raise _Over
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            self.exchange.hung_up = True
            raise _Over from exc
        except TimeoutError as exc:  # the client stopped reading
            raise _Over from exc
        self.exchange.bytes_sent += len(data)

    def pause(self, seconds: float) -> None:
        """Wait, noticing a hang-up at once (a readable socket that reads empty)."""
        until = min(time.monotonic() + seconds, self.deadline)
        while (left := until - time.monotonic()) > 0:
            readable, _, _ = select.select([self.sock], [], [], min(left, _STEP))
            if readable:
                if self._peer_closed():
                    self.exchange.hung_up = True
                    raise _Over
                time.sleep(_STEP)  # the client sent more (ignored): do not spin on it
        if time.monotonic() >= self.deadline:
            raise _Over

    def _peer_closed(self) -> bool:
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except (ConnectionResetError, ConnectionAbortedError):
            return True
        except (BlockingIOError, TimeoutError):
            return False


Script = Callable[[Conn], None]


def head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Whatever'}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def page(
    body: bytes | str,
    *,
    status: int = 200,
    content_type: str = HTML,
    headers: Iterable[tuple[str, str]] = (),
) -> Script:
    """A well-formed response (the normal pages between the hostile ones)."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    lines = [("Content-Type", content_type), *headers]
    lines += [("Content-Length", str(len(data))), ("Connection", "close")]

    def script(conn: Conn) -> None:
        conn.send(head(status, lines) + data)

    return script


def drip(*, every: float = 0.2, piece: bytes = b"<p>drip</p>\n", declared: int = 10**6) -> Script:
    """Headers at once, then the body a few bytes at a time, never reaching Content-Length."""

    def script(conn: Conn) -> None:
        conn.send(head(200, [("Content-Type", HTML), ("Content-Length", str(declared))]))
        while True:  # ends by the response's deadline or the client hanging up
            conn.send(piece)
            conn.pause(every)

    return script


def drip_headers(*, every: float = 0.2) -> Script:
    """A status line, then one header line at a time, never ending the headers."""

    def script(conn: Conn) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\n")
        for n in range(1_000_000):
            conn.send(f"X-Drip-{n}: still coming\r\n".encode())
            conn.pause(every)

    return script


def endless(
    *,
    content_type: str = HTML,
    prefix: bytes = b"",
    filler: bytes = b"<p>more</p>\n" * 5000,
    chunked: bool = False,
    declared: int | None = None,
) -> Script:
    """``prefix``, then ``filler`` without end (until the byte limit).  Framed by the
    connection closing, by chunks, or under a ``declared`` Content-Length it never reaches."""
    if declared is not None:
        framing = ("Content-Length", str(declared))
    elif chunked:
        framing = ("Transfer-Encoding", "chunked")
    else:
        framing = ("Connection", "close")

    def frame(data: bytes) -> bytes:
        if not chunked or not data:  # an empty chunk would end the body
            return data
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    def script(conn: Conn) -> None:
        conn.send(head(200, [("Content-Type", content_type), framing]) + frame(prefix))
        piece = frame(filler)
        while True:
            conn.send(piece)

    return script


@functools.cache
def _bomb(decompressed: int) -> bytes:
    return gzip.compress(b"\0" * decompressed, compresslevel=9, mtime=0)


def gzip_bomb(decompressed: int, *, content_type: str = HTML) -> Script:
    """A small gzip body that inflates to ``decompressed`` bytes of zeros."""
    return page(
        _bomb(decompressed), content_type=content_type, headers=[("Content-Encoding", "gzip")]
    )


def bad_encoding(encoding: str = "gzip") -> Script:
    """Content-Encoding says gzip (or another), the body is not."""
    return page(
        b"<html><body>not compressed at all</body></html>", headers=[("Content-Encoding", encoding)]
    )


def huge_header(size: int) -> Script:
    """One header line of ``size`` bytes."""
    return page("<p>big head</p>", headers=[("X-Huge", "h" * size)])


def many_headers(count: int) -> Script:
    return page("<p>many heads</p>", headers=[(f"X-Many-{n}", "v") for n in range(count)])


def lying_length(*, declared: int, sent: bytes = b"<html><body>short</body></html>") -> Script:
    """Content-Length promises ``declared`` bytes; fewer come, then the connection closes."""

    def script(conn: Conn) -> None:
        conn.send(head(200, [("Content-Type", HTML), ("Content-Length", str(declared))]) + sent)

    return script


def noise(size: int, *, content_type: str = HTML, seed: int = 8) -> Script:
    """``size`` random bytes, served as ``content_type``."""
    return page(random.Random(seed).randbytes(size), content_type=content_type)


def raw(data: bytes) -> Script:
    """Bytes as they are: not necessarily HTTP at all."""

    def script(conn: Conn) -> None:
        conn.send(data)

    return script


class HostileServer:
    """Serves ``routes`` (path → script; ``default`` for the rest) on 127.0.0.1 until
    ``stop()``, the end of a ``with`` block, or ``lifetime`` seconds, whichever comes first."""

    def __init__(
        self,
        routes: Mapping[str, Script],
        *,
        default: Script | None = None,
        lifetime: float = 180.0,
        response_seconds: float = 30.0,
        response_bytes: int = 1 << 30,
        max_connections: int = 2000,
    ) -> None:
        self.routes = dict(routes)
        self.default = default or page("<p>not found</p>", status=404)
        self.response_seconds = response_seconds
        self.response_bytes = response_bytes
        self.max_connections = max_connections
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(_STEP)
        self.port: int = self._listener.getsockname()[1]
        self._deadline = time.monotonic() + lifetime
        self._acceptor = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        self._acceptor.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def exchanges(self, path: str | None = None) -> list[Exchange]:
        with self._lock:
            return [replace(e) for e in self._exchanges if path is None or e.path == path]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every response has ended (so ``hung_up``/``completed`` are final)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(e.ended is not None for e in self._exchanges):
                    return True
            time.sleep(_STEP)
        return False

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        for thread in list(self._threads):
            thread.join(timeout=_SOCKET_TIMEOUT + 1)

    def _accept(self) -> None:
        try:
            while not self._stopping.is_set() and time.monotonic() < self._deadline:
                if len(self._threads) >= self.max_connections:
                    break
                try:
                    client, _ = self._listener.accept()
                except TimeoutError:
                    continue
                thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
                self._threads.append(thread)
                thread.start()
        finally:
            self._listener.close()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(_SOCKET_TIMEOUT)
        with contextlib.closing(client):
            path = _read_request_path(client)
            if path is None:
                return
            exchange = Exchange(path, time.time())
            with self._lock:
                self._exchanges.append(exchange)
            deadline = min(time.monotonic() + self.response_seconds, self._deadline)
            conn = Conn(client, exchange, deadline, self.response_bytes)
            script = self.routes.get(path.split("?", 1)[0], self.default)
            try:
                if not self._stopping.is_set():
                    script(conn)
                    exchange.completed = True
            except (_Over, OSError):
                pass
            finally:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
                with self._lock:
                    exchange.ended = time.time()


def _read_request_path(client: socket.socket) -> str | None:
    """The request target of the request head on ``client``, or None if there is none."""
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < _READ_LIMIT:
            chunk = client.recv(4096)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    parts = data.split(b"\r\n", 1)[0].split()
    if len(parts) != 3:
        return None
    return parts[1].decode("latin-1")
