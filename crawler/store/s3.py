"""An ObjectStore in an S3 bucket (AWS or an S3-compatible store: MinIO, R2, Ceph, ...).

Credentials come only from boto3's standard chain (environment, shared config, SSO, instance
roles); this module never takes, stores or prints them.  Error messages are built from the S3
error code and message, then scrubbed of anything that looks like a credential, because they end
up in logs, manifests and CI output.

Connection failures (endpoint down, timeouts, dropped connections) and S3's "try again" answers
(5xx, throttling) raise ``S3StoreError`` with ``transient = True``: the uploader keeps the local
copy and retries later instead of failing the job.  Everything else is permanent.

The boto3 client is thread-safe, so one ``S3Objects`` can serve the crawl and the uploader thread.
"""

from __future__ import annotations

import ipaddress
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# boto3/botocore ship no type information; their objects are Any here (no stub dependency).
import boto3  # type: ignore[import-untyped]
from boto3.exceptions import Boto3Error  # type: ignore[import-untyped]
from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ReadTimeoutError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from .objects import StoreError

# Failures of the network path rather than answers from S3: worth retrying later.  The named
# classes are the ones an outage produces; their bases (ConnectionError, HTTPClientError) also
# cover proxy connection failures and a response stream cut short.  TLS errors are left out
# (see _error): a certificate problem does not go away by waiting.
_UNREACHABLE: tuple[type[Exception], ...] = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
    BotoConnectionError,
    HTTPClientError,
    IncompleteReadError,
)
# S3 answers that mean "not now" rather than "no".
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }
)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})

# What S3-compatible stores need and what an unreachable endpoint should cost:
# - botocore >= 1.36 by default ("when_supported") sends a CRC32 checksum with every upload
#   (as aws-chunked trailers for streamed bodies) and validates checksums in responses; MinIO,
#   R2 and Ceph versions without full support reject such requests.  "when_required" restores
#   the earlier behaviour: checksums only where the S3 API demands them (e.g. DeleteObjects).
# - retries: "total_max_attempts" counts the first try too (botocore's "max_attempts" key counts
#   *retries*, so max_attempts=3 would be 4 requests).  Three requests with standard-mode
#   backoff (jitter, at most 1 s + 2 s between them) make an outage surface within seconds;
#   longer waits are the uploader's job, which retries without blocking the crawl.
# - timeouts: connecting is quick or the endpoint is down; reads may wait for a large body.
_CLIENT_CONFIG = Config(
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=5,
    read_timeout=30,
)
# Custom endpoints (MinIO, Ceph, R2, moto) often have no wildcard DNS for <bucket>.<host>, which
# virtual-hosted addressing needs; every S3-compatible store understands path-style requests.
_PATH_STYLE = Config(s3={"addressing_style": "path"})
# The classic transfer manager uses our client (and its config); the CRT one would not.
# Files above 8 MiB go up in parts, and S3 publishes the object only on completion: still atomic.
_TRANSFER = TransferConfig(preferred_transfer_client="classic", multipart_threshold=8 * 1024**2)

_BUCKET_CHARS = re.compile(r"[a-z0-9.-]+")
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA)[A-Z0-9]{12,}\b")
_SECRET_FIELDS = re.compile(
    r"(?i)\b(X-Amz-Credential|X-Amz-Security-Token|X-Amz-Signature|AWSAccessKeyId|Signature"
    r"|Credential|aws_access_key_id|aws_secret_access_key|aws_session_token"
    r"|SecretAccessKey|SessionToken|AccessKeyId)(\s*[=:>]\s*)[^\s&,<\"']+"
)
_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_MAX_DETAIL = 300


class S3StoreError(StoreError):
    """An S3 store failure; ``transient`` says whether retrying later may succeed."""

    def __init__(self, message: str, *, transient: bool = False, code: str | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


def bucket_problem(bucket: str) -> str | None:
    """Why ``bucket`` cannot be an S3 bucket name, or None.

    The syntactic rules every bucket obeys (3-63 characters of a-z 0-9 . -, starting and ending
    with a letter or digit, no "..", not an IP address), checked early so a typo in ``--store``
    is reported as such instead of as an obscure signing or DNS error.  Creation-only rules
    (reserved prefixes and suffixes) are left out: access point aliases use such suffixes.
    """
    if not 3 <= len(bucket) <= 63:
        return f"must be 3 to 63 characters long, not {len(bucket)}"
    if bucket != bucket.lower():
        return "must be lowercase"
    if not _BUCKET_CHARS.fullmatch(bucket):
        return "may contain only lowercase letters, digits, '.' and '-'"
    if not (bucket[0].isalnum() and bucket[-1].isalnum()):
        return "must start and end with a letter or digit"
    if ".." in bucket:
        return "must not contain '..'"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        return None
    return "must not be an IP address"


def _prefix_problem(prefix: str) -> str | None:
    parts = prefix.split("/")
    if any(part == "" for part in parts):
        return "must not contain empty segments ('//')"
    if any(part in (".", "..") for part in parts):
        return "must not contain '.' or '..' segments"
    return None


def _check_key(key: str) -> None:
    """Reject what LocalObjects rejects, plus what would make a double slash in S3."""
    if not key or key.startswith("/") or ".." in key.split("/") or "//" in key:
        raise ValueError(f"not a store key: {key!r}")


def _client_secrets(client: Any) -> list[str]:
    """The credential values the client may sign with, so messages can be scrubbed of them.

    Read from the credentials object's instance dict (no property access, so no refresh and no
    network call) and from the environment; these values are only ever used for redaction.
    """
    values = [os.environ.get(name, "") for name in _CREDENTIAL_ENV]
    try:
        creds = client._request_signer._credentials
        if creds is not None:
            state = vars(creds)
            for attr in ("access_key", "secret_key", "token"):
                for name in (attr, f"_{attr}"):
                    value = state.get(name)
                    if isinstance(value, str):
                        values.append(value)
    except Exception:  # private botocore layout changed: the regexes below still apply
        pass
    return [v for v in values if len(v) >= 4]


def redact(text: str, secrets: list[str]) -> str:
    """``text`` without the given secrets and without anything shaped like an AWS credential."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _ACCESS_KEY_ID.sub("***", text)
    text = _SECRET_FIELDS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    if len(text) > _MAX_DETAIL:
        text = text[:_MAX_DETAIL] + "..."
    return text


def _error_code(exc: BaseException) -> tuple[str | None, int | None, str]:
    """(code, HTTP status, message) of a ClientError, also when boto3 wrapped it."""
    if not isinstance(exc, ClientError) and isinstance(exc.__context__, ClientError):
        exc = exc.__context__  # S3UploadFailedError, raised while handling the ClientError
    if not isinstance(exc, ClientError):
        return None, None, str(exc)
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    code = error.get("Code") or (str(status) if status else None)
    message = error.get("Message") or ""
    return code, status if isinstance(status, int) else None, message


class S3Objects:
    """A store under ``s3://bucket/prefix``; keys map to ``prefix/key`` objects."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        prefix = checked_location(bucket, prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.client = client
        self.location = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3Objects:
        """The store for ``s3://bucket[/prefix]``, with a client from the standard chain.

        The endpoint is ``endpoint_url`` if given, else whatever boto3 resolves itself
        (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, the shared config file, else AWS).
        """
        bucket, prefix = parse_url(url)
        config = _CLIENT_CONFIG
        if endpoint_url or _endpoint_from_env():
            config = config.merge(_PATH_STYLE)
        try:
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        except (ValueError, BotoCoreError) as exc:
            detail = redact(str(exc), [v for v in map(os.environ.get, _CREDENTIAL_ENV) if v])
            raise S3StoreError(
                f"s3://{bucket}: cannot set up the S3 client: {type(exc).__name__}: {detail}"
            ) from None
        return cls(bucket, prefix, client)

    def __repr__(self) -> str:
        return f"S3Objects({self.location!r})"

    # -- keys -----------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self, key: str | None) -> str:
        return f"s3://{self.bucket}/{self._key(key)}" if key else self.location

    def _error(self, what: str, key: str | None, exc: BaseException) -> S3StoreError:
        """A sanitised S3StoreError for a boto3/botocore failure (``what`` failed on ``key``)."""
        secrets = _client_secrets(self.client)
        where = self._where(key)
        name = type(exc).__name__
        if isinstance(exc, _UNREACHABLE) and not isinstance(exc, SSLError):
            return S3StoreError(
                f"{where}: {what}: S3 endpoint unreachable or not answering "
                f"({name}: {redact(str(exc), secrets)}); retry later",
                transient=True,
                code=name,
            )
        code, status, message = _error_code(exc)
        if code is None:  # no answer from S3: credentials, TLS, configuration
            return S3StoreError(f"{where}: {what}: {name}: {redact(message, secrets)}", code=name)
        transient = code in _TRANSIENT_CODES or status in (429, 500, 502, 503, 504)
        status_text = f" (HTTP {status})" if status else ""
        return S3StoreError(
            f"{where}: {what}: {code}{status_text}: {redact(message, secrets)}",
            transient=transient,
            code=code,
        )

    # -- ObjectStore ----------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Put and delete a probe object: proves bucket, credentials and permissions up front."""
        probe = f".write-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(probe), Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=self._key(probe))
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._error("cannot write to the store", None, exc) from None

    def put(self, key: str, data: bytes) -> None:
        """One PutObject: S3 makes the object visible only once it is complete."""
        full = self._key(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data)
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._error("put failed", key, exc) from None

    def put_file(self, key: str, path: Path) -> None:
        """Upload from disk without reading it into memory; multipart above 8 MiB."""
        full = self._key(key)
        try:
            self.client.upload_file(str(path), self.bucket, full, Config=_TRANSFER)
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._error("put failed", key, exc) from None

    def get(self, key: str) -> bytes:
        full = self._key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=full)
            body: bytes = response["Body"].read()
        except ClientError as exc:
            if _error_code(exc)[0] in _MISSING_KEY_CODES:
                raise KeyError(key) from None
            raise self._error("get failed", key, exc) from None
        except (BotoCoreError, Boto3Error) as exc:
            raise self._error("get failed", key, exc) from None
        return body

    def exists(self, key: str) -> bool:
        """HeadObject; a missing bucket also reads as False (HEAD answers carry no error code)."""
        full = self._key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if _error_code(exc)[0] in _MISSING_KEY_CODES:
                return False
            raise self._error("exists failed", key, exc) from None
        except (BotoCoreError, Boto3Error) as exc:
            raise self._error("exists failed", key, exc) from None
        return True

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix``, relative to the store, sorted.

        All pages are fetched before returning, so failures surface here and not halfway through
        the caller's loop.  Names starting with "." are hidden, as LocalObjects hides them: they
        are probes (or, locally, temporary files), never layout objects.
        """
        if prefix.startswith("/") or ".." in prefix.split("/"):
            raise ValueError(f"not a store prefix: {prefix!r}")
        base = f"{self.prefix}/" if self.prefix else ""
        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix
            )
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"][len(base) :]
                    if not key.rsplit("/", 1)[-1].startswith("."):
                        keys.append(key)
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._error("list failed", None, exc) from None
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        """DeleteObject; deleting a missing key is not an error (as in S3 itself)."""
        full = self._key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full)
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._error("delete failed", key, exc) from None


def _endpoint_from_env() -> bool:
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return False
    return bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket[/prefix]``; StoreError naming what is wrong."""
    if not url.startswith("s3://"):
        raise S3StoreError(f"not an S3 URL (expected s3://bucket/prefix): {url!r}")
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket:
        # s3://KEY:SECRET@bucket: never echo it, it may hold credentials.
        raise S3StoreError(
            "S3 URLs must not contain credentials (user@ or key:secret@); "
            "use the standard AWS credential chain (environment, profile, role)"
        )
    if not bucket:
        raise S3StoreError(f"S3 URL without a bucket name: {url!r}")
    if "?" in url or "#" in url:
        raise S3StoreError(f"S3 URL must not contain '?' or '#': {url!r}")
    return bucket, checked_location(bucket, prefix, url)


def checked_location(bucket: str, prefix: str, url: str | None = None) -> str:
    """The prefix without its slashes, once bucket and prefix are valid; S3StoreError naming
    what is wrong (and the URL it came from) otherwise."""
    where = f"{url!r}: " if url else ""
    problem = bucket_problem(bucket)
    if problem:
        raise S3StoreError(f"{where}invalid S3 bucket name {bucket!r}: {problem}")
    prefix = prefix.strip("/")
    problem = _prefix_problem(prefix) if prefix else None
    if problem:
        raise S3StoreError(f"{where}invalid S3 prefix {prefix!r} in bucket {bucket!r}: {problem}")
    return prefix
