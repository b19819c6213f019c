"""Meta tags from an HTML document, extracted once and shared by every meta-based signal."""

from __future__ import annotations

import re
from typing import Any

import lxml.etree

MetaTag = tuple[str, str]  # (lower-cased name, content)

# Where a meta start tag can begin: "<meta" in any ASCII case, then what ends an HTML tag name.
# (Spelled out rather than re.IGNORECASE: a third faster, and ASCII only, as HTML's tag names.)
_META_START = re.compile(r"<[mM][eE][tT][aA][\t\n\f\r />]")
# From libxml2 2.14 on, lxml's HTML parser tokenizes as HTML5 does: left to right, each token
# depending only on what came before it, and a tag cut off by the end of the input is dropped.
# The meta tags of a document are then those of its start up to just past its last "<meta".
_PREFIX_IS_EXACT = lxml.etree.LIBXML_VERSION >= (2, 14)


def meta_from_tree(root: Any) -> tuple[MetaTag, ...]:
    """Every ``<meta name=… content=…>`` of a parsed document (an lxml element).

    Tags in the body count too: pages put them there, and reading more can only refuse more.
    """
    return _metas(root)[0]


def _metas(root: Any) -> tuple[tuple[MetaTag, ...], int]:
    """The named meta tags, and how many meta elements there are in all."""
    out: list[MetaTag] = []
    count = 0
    for element in root.iter("meta"):
        count += 1
        name = element.get("name")
        content = element.get("content")
        if name is not None and content is not None:
            out.append((name.strip().lower(), content))
    return tuple(out), count


def meta_from_html(html: str | bytes) -> tuple[MetaTag, ...]:
    """Parse an HTML document and return its meta tags; unparseable input has none.

    Text is parsed as parsel (Scrapy's selectors) parses a response's text: stripped, NULs
    removed, as UTF-8, so the crawler reads the same tags from a response as a spider's
    ``response.css("meta")`` sees, an XML declaration naming another encoding included.
    Bytes are given to lxml as they are: it finds their encoding itself.

    Of text, only the stretch that holds the meta tags is parsed (the head, on most pages:
    a tenth of the cost of the whole page), when that is sure to give what the whole would.
    """
    if isinstance(html, bytes):
        return _parse(html, lxml.etree.HTMLParser(recover=True, huge_tree=True))[0]
    text = html.strip()
    if "\x00" in text:  # (replace() scans slowly even when there is nothing to replace)
        text = text.replace("\x00", "")
    if _PREFIX_IS_EXACT:
        starts = [match.start() for match in _META_START.finditer(text)]
        if not starts:
            return ()  # no meta start tag anywhere: no meta element either
        cut = text.find("<", starts[-1] + 1)
        if cut > 0:
            tags, count = _parse_text(text[:cut])
            # Every "<meta" became an element: none sat in a comment, script, title or
            # attribute, and the last one was whole before the cut (a cut one is dropped).
            # Otherwise the whole document decides.
            if count == len(starts):
                return tags
    return _parse_text(text)[0]


def _parse_text(text: str) -> tuple[tuple[MetaTag, ...], int]:
    parser = lxml.etree.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
    return _parse(text.encode("utf-8"), parser)


def _parse(data: bytes, parser: Any) -> tuple[tuple[MetaTag, ...], int]:
    if not data.strip():
        return (), 0
    try:
        root = lxml.etree.fromstring(data, parser=parser)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
        return (), 0
    if root is None:  # nothing lxml could make an element of (e.g. only a comment)
        return (), 0
    return _metas(root)
