"""Meta tags from an HTML document, extracted once and shared by every meta-based signal."""

from __future__ import annotations

from typing import Any

import lxml.etree
import lxml.html

MetaTag = tuple[str, str]  # (lower-cased name, content)


def meta_from_tree(root: Any) -> tuple[MetaTag, ...]:
    """Every ``<meta name=… content=…>`` of a parsed document (an lxml element).

    The crawler passes the tree Scrapy already parsed, so a page is parsed once.  Tags in the
    body count too: pages put them there, and reading more can only refuse more.
    """
    out: list[MetaTag] = []
    for element in root.iter("meta"):
        name = element.get("name")
        content = element.get("content")
        if name is not None and content is not None:
            out.append((name.strip().lower(), content))
    return tuple(out)


def meta_from_html(html: str | bytes) -> tuple[MetaTag, ...]:
    """Parse an HTML document and return its meta tags; unparseable input has none."""
    if not html or (isinstance(html, str) and not html.strip()):
        return ()
    try:
        root = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return ()
    return meta_from_tree(root)
