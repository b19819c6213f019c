"""Deciding a stored item again: its evidence rebuilt from the record, the decision by the core.

Nothing here decides anything itself: the evidence goes to ``crawler.core.decide`` exactly as
the crawler's did.  What this module adds is the judgement ``recheck`` needs before deleting
data, which is irreversible:

* only a positive refusal purges.  A refusal whose reasons are all errors (a file or registry
  that could not be read) means "could not check", not "the site said no": the item is
  *unverifiable*, reported, and kept;
* a refusal that comes only from the opt-in mode's default ("no permission found") is trusted
  only when the evidence is complete: an item stored without its headers (older items), with
  an evidence object missing, whose embedded document metadata was not kept, or that a
  registry answered at crawl time while none is asked now, may have had a permission we can
  no longer see.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from crawler.core import Decision, Evidence, FetchedFile, Headers, Reason, RegistryAnswer
from crawler.core._html import meta_from_html
from crawler.core.decide import OPT_IN_DEFAULT
from crawler.store.objects import ObjectStore

# provenance.signals names of the origin files (Evidence's robots_txt, ai_txt, tdmrep_json).
FILE_SIGNALS: Final = ("robots", "ai-txt", "tdmrep")
_CACHED_BODIES: Final = 256

Outcome = Literal["kept", "purge", "unverifiable"]


class SignalFiles(Protocol):
    """Where an item's policy files come from: the stored evidence, or fetched again."""

    name: str

    def files(self, record: dict[str, Any]) -> tuple[dict[str, FetchedFile], list[str]]:
        """The files by signal name, and what could not be provided (for "incomplete")."""
        ...


class StoredFiles:
    """The files as the crawl fetched them: status and facts from provenance.signals, bytes
    from ``evidence/<sha256>`` (a few hundred bodies cached: items of one origin share them)."""

    name = "stored"

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self._bodies: OrderedDict[str, bytes | None] = OrderedDict()

    def _body(self, sha: str) -> bytes | None:
        if sha in self._bodies:
            self._bodies.move_to_end(sha)
            return self._bodies[sha]
        try:
            body: bytes | None = self.objects.get(f"evidence/{sha}")
        except (KeyError, ValueError):
            body = None
        self._bodies[sha] = body
        while len(self._bodies) > _CACHED_BODIES:
            self._bodies.popitem(last=False)
        return body

    def files(self, record: dict[str, Any]) -> tuple[dict[str, FetchedFile], list[str]]:
        signals = (record.get("provenance") or {}).get("signals") or {}
        out: dict[str, FetchedFile] = {}
        missing: list[str] = []
        for name in FILE_SIGNALS:
            entry = signals.get(name)
            if not isinstance(entry, dict) or not isinstance(entry.get("status"), int):
                continue  # not fetched at crawl time: not consulted now either
            body = self._body(str(entry.get("sha256")))
            if body is None:
                missing.append(f"evidence of {name} ({entry.get('sha256')}) is not in the store")
                continue
            out[name] = FetchedFile(
                status=entry["status"],
                body=body,
                redirects=int(entry.get("redirects") or 0),
                url=entry.get("url"),
                fetched_at=entry.get("fetched_at"),
            )
        return out, missing


def evidence_for(
    record: dict[str, Any], files: dict[str, FetchedFile], registry: RegistryAnswer | None
) -> tuple[Evidence, list[str]]:
    """The item's evidence, and what is known to be missing from it.  Decided on the final URL:
    the stored content and the stored signals are that response's."""
    prov = record.get("provenance") or {}
    incomplete: list[str] = []
    stored_headers = prov.get("headers")
    headers = None
    if isinstance(stored_headers, dict):
        headers = Headers.from_mapping(stored_headers)
    else:
        incomplete.append("the item's response headers were not stored")
    if registry is None and "registry" in (prov.get("signals") or {}):
        incomplete.append("the registry that answered at crawl time is not asked now")
    html = record.get("html")
    content_type = str(record.get("content_type") or "")
    if content_type and "html" not in content_type.lower():
        incomplete.append(f"embedded metadata of {content_type} content is not stored")
    evidence = Evidence(
        url=str(record.get("final_url") or record.get("url")),
        headers=headers,
        meta=meta_from_html(html) if isinstance(html, str) else None,
        registry=registry,
        robots_txt=files.get("robots"),
        ai_txt=files.get("ai-txt"),
        tdmrep_json=files.get("tdmrep"),
    )
    return evidence, incomplete


def registry_urls(record: dict[str, Any]) -> list[str]:
    """The URLs a registry is asked about for an item: as requested and as finally fetched."""
    urls = [record.get("url"), record.get("final_url")]
    return list(dict.fromkeys(u for u in urls if isinstance(u, str) and u))


def combined_answer(
    answers: Sequence[tuple[str, RegistryAnswer]], content: RegistryAnswer | None, asked_at: str
) -> RegistryAnswer:
    """One answer for the item: an error if any answer is one, else an opt-out of any URL or
    of the content wins, else an opt-in, else "not opted out"."""
    every = [answer for _, answer in answers] + ([content] if content is not None else [])
    first = next((a for a in every if a.error is not None), None)
    if first is None:
        first = next((a for a in every if a.opted_out), None)
    if first is None:
        first = next((a for a in every if a.opted_in), None)
    if first is None:
        first = every[0] if every else RegistryAnswer(error="the registry gave no answer")
    url = next((u for u, a in answers if a is first), None)
    detail = first.detail
    if url is not None and first.opted_out and len(answers) > 1:
        detail = f"{detail or 'opted out'} ({url})"
    return dataclasses.replace(first, detail=detail, asked_at=asked_at)


@dataclass(frozen=True)
class Judgement:
    outcome: Outcome
    reasons: tuple[Reason, ...]  # the refusing reasons, positive ones first
    why: str = ""  # for "unverifiable"


def judge(decision: Decision, incomplete: Sequence[str]) -> Judgement:
    if decision.kept:
        return Judgement("kept", ())
    scope = "fetch" if decision.fetch == "refused" else "use"
    refusing = [r for r in decision.reasons if r.scope == scope and r.refuses]
    positive = [r for r in refusing if r.verdict == "refuse"]
    errors = [r for r in refusing if r.verdict != "refuse"]
    ordered = tuple(positive + errors)
    if not positive:
        detail = "; ".join(f"{r.signal}: {r.detail}" for r in errors) or "no reason given"
        return Judgement("unverifiable", ordered, f"could not be checked ({detail})")
    if all(r == OPT_IN_DEFAULT for r in positive) and incomplete:
        why = "opt-in mode found no permission, but " + "; ".join(incomplete)
        return Judgement("unverifiable", ordered, why)
    return Judgement("purge", ordered)
