"""``recheck --refetch-signals``: each origin's policy files fetched fresh, once per origin.

The files are fetched as the crawler fetches them (``crawler/policy_fetch.py``): the same
paths, robots.txt first and ai.txt/tdmrep.json only where it lets us fetch them, our
User-Agent, at most ``robots.max_redirects`` redirects followed by hand and at most
``robots.max_bytes`` read (plus one byte, so the core sees the file was cut), and the network
guard on every hop.  A file that cannot be fetched is handed to the core as status 0: the core
then refuses with an error verdict, which ``recheck`` reports as unverifiable and never purges
on.  This module uses ``requests`` (no reactor in an operator's tool); the crawler's paths come
from ``policy_fetch``, which brings Scrapy in, so it is imported only for this option.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urljoin

import requests

from crawler.core import Evidence, FetchedFile, Policy, decide
from crawler.network_guard import guard_reason, network_rules
from crawler.policy_fetch import PATHS, origin_of
from crawler.records import now_rfc3339

# The crawl's own default for CONSENT_POLICY_FILE_TIMEOUT.
TIMEOUT_SECONDS: Final = 30.0
_CHUNK: Final = 64 * 1024


class FreshFiles:
    """Policy files fetched now; ``bodies`` keeps each body by sha256 so the ones a tombstone
    cites can be stored as evidence (and nothing is written on a dry run)."""

    name = "refetched"

    def __init__(
        self,
        policy: Policy,
        *,
        allow_private: bool,
        timeout: float = TIMEOUT_SECONDS,
        session: requests.Session | None = None,
    ) -> None:
        self.policy = policy
        # The policy's [network] rules as the crawl applies them (URL check: requests resolves
        # names itself, so the connect-time check is the crawler's alone).
        self.rules = network_rules(policy, allow_private)
        self.timeout = timeout
        self.session = session or requests.Session()
        self.origins: dict[str, dict[str, FetchedFile]] = {}
        self.bodies: dict[str, bytes] = {}
        self.requests = 0

    def files(self, record: dict[str, Any]) -> tuple[dict[str, FetchedFile], list[str]]:
        origin = origin_of(str(record.get("final_url") or record.get("url")))
        if origin not in self.origins:
            self.origins[origin] = self._origin(origin)
        return self.origins[origin], []

    def _origin(self, origin: str) -> dict[str, FetchedFile]:
        policy = self.policy
        files = {"robots": self.fetch(origin + PATHS["robots"])}
        for kind, honour in (("ai-txt", policy.ai_txt.honour), ("tdmrep", policy.tdmrep.honour)):
            if honour and self._robots_allows(origin + PATHS[kind], files["robots"]):
                files[kind] = self.fetch(origin + PATHS[kind])
        for file in files.values():
            self.bodies[file.sha256] = file.body
        return files

    def _robots_allows(self, url: str, robots: FetchedFile) -> bool:
        evidence = Evidence(url=url, token=self.policy.identity.token, robots_txt=robots)
        return decide(evidence, self.policy).fetch == "allowed"

    def _failed(self, url: str, current: str, error: str) -> FetchedFile:
        return FetchedFile(
            status=0, url=url, fetched_at=now_rfc3339(), final_url=current, error=error
        )

    def fetch(self, url: str) -> FetchedFile:
        rp = self.policy.robots
        headers = {"User-Agent": self.policy.identity.user_agent}
        current, hops = url, 0
        while True:
            blocked = guard_reason(current, self.rules)
            if blocked is not None:
                return self._failed(url, current, blocked.detail)
            self.requests += 1
            try:
                with self.session.get(
                    current,
                    headers=headers,
                    allow_redirects=False,
                    stream=True,
                    timeout=self.timeout,
                ) as response:
                    location = response.headers.get("Location")
                    if 300 <= response.status_code < 400 and location:
                        hops += 1
                        if hops > rp.max_redirects:
                            return FetchedFile(
                                status=response.status_code,
                                url=url,
                                fetched_at=now_rfc3339(),
                                final_url=current,
                                redirects=hops,
                            )
                        current = urljoin(current, location)
                        continue
                    body = _read(response, rp.max_bytes + 1)
                    return FetchedFile(
                        status=response.status_code,
                        body=body,
                        content_type=response.headers.get("Content-Type"),
                        redirects=hops,
                        url=url,
                        fetched_at=now_rfc3339(),
                        final_url=current,
                    )
            except requests.RequestException as exc:  # DNS, refused, timeout: unreachable
                return self._failed(url, current, f"{type(exc).__name__}: {exc}")


def _read(response: requests.Response, cap: int) -> bytes:
    """At most ``cap`` bytes of the body; the rest is never downloaded."""
    out = bytearray()
    for chunk in response.iter_content(_CHUNK):
        out += chunk
        if len(out) >= cap:
            break
    return bytes(out[:cap])
