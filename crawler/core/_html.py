"""Meta tags from an HTML document, extracted once and shared by every meta-based signal."""

from __future__ import annotations

from typing import Any

import lxml.etree
import lxml.html

MetaTag = tuple[str, str]  # (lower-cased name, content)


def meta_from_tree(root: Any) -> tuple[MetaTag, ...]:
    """Every ``<meta name=… content=…>`` of a parsed document (an lxml element).

    Tags in the body count too: pages put them there, and reading more can only refuse more.
    """
    out: list[MetaTag] = []
    for element in root.iter("meta"):
        name = element.get("name")
        content = element.get("content")
        if name is not None and content is not None:
            out.append((name.strip().lower(), content))
    return tuple(out)


def meta_from_html(html: str | bytes) -> tuple[MetaTag, ...]:
    """Parse an HTML document and return its meta tags; unparseable input has none.

    Text is parsed as parsel (Scrapy's selectors) parses a response's text: stripped, NULs
    removed, as UTF-8, so the crawler reads the same tags from a response as a spider's
    ``response.css("meta")`` sees, an XML declaration naming another encoding included.
    Bytes are given to lxml as they are: it finds their encoding itself.
    """
    if isinstance(html, str):
        html = html.strip().replace("\x00", "").encode("utf-8")
        parser = lxml.html.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
    else:
        parser = lxml.html.HTMLParser(recover=True, huge_tree=True)
    if not html.strip():
        return ()
    try:
        root = lxml.etree.fromstring(html, parser=parser)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
        return ()
    if root is None:  # nothing lxml could make an element of (e.g. only a comment)
        return ()
    return meta_from_tree(root)
