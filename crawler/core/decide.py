"""evidence + policy → decision.  Pure: no Scrapy, no I/O, no clock.

Each protocol is read by its own rules in its module; here the answers are combined as
design.md §1 says: a refusal of either scope wins, explicit permissions are recorded, and when
no signal decides use, the policy's mode does.  A refused fetch makes use "n/a": preferences
apply only to content we may fetch (aipref attach-05).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from . import _robots, ai_txt, aipref, content_signal, directives, robots_txt, tdmrep
from ._cache import PARSED_FILES, BoundedCache
from ._patterns import url_path
from ._robots import RobotsFile
from .decision import Decision, Reason, UseAnswer
from .evidence import Evidence, FetchedFile, RegistryAnswer
from .policy import Policy


@dataclass(frozen=True, slots=True)
class _UrlAnswer:
    """What a URL's files and the policy say, before anything the response itself carries:
    the same for the decision before the request and the one after the response."""

    files: tuple[FetchedFile | None, FetchedFile | None, FetchedFile | None, Policy]
    evidence: dict[str, str]  # carrier file name -> sha256
    path: str
    refused: Decision | None  # the fetch is refused (or the URL unparseable): the whole answer
    reasons: tuple[Reason, ...]  # policy lists, robots.txt, ai.txt, tdmrep.json, in that order
    tdmrep_from_file: int  # how many of ``reasons`` (at the end) tdmrep.json gave
    licensed: Reason | None
    # The decision when the response adds nothing, made on first use.  A list: the answer is
    # frozen, and this is a cache of its own, not part of its value.
    plain: list[Decision]


# Each page is decided twice with the same files (before its request, after its response), so
# the files' answer is kept for the last few thousand URLs.  Keyed by the objects' identities:
# an entry holds the objects themselves, so no id in a live key can be reused by another.
URL_ANSWERS: BoundedCache[_UrlAnswer] = BoundedCache(capacity=2048, max_weight=2048)


def decide(evidence: Evidence, policy: Policy) -> Decision:
    token = evidence.token or policy.identity.token
    answer = _url_answer(evidence, token, policy)
    if answer.refused is not None:
        return answer.refused
    response: list[Reason] = []
    tdmrep_reasons: list[Reason] | None = None
    if tdmrep.carried_by_response(evidence.headers, evidence.meta, evidence.document):
        tdmrep_reasons = tdmrep.reasons(
            answer.path,
            policy,
            evidence.tdmrep_json,
            evidence.headers,
            evidence.meta,
            evidence.document,
        )
    if evidence.headers is not None:
        if policy.content_usage.honour:
            response += aipref.header_reasons(evidence.headers.get_all("content-usage"), policy)
        if policy.content_signal.honour:
            for line in evidence.headers.get_all("content-signal"):
                response += content_signal.reasons(content_signal.parse(line), "response header")
        response += directives.header_reasons(
            evidence.headers.get_all("x-robots-tag"), token, policy
        )
    if evidence.meta is not None:
        response += directives.meta_reasons(evidence.meta, token, policy)
    if evidence.registry is not None:
        response.append(registry_reason(evidence.registry, policy))
    if tdmrep_reasons is None and not response:
        if not answer.plain:
            answer.plain.append(_allowed(evidence.url, list(answer.reasons), answer, policy))
        return answer.plain[0]
    reasons = list(answer.reasons)
    if tdmrep_reasons is not None:  # the response's carriers, read after the file's
        reasons[len(reasons) - answer.tdmrep_from_file :] = tdmrep_reasons
    return _allowed(evidence.url, reasons + response, answer, policy)


def _allowed(url: str, reasons: list[Reason], answer: _UrlAnswer, policy: Policy) -> Decision:
    if answer.licensed is not None:
        reasons.append(answer.licensed)
    return Decision(
        url,
        "allowed",
        _use(reasons, policy),
        policy.mode,
        tuple(reasons) + _mode_reason(reasons, policy),
        dict(answer.evidence),
    )


def _url_answer(evidence: Evidence, token: str, policy: Policy) -> _UrlAnswer:
    files = (evidence.robots_txt, evidence.ai_txt, evidence.tdmrep_json, policy)
    key = (evidence.url, token, *map(id, files))
    answer = URL_ANSWERS.get_or_create(key, lambda: _work_out(evidence.url, token, files))
    if any(a is not b for a, b in zip(answer.files, files, strict=True)):
        # Cannot happen while the entry holds them; never trust an id alone.
        answer = _work_out(evidence.url, token, files)
    return answer


def _work_out(
    url: str,
    token: str,
    files: tuple[FetchedFile | None, FetchedFile | None, FetchedFile | None, Policy],
) -> _UrlAnswer:
    robots_txt_file, ai_txt_file, tdmrep_file, policy = files
    evidence = {
        name: file.sha256
        for name, file in (
            ("robots.txt", robots_txt_file),
            ("ai.txt", ai_txt_file),
            ("tdmrep.json", tdmrep_file),
        )
        if file is not None
    }

    def refused(reasons: list[Reason]) -> _UrlAnswer:
        decision = Decision(url, "refused", "n/a", policy.mode, tuple(reasons), evidence)
        return _UrlAnswer(files, evidence, "", decision, (), 0, None, [])

    try:
        path = url_path(url)
        host = (urlsplit(url).hostname or "").lower()
    except ValueError as exc:  # e.g. an unbalanced "[": nothing can be decided, so refuse
        unparseable = Reason("policy", "refuse", "fetch", f"the URL cannot be parsed: {exc}")
        decision = Decision(url, "refused", "n/a", policy.mode, (unparseable,))
        return _UrlAnswer(files, evidence, "", decision, (), 0, None, [])
    reasons: list[Reason] = list(domain_reasons(host, policy))
    robots: RobotsFile | None = None
    if robots_txt_file is not None:
        fetch_reason, robots = robots_txt.fetch_reasons(robots_txt_file, token, path, policy)
        reasons.append(fetch_reason)
    if any(r.scope == "fetch" and r.refuses for r in reasons):  # policy lists or robots.txt
        return refused(reasons)
    if robots is not None and robots_txt_file is not None:
        sha = robots_txt_file.sha256
        reasons += robots_txt.ai_token_reasons(robots, path, policy, sha)
        reasons += robots_txt.preference_reasons(robots, token, path, policy, sha)
    if ai_txt_file is not None:
        reasons += ai_txt.reasons(ai_txt_file, token, path, policy)
    from_file = tdmrep.reasons(path, policy, tdmrep_file, None, None, None)
    licensed = None
    if _licensed(host, policy):
        licensed = Reason("policy", "allow", "use", f"{host} is a licensed domain (policy)")
    return _UrlAnswer(
        files, evidence, path, None, (*reasons, *from_file), len(from_file), licensed, []
    )


def _use(reasons: list[Reason], policy: Policy) -> UseAnswer:
    use = [r for r in reasons if r.scope == "use"]
    if any(r.refuses for r in use):
        return "refused"
    if policy.mode == "opt-out" or any(r.verdict == "allow" for r in use):
        return "allowed"
    return "refused"


def _mode_reason(reasons: list[Reason], policy: Policy) -> tuple[Reason, ...]:
    """When no signal decided use, say that the policy's mode did."""
    use = [r for r in reasons if r.scope == "use"]
    if any(r.refuses or r.verdict == "allow" for r in use):
        return ()
    if policy.mode == "opt-out":
        return (
            Reason(
                "policy",
                "allow",
                "use",
                "no signal reserves or permits AI training; opt-out mode uses it",
            ),
        )
    return (OPT_IN_DEFAULT,)


# The opt-in mode's answer when no signal permits use: not a refusal by any signal, so a
# request is still sent (a header or meta on the page itself may grant permission).
OPT_IN_DEFAULT = Reason(
    "policy", "refuse", "use", "opt-in mode: no explicit permission for AI training was found"
)


def refused_before_fetch(decision: Decision) -> bool:
    """Whether a request must not be sent: its fetch is refused, or a signal already refuses
    its use (the opt-in default alone does not: the response may still grant permission)."""
    if decision.fetch == "refused":
        return True
    return any(r.refuses and r != OPT_IN_DEFAULT for r in decision.reasons)


def _matches_domain(host: str, domains: tuple[str, ...]) -> str | None:
    for domain in domains:
        domain = domain.lower().lstrip(".")
        if host == domain or host.endswith("." + domain):
            return domain
    return None


def domain_reasons(host: str, policy: Policy) -> list[Reason]:
    """The policy's own allow and deny lists (signal ``policy``, fetch scope)."""
    denied = _matches_domain(host, policy.domains.deny)
    if denied is not None:
        return [
            Reason("policy", "refuse", "fetch", f"{host} is on the policy's deny list ({denied})")
        ]
    if policy.domains.allow and _matches_domain(host, policy.domains.allow) is None:
        return [Reason("policy", "refuse", "fetch", f"{host} is not on the policy's allow list")]
    return []


def _licensed(host: str, policy: Policy) -> bool:
    return _matches_domain(host, policy.domains.licensed) is not None


def registry_reason(answer: RegistryAnswer, policy: Policy) -> Reason:
    where = answer.source
    if answer.error is not None:
        how = (
            "deferred, then refused"
            if policy.registry.on_error == "defer"
            else "refused because registry.on_error = 'refuse'"
        )
        return Reason(
            "registry",
            "error",
            "use",
            f"opt-out registry {where} unavailable ({answer.error}); {how}",
        )
    if answer.opted_out:
        return Reason(
            "registry",
            "refuse",
            "use",
            f"opted out in {where}" + (f": {answer.detail}" if answer.detail else ""),
        )
    if answer.opted_in:
        return Reason("registry", "allow", "use", f"opted in at {where}")
    return Reason("registry", "unknown", "use", f"not opted out in {where}")


def clear_caches() -> None:
    """Forget every parse the core has cached (the fuzzers and property tests check that an
    answer never depends on what was cached before)."""
    PARSED_FILES.clear()
    URL_ANSWERS.clear()
    aipref.parse_statement.cache_clear()
    content_signal.parse.cache_clear()
    _robots.product_token.cache_clear()
    _robots.product_name.cache_clear()
