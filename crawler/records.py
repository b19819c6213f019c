"""The stored record shapes (design.md §4, contract): item lines, decision lines, provenance.

Every line written to a store is built here, so the contract's field lists live in one place
and the tests check them against these constants.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from crawler.core import Decision, FetchedFile, Policy, RegistryAnswer

ITEM_FIELDS: Final = (
    "url",
    "final_url",
    "fetched_at",
    "status",
    "content_type",
    "content_sha256",
    "title",
    "text",
    "html",
    "attribution",
    "provenance",
)
PROVENANCE_FIELDS: Final = (
    "job_id",
    "item_id",
    "crawler",
    "policy",
    "decision",
    "signals",
    "redirects",
)
DECISION_FIELDS: Final = (
    "url",
    "fetch",
    "use",
    "reasons",
    "decided_at",
    "evidence",
    "stage",
    "job_id",
)
# Which origin file each carrier name refers to, as evidence keys.
ORIGIN_FILES: Final = {"robots.txt": "robots", "ai.txt": "ai-txt", "tdmrep.json": "tdmrep"}
FILE_NAMES: Final = {signal: name for name, signal in ORIGIN_FILES.items()}


# The current second, formatted: a timestamp is taken twice a page, and formatting all of it
# each time (datetime.isoformat) cost ~8 us of the crawl's time a call; this costs ~1 us.
_SECOND: tuple[int, str] = (-1, "")


def now_rfc3339() -> str:
    """UTC now, RFC 3339 with milliseconds (truncated, as ``isoformat`` does): ``…:00.799Z``."""
    global _SECOND
    now = time.time()
    second = int(now)
    cached = _SECOND  # one read: another thread may replace it meanwhile
    if cached[0] != second:
        cached = _SECOND = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{int((now - second) * 1000):03d}Z"


def new_job_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def item_id_for(final_url: str, content_sha256: str) -> str:
    """Deterministic: the same content at the same URL is the same item (no duplicates when a
    job is resumed or a page is reached twice)."""
    return hashlib.sha256(f"{final_url}\n{content_sha256}".encode()).hexdigest()[:32]


@functools.cache
def _versions() -> dict[str, str]:
    # Once per process: crawler.__version__ reads the installed package metadata (email
    # parsing), which cost ~1.5 ms per item when done for every provenance record.
    import scrapy  # here, so the operators' tools can use this module without Scrapy

    import crawler

    return {
        "consent-crawler": crawler.__version__,
        "scrapy": scrapy.__version__,
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    return dict(_versions())


@dataclass
class Hop:
    """One request on the way to a final response: its URL, HTTP status and consent answer."""

    url: str
    status: int | None = None
    decision: str = "allowed"

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "decision": self.decision}


@dataclass
class OriginFiles:
    """The policy files of one origin as fetched: robots.txt, ai.txt, tdmrep.json."""

    origin: str
    robots: FetchedFile
    ai_txt: FetchedFile | None
    tdmrep: FetchedFile | None
    fetched_at: float
    expires_at: float
    files: dict[str, FetchedFile] = field(init=False)

    def __post_init__(self) -> None:
        self.files = {
            name: f
            for name, f in (
                ("robots", self.robots),
                ("ai-txt", self.ai_txt),
                ("tdmrep", self.tdmrep),
            )
            if f is not None
        }


def signal_summary(
    decision: Decision, origin: OriginFiles | None, registry: RegistryAnswer | None = None
) -> dict[str, Any]:
    """Per-signal provenance: verdict and match from the decision, fetch facts from the files,
    and the registry's answer as it was given."""
    summary = decision.signals()
    if registry is not None:
        summary.setdefault("registry", {"verdict": "unknown"}).update(registry.to_dict())
    if origin is not None:
        for name, file in origin.files.items():
            entry = summary.setdefault(name, {"verdict": "unknown", "matched": "not consulted"})
            entry.update(
                {
                    "url": file.url,
                    "status": file.status,
                    "fetched_at": file.fetched_at,
                    "sha256": file.sha256,
                    "redirects": file.redirects,
                }
            )
        if "robots-ai-tokens" in summary:
            summary["robots-ai-tokens"].setdefault("sha256", origin.robots.sha256)
    return summary


def crawler_identity(policy: Policy) -> dict[str, Any]:
    ident = policy.identity
    v = versions()
    return {
        "name": "consent-crawler",
        "version": v["consent-crawler"],
        "scrapy": v["scrapy"],
        "user_agent": ident.user_agent,
        "token": ident.token,
        "contact_url": ident.contact_url,
    }


def provenance(
    *,
    job_id: str,
    item_id: str,
    policy: Policy,
    decision: Decision,
    origin: OriginFiles | None,
    hops: list[Hop],
    registry: RegistryAnswer | None = None,
    headers: dict[str, list[str]] | None = None,
    reasons: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``headers``: the response's consent-signal headers, so a later ``recheck`` can decide
    again from exactly what the crawler saw.  ``reasons``: the decision's reasons as the
    decision line already spelled them (``decision_line``), to be shared, not rebuilt."""
    return {
        "job_id": job_id,
        "item_id": item_id,
        "crawler": crawler_identity(policy),
        "policy": {"name": policy.name, "sha256": policy.sha256},
        "decision": {
            "fetch": decision.fetch,
            "use": decision.use,
            "mode": decision.mode,
            "reasons": reasons if reasons is not None else decision.reason_dicts(),
        },
        "signals": signal_summary(decision, origin, registry),
        "redirects": [hop.to_dict() for hop in hops],
        "headers": headers or {},
    }


def decision_line(
    *,
    job_id: str,
    url: str,
    decision: Decision,
    stage: str,
    origin: OriginFiles | None,
    hops: list[Hop],
    status: int | None = None,
    item_id: str | None = None,
    registry: RegistryAnswer | None = None,
) -> dict[str, Any]:
    """One line per URL decided, kept or refused; no content."""
    evidence = dict(decision.evidence)  # carrier file name -> sha256, as the core names them
    if origin is not None:
        for signal, file in origin.files.items():
            evidence.setdefault(FILE_NAMES[signal], file.sha256)
    return {
        "url": url,
        "fetch": decision.fetch,
        "use": decision.use,
        "reasons": decision.reason_dicts(),
        "decided_at": now_rfc3339(),
        "evidence": evidence,
        "stage": stage,
        "job_id": job_id,
        "status": status,
        "item_id": item_id,
        "redirects": [hop.to_dict() for hop in hops],
        "registry": registry.to_dict() if registry is not None else None,
    }
