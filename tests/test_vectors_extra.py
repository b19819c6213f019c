"""signals.md §12 vectors that are not one ``decide`` line (see test_vectors_extra_spec.md).

The crawler-level halves of RB-16/17/18 and NA-01/02 (no request sent, origin cache, images)
are tested with the crawler against local servers.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from crawler.core import Evidence, FetchedFile, decide, file_ttl, is_fresh, load_policy
from tests.vectorlib import ROOT

POLICY = load_policy(ROOT / "policies" / "default.toml")
HOUR = 3600


def _robots(body: bytes | str, status: int = 200) -> FetchedFile:
    return FetchedFile(status=status, body=body.encode() if isinstance(body, str) else body)


def _fetch(url: str, robots: FetchedFile) -> str:
    return decide(Evidence(url=url, token="ConsentBot", robots_txt=robots), POLICY).fetch


def test_RB_20() -> None:
    """A robots.txt fetched 25 h ago must be refetched; 23 h is still fresh (RFC 9309 §2.4)."""
    t0 = 1_000_000.0
    first = _robots("User-agent: *\nAllow: /\n")
    ttl = file_ttl(first, POLICY, max_age=3 * 24 * HOUR)  # max-age cannot extend beyond 24 h
    assert ttl == 24 * HOUR
    assert is_fresh(t0, t0 + 23 * HOUR, ttl)
    assert not is_fresh(t0, t0 + 25 * HOUR, ttl)
    assert _fetch("https://e.com/a", first) == "allowed"
    # After expiry the refetched file governs, whatever the old one said.
    assert _fetch("https://e.com/c", _robots("User-agent: *\nDisallow: /\n")) == "refused"
    # A shorter max-age shortens the lifetime.
    assert file_ttl(first, POLICY, max_age=60) == 60
    # A failed refetch is kept only briefly and refuses: never cached as allow.
    failed = _robots("<html>busy</html>", status=503)
    assert file_ttl(failed, POLICY) == POLICY.robots.error_ttl_seconds < HOUR
    decision = decide(
        Evidence(url="https://e.com/c", token="ConsentBot", robots_txt=failed), POLICY
    )
    assert decision.fetch == "refused"
    assert [r.verdict for r in decision.reasons_for("robots")] == ["error"]


def _rb21_body() -> bytes:
    def filler(start: int, end: int) -> bytes:
        out = bytearray()
        while start + len(out) < end:
            room = end - start - len(out)
            line = b"# " + b"x" * max(0, min(78, room - 3)) + b"\n"
            out += line[:room] if room < 3 else line
        return bytes(out)

    head = b"User-agent: *\nDisallow: /early\n"
    body = head + filler(len(head), 505_000) + b"Disallow: /mid\n"
    body += filler(len(body), 550_000) + b"Disallow: /late\n"
    body += filler(len(body), 614_400)
    return body


def test_RB_21() -> None:
    """600 KiB file: rules within 512,000 bytes apply, a rule at byte 550,000 is ignored."""
    body = _rb21_body()
    assert len(body) == 614_400
    assert body.index(b"Disallow: /mid") == 505_000
    assert body.index(b"Disallow: /late") == 550_000
    robots = _robots(body)
    assert _fetch("https://e.com/early/x", robots) == "refused"
    assert _fetch("https://e.com/mid/x", robots) == "refused"
    late = decide(
        Evidence(url="https://e.com/late/x", token="ConsentBot", robots_txt=robots), POLICY
    )
    assert late.fetch == "allowed"
    assert "cut at 512,000 bytes" in late.reasons_for("robots")[0].detail

    exe = shutil.which("consent-crawler")
    assert exe
    lines = "".join(
        json.dumps(
            {
                "url": f"https://e.com/{p}/x",
                "token": "ConsentBot",
                "robots_txt": {"status": 200, "body": body.decode()},
            }
        )
        + "\n"
        for p in ("early", "mid", "late")
    )
    done = subprocess.run(
        [exe, "decide"], input=lines, capture_output=True, text=True, check=True, timeout=60
    )
    answers = [json.loads(line)["fetch"] for line in done.stdout.splitlines()]
    assert answers == ["refused", "refused", "allowed"]


def test_600_KiB_robots_with_disallow_all_on_first_line_refuses() -> None:
    """Issue #2 acceptance: a 600 KiB robots.txt with ``Disallow: /`` first refuses."""
    body = b"User-agent: *\nDisallow: /\n" + b"# padding\n" * (600 * 1024 // 10)
    assert len(body) > 600 * 1024
    exe = shutil.which("consent-crawler")
    assert exe
    line = json.dumps(
        {"url": "https://e.com/any/page", "robots_txt": {"status": 200, "body": body.decode()}}
    )
    done = subprocess.run(
        [exe, "decide"], input=line + "\n", capture_output=True, text=True, check=True, timeout=60
    )
    answer = json.loads(done.stdout)
    assert (answer["fetch"], answer["use"]) == ("refused", "n/a")
    assert answer["reasons"][0]["signal"] == "robots"
    assert answer["reasons"][0]["verdict"] == "refuse"
