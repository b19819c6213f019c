"""Opt-out registry clients (issue #5): Spawning-compatible HTTP with ``responses``, and the file
registry.  signals.md §12.9 vectors are named after their ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
from responses import matchers

from crawler.core import Evidence, decide, load_policy
from crawler.registry import FileRegistry, HttpRegistry, RegistryError
from tests.clitools import run_cli
from tests.vectorlib import ROOT

API = "https://registry.example/api/v2/query/urls/"
POLICY = load_policy(ROOT / "policies" / "default.toml")


def _reply(*entries: tuple[str, bool, bool]) -> dict[str, object]:
    return {"urls": [{"url": u, "optOut": out, "optIn": inn} for u, out, inn in entries]}


def _client(**kwargs: object) -> HttpRegistry:
    return HttpRegistry(API, sleep=lambda _: None, **kwargs)  # type: ignore[arg-type]


@responses.activate
def test_SP_01_answers_per_url() -> None:
    urls = ["https://a.example/x.jpg", "https://b.example/y.jpg"]
    responses.post(
        API,
        json=_reply((urls[0], True, False), (urls[1], False, False)),
        match=[matchers.header_matcher({"Content-Type": "text/plain; charset=utf-8"})],
    )
    answers = _client().lookup(urls)
    assert answers[urls[0]].opted_out and not answers[urls[1]].opted_out
    assert responses.calls[0].request.body == "\n".join(urls).encode()
    refused = decide(Evidence(url=urls[0], registry=answers[urls[0]]), POLICY)
    assert refused.use == "refused" and refused.reasons_for("registry")[0].verdict == "refuse"


@responses.activate
def test_SP_02_opt_out_wins_over_opt_in() -> None:
    url = "https://a.example/x.jpg"
    responses.post(API, json=_reply((url, True, True)))
    answer = _client().lookup([url])[url]
    assert answer.opted_out and answer.opted_in
    assert decide(Evidence(url=url, registry=answer), POLICY).use == "refused"


@responses.activate
def test_SP_03_server_errors_and_malformed_replies_are_unavailable() -> None:
    responses.post(API, status=500)
    client = _client(retries=2)
    with pytest.raises(RegistryError, match="unavailable after 3 attempts"):
        client.lookup(["https://a.example/"])
    assert client.requests_sent == 3
    responses.replace(responses.POST, API, body="<html>maintenance</html>")
    with pytest.raises(RegistryError, match="malformed JSON"):
        _client().lookup(["https://a.example/"])
    responses.replace(responses.POST, API, json={"answers": []})
    with pytest.raises(RegistryError, match="not"):
        _client().lookup(["https://a.example/"])


def test_SP_04_a_missing_api_key_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSENT_TEST_KEY", raising=False)
    with pytest.raises(RegistryError, match="CONSENT_TEST_KEY is not set"):
        _client(auth_env="CONSENT_TEST_KEY").lookup(["https://a.example/"])


@responses.activate
def test_SP_05_25000_urls_take_3_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENT_TEST_KEY", "s3cret-key")

    def reply(request: object) -> tuple[int, dict[str, str], str]:
        urls = request.body.decode("utf-8").split("\n")  # type: ignore[attr-defined]
        return 200, {}, json.dumps(_reply(*((u, u.endswith("7"), False) for u in urls)))

    responses.add_callback(responses.POST, API, callback=reply)
    urls = [f"https://site.example/p{i}" for i in range(25_000)]
    answers = _client(auth_env="CONSENT_TEST_KEY").lookup(urls)
    sizes = [len(call.request.body.split(b"\n")) for call in responses.calls]
    assert sizes == [10_000, 10_000, 5_000]
    assert all(
        call.request.headers["Authorization"] == "API s3cret-key" for call in responses.calls
    )
    assert sum(a.opted_out for a in answers.values()) == 2_500


@responses.activate
def test_answers_are_matched_by_url_not_position() -> None:
    urls = ["https://a.example/1", "https://a.example/2", "https://a.example/3"]
    # Reordered, and the third URL left out: nothing may shift onto the wrong URL.
    responses.post(API, json=_reply((urls[1], True, False), (urls[0], False, False)))
    answers = _client().lookup(urls)
    assert not answers[urls[0]].opted_out and answers[urls[1]].opted_out
    assert answers[urls[2]].error == "the registry's reply does not mention this URL"
    assert decide(Evidence(url=urls[2], registry=answers[urls[2]]), POLICY).use == "refused"


@responses.activate
def test_500_then_success_is_retried() -> None:
    url = "https://a.example/"
    responses.post(API, status=503)
    responses.post(API, json=_reply((url, False, False)))
    client = _client()
    assert not client.lookup([url])[url].opted_out
    assert client.requests_sent == 2


@responses.activate
def test_non_ascii_urls_are_sent_as_utf8_and_matched() -> None:
    url = "https://bücher.example/ünïcode/画像.jpg"
    responses.post(API, json=_reply((url, True, False)))
    assert _client().lookup([url])[url].opted_out
    assert responses.calls[0].request.body == url.encode("utf-8")


def test_file_registry_plain_csv_and_json_lines(tmp_path: Path) -> None:
    sha = "ab" * 32
    plain = tmp_path / "list.txt"
    plain.write_text(
        "# opt-outs\nhttps://a.example/x.jpg\nhttps://b.example/g/*\n"
        f"domain:c.example\nd.example\nsha256:{sha}\n",
        encoding="utf-8",
    )
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("url,note\nhttps://a.example/x.jpg,by request\n", encoding="utf-8")
    jsonl = tmp_path / "list.jsonl"
    jsonl.write_text(
        '{"prefix": "https://b.example/g/"}\n{"domain": "c.example"}\n', encoding="utf-8"
    )
    answers = FileRegistry(plain).lookup(
        [
            "https://a.example/x.jpg",
            "https://b.example/g/1",
            "https://www.c.example/",
            "https://d.example/",
            "https://e.example/",
        ]
    )
    assert [a.opted_out for a in answers.values()] == [True, True, True, True, False]
    assert FileRegistry(plain).lookup_content(sha).opted_out
    assert (
        FileRegistry(csv_file)
        .lookup(["https://a.example/x.jpg"])["https://a.example/x.jpg"]
        .opted_out
    )
    assert FileRegistry(jsonl).lookup(["https://b.example/g/2"])["https://b.example/g/2"].opted_out


def test_file_registry_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("https://a.example/1\n", encoding="utf-8")
    registry = FileRegistry(path)
    assert not registry.lookup(["https://a.example/2"])["https://a.example/2"].opted_out
    path.write_text("https://a.example/1\nhttps://a.example/2\n", encoding="utf-8")
    assert registry.lookup(["https://a.example/2"])["https://a.example/2"].opted_out


def test_file_registry_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("https://a.example/1\nsha256:nothex\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"bad\.txt:2: 'nothex' is not a valid sha256"):
        FileRegistry(path)
    with pytest.raises(RegistryError, match="cannot read the registry file"):
        FileRegistry(tmp_path / "missing.txt")


def test_registry_check_command(tmp_path: Path) -> None:
    path = tmp_path / "optouts.txt"
    path.write_text("https://a.example/x.jpg\n", encoding="utf-8")
    done = run_cli(
        "registry",
        "check",
        "https://a.example/x.jpg",
        "https://a.example/y.jpg",
        "--registry",
        path,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["url"], x["opted_out"]) for x in lines] == [
        ("https://a.example/x.jpg", True),
        ("https://a.example/y.jpg", False),
    ]
    missing = run_cli(
        "registry", "check", "https://a.example/", "--registry", tmp_path / "nope.txt"
    )
    assert missing.returncode == 1 and "registry unavailable" in missing.stderr
