"""Generate the benchmark site: many origins of linked HTML pages (20-60 KiB) plus signal files.

Each origin is one directory (``o0``, ``o1``, ...) that a server exposes on its own port, so
every origin has its own policy files, as on the web.  The signal files are chosen so that the
consent layer has to read and apply every signal (robots.txt with AI-bot groups, Content-Usage
and Content-Signal lines, ai.txt, tdmrep.json, meta robots) while every page is still kept: the
consent crawl and the plain Scrapy crawl then fetch exactly the same pages, and the difference
in throughput is the cost of consent alone.

Pages are deterministic (seeded), so runs of the same configuration crawl identical bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

ROBOTS_TXT = """\
# benchmark origin {origin}: every group is parsed, nothing a page uses is refused
User-agent: *
Allow: /
Disallow: /private/
Content-Usage: /private/ train-ai=n
Content-Signal: search=yes, ai-train=yes

User-agent: GPTBot
User-agent: CCBot
Disallow: /private/

User-agent: Google-Extended
Disallow: /drafts/
"""

AI_TXT = """\
# Spawning ai.txt
User-Agent: *
Disallow: /private/
Disallow: *.psd
Allow: /
"""

TDMREP_JSON = """\
[
  {"location": "/private/*", "tdm-reservation": 1,
   "tdm-policy": "https://example.org/policies/tdm.json"},
  {"location": "/*", "tdm-reservation": 0}
]
"""

_WORDS = [
    "consent",
    "crawler",
    "origin",
    "policy",
    "signal",
    "training",
    "archive",
    "river",
    "mountain",
    "museum",
    "library",
    "history",
    "science",
    "garden",
    "harbour",
    "station",
    "bridge",
    "market",
    "festival",
    "season",
    "winter",
    "summer",
    "letter",
    "journal",
    "report",
    "survey",
    "measure",
    "energy",
    "climate",
    "forest",
    "ocean",
    "language",
    "culture",
]


@dataclass(frozen=True)
class SiteSpec:
    """How many origins and pages, and the page size range in KiB."""

    origins: int
    pages_per_origin: int
    min_kib: int = 20
    max_kib: int = 60
    links_per_page: int = 12

    @property
    def pages(self) -> int:
        return self.origins * self.pages_per_origin


def _paragraphs(rng: random.Random, count: int = 256) -> list[str]:
    """A pool of ~1 KiB paragraphs; pages draw from it (building words per page is too slow)."""
    pool = []
    for _ in range(count):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(120, 170))]
        pool.append("<p>" + " ".join(words).capitalize() + ".</p>\n")
    return pool


def page_name(index: int) -> str:
    return "index.html" if index == 0 else f"p{index}.html"


def page_html(spec: SiteSpec, origin: int, index: int, pool: list[str]) -> str:
    """One page: head with meta signals, nav links (a tree, so every page is reachable from
    the home page), a few random links, and paragraphs up to a size drawn from the range."""
    rng = random.Random(origin * 1_000_003 + index)
    n = spec.pages_per_origin
    tree = [c for c in range(index * 3 + 1, index * 3 + 4) if c < n]
    extra = [rng.randrange(n) for _ in range(max(0, spec.links_per_page - len(tree)))]
    links = "".join(f'<li><a href="/{page_name(t)}">Page {t}</a></li>' for t in (*tree, *extra))
    target = rng.randint(spec.min_kib, spec.max_kib) * 1024
    head = (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
        f"<title>Origin {origin} page {index}</title>\n"
        "<meta name='robots' content='index, follow'>\n"
        "<meta name='author' content='Bench Author'>\n"
        "<link rel='license' href='https://creativecommons.org/licenses/by/4.0/'>\n"
        f"</head><body><nav><ul>{links}</ul></nav><main><h1>Page {index}</h1>\n"
    )
    parts = [head]
    size = len(head)
    while size < target:
        para = pool[rng.randrange(len(pool))]
        parts.append(para)
        size += len(para)
    parts.append("</main></body></html>\n")
    return "".join(parts)


def write_site(root: Path, spec: SiteSpec) -> int:
    """Write every origin under ``root``; returns the bytes of HTML written."""
    pool = _paragraphs(random.Random(42))
    total = 0
    for origin in range(spec.origins):
        folder = root / f"o{origin}"
        (folder / ".well-known").mkdir(parents=True, exist_ok=True)
        (folder / "robots.txt").write_text(ROBOTS_TXT.format(origin=origin))
        (folder / "ai.txt").write_text(AI_TXT)
        (folder / ".well-known" / "tdmrep.json").write_text(TDMREP_JSON)
        for index in range(spec.pages_per_origin):
            html = page_html(spec, origin, index, pool)
            (folder / page_name(index)).write_text(html)
            total += len(html)
    return total
