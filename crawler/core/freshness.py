"""How long a fetched origin file (robots.txt, ai.txt, tdmrep.json) may be used.

RFC 9309 §2.4: a cached robots.txt SHOULD NOT be used for more than 24 hours; HTTP caching
headers may shorten that, never lengthen it.  A failed fetch is kept only briefly so it is
retried soon, and it is never turned into "allow": its decision stays a refusal while cached.
"""

from __future__ import annotations

from .evidence import FetchedFile
from .policy import Policy


def file_ttl(file: FetchedFile, policy: Policy, max_age: int | None = None) -> int:
    """Seconds ``file`` may be reused; ``max_age`` is the response's Cache-Control max-age."""
    if file.unreachable:
        return policy.robots.error_ttl_seconds
    ttl = policy.robots.ttl_seconds
    if max_age is not None and 0 <= max_age < ttl:
        ttl = max_age
    return ttl


def is_fresh(fetched_at: float, now: float, ttl: int) -> bool:
    return 0 <= now - fetched_at < ttl
