"""Downloader middleware: decide before a request is sent, from URL and origin evidence.

Replaces Scrapy's ``RobotsTxtMiddleware`` (same slot, 100).  For each request it takes the
origin's policy files from the origin cache (fetching them once, concurrently, on first use)
and asks the core.  A refused fetch, or content whose use is already refused (robots.txt lines
for AI bots, ai.txt, tdmrep.json), sends no request: the decision is recorded and the request
dropped.  Every redirect hop is a new request and comes through here again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from crawler.context import ConsentComponent, ConsentContext
from crawler.core import (
    Decision,
    Evidence,
    FetchedFile,
    RegistryAnswer,
    decide,
    refused_before_fetch,
)
from crawler.network_guard import guard_reason
from crawler.policy_fetch import PolicyFileFetcher, origin_of
from crawler.records import Hop, OriginFiles, decision_line

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


def hops_of(request: Request) -> list[Hop]:
    """Earlier hops of a redirect chain (each was allowed, or it would not have been sent)."""
    urls = request.meta.get("redirect_urls", [])
    reasons = request.meta.get("redirect_reasons", [])
    return [
        Hop(url, status if isinstance(status, int) else None)
        for url, status in zip(urls, reasons, strict=False)
    ]


def is_consent_target(request: Request) -> bool:
    return not request.meta.get("consent_policy_file") and request.url.startswith(
        ("http://", "https://")
    )


class OriginPolicyMiddleware(ConsentComponent):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.fetcher = PolicyFileFetcher(crawler, self.context)

    async def process_request(self, request: Request) -> None:
        if request.meta.get("consent_policy_file"):
            guard = guard_reason(request.url, self.context.network)
            if guard is not None:  # a policy file redirected into our network: unreachable
                raise IgnoreRequest(guard.detail)
            return
        if not is_consent_target(request):
            return
        context = self.context
        policy = context.policy
        guard = guard_reason(request.url, context.network)
        if guard is not None:
            decision = Decision(request.url, "refused", "n/a", policy.mode, (guard,))
            refuse_request(context, request, decision, None)
        origin = origin_of(request.url)
        try:
            files: OriginFiles | None = await context.origins.get(origin, self.fetcher.fetch_origin)
        except Exception as exc:  # failure is never permission: refuse as unreachable
            files = None
            robots = FetchedFile(status=0, url=origin + "/robots.txt", error=repr(exc))
            evidence = Evidence(url=request.url, token=policy.identity.token, robots_txt=robots)
        else:
            assert files is not None
            context.keep_evidence(files)
            evidence = Evidence(
                url=request.url,
                token=policy.identity.token,
                robots_txt=files.robots,
                ai_txt=files.ai_txt,
                tdmrep_json=files.tdmrep,
            )
        decision = decide(evidence, policy)
        if refused_before_fetch(decision):
            refuse_request(self.context, request, decision, files)


def record_request(
    context: ConsentContext,
    request: Request,
    decision: Decision,
    *,
    stage: str,
    files: OriginFiles | None,
    registry: RegistryAnswer | None = None,
    status: int | None = None,
) -> None:
    """Record the decision on a request that yields no content (refused, or failed)."""
    context.record_decision(
        decision_line(
            job_id=context.job_id,
            url=request.url,
            decision=decision,
            stage=stage,
            origin=files,
            hops=hops_of(request),
            status=status,
            registry=registry,
        ),
        decision,
    )


def refuse_request(
    context: ConsentContext,
    request: Request,
    decision: Decision,
    files: OriginFiles | None,
    registry: RegistryAnswer | None = None,
) -> NoReturn:
    """Record a decision made before the request was sent, and drop the request."""
    record_request(context, request, decision, stage="request", files=files, registry=registry)
    refusal = decision.refusals()[0] if decision.refusals() else None
    why = f"{refusal.signal}: {refusal.detail}" if refusal else "refused"
    raise IgnoreRequest(f"consent: not requested ({why})")
