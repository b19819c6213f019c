"""Secrets (issue #8 part 5): credentials and registry auth never appear in logs, manifests,
provenance or error messages.  Crawls run with known fake secrets (AWS keys for moto, a
registry API key named by the policy's ``registry.auth_env``, a registry URL carrying
``user:password@``), on the happy path and on failure paths (S3 unreachable, registry 503),
and every output is searched for each secret: stdout, stderr, the log file, every object in
the store (gzipped parts decompressed, manifests, evidence, the index), the spool and the
frontier.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.demo.server import Origin, Route, SiteServer
from tests.clitools import console_script
from tests.crawlkit import FAST, derived_policy, wait_until
from tests.registrykit import RegistryServer
from tests.s3kit import FAKE_CREDENTIALS, MotoS3, OutageProxy, moto_server

API_KEY = "fake-registry-api-key-3f9a1c77"
REGISTRY_USER = "registry-user-b41d"
REGISTRY_PASSWORD = "fake-registry-password-c0ffee21"
BASIC_AUTH = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
SECRETS = (*FAKE_CREDENTIALS, API_KEY, REGISTRY_USER, REGISTRY_PASSWORD, BASIC_AUTH)
KEY_ENV = "CONSENT_TEST_REGISTRY_KEY"


def site() -> Origin:
    links = " ".join(f'<a href="/p{i}">p{i}</a>' for i in range(6))
    routes = {"/": Route(body=f"<html lang=en><title>home</title><p>home</p>{links}</html>")}
    for i in range(6):
        routes[f"/p{i}"] = Route(
            body=f"<html lang=en><title>p{i}</title><p>page {i}</p></html>", delay=0.05
        )
    return Origin("site", routes)


def with_password(url: str) -> str:
    return url.replace("http://", f"http://{REGISTRY_USER}:{REGISTRY_PASSWORD}@", 1)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def readable(data: bytes) -> Iterator[bytes]:
    """The bytes as stored, and decompressed where they are gzip or zlib streams."""
    yield data
    if data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)
    elif data[:1] == b"\x78":
        with contextlib.suppress(zlib.error):
            yield zlib.decompress(data)


def leaks(outputs: dict[str, bytes]) -> list[str]:
    found = []
    for where, data in outputs.items():
        for text in readable(data):
            found += [f"{secret!r} in {where}" for secret in SECRETS if secret.encode() in text]
    return found


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def bucket_objects(s3: MotoS3) -> dict[str, bytes]:
    client = s3.client()
    keys = [
        obj["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket)
        for obj in page.get("Contents", [])
    ]
    return {
        f"s3://{s3.bucket}/{key}": client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        for key in keys
    }


def all_outputs(done: subprocess.CompletedProcess[str], tmp_path: Path) -> dict[str, bytes]:
    return {
        "stdout": done.stdout.encode(),
        "stderr": done.stderr.encode(),
        **files_under(tmp_path),  # log file, spool, frontier, local policy, cache
    }


def test_a_crawl_with_credentials_leaks_none_of_them(tmp_path: Path) -> None:
    """S3 store on moto and a registry asked with an API key; DEBUG logging into a file."""
    origin = site()
    log_file = tmp_path / "crawl.log"
    with moto_server() as s3, SiteServer([origin]), RegistryServer() as registry:
        policy = derived_policy(
            tmp_path,
            f'[registry]\nenabled = true\nurl = "{registry.url}"\nauth_env = "{KEY_ENV}"\n'
            "retries = 0\n",
        )
        store = ["--store", s3.url("crawls"), "--s3-endpoint", s3.endpoint]
        logging = [
            "--allow-private",
            *FAST,
            "--log-level",
            "DEBUG",
            "--set",
            f"LOG_FILE={log_file}",
        ]
        done = run(
            ["crawl", origin.url("/"), *store, "--policy", policy, "--job-id", "secrets", *logging],
            {KEY_ENV: API_KEY, "XDG_CACHE_HOME": str(tmp_path / "cache")},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert set(registry.auth) == {f"API {API_KEY}"}  # the key was used, on the wire only
        stored = bucket_objects(s3)
    assert any(key.endswith("/manifest.json") for key in stored)
    assert any("/items/" in key for key in stored) and log_file.stat().st_size > 0
    assert leaks({**all_outputs(done, tmp_path), **stored}) == []


def test_failures_leak_no_credentials_either(tmp_path: Path) -> None:
    """The registry URL carries user:password and answers 503; the S3 store goes away in the
    middle of the crawl and stays away: errors are logged and recorded, the spool is kept,
    and no secret is in any of it."""
    origin = site()
    with moto_server() as s3, SiteServer([origin]) as web, RegistryServer() as registry:
        registry.down = True
        policy = derived_policy(tmp_path, "[registry]\nretries = 0\n")
        options = ["--job-id", "failing", "--allow-private", "--log-level", "DEBUG", *FAST]
        options += ["--set", "CONSENT_UPLOAD_TIMEOUT=2"]
        proxy = OutageProxy(s3.port)
        try:
            store = ["--store", s3.url("crawls"), "--s3-endpoint", proxy.endpoint]
            registry_args = ["--registry", with_password(registry.url), "--policy", policy]
            process = subprocess.Popen(
                [console_script(), "crawl", origin.url("/"), *store, *registry_args, *options],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
            )
            wait_until(lambda: bool(web.requests()))
            proxy.down()
            stdout, stderr = process.communicate(timeout=120)
        finally:
            proxy.close()
        assert registry.batches, "the registry was asked"
        stored = bucket_objects(s3)
    assert process.returncode == 1, stderr[-3000:]  # the store was unreachable at the end
    assert "registry" in stderr and "upload" in stderr  # the failures were reported
    spool = files_under(tmp_path / "cache")
    assert any("/spool/" in name for name in spool), "the spool is kept for --resume"
    done = subprocess.CompletedProcess(process.args, 1, stdout, stderr)
    assert leaks({**all_outputs(done, tmp_path), **stored}) == []


@pytest.mark.parametrize("down", [False, True])
def test_registry_check_prints_no_secret(tmp_path: Path, down: bool) -> None:
    with RegistryServer() as registry:
        registry.down = down
        policy = derived_policy(tmp_path, f'[registry]\nauth_env = "{KEY_ENV}"\nretries = 0\n')
        url = with_password(registry.url)
        checked = run(
            ["registry", "check", "https://a.example/x", "--registry", url, "--policy", policy],
            {KEY_ENV: API_KEY},
        )
        assert registry.auth == [f"Basic {BASIC_AUTH}"]  # user:password went on the wire
    assert checked.returncode == (1 if down else 0), checked.stderr
    assert "127.0.0.1" in (checked.stderr if down else checked.stdout)  # the registry is named
    assert leaks(all_outputs(checked, tmp_path)) == []


def test_an_unreachable_store_prints_no_secret(tmp_path: Path) -> None:
    with moto_server() as s3:
        endpoint = s3.endpoint
        credentials = {
            name: os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN")
        }
        credentials["AWS_SECRET_ACCESS_KEY"] = os.environ["AWS_SECRET_ACCESS_KEY"]
    # S3 is gone before the crawl starts: refused up front, with the store's error message.
    store = ["--store", "s3://nowhere/x", "--s3-endpoint", endpoint]
    registry = ["--registry", with_password("http://127.0.0.1:9/api/v2/query/urls/")]
    refused = run(
        ["crawl", "http://127.0.0.1:9/", *store, *registry, "--log-level", "DEBUG"], credentials
    )
    assert refused.returncode == 2 and "store error" in refused.stderr, refused.stderr
    assert leaks({"stdout": refused.stdout.encode(), "stderr": refused.stderr.encode()}) == []
