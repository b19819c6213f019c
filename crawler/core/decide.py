"""evidence + policy → decision.  Pure: no Scrapy, no I/O, no clock.

Each protocol is read by its own rules in its module; here the answers are combined as
design.md §1 says: a refusal of either scope wins, explicit permissions are recorded, and when
no signal decides use, the policy's mode does.  A refused fetch makes use "n/a": preferences
apply only to content we may fetch (aipref attach-05).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from . import _robots, ai_txt, aipref, content_signal, directives, robots_txt, tdmrep
from ._cache import PARSED_FILES, BoundedCache
from ._patterns import url_path
from ._robots import RobotsFile
from .decision import Decision, Reason, UseAnswer
from .evidence import Evidence, FetchedFile, RegistryAnswer
from .policy import Policy

# What an origin's robots.txt and ai.txt say about one path.  Each page is decided twice with
# the same files (before its request, after its response), so the answer is kept for the last
# few thousand paths.  Keyed by the objects' identities: an entry holds the objects themselves,
# so no id in a live key can be reused by another object.
_FileAnswer = tuple[
    FetchedFile | None, FetchedFile | None, Policy, Reason | None, tuple[Reason, ...], bool
]
FILE_ANSWERS: BoundedCache[_FileAnswer] = BoundedCache(capacity=2048, max_weight=2048)


def decide(evidence: Evidence, policy: Policy) -> Decision:
    token = evidence.token or policy.identity.token
    try:
        path = url_path(evidence.url)
        host = (urlsplit(evidence.url).hostname or "").lower()
    except ValueError as exc:  # e.g. an unbalanced "[": nothing can be decided, so refuse
        unparseable = Reason("policy", "refuse", "fetch", f"the URL cannot be parsed: {exc}")
        return Decision(evidence.url, "refused", "n/a", policy.mode, (unparseable,))
    reasons: list[Reason] = list(domain_reasons(host, policy))
    files = {
        name: file.sha256
        for name, file in (
            ("robots.txt", evidence.robots_txt),
            ("ai.txt", evidence.ai_txt),
            ("tdmrep.json", evidence.tdmrep_json),
        )
        if file is not None
    }
    robots_reason, use_reasons, fetch_ok = _file_answer(evidence, token, path, policy)
    if robots_reason is not None:
        reasons.append(robots_reason)
    if not fetch_ok or any(r.scope == "fetch" and r.refuses for r in reasons):
        return Decision(evidence.url, "refused", "n/a", policy.mode, tuple(reasons), files)

    reasons += use_reasons
    reasons += tdmrep.reasons(
        path, policy, evidence.tdmrep_json, evidence.headers, evidence.meta, evidence.document
    )
    if evidence.headers is not None:
        if policy.content_usage.honour:
            reasons += aipref.header_reasons(evidence.headers.get_all("content-usage"), policy)
        if policy.content_signal.honour:
            for line in evidence.headers.get_all("content-signal"):
                reasons += content_signal.reasons(content_signal.parse(line), "response header")
        reasons += directives.header_reasons(
            evidence.headers.get_all("x-robots-tag"), token, policy
        )
    if evidence.meta is not None:
        reasons += directives.meta_reasons(evidence.meta, token, policy)
    if evidence.registry is not None:
        reasons.append(registry_reason(evidence.registry, policy))
    if _licensed(host, policy):
        reasons.append(Reason("policy", "allow", "use", f"{host} is a licensed domain (policy)"))
    return Decision(
        evidence.url,
        "allowed",
        _use(reasons, policy),
        policy.mode,
        tuple(reasons) + _mode_reason(reasons, policy),
        files,
    )


def _file_answer(
    evidence: Evidence, token: str, path: str, policy: Policy
) -> tuple[Reason | None, tuple[Reason, ...], bool]:
    """robots.txt's fetch reason, the use reasons of robots.txt and ai.txt, and whether the
    fetch may go on (False: robots.txt refuses it, and the use reasons are not worked out)."""
    robots_txt_file, ai_txt_file = evidence.robots_txt, evidence.ai_txt
    key = (id(robots_txt_file), id(ai_txt_file), token, path, id(policy))

    def work_out() -> _FileAnswer:
        fetch_reason: Reason | None = None
        robots: RobotsFile | None = None
        if robots_txt_file is not None:
            fetch_reason, robots = robots_txt.fetch_reasons(robots_txt_file, token, path, policy)
            if fetch_reason.scope == "fetch" and fetch_reason.refuses:
                return robots_txt_file, ai_txt_file, policy, fetch_reason, (), False
        use: list[Reason] = []
        if robots is not None and robots_txt_file is not None:
            sha = robots_txt_file.sha256
            use += robots_txt.ai_token_reasons(robots, path, policy, sha)
            use += robots_txt.preference_reasons(robots, token, path, policy, sha)
        if ai_txt_file is not None:
            use += ai_txt.reasons(ai_txt_file, token, path, policy)
        return robots_txt_file, ai_txt_file, policy, fetch_reason, tuple(use), True

    answer = FILE_ANSWERS.get_or_create(key, work_out)
    if answer[0] is not robots_txt_file or answer[1] is not ai_txt_file or answer[2] is not policy:
        answer = work_out()  # cannot happen while the entry holds them; never trust an id alone
    return answer[3], answer[4], answer[5]


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
    FILE_ANSWERS.clear()
    aipref.parse_statement.cache_clear()
    content_signal.parse.cache_clear()
    _robots.product_token.cache_clear()
    _robots.product_name.cache_clear()
