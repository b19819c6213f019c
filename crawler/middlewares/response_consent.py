"""Downloader middleware: decide on a response, from its headers and then its body.

Header signals (X-Robots-Tag, tdm-reservation/tdm-policy, Content-Usage, Content-Signal) are
checked in the ``headers_received`` signal, before the body is read; a refusal stops the
download there (``StopDownload``), so the body is never fetched.  Meta signals (meta robots,
meta TOKEN, meta tdm-*) and embedded TDMRep (EPUB, PDF) are checked on the body, after
decompression (slot 585: after HttpCompression at 590, before MetaRefresh at 580), from the
response's text as Scrapy decoded it.  A refused response never reaches the spider; every
decision is recorded, and a kept one travels with the response for the item's provenance.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http import HtmlResponse, Response, TextResponse

from crawler.context import ConsentComponent, ConsentContext
from crawler.core import (
    SIGNAL_HEADERS,
    Decision,
    EmbeddedDocument,
    Evidence,
    Headers,
    decide,
)
from crawler.core._html import meta_from_html
from crawler.middlewares.origin_policy import hops_of, is_consent_target
from crawler.policy_fetch import decision_headers, origin_of
from crawler.records import Hop, decision_line, item_id_for

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_DOCUMENTS = ("application/pdf", "application/epub+zip")
_HEADER_SIGNALS = tuple(name.encode("ascii") for name in SIGNAL_HEADERS)


class ResponseConsentMiddleware(ConsentComponent):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._header_refusals: WeakKeyDictionary[Request, Decision] = WeakKeyDictionary()
        crawler.signals.connect(self._headers_received, signal=signals.headers_received)

    def _evidence(self, request: Request, **more: Any) -> Evidence:
        return request_evidence(self.context, request, **more)

    def _headers_received(self, headers: Any, body_length: int, request: Request) -> None:
        if not is_consent_target(request):
            return
        if not any(name in headers for name in _HEADER_SIGNALS):
            return  # the origin's files were decided before the request; nothing new here
        evidence = self._evidence(request, headers=Headers(decision_headers(headers)))
        decision = decide(evidence, self.context.policy)
        if not decision.kept:
            self._header_refusals[request] = decision
            self.context.stats.inc_value("consent/bodies_not_downloaded")
            raise StopDownload(fail=False)

    async def process_response(self, request: Request, response: Response) -> Response:
        if not is_consent_target(request):
            return response
        decision = self._header_refusals.pop(request, None)
        stage = "headers"
        evidence = None
        if decision is None:
            if not 200 <= response.status < 300:
                return response  # errors and unfollowed redirects are not content to keep
            evidence = self._body_evidence(request, response)
            decision = decide(evidence, self.context.policy)
            stage = "body"
        hops = hops_of(request)
        files = self.context.origins.peek(origin_of(request.url))
        # Only kept content is hashed: a refused body is neither stored nor identified.
        content_sha = response_sha256(response) if decision.kept else None
        registry = request.meta.get("consent_registry")
        if content_sha and evidence is not None and self.context.registry is not None:
            # Where the registry lists content hashes, the work is opted out wherever it is.
            by_content = await self.context.registry.content_answer(content_sha)
            if by_content is not None and (by_content.opted_out or by_content.error):
                registry = by_content
                decision = decide(replace(evidence, registry=by_content), self.context.policy)
                content_sha = None if not decision.kept else content_sha
        item_id = item_id_for(response.url, content_sha) if content_sha else None
        line = decision_line(
            job_id=self.context.job_id,
            url=request.url,
            decision=decision,
            stage=stage,
            origin=files,
            hops=hops,
            status=response.status,
            item_id=item_id,
            registry=registry,
        )
        self.context.record_decision(line, decision)
        if not decision.kept:
            refusal = decision.refusals()[0] if decision.refusals() else None
            raise IgnoreRequest(
                f"consent: use refused at {stage} ({refusal.signal if refusal else 'policy'})"
            )
        request.meta["consent"] = {
            "decision": decision,
            "reasons": line["reasons"],  # the item's provenance shares them
            "item_id": item_id,
            "content_sha256": content_sha,
            "hops": [*hops, Hop(request.url, response.status)],
            "registry": registry,
            "headers": evidence.headers.signal_lines() if evidence and evidence.headers else {},
        }
        return response

    def _body_evidence(self, request: Request, response: Response) -> Evidence:
        headers = Headers(decision_headers(response.headers))
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        meta = None
        document = None
        if isinstance(response, HtmlResponse) or (
            isinstance(response, TextResponse) and "html" in content_type
        ):
            # A parse of its own, not Scrapy's response.selector: the spider walks that tree
            # later, after other responses went through, and finds it out of the CPU cache;
            # its walk then cost more than this parse does (bench/RESULTS.md, Session 7).
            meta = meta_from_html(response.text)
        elif content_type.startswith(_DOCUMENTS):
            document = EmbeddedDocument(content_type.split(";")[0], response.body)
        return self._evidence(request, headers=headers, meta=meta, document=document)


def request_evidence(context: ConsentContext, request: Request, **more: Any) -> Evidence:
    """Evidence for ``request``: its origin's files, the registry's answer, and ``more``."""
    files = context.origins.peek(origin_of(request.url))
    token = context.policy.identity.token
    registry = request.meta.get("consent_registry")
    if files is None:
        return Evidence(url=request.url, token=token, registry=registry, **more)
    return Evidence(
        url=request.url,
        token=token,
        robots_txt=files.robots,
        ai_txt=files.ai_txt,
        tdmrep_json=files.tdmrep,
        registry=registry,
        **more,
    )


def response_sha256(response: Response) -> str:
    return hashlib.sha256(response.body).hexdigest()
