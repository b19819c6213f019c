"""Page extraction: title, main text, language, attribution and outgoing links.

Pure (no Scrapy import) and cheap enough to run on every page at the crawler's ~200 pages/s on
one core: the crawler passes the tree Scrapy already parsed (``response.selector.root``), text is
walked once with lxml instead of a readability library, and extruct's slow syntaxes (RDFa above
all) only run when the page carries their markers. Provenance is the point: every attribution
field records which markup it came from.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from crawler._attribution import plain_html, structured

logger = logging.getLogger(__name__)

_FIELDS = ("author", "creator", "publisher", "license_url", "copyright")
# Elements whose text is not page content (chrome, code, forms, embedded media fallbacks).
# fmt: off
_SKIP = frozenset({
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "head",
    "title", "svg", "math", "iframe", "object", "embed", "canvas", "video", "audio", "select",
    "button"
})
_BLOCK = frozenset({
    "address", "article", "blockquote", "br", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "main",
    "ol", "p", "pre", "section", "summary", "table", "tr", "ul", "caption", "body"
})
# fmt: on
_CELL = frozenset(("td", "th"))
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_BINARY = re.compile("[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_BINARY_BYTES = re.compile(b"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_LANG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*\Z")
_XP_TITLE = etree.XPath("//title")
_XP_MAIN = etree.XPath("//main[not(@hidden)]")
_XP_ARTICLES = etree.XPath("//article[not(ancestor::article)]")
_XP_HREF = etree.XPath("//a/@href", smart_strings=False)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_UNUSUAL = re.compile(r"/\.|[\t\n\r\\]")  # dot segments, or what urlsplit would clean


@dataclass(frozen=True)
class Attribution:
    """Who made the page and under what terms; ``sources`` maps each found field to its markup."""

    author: str | None = None
    creator: str | None = None
    publisher: str | None = None
    license_url: str | None = None
    copyright: str | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Extracted:
    """What the crawler keeps of a page; ``links`` feed the frontier and are not stored."""

    title: str | None
    text: str
    language: str | None
    attribution: Attribution
    links: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "text": self.text,
            "language": self.language,
            "attribution": self.attribution.to_dict(),
        }


def extract(
    html: str | bytes,
    url: str,
    *,
    root: lxml.html.HtmlElement | None = None,
    content_language: str | None = None,
) -> Extracted:
    """Extract a page; never raises, whatever the input (an unusable page yields empty fields).

    With ``root`` (Scrapy's parsed tree) ``html`` is not parsed again, except by the RDFa pass
    when the page has RDFa markers. ``content_language`` is the HTTP header, the last resort for
    the language.
    """
    try:
        return _extract(html, url, root, content_language)
    except Exception:  # a crawl must not stop on one page; logged so that bugs stay visible
        logger.warning("extraction failed for %s", url, exc_info=True)
        return _empty(content_language)


def _empty(content_language: str | None) -> Extracted:
    return Extracted(None, "", _language(content_language), Attribution(), [])


def _extract(
    data: str | bytes, url: str, root: lxml.html.HtmlElement | None, content_language: str | None
) -> Extracted:
    if _binary(data):
        return _empty(content_language)
    text = None
    if root is None:
        text = _decode(data) if isinstance(data, bytes) else data
        root = _parse(text)
        if root is None:
            return _empty(content_language)

    def source() -> bytes:  # only the RDFa pass needs the text again
        page = text if text is not None else _decode(data) if isinstance(data, bytes) else data
        return page.encode("utf-8", "replace")

    names, props, equiv = _metas(root)
    base = _base_url(root, url)
    titles = [t for t in _XP_TITLE(root) if next(t.iterancestors("svg"), None) is None]
    title = _first_text(titles) or _clean(props.get("og:title")) or _h1(root)
    top = root.getroottree().getroot()
    language = (
        _language(top.get("lang") or top.get("xml:lang"))
        or _language(equiv.get("content-language"))
        or _language(content_language)
    )
    found = structured(root, source, url, base) + plain_html(root, names, base)
    return Extracted(title, _main_text(root), language, _merge(found), _links(root, base))


def _binary(data: str | bytes) -> bool:
    """WHATWG MIME sniffing's test: control bytes in the first 1445 mean an image or a PDF."""
    if isinstance(data, bytes):
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        return not utf16 and _BINARY_BYTES.search(data, 0, 1445) is not None
    return _BINARY.search(data, 0, 1445) is not None


def _decode(data: bytes) -> str:
    """Bytes to text: BOM, else ``<meta charset>`` in the first 4 KiB, else UTF-8 (replacing).

    Done here rather than by lxml, whose fallback is Latin-1 and which believes a page that
    claims UTF-16 in ASCII markup (browsers treat that claim as UTF-8, and so do we).
    """
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(enc, "replace")
    declared = _CHARSET.search(data, 0, 4096)
    encoding = "utf-8"
    if declared:
        with contextlib.suppress(LookupError):
            encoding = codecs.lookup(declared.group(1).decode("ascii")).name
    if encoding.startswith(("utf-16", "utf-32")):
        encoding = "utf-8"
    elif encoding in ("latin-1", "iso8859-1", "ascii"):
        encoding = "cp1252"  # WHATWG: these labels mean windows-1252
    try:
        return data.decode(encoding, "replace")
    except (LookupError, UnicodeError):  # "base64", "idna": codecs, but not page encodings
        return data.decode("utf-8", "replace")


def _parse(text: str) -> lxml.html.HtmlElement | None:
    """Parse like parsel (Scrapy's selector) does, so results match those from a passed root."""
    body = text.strip().replace("\x00", "").encode("utf-8", "replace")
    if not body:
        return None
    parser = lxml.html.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
    try:
        root = etree.fromstring(body, parser=parser)
    except (etree.LxmlError, ValueError):
        return None
    return root if isinstance(root, lxml.html.HtmlElement) else None


def _metas(root: lxml.html.HtmlElement) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """``<meta>`` content by lower-cased name, property and http-equiv; the first one wins."""
    maps: tuple[dict[str, str], dict[str, str], dict[str, str]] = ({}, {}, {})
    for meta in root.iter("meta"):
        content = meta.get("content")
        if content and not content.isspace():
            for i, attr in enumerate(("name", "property", "http-equiv")):
                key = meta.get(attr)
                if key:
                    maps[i].setdefault(key.strip().lower(), content)
    return maps


def _clean(value: str | None) -> str | None:
    return (" ".join(value.split()) or None) if value else None


def _first_text(elements: list[Any]) -> str | None:
    return _clean("".join(elements[0].itertext())) if elements else None


def _h1(root: lxml.html.HtmlElement) -> str | None:
    return next((t for h in root.iter("h1") if (t := _first_text([h]))), None)


def _language(value: str | None) -> str | None:
    """A BCP 47 tag in its canonical case (``en-gb`` → ``en-GB``); None for anything else."""
    tag = value.split(",")[0].strip().replace("_", "-") if value else ""
    if not _LANG.match(tag):
        return None
    first, *rest = tag.split("-")
    out = [first.lower()]
    private = len(first) == 1  # x-..., i-...: nothing after a singleton is a region or script
    for part in rest:
        private = private or len(part) == 1
        if not private and len(part) == 2 and part.isalpha():
            out.append(part.upper())  # region: GB
        elif not private and len(part) == 4 and part.isalpha():
            out.append(part.title())  # script: Hant
        else:
            out.append(part.lower())
    return "-".join(out)


def _base_url(root: lxml.html.HtmlElement, url: str) -> str:
    """The page URL, or its ``<base href>`` when that resolves to an http(s) URL."""
    for base in root.iter("base"):
        href = (base.get("href") or "").strip()
        if href:
            try:
                joined = urljoin(url, href)
            except ValueError:
                return url
            return joined if joined.lower().startswith(("http://", "https://")) else url
    return url


def _main_text(root: lxml.html.HtmlElement) -> str:
    """Text of ``<main>``, else the outermost ``<article>``s, else ``<body>``."""
    containers = _XP_MAIN(root)[:1] or _XP_ARTICLES(root)
    text = "\n".join(filter(None, (_text_of(c) for c in containers)))
    if not text:
        body = root.find("body")
        text = _text_of(root if body is None else body)
    return text


def _text_of(container: lxml.html.HtmlElement) -> str:
    """Visible text, one line per block element, whitespace collapsed except inside ``<pre>``.

    An explicit iterwalk rather than recursion: deeply nested pages must not hit the recursion
    limit, and skipping a subtree is one call.
    """
    lines: list[str] = []
    parts: list[str] = []
    pre = 0

    def flush() -> None:
        joined = "".join(parts)
        parts.clear()
        if pre:
            lines.extend(line.rstrip() for line in joined.strip("\n").split("\n"))
        elif line := " ".join(joined.split()):
            lines.append(line)

    walker = etree.iterwalk(container, events=("start", "end", "comment", "pi"))
    skipped = None
    for event, el in walker:
        if event == "start":
            tag = el.tag
            if tag in _SKIP or el.get("hidden") is not None or el.get("aria-hidden") == "true":
                walker.skip_subtree()  # its "end" comes next, and brings its tail
                skipped = el
                continue
            if tag in _BLOCK:
                flush()
                pre += tag == "pre"
            elif tag in _CELL:
                parts.append(" ")
            if el.text:
                parts.append(el.text)
            continue
        if event == "end" and el is not skipped and el.tag in _BLOCK:
            flush()
            pre -= el.tag == "pre"
        if el.tail and el is not container:
            parts.append(el.tail)
    flush()
    return "\n".join(lines)


def _merge(found: list[tuple[str, dict[str, str]]]) -> Attribution:
    """Per field, the first source (in precedence order) that has a value wins."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for source, fields in found:
        for key in _FIELDS:
            if key not in values and fields.get(key):
                values[key] = fields[key]
                sources[key] = source
    return Attribution(**values, sources=sources)


def _links(root: lxml.html.HtmlElement, base: str) -> list[str]:
    """Absolute http(s) ``<a href>`` targets without fragment, deduplicated in page order.

    ``urljoin`` costs microseconds and a page has hundreds of links, so the common shapes
    (absolute, ``//host/...``, ``/path``) are resolved by hand; the rest go through it.
    """
    try:
        parts = urlsplit(base)
    except ValueError:
        return []
    origin = f"{parts.scheme}://{parts.netloc}"
    seen: dict[str, None] = {}
    for href in _XP_HREF(root):
        href = href.strip().partition("#")[0]
        if not href:
            continue  # a same-document link
        scheme = _SCHEME.match(href)
        if scheme and scheme.group(1).lower() not in ("http", "https"):
            continue  # javascript:, mailto:, tel:, data: ...
        unusual = _UNUSUAL.search(href)
        if scheme and not unusual and href.startswith("//", scheme.end()):
            pass  # already absolute
        elif not scheme and not unusual and href.startswith("/"):
            href = (parts.scheme + ":" if href.startswith("//") else origin) + href
        else:  # relative paths, dot segments, tabs, "http:x": the general algorithm
            try:
                href = urljoin(base, href)
            except ValueError:
                continue
        if not href[:8].lower().startswith(("http://", "https://")):
            continue
        if "[" in href:
            try:
                urlsplit(href)  # "http://[::1" would fail later, in whatever consumes the link
            except ValueError:
                continue
        seen[href] = None
    return list(seen)
