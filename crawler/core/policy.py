"""The policy schema: every key a policy file may set, its type, default, allowed values and doc.

The dataclasses below *are* the schema.  ``_policy_load`` validates TOML against them and the
README's policy reference is generated from them (``consent-crawler policy keys``), so a key is
described in exactly one place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

ON_ERROR = ("refuse", "ignore")


def key(
    default: Any,
    doc: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    pattern: str | None = None,
) -> Any:
    """Declare a policy key with its documentation and constraints."""
    meta = {"doc": doc, "choices": choices, "min": minimum, "max": maximum, "pattern": pattern}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Identity:
    token: str = key(
        "ConsentCrawler",
        "Our robots.txt product token; only letters, '_' and '-' (RFC 9309 §2.2.1).",
        pattern=r"[A-Za-z_-]+",
    )
    user_agent: str = key(
        "ConsentCrawler/0.1 (+https://consent-crawler.example/bot)",
        "User-Agent sent on every request, policy files included; must contain the token "
        "and the contact URL.",
    )
    contact_url: str = key(
        "https://consent-crawler.example/bot",
        "Where site owners learn about the crawler and reach its operators (http/https URL).",
        pattern=r"https?://\S+",
    )


@dataclass(frozen=True)
class RobotsPolicy:
    max_bytes: int = key(
        512000,
        "Bytes of robots.txt parsed; RFC 9309 §2.5 requires at least 512,000.",
        minimum=512000,
        maximum=16 * 1024 * 1024,
    )
    max_redirects: int = key(
        5,
        "Redirects followed for robots.txt; more counts as unavailable (RFC 9309 §2.3.1.2).",
        minimum=5,
        maximum=20,
    )
    ttl_seconds: int = key(
        86400,
        "How long a fetched robots.txt is used; RFC 9309 §2.4 says at most 24 hours.",
        minimum=1,
        maximum=86400,
    )
    error_ttl_seconds: int = key(
        300,
        "How long an unreachable robots.txt (5xx, 429, network error) refuses before a "
        "retry; never cached as allow.",
        minimum=1,
        maximum=86400,
    )
    unauthorized: str = key(
        "allow",
        "robots.txt answering 401/403: 'allow' (RFC 9309: unavailable, crawl and "
        "log) or 'refuse' (treat as complete disallow).",
        choices=("allow", "refuse"),
    )
    group_fallback: str = key(
        "record",
        "Content-Usage/Content-Signal lines of the '*' group when our token has its "
        "own group: 'record' them (the RFC selects one group) or 'refuse' on them (strict).",
        choices=("record", "refuse"),
    )


@dataclass(frozen=True)
class AiTokensPolicy:
    honour: bool = key(
        True,
        "Treat a robots.txt Disallow aimed at a known AI-training bot as a reservation "
        "of AI use (signal robots-ai-tokens). Fetching still follows our own token only.",
    )
    tokens: tuple[str, ...] = key(
        (),
        "Product names of AI-training crawlers whose robots.txt groups count, matched "
        "case-insensitively against the User-agent value as written (up to '/').",
        pattern=r"[A-Za-z0-9_.\- ]+",
    )


@dataclass(frozen=True)
class FileSignalPolicy:
    honour: bool = key(True, "Read this signal.")
    on_error: str = key(
        "refuse",
        "When the file cannot be read (5xx, 429, network error): 'refuse' use, or "
        "'ignore' the signal.",
        choices=ON_ERROR,
    )


@dataclass(frozen=True)
class ContentUsagePolicy:
    honour: bool = key(True, "Read IETF aipref Content-Usage (header and robots.txt lines).")
    legacy_labels: str = key(
        "refuse",
        "Labels of earlier aipref drafts (train-genai, bots, all, ai-use, tdm, ai, "
        "genai) set to n: 'refuse' (treat as train-ai=n, flagged legacy) or 'ignore' (draft "
        "-07: unknown labels are ignored).",
        choices=("refuse", "ignore"),
    )


@dataclass(frozen=True)
class HonourPolicy:
    honour: bool = key(True, "Read this signal.")


@dataclass(frozen=True)
class DirectivesPolicy:
    refuse: tuple[str, ...] = key(
        ("noai", "noimageai"),
        "Robots directives (X-Robots-Tag, <meta name=robots|TOKEN>) "
        "that refuse use; others (noindex, nofollow, …) are recorded only.",
        choices=("noai", "noimageai", "noarchive", "noindex", "none", "nosnippet", "noimageindex"),
    )
    noimageai: str = key(
        "page",
        "Scope of noimageai: 'page' refuses the page and its images (DeviantArt's "
        "meaning) or 'images' refuses only images.",
        choices=("page", "images"),
    )


@dataclass(frozen=True)
class RegistryPolicy:
    enabled: bool = key(False, "Ask an external opt-out registry before fetching.")
    url: str = key("", "Spawning-compatible endpoint (POST newline-separated URLs).")
    file: str = key("", "Local opt-out list (plain, CSV or JSON lines), instead of or with url.")
    auth_env: str = key("", "Name of the environment variable holding the API key.")
    auth_scheme: str = key("API", "Authorization scheme word sent before the key.")
    batch_size: int = key(10000, "URLs per registry request.", minimum=1, maximum=10000)
    batch_wait_ms: int = key(5, "Longest wait to fill a batch.", minimum=0, maximum=10000)
    timeout_seconds: float = key(20.0, "Timeout of one registry request.", minimum=0.1, maximum=600)
    retries: int = key(5, "Retries with backoff on 429/5xx.", minimum=0, maximum=20)
    cache_ttl_seconds: int = key(86400, "How long an answer is reused.", minimum=0, maximum=604800)
    on_error: str = key(
        "refuse",
        "Registry unreachable: 'refuse' the affected URLs, or 'defer' them until it "
        "answers (at most defer_max_seconds, then refuse).",
        choices=("refuse", "defer"),
    )
    defer_max_seconds: int = key(300, "Longest a deferred URL waits.", minimum=1, maximum=86400)


@dataclass(frozen=True)
class DomainsPolicy:
    allow: tuple[str, ...] = key(
        (),
        "If not empty, only these domains (and their subdomains) are fetched.",
        pattern=r"[A-Za-z0-9.\-]+",
    )
    deny: tuple[str, ...] = key(
        (), "Domains (and subdomains) never fetched (signal policy).", pattern=r"[A-Za-z0-9.\-]+"
    )
    licensed: tuple[str, ...] = key(
        (),
        "Domains we hold a licence for: an explicit permission in opt-in mode. A refusal "
        "signal still wins.",
        pattern=r"[A-Za-z0-9.\-]+",
    )


@dataclass(frozen=True)
class NetworkPolicy:
    allow_private: bool = key(
        False,
        "Let the network guard pass loopback, private, link-local (cloud metadata) and every "
        "other non-global address, as crawl --allow-private does (local sites, tests).",
    )
    allow: tuple[str, ...] = key(
        (),
        "Non-global addresses that may be connected to all the same: an address "
        "('10.0.0.5'), a network ('10.1.0.0/16', 'fd00::/8') or an address and port "
        "('127.0.0.1:8080', '[::1]:8080'). Compared with what a host name resolves to, at "
        "connect time, so names are not accepted.",
        pattern=r"[0-9A-Fa-f.:/\[\]]+",
    )


@dataclass(frozen=True)
class Policy:
    name: str = key("", "Shown in provenance; defaults to the file name without .toml.")
    description: str = key("", "Free text for the compliance team.")
    extends: str = key(
        "", "Another policy file (relative to this one) whose keys this file overrides."
    )
    mode: str = key(
        "opt-out",
        "With no signal either way: 'opt-out' uses the content (EU DSM Art. 4 "
        "model), 'opt-in' needs an explicit permission or a licensed domain.",
        choices=("opt-out", "opt-in"),
    )
    identity: Identity = field(default_factory=Identity)
    robots: RobotsPolicy = field(default_factory=RobotsPolicy)
    robots_ai_tokens: AiTokensPolicy = field(default_factory=AiTokensPolicy)
    ai_txt: FileSignalPolicy = field(default_factory=FileSignalPolicy)
    tdmrep: FileSignalPolicy = field(default_factory=FileSignalPolicy)
    content_usage: ContentUsagePolicy = field(default_factory=ContentUsagePolicy)
    content_signal: HonourPolicy = field(default_factory=HonourPolicy)
    x_robots_tag: HonourPolicy = field(default_factory=HonourPolicy)
    meta_robots: HonourPolicy = field(default_factory=HonourPolicy)
    directives: DirectivesPolicy = field(default_factory=DirectivesPolicy)
    registry: RegistryPolicy = field(default_factory=RegistryPolicy)
    domains: DomainsPolicy = field(default_factory=DomainsPolicy)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    # Not keys: where the policy came from, for provenance.
    text: str = field(default="", metadata={"internal": True})
    sha256: str = field(default="", metadata={"internal": True})
    source: str = field(default="", metadata={"internal": True})

    def replace(self, **changes: Any) -> Policy:
        return dataclasses.replace(self, **changes)


SECTION_DOCS = {
    "identity": "Who we are on the wire.",
    "robots": "robots.txt for our own token (RFC 9309): always enforced for fetching.",
    "robots_ai_tokens": "robots.txt groups of known AI-training bots, read as reservations.",
    "ai_txt": "Spawning ai.txt at /ai.txt.",
    "tdmrep": "W3C TDMRep: /.well-known/tdmrep.json, tdm-* headers and meta, EPUB/PDF metadata.",
    "content_usage": "IETF aipref Content-Usage (train-ai).",
    "content_signal": "Cloudflare Content-Signal (ai-train), robots.txt line and header.",
    "x_robots_tag": "noai/noimageai in the X-Robots-Tag header.",
    "meta_robots": "noai/noimageai in <meta name=robots> and <meta name=TOKEN>.",
    "directives": "Which robots directives refuse use.",
    "registry": "External opt-out registry (Spawning-compatible API or a local file).",
    "domains": "Allow, deny and licence lists by domain.",
    "network": "The network guard: URLs whose host is, or resolves to, a loopback, private, "
    "link-local (cloud metadata) or other non-global address are refused (signal policy).",
}
