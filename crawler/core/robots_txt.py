"""robots.txt as evidence: the fetch decision for our token and the use signals it carries.

Fetching is pure RFC 9309 for our own product token, including its status semantics: 2xx is
parsed, 4xx allows everything, 5xx/429/network errors disallow everything (never "allow on
error", unlike Scrapy's middleware).  The same file also says things about *use*: Disallow
lines aimed at known AI-training bots (signal ``robots-ai-tokens``), and aipref
``Content-Usage`` / Cloudflare ``Content-Signal`` lines in the group that applies to us.
"""

from __future__ import annotations

from . import aipref, content_signal
from ._cache import PARSED_FILES
from ._patterns import compile_pattern
from ._robots import Group, RobotsFile, parse
from .decision import Reason, Verdict
from .evidence import FetchedFile
from .policy import Policy

_RFC = "RFC 9309"


def parsed(file: FetchedFile, max_bytes: int, kind: str = "robots") -> RobotsFile:
    """The parsed file, cached by content hash so an origin's file is parsed once."""
    result = PARSED_FILES.get_or_create(
        (kind, file.sha256, max_bytes),
        lambda: parse(file.body, max_bytes),
        min(len(file.body), max_bytes) + 1,
    )
    assert isinstance(result, RobotsFile)
    return result


def describe_status(status: int, error: str | None = None) -> str:
    if status == 0:
        return f"a network error: {error}" if error else "a network error"
    return f"HTTP {status}"


def fetch_reasons(
    file: FetchedFile, token: str, path: str, policy: Policy
) -> tuple[Reason, RobotsFile | None]:
    """The fetch verdict for ``path`` and, when the file was parsed, the parsed file."""
    sha, rp = file.sha256, policy.robots
    if file.redirects > rp.max_redirects:
        return Reason(
            "robots",
            "unknown",
            "fetch",
            (
                f"robots.txt took {file.redirects} redirects (limit {rp.max_redirects}): "
                f"treated as unavailable, crawling allowed ({_RFC} §2.3.1.2)"
            ),
            sha,
        ), None
    if file.unreachable:
        return Reason(
            "robots",
            "error",
            "fetch",
            (
                f"robots.txt unreachable ({describe_status(file.status, file.error)}): "
                f"complete disallow for this origin until it can be fetched ({_RFC} §2.3.1.4)"
            ),
            sha,
        ), None
    if 300 <= file.status < 500:
        if file.status in (401, 403) and rp.unauthorized == "refuse":
            return Reason(
                "robots",
                "refuse",
                "fetch",
                (
                    f"robots.txt answered HTTP {file.status}; policy robots.unauthorized = "
                    "'refuse' treats that as complete disallow"
                ),
                sha,
            ), None
        return Reason(
            "robots",
            "allow",
            "fetch",
            (
                f"robots.txt answered HTTP {file.status}: unavailable, no restrictions "
                f"({_RFC} §2.3.1.3)"
            ),
            sha,
        ), None
    robots = parsed(file, rp.max_bytes)
    cut = (
        f"; file cut at {robots.truncated_at:,} bytes, later lines ignored ({_RFC} §2.5)"
        if robots.truncated_at
        else ""
    )
    if path == "/robots.txt":
        return Reason(
            "robots", "allow", "fetch", f"/robots.txt is always allowed ({_RFC} §2.2.2){cut}", sha
        ), robots
    group, own = robots.group_for(token)
    if group is None:
        return Reason(
            "robots",
            "allow",
            "fetch",
            f"no group for {token!r} and no '*' group: no rules apply{cut}",
            sha,
        ), robots
    which = f"group '{group.label()}'" + ("" if own else f" (no group names {token!r})")
    rule = group.longest_match(path)
    if rule is None:
        return Reason(
            "robots", "allow", "fetch", f"no rule of {which} matches {path}{cut}", sha
        ), robots
    verdict: Verdict = "allow" if rule[1] else "refuse"
    return Reason(
        "robots", verdict, "fetch", f"{robots.describe(rule)} of {which} matches {path}{cut}", sha
    ), robots


def ai_token_reasons(robots: RobotsFile, path: str, policy: Policy, sha: str) -> list[Reason]:
    """A Disallow covering ``path`` in any AI-training bot's own group reserves AI use."""
    if not policy.robots_ai_tokens.honour:
        return []
    hits: list[str] = []
    for name, group in robots.named_groups(policy.robots_ai_tokens.tokens):
        rule = group.longest_match(path)
        if rule is not None and not rule[1]:
            hits.append(f"{name}: {robots.describe(rule)}")
    if not hits:
        return [
            Reason(
                "robots-ai-tokens",
                "unknown",
                "use",
                "no AI-training bot's group disallows this path",
                sha,
            )
        ]
    shown = "; ".join(hits[:5]) + (f"; and {len(hits) - 5} more" if len(hits) > 5 else "")
    return [
        Reason(
            "robots-ai-tokens",
            "refuse",
            "use",
            f"robots.txt reserves AI training for this path: {shown}",
            sha,
        )
    ]


def preference_reasons(
    robots: RobotsFile, token: str, path: str, policy: Policy, sha: str
) -> list[Reason]:
    """Content-Usage and Content-Signal lines of our group, and of '*' when we have our own."""
    group, own = robots.group_for(token)
    reasons: list[Reason] = []
    if group is not None:
        reasons += _group_preferences(
            robots, group, path, policy, sha, f"robots.txt {group.label()}"
        )
    star = robots.star_group
    if own and star is not None:
        # RFC 9309 selects one group; the '*' group's preferences are recorded, and refuse
        # only under the strict group_fallback = "refuse".
        strict = policy.robots.group_fallback == "refuse"
        where = "robots.txt '*' group; our token has its own group"
        for reason in _group_preferences(robots, star, path, policy, sha, where):
            if reason.verdict == "refuse" and strict:
                reasons.append(reason)
            elif reason.verdict != "unknown":
                detail = f"{reason.detail}; recorded only (policy robots.group_fallback)"
                reasons.append(Reason(reason.signal, "unknown", "use", detail, sha))
    return reasons


def _group_preferences(
    robots: RobotsFile, group: Group, path: str, policy: Policy, sha: str, where: str
) -> list[Reason]:
    reasons: list[Reason] = []
    if policy.content_usage.honour and group.usages:
        for record, pattern_text, statement in _best_usage_lines(group, path):
            at = f"{where}, line {robots.line_of(record)}" + (
                f", path {pattern_text}" if pattern_text else ""
            )
            reasons += aipref.statement_reasons(aipref.parse_statement(statement), at, policy, sha)
    if policy.content_signal.honour:
        for line in group.signals:
            at = f"{where}, line {robots.line_of(line.record)}"
            reasons += content_signal.reasons(content_signal.parse(line.value), at, sha)
    return reasons


def _best_usage_lines(group: Group, path: str) -> list[tuple[int, str, str]]:
    """The Content-Usage lines with the longest matching path; ties are all returned so the
    most restrictive wins (attach-05), unlike Allow/Disallow where ties go to allow."""
    best_length = -1
    best: list[tuple[int, str, str]] = []
    for record in group.usages:
        value = record.value
        pattern_text, statement = "", value
        if value.startswith("/"):
            cut = min((i for i in (value.find(" "), value.find("\t")) if i >= 0), default=-1)
            if cut < 0:
                continue  # a path with no preference after it
            pattern_text, statement = value[:cut], value[cut:].strip()
        pattern = compile_pattern(pattern_text or "/")  # no path: applies to every path
        if not pattern.matches(path):
            continue
        if pattern.length > best_length:
            best_length, best = pattern.length, []
        if pattern.length == best_length:
            best.append((record.record, pattern_text, statement))
    return best
