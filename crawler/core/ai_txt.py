"""Spawning ai.txt: robots.txt syntax at /ai.txt, rules usually by file extension.

No processing spec exists; following signals.md §2 we select the group as RFC 9309 does and
take the longest matching pattern (patterns need not start with "/", e.g. ``*.jpg``).  A
matching Disallow refuses use, a matching Allow is an explicit permission, no match says
nothing.  A 200 answer carrying an HTML page (a soft 404 or maintenance page) counts as absent.
"""

from __future__ import annotations

from ._file_status import unusable_reason
from .decision import Reason, Verdict
from .evidence import FetchedFile
from .policy import Policy
from .robots_txt import parsed


def reasons(file: FetchedFile, token: str, path: str, policy: Policy) -> list[Reason]:
    if not policy.ai_txt.honour:
        return []
    problem = unusable_reason("ai-txt", "ai.txt", file, policy.ai_txt)
    if problem is not None:
        return [problem]
    sha = file.sha256
    if file.looks_like_html():
        return [
            Reason(
                "ai-txt",
                "unknown",
                "use",
                "ai.txt answered with an HTML page: treated as absent",
                sha,
            )
        ]
    robots = parsed(file, policy.robots.max_bytes, kind="ai-txt")
    group, _ = robots.group_for(token)
    if group is None:
        return [Reason("ai-txt", "unknown", "use", "ai.txt has no group for us or '*'", sha)]
    rule = group.longest_match(path)
    if rule is None:
        return [
            Reason(
                "ai-txt",
                "unknown",
                "use",
                f"no ai.txt rule of '{group.label()}' matches {path}",
                sha,
            )
        ]
    verdict: Verdict = "allow" if rule[1] else "refuse"
    return [
        Reason(
            "ai-txt",
            verdict,
            "use",
            f"ai.txt {robots.describe(rule)} of '{group.label()}' matches {path}",
            sha,
        )
    ]
