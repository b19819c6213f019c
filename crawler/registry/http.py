"""A Spawning-compatible opt-out registry over HTTP (signals.md §9).

``POST`` newline-separated URLs (UTF-8) — at most ``batch_size`` (10,000) per request — and read
``{"urls": [{"url": …, "optOut": bool, "optIn": bool}, …]}``.  Answers are matched **by URL**,
never by position: a reply in another order, or with URLs missing, cannot shift an opt-out onto
the wrong URL.  A URL the reply leaves out gets an error answer (refused), not a default.
429 and 5xx are retried with exponential backoff; the API key comes from the environment
variable the policy names, and a missing key is an error, not a silent skip (SP-04).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from crawler.core import RegistryAnswer

from .base import RegistryError, scrub_location

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class HttpRegistry:
    def __init__(
        self,
        url: str,
        *,
        auth_env: str = "",
        auth_scheme: str = "API",
        batch_size: int = 10_000,
        timeout: float = 20.0,
        retries: int = 5,
        backoff: float = 0.5,
        user_agent: str = "consent-crawler",
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.name = scrub_location(url)  # recorded in provenance: never a user:password
        self.auth_env, self.auth_scheme = auth_env, auth_scheme
        self.batch_size = max(1, min(batch_size, 10_000))
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.user_agent = user_agent
        self._session = session
        self._local = threading.local()  # the crawler asks from worker threads
        self.sleep = sleep
        self.requests_sent = 0
        self._count_lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        if self._session is not None:
            return self._session
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "text/plain; charset=utf-8", "User-Agent": self.user_agent}
        if self.auth_env:
            key = os.environ.get(self.auth_env)
            if not key:
                # Never "no key, so everything passes" (datadiligence's behaviour, SP-04).
                raise RegistryError(
                    f"no API key: the environment variable {self.auth_env} is not set"
                )
            headers["Authorization"] = f"{self.auth_scheme} {key}"
        return headers

    def check(self) -> None:
        self._headers()

    def lookup(self, urls: Sequence[str]) -> dict[str, RegistryAnswer]:
        unique = list(dict.fromkeys(urls))
        answers: dict[str, RegistryAnswer] = {}
        for start in range(0, len(unique), self.batch_size):
            answers.update(self._batch(unique[start : start + self.batch_size]))
        return answers

    def _batch(self, urls: list[str]) -> dict[str, RegistryAnswer]:
        body = "\n".join(urls).encode("utf-8")
        reply = self._post(body)
        found: dict[str, RegistryAnswer] = {}
        for entry in _entries(reply):
            url = entry.get("url")
            if isinstance(url, str):
                found[url] = RegistryAnswer(
                    opted_out=entry.get("optOut") is True,
                    opted_in=entry.get("optIn") is True,
                    source=self.name,
                )
        return {
            url: found.get(url)
            or RegistryAnswer(
                source=self.name, error="the registry's reply does not mention this URL"
            )
            for url in urls
        }

    def _post(self, body: bytes) -> Any:
        headers = self._headers()
        delay = self.backoff
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(delay)
                delay = min(delay * 2, 30.0)
            with self._count_lock:
                self.requests_sent += 1
            try:
                response = self.session.post(
                    self.url, data=body, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}"
                continue
            if response.status_code in RETRY_STATUS:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise RegistryError(f"{self.name} answered HTTP {response.status_code}")
            try:
                return response.json()
            except ValueError:
                raise RegistryError(f"{self.name} answered with malformed JSON") from None
        raise RegistryError(f"{self.name} unavailable after {self.retries + 1} attempts ({last})")


def _entries(reply: Any) -> list[dict[str, Any]]:
    if not isinstance(reply, dict) or not isinstance(reply.get("urls"), list):
        raise RegistryError('the registry\'s reply is not {"urls": [...]}')
    return [entry for entry in reply["urls"] if isinstance(entry, dict)]
