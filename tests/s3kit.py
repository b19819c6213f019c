"""A local S3 for tests: moto's server on 127.0.0.1, fake credentials, one bucket.

Tests talk to it over real HTTP through real boto3 clients, so what is exercised is what runs
against AWS or MinIO: signing, retries, timeouts, multipart uploads, error parsing.  Nothing
ever leaves the machine: the endpoint is always the local server, and the environment is
stripped of anything (profiles, config files, endpoints, instance metadata) that could point
boto3 elsewhere.

Outages: ``stop()`` closes the listening socket (connections are refused, as when an endpoint
is down) and ``start()`` listens again on the same port.  moto keeps its backends (buckets,
objects) in module-level state of this process, not in the server, so objects written before an
outage are still there after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

# Distinctive, so a test can search error messages for them; none looks like a real key.
FAKE_ACCESS_KEY_ID = "testing-key-id-0d5c9a"
FAKE_SECRET_ACCESS_KEY = "testing-secret-5e1f7b-never-print-me"
FAKE_SESSION_TOKEN = "testing-session-token-8a2c44"
FAKE_CREDENTIALS = (FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FAKE_SESSION_TOKEN)

_ENV_SET = {
    "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
    "AWS_SESSION_TOKEN": FAKE_SESSION_TOKEN,
    "AWS_DEFAULT_REGION": "us-east-1",
    # No ~/.aws files, no EC2/ECS metadata lookups: fake credentials or nothing.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_ENV_REMOVE = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@contextmanager
def fake_aws_env() -> Iterator[None]:
    """Fake credentials and region in os.environ; the previous values are restored after."""
    saved = {name: os.environ.get(name) for name in (*_ENV_SET, *_ENV_REMOVE)}
    try:
        for name in _ENV_REMOVE:
            os.environ.pop(name, None)
        os.environ.update(_ENV_SET)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _quiet_server() -> Iterator[None]:
    """Keep werkzeug's per-request log lines (one per S3 call, on stderr) out of test output."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class MotoS3:
    """A running moto server with one bucket; ``stop()``/``start()`` simulate an outage."""

    host: str
    port: int
    bucket: str
    _server: Any = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, prefix: str = "") -> str:
        """``s3://bucket/prefix`` (or ``s3://bucket``) for S3Objects.from_url / --store."""
        return f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"

    def client(self) -> Any:
        """A plain boto3 client on this server, for setting up and inspecting test state."""
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 2},
            connect_timeout=2,
            read_timeout=10,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return boto3.session.Session().client("s3", endpoint_url=self.endpoint, config=config)

    def start(self) -> None:
        """Listen again on the same port (after ``stop()``); moto's state is kept."""
        from moto.server import ThreadedMotoServer

        if self._server is not None:
            return
        # ThreadedMotoServer.start() waits forever if its thread fails to bind: check first.
        if not _port_is_free(self.host, self.port):
            raise RuntimeError(f"cannot restart moto: {self.host}:{self.port} is taken")
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self._server = server

    def stop(self) -> None:
        """Stop listening: new connections are refused until ``start()``.

        werkzeug's serve_forever closes the listening socket when it returns, and (as observed
        with werkzeug 3.1) its keep-alive handler threads end too: pooled connections fail.
        """
        if self._server is not None:
            self._server.stop()
            self._server = None


@contextmanager
def moto_server(bucket: str | None = None) -> Iterator[MotoS3]:
    """A moto S3 server on 127.0.0.1 (free port) with ``bucket`` created, fake AWS env set.

    The port is chosen by binding to port 0 (the server itself binds it, so no other process
    can take it between choosing and listening); restarts reuse it.
    """
    from moto.server import ThreadedMotoServer

    bucket = bucket or f"test-{uuid.uuid4().hex[:12]}"
    with fake_aws_env(), _quiet_server():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        s3 = MotoS3(host=host, port=port, bucket=bucket, _server=server)
        try:
            s3.client().create_bucket(Bucket=bucket)
            yield s3
        finally:
            s3.stop()


class OutageProxy:
    """A TCP proxy to a local server whose outage is real: ``down()`` refuses new connections
    and cuts every open one (moto's own stop() can leave keep-alive connections serving),
    ``up()`` listens again on the same port."""

    host = "127.0.0.1"  # where it listens (subclasses may take another loopback address)

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._start_accepting()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, port))
        listener.listen(64)
        return listener

    def _start_accepting(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: down()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                with self._lock:
                    self._sockets.discard(sock)

    def down(self) -> None:
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def up(self) -> None:
        self._listener = self._listen(self.port)
        self._start_accepting()

    def close(self) -> None:
        self.down()


# S3's answers that mean "try again": (HTTP status, error code).
S3_TRY_AGAIN = ((500, "InternalError"), (503, "ServiceUnavailable"), (503, "SlowDown"))


class S3FaultProxy:
    """An HTTP proxy to a local S3 that misbehaves as S3 does on a bad day.

    ``fail_next(...)`` makes it answer the next requests itself with S3 errors (500
    InternalError, 503 SlowDown, ...) before passing any through again; ``upload_delay``
    holds back every chunk of a PUT body it passes, so an upload stays in flight (``uploading``
    names the keys) long enough to kill the client in the middle of it.  Each connection
    carries one request (``Connection: close`` is forced), so every request is seen.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.upload_delay = 0.0
        self.answered: list[tuple[str, str, int, str]] = []  # method, path, status, code
        self.uploading: set[str] = set()
        self._errors: deque[tuple[int, str]] = deque()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, *errors: tuple[int, str]) -> None:
        with self._lock:
            self._errors.extend(errors)

    def pending_errors(self) -> int:
        with self._lock:
            return len(self._errors)

    def close(self) -> None:
        self._closed.set()

    def _accept(self) -> None:
        deadline = time.monotonic() + 600  # a forgotten proxy stops by itself
        with self._listener:
            while not self._closed.is_set() and time.monotonic() < deadline:
                try:
                    client, _ = self._listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(30)
        with contextlib.closing(client):
            head, rest = _read_head(client)
            if head is None:
                return
            method, path = [*head.split(b" ", 2), b"", b""][:2]
            with self._lock:
                error = self._errors.popleft() if self._errors else None
            if error is not None:
                status, code = error
                self.answered.append((method.decode(), path.decode(), status, code))
                with contextlib.suppress(OSError):
                    client.sendall(_s3_error(status, code, head_only=method == b"HEAD"))
                return
            with socket.create_connection(("127.0.0.1", self.target_port), timeout=30) as up:
                up.sendall(_close_after(head) + rest)
                key = path.decode() if method == b"PUT" else None
                sender = threading.Thread(target=self._pump_body, args=(client, up, key))
                sender.start()
                with contextlib.suppress(OSError):
                    while data := up.recv(65536):
                        client.sendall(data)
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
                sender.join(timeout=30)

    def _pump_body(self, client: socket.socket, up: socket.socket, key: str | None) -> None:
        try:
            while data := client.recv(65536):
                if key is not None and self.upload_delay:
                    with self._lock:
                        self.uploading.add(key)
                    time.sleep(self.upload_delay)
                up.sendall(data)
        except OSError:
            pass
        finally:
            if key is not None:
                with self._lock:
                    self.uploading.discard(key)
            with contextlib.suppress(OSError):
                up.shutdown(socket.SHUT_WR)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = sock.recv(65536)
            if not chunk:
                return None, b""
            data += chunk
    except OSError:
        return None, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _close_after(head: bytes) -> bytes:
    """The request head with ``Connection: close``: one request per proxied connection."""
    lines = [
        line
        for line in head.rstrip(b"\r\n").split(b"\r\n")
        if not line.lower().startswith(b"connection:")
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


def _s3_error(status: int, code: str, *, head_only: bool) -> bytes:
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        "<Message>injected by the test proxy</Message><RequestId>fault</RequestId></Error>"
    )
    body = b"" if head_only else xml.encode()
    reason = "Internal Server Error" if status == 500 else "Service Unavailable"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
