"""The ObjectStore contract, held by LocalObjects and by S3Objects on a local moto server.

The same tests run against both stores so the writer, verify and purge can rely on identical
behaviour whichever ``--store`` is used.  The S3-only tests cover what has no local equivalent:
URL parsing, endpoint configuration, outages (which must fail fast and be marked transient, then
recover with nothing lost) and error messages that never carry credentials.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.stub import Stubber

from crawler.store.objects import LocalObjects, ObjectStore, StoreError, open_objects
from crawler.store.s3 import S3Objects, S3StoreError
from tests.s3kit import FAKE_CREDENTIALS, MotoS3, fake_aws_env, moto_server

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def fake_env() -> Iterator[None]:
    """Fake credentials everywhere: creating a client must not find real ones or ask IMDS."""
    with fake_aws_env():
        yield


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    with moto_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LocalObjects | S3Objects:
    """An empty store: a fresh directory, or a fresh prefix in the moto bucket."""
    if request.param == "local":
        return LocalObjects(tmp_path / "store")
    server: MotoS3 = request.getfixturevalue("moto")
    return S3Objects.from_url(server.url(f"t/{uuid.uuid4().hex}"), endpoint_url=server.endpoint)


def assert_no_credentials(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc)
    for secret in FAKE_CREDENTIALS:
        assert secret not in text, f"credential leaked into: {text}"


# -- the contract, on both stores -----------------------------------------------------------


def test_round_trip_binary(store: ObjectStore) -> None:
    data = bytes(range(256)) * 17 + b"\x00\r\n\xff"
    store.put("jobs/j1/items/0000.jsonl.gz", data)
    assert store.get("jobs/j1/items/0000.jsonl.gz") == data


def test_empty_object(store: ObjectStore) -> None:
    store.put("evidence/empty", b"")
    assert store.get("evidence/empty") == b""
    assert store.exists("evidence/empty")


def test_put_file_large(store: ObjectStore, tmp_path: Path) -> None:
    data = random.Random(7).randbytes(10 * MiB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    store.put_file("jobs/j1/items/big.jsonl.gz", source)
    assert store.get("jobs/j1/items/big.jsonl.gz") == data
    assert source.exists()  # the caller owns the local copy
    if isinstance(store, S3Objects):  # 10 MiB > 8 MiB threshold: uploaded in parts
        head = store.client.head_object(
            Bucket=store.bucket, Key=f"{store.prefix}/jobs/j1/items/big.jsonl.gz"
        )
        assert head["ETag"].endswith('-2"'), head["ETag"]


def test_local_put_file_links_on_the_same_file_system_and_copies_otherwise(
    tmp_path: Path,
) -> None:
    store = LocalObjects(tmp_path / "store")
    source = tmp_path / "part.gz"
    source.write_bytes(b"part one")
    store.put_file("jobs/j/items/a.gz", source)
    stored = tmp_path / "store" / "jobs" / "j" / "items" / "a.gz"
    assert stored.read_bytes() == b"part one"
    assert stored.stat().st_ino == source.stat().st_ino  # linked, not copied
    source.unlink()  # what the uploader does next: the object stays
    assert store.get("jobs/j/items/a.gz") == b"part one"
    # Where a link cannot be made (here: a temporary file left by a crash is in the way),
    # the file is copied, and the object is still replaced whole.
    other = tmp_path / "part2.gz"
    other.write_bytes(b"part two")
    stored.with_name(f".a.gz.{os.getpid()}.tmp").write_bytes(b"left over")
    store.put_file("jobs/j/items/a.gz", other)
    assert store.get("jobs/j/items/a.gz") == b"part two"
    assert stored.stat().st_ino != other.stat().st_ino
    assert [p.name for p in stored.parent.iterdir()] == ["a.gz"]


def test_get_missing_is_key_error(store: ObjectStore) -> None:
    with pytest.raises(KeyError) as info:
        store.get("jobs/nope/manifest.json")
    assert info.value.args == ("jobs/nope/manifest.json",)


def test_exists(store: ObjectStore) -> None:
    assert not store.exists("evidence/abc")
    store.put("evidence/abc", b"x")
    assert store.exists("evidence/abc")
    assert not store.exists("evidence/ab")  # a prefix of a key is not a key
    assert not store.exists("evidence")


def test_list_nested_sorted_relative(store: ObjectStore) -> None:
    keys = [
        "jobs/j2/decisions/0000.jsonl.gz",
        "jobs/j1/manifest.json",
        "jobs/j1/items/0001.jsonl.gz",
        "evidence/ff00",
        "jobs/j1/items/0000.jsonl.gz",
        "jobs/j10/manifest.json",
    ]
    for key in keys:
        store.put(key, key.encode())
    assert list(store.list("jobs/j1/")) == [
        "jobs/j1/items/0000.jsonl.gz",
        "jobs/j1/items/0001.jsonl.gz",
        "jobs/j1/manifest.json",
    ]
    assert list(store.list("jobs/j1/items/")) == [
        "jobs/j1/items/0000.jsonl.gz",
        "jobs/j1/items/0001.jsonl.gz",
    ]
    assert list(store.list("jobs/")) == sorted(k for k in keys if k.startswith("jobs/"))
    assert list(store.list("jobs/j1/items/0001")) == ["jobs/j1/items/0001.jsonl.gz"]
    assert list(store.list("evidence/")) == ["evidence/ff00"]
    assert list(store.list("")) == sorted(keys)


def test_list_empty_prefix(store: ObjectStore) -> None:
    assert list(store.list("jobs/")) == []
    store.put("jobs/j1/manifest.json", b"{}")
    assert list(store.list("jobs/j2/")) == []
    assert list(store.list("evidence/")) == []


def test_list_hides_dot_names(store: ObjectStore) -> None:
    store.put("jobs/j1/.probe", b"")
    store.put("jobs/j1/manifest.json", b"{}")
    assert list(store.list("jobs/")) == ["jobs/j1/manifest.json"]


def test_delete(store: ObjectStore) -> None:
    store.put("jobs/j1/manifest.json", b"{}")
    store.delete("jobs/j1/manifest.json")
    assert not store.exists("jobs/j1/manifest.json")
    assert list(store.list("jobs/")) == []
    store.delete("jobs/j1/manifest.json")  # already gone: fine
    store.delete("never/existed")


def test_overwrite(store: ObjectStore) -> None:
    store.put("jobs/j1/manifest.json", b"first, longer version")
    store.put("jobs/j1/manifest.json", b"second")
    assert store.get("jobs/j1/manifest.json") == b"second"
    assert list(store.list("jobs/")) == ["jobs/j1/manifest.json"]


def test_unicode_keys(store: ObjectStore) -> None:
    keys = ["evidence/ünïcödé/日本語 file.txt", "evidence/ünïcödé/emoji-🦊", "evidence/a+b=c&d"]
    for key in keys:
        store.put(key, key.encode())
    for key in keys:
        assert store.get(key) == key.encode()
        assert store.exists(key)
    assert list(store.list("evidence/ünïcödé/")) == sorted(keys[:2])
    assert list(store.list("evidence/")) == sorted(keys)


@pytest.mark.parametrize("key", ["/etc/passwd", "jobs/../../escape"])
def test_rejects_keys_outside_the_store(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_local_list_all_beside_other_files(tmp_path: Path) -> None:
    (tmp_path / "not-in-the-store.txt").write_text("x")
    store = LocalObjects(tmp_path / "store")
    store.put("jobs/j1/manifest.json", b"{}")
    assert list(store.list("")) == ["jobs/j1/manifest.json"]


def test_check_writable(store: LocalObjects | S3Objects) -> None:
    store.check_writable()
    assert list(store.list("")) == []  # the probe is gone


# -- S3: locations and endpoints ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "prefix", "location"),
    [
        ("s3://my-bucket", "my-bucket", "", "s3://my-bucket"),
        ("s3://my-bucket/", "my-bucket", "", "s3://my-bucket"),
        ("s3://my.bucket-1/crawl/2026", "my.bucket-1", "crawl/2026", "s3://my.bucket-1/crawl/2026"),
        ("s3://abc/crawl/", "abc", "crawl", "s3://abc/crawl"),
        ("s3://abc//crawl", "abc", "crawl", "s3://abc/crawl"),
    ],
)
def test_from_url(url: str, bucket: str, prefix: str, location: str) -> None:
    objects = S3Objects.from_url(url, endpoint_url="http://127.0.0.1:9")
    assert (objects.bucket, objects.prefix, objects.location) == (bucket, prefix, location)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("s3://", "without a bucket"),
        ("s3:///crawl", "without a bucket"),
        ("s3://ab/crawl", "3 to 63 characters"),
        ("s3://" + "a" * 64, "3 to 63 characters"),
        ("s3://My-Bucket/crawl", "lowercase"),
        ("s3://my_bucket", "only lowercase letters, digits"),
        ("s3://-bucket", "start and end with a letter or digit"),
        ("s3://bucket.", "start and end with a letter or digit"),
        ("s3://my..bucket", "'..'"),
        ("s3://192.168.10.1", "IP address"),
        ("s3://bucket/a//b", "empty segments"),
        ("s3://bucket/a/../b", "'..' segments"),
        ("s3://bucket/crawl?versionId=1", "'?' or '#'"),
        ("https://bucket.s3.amazonaws.com/crawl", "not an S3 URL"),
    ],
)
def test_from_url_rejects(url: str, problem: str) -> None:
    with pytest.raises(StoreError, match=problem) as info:
        S3Objects.from_url(url, endpoint_url="http://127.0.0.1:9")
    assert isinstance(info.value, S3StoreError) and not info.value.transient


def test_from_url_with_credentials_is_rejected_without_echoing_them() -> None:
    with pytest.raises(StoreError, match="must not contain credentials") as info:
        S3Objects.from_url("s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI@bucket/crawl")
    assert "AKIAIOSFODNN7EXAMPLE" not in str(info.value)
    assert "wJalrXUtnFEMI" not in str(info.value)


def test_open_objects_picks_s3(moto: MotoS3) -> None:
    objects = open_objects(moto.url("via-open"), endpoint_url=moto.endpoint)
    assert isinstance(objects, S3Objects)
    assert objects.location == moto.url("via-open")


def test_missing_bucket_is_a_clear_error(moto: MotoS3) -> None:
    objects = S3Objects.from_url("s3://no-such-bucket-4711/crawl", endpoint_url=moto.endpoint)
    with pytest.raises(S3StoreError) as info:
        objects.check_writable()
    message = str(info.value)
    assert "s3://no-such-bucket-4711/crawl" in message
    assert "NoSuchBucket" in message
    assert not info.value.transient
    assert_no_credentials(info.value)


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_endpoint_from_environment(
    moto: MotoS3, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, moto.endpoint)
    objects = S3Objects.from_url(moto.url("from-env"))
    assert objects.client.meta.endpoint_url == moto.endpoint
    objects.put("k", b"v")
    assert moto.client().get_object(Bucket=moto.bucket, Key="from-env/k")["Body"].read() == b"v"


def test_hostname_endpoint_uses_path_style(moto: MotoS3) -> None:
    """Virtual-hosted style would need <bucket>.localhost to resolve; custom endpoints don't."""
    objects = S3Objects.from_url(moto.url("by-name"), endpoint_url=f"http://localhost:{moto.port}")
    objects.put("k", b"v")
    assert objects.get("k") == b"v"


def test_client_configuration(moto: MotoS3) -> None:
    config = S3Objects.from_url(moto.url(), endpoint_url=moto.endpoint).client.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (5, 30)


def test_no_checksum_headers_on_put(moto: MotoS3, tmp_path: Path) -> None:
    """What MinIO/R2/Ceph choke on: botocore's default CRC32 checksums on every upload."""
    objects = S3Objects.from_url(moto.url("checksums"), endpoint_url=moto.endpoint)
    sent: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        sent.append({k.lower(): str(v) for k, v in request.headers.items()})

    objects.client.meta.events.register("before-send.s3.PutObject", record)
    objects.put("k", b"v")
    (tmp_path / "small").write_bytes(b"w")
    objects.put_file("f", tmp_path / "small")
    assert len(sent) == 2
    for headers in sent:
        assert not [n for n in headers if "checksum" in n or n == "x-amz-trailer"], headers
        assert "aws-chunked" not in headers.get("content-encoding", "")


# -- S3: failures ------------------------------------------------------------------------------


def quick_client(endpoint: str, *, read_timeout: float = 1) -> Any:
    """One attempt, short timeouts: for exercising error translation without waiting."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=1,
        read_timeout=read_timeout,
    )
    from boto3.session import Session

    return Session().client("s3", endpoint_url=endpoint, config=config)


def every_operation(objects: S3Objects, tmp_path: Path) -> dict[str, Callable[[], object]]:
    source = tmp_path / "part.bin"
    source.write_bytes(b"part")
    return {
        "put": lambda: objects.put("b", b"2"),
        "put_file": lambda: objects.put_file("c", source),
        "get": lambda: objects.get("a"),
        "exists": lambda: objects.exists("a"),
        "list": lambda: list(objects.list("")),
        "delete": lambda: objects.delete("a"),
        "check_writable": objects.check_writable,
    }


def test_outage_is_transient_and_recoverable(tmp_path: Path) -> None:
    with moto_server() as s3:
        objects = S3Objects.from_url(s3.url("crawl"), endpoint_url=s3.endpoint)
        objects.put("a", b"before the outage")
        s3.stop()
        errors: list[S3StoreError] = []
        # The real client configuration (3 attempts, backoff) must still give up within seconds.
        for name, operation in list(every_operation(objects, tmp_path).items())[:3]:
            started = time.monotonic()
            with pytest.raises(S3StoreError) as info:
                operation()
            assert time.monotonic() - started < 8, f"{name} took too long"
            errors.append(info.value)
        # Every operation, with a single attempt so as not to wait for backoff.
        fast = S3Objects(s3.bucket, "crawl", quick_client(s3.endpoint))
        for operation in every_operation(fast, tmp_path).values():
            with pytest.raises(S3StoreError) as info:
                operation()
            errors.append(info.value)
        for error in errors:
            assert error.transient, error
            assert error.code == "EndpointConnectionError"
            assert "s3://" + s3.bucket in str(error)
            assert_no_credentials(error)

        s3.start()
        assert objects.get("a") == b"before the outage"
        objects.put("b", b"after")
        assert list(objects.list("")) == ["a", "b"]
        objects.check_writable()


def _serve(handle: Callable[[socket.socket], None]) -> tuple[str, Callable[[], None]]:
    """A TCP server on 127.0.0.1 that hands every connection to ``handle``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stopping = threading.Event()
    connections: list[socket.socket] = []

    def run() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections.append(conn)
            handle(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join()
        listener.close()
        for conn in connections:
            conn.close()

    return f"http://127.0.0.1:{listener.getsockname()[1]}", stop


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [("silent", "ReadTimeoutError"), ("hang-up", "ConnectionClosedError")],
)
def test_broken_endpoint_is_transient(behaviour: str, code: str) -> None:
    def handle(conn: socket.socket) -> None:
        if behaviour == "hang-up":
            conn.recv(65536)
            conn.close()
        # "silent": keep the connection open and never answer

    endpoint, stop = _serve(handle)
    try:
        objects = S3Objects("bucket", "crawl", quick_client(endpoint, read_timeout=0.5))
        with pytest.raises(S3StoreError) as info:
            objects.get("a")
        assert info.value.transient
        assert info.value.code == code
        assert_no_credentials(info.value)
    finally:
        stop()


def stubbed(moto: MotoS3) -> tuple[S3Objects, Stubber]:
    objects = S3Objects.from_url(moto.url("stubbed"), endpoint_url=moto.endpoint)
    return objects, Stubber(objects.client)


@pytest.mark.parametrize(
    ("error_code", "status", "transient"),
    [
        ("AccessDenied", 403, False),
        ("InvalidAccessKeyId", 403, False),
        ("SlowDown", 503, True),
        ("InternalError", 500, True),
    ],
)
def test_service_errors(moto: MotoS3, error_code: str, status: int, transient: bool) -> None:
    objects, stubber = stubbed(moto)
    stubber.add_client_error("put_object", error_code, "denied", status)
    with stubber, pytest.raises(S3StoreError) as info:
        objects.put("k", b"v")
    assert info.value.transient is transient
    assert info.value.code == error_code
    assert f"{error_code} (HTTP {status})" in str(info.value)
    assert "s3://" + moto.bucket + "/stubbed/k" in str(info.value)


def test_error_messages_are_scrubbed_of_credentials(moto: MotoS3) -> None:
    """S3's own answers may quote the key id (InvalidAccessKeyId, SignatureDoesNotMatch)."""
    objects, stubber = stubbed(moto)
    leaky = " ".join(
        [
            *FAKE_CREDENTIALS,
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE",
            "X-Amz-Credential=ASIAXXXXXXXXXXXXXXXX/20260101/us-east-1/s3/aws4_request",
            "X-Amz-Security-Token=FwoGZXIvYXdzEBYaDnotreal",
        ]
    )
    stubber.add_client_error("put_object", "SignatureDoesNotMatch", leaky, 403)
    stubber.add_client_error("get_object", "InvalidAccessKeyId", leaky, 403)
    with stubber:
        for operation in (lambda: objects.put("k", b"v"), lambda: objects.get("k")):
            with pytest.raises(S3StoreError) as info:
                operation()
            assert_no_credentials(info.value)
            text = str(info.value)
            for fragment in ("AKIAIOSFODNN7EXAMPLE", "ASIAXXXX", "FwoGZXIvYXdzEBYaDnotreal"):
                assert fragment not in text
            assert info.value.code in text
