"""Robots directives: ``noai``/``noimageai`` (DeviantArt) and friends, in ``X-Robots-Tag``
headers and in ``<meta name="robots">`` / ``<meta name="OUR-TOKEN">`` tags.

Everything is case-insensitive (Google's robots meta convention).  Every header line counts;
a line is a comma list whose items may be scoped with ``token: directive``, the scope carrying
on to the following items until another scope appears (``otherbot: noindex, noai`` is all for
otherbot).  Directives scoped to other tokens are ignored.  Which directives refuse is the
policy's choice; the rest are recorded.
"""

from __future__ import annotations

from ._html import MetaTag
from .decision import Reason
from .policy import Policy

# Directives that take a value after a colon; anything else before a colon is a user agent.
_VALUED = frozenset({"max-snippet", "max-image-preview", "max-video-preview", "unavailable_after"})


def _header_directives(line: str, token: str) -> list[str]:
    found: list[str] = []
    scope: str | None = None
    for item in line.split(","):
        item = item.strip()
        if not item:
            continue
        head, sep, rest = item.partition(":")
        if sep and head.strip().lower() not in _VALUED:
            scope = head.strip().lower()
            item = rest.strip()
        if scope is None or scope == token:
            found.append(item.split(":", 1)[0].strip().lower())
    return [d for d in found if d]


def header_reasons(lines: tuple[str, ...], token: str, policy: Policy) -> list[Reason]:
    if not policy.x_robots_tag.honour or not lines:
        return []
    found: list[tuple[str, str]] = []
    for line in lines:
        found += [
            (d, f"X-Robots-Tag {line.strip()!r}") for d in _header_directives(line, token.lower())
        ]
    return _reasons("x-robots-tag", found, policy)


def meta_reasons(meta: tuple[MetaTag, ...], token: str, policy: Policy) -> list[Reason]:
    if not policy.meta_robots.honour:
        return []
    names = ("robots", token.lower())
    found: list[tuple[str, str]] = []
    for name, content in meta:
        if name in names:
            where = f'<meta name="{name}" content="{content.strip()}">'
            found += [(d.strip().lower(), where) for d in content.split(",") if d.strip()]
    return _reasons("meta-robots", found, policy)


def _reasons(signal: str, found: list[tuple[str, str]], policy: Policy) -> list[Reason]:
    refusing = set(policy.directives.refuse)
    out: list[Reason] = []
    for directive, where in found:
        if (
            directive == "noimageai"
            and "noimageai" in refusing
            and policy.directives.noimageai == "images"
        ):
            out.append(
                Reason(
                    signal,
                    "unknown",
                    "use",
                    f"{where}: noimageai refuses images only (policy directives.noimageai)",
                )
            )
        elif directive in refusing:
            out.append(Reason(signal, "refuse", "use", f"{where}: {directive}"))
        elif directive in (
            "noindex",
            "noarchive",
            "none",
            "nosnippet",
            "noimageindex",
            "noai",
            "noimageai",
        ):
            out.append(
                Reason(
                    signal,
                    "unknown",
                    "use",
                    f"{where}: {directive} recorded (not a refusal under this policy)",
                )
            )
    return out
