"""Who made a page and under what licence, read from its structured data through extruct.

Kept apart from :mod:`crawler.extract` because everything here is about the shapes extruct
returns (JSON-LD, uniform microdata, expanded RDFa, flattened OpenGraph) rather than about HTML.
Each source becomes ``{field: value}`` for the fields of :class:`crawler.extract.Attribution`,
listed in precedence order with its name; the caller keeps the first value found per field.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urljoin

import extruct  # type: ignore[import-untyped]
from lxml import etree, html

Fields = dict[str, str]

# schema.org types whose author/licence describe the page itself. WebSite is left out on
# purpose: a site-wide node would otherwise beat the WebPage that follows it in a Yoast @graph.
# fmt: off
CREATIVE_WORKS = frozenset({
    "CreativeWork", "Article", "NewsArticle", "AnalysisNewsArticle", "OpinionNewsArticle",
    "ReportageNewsArticle", "ReviewNewsArticle", "BackgroundNewsArticle", "BlogPosting",
    "LiveBlogPosting", "SocialMediaPosting", "DiscussionForumPosting", "ScholarlyArticle",
    "MedicalScholarlyArticle", "TechArticle", "APIReference", "Report", "SatiricalArticle",
    "WebPage", "AboutPage", "CollectionPage", "ItemPage", "ProfilePage", "QAPage", "FAQPage",
    "MedicalWebPage", "ImageObject", "VideoObject", "AudioObject", "MediaObject", "Photograph",
    "Book", "Chapter", "Blog", "Dataset", "Recipe", "Review", "HowTo", "Course", "Thesis",
    "Comment", "Question", "Answer", "Guide"
})
# fmt: on

# OpenGraph prefixes: a `property` attribute with one of these is OpenGraph, not a reason to
# run the (slow) RDFa parser, which nearly every page with OpenGraph would otherwise trigger.
_OG = ("og:", "article:", "book:", "profile:", "music:", "video:", "product:", "fb:", "twitter:")
# Attribute steps (//*/@x) are several times cheaper in libxml2 than element predicates.
_XP_JSONLD = etree.XPath('//script[@type="application/ld+json"]')  # extruct's exact match
_XP_ITEMSCOPE = etree.XPath("boolean(//*/@itemscope)")
_XP_RDFA = etree.XPath("boolean(//*/@typeof | //*/@vocab)")
_XP_PROPERTY = etree.XPath("//*/@property", smart_strings=False)
_XP_REL = etree.XPath("//*/@rel", smart_strings=False)
_XP_REL_NODES = etree.XPath("//*/@rel")  # smart strings: getparent() leads to the element
# Microdata nesting costs extruct O(depth³) (200 nested itemscopes: 0.1 s, then RecursionError)
# and pyRdfa ~40 µs per element, so hostile or bloated pages skip both. "/*" repeated is a
# linear depth test; the element cap keeps RDFa under ~0.2 s.
MAX_DEPTH = 128
RDFA_MAX_ELEMENTS = 5000
_XP_DEEP = etree.XPath("boolean(" + "/*" * (MAX_DEPTH + 1) + ")")
_XP_ELEMENTS = etree.XPath("count(//*)")

_SCHEMA = ("http://schema.org/", "https://schema.org/")
_DCT, _DCE = "http://purl.org/dc/terms/", "http://purl.org/dc/elements/1.1/"
_CC, _XHV = "http://creativecommons.org/ns#", "http://www.w3.org/1999/xhtml/vocab#"
_RDFA_KEYS: dict[str, tuple[str, ...]] = {
    "author": (*(s + "author" for s in _SCHEMA), _CC + "attributionName"),
    "creator": (*(s + "creator" for s in _SCHEMA), _DCT + "creator", _DCE + "creator"),
    "publisher": (*(s + "publisher" for s in _SCHEMA), _DCT + "publisher", _DCE + "publisher"),
    "license_url": (*(s + "license" for s in _SCHEMA), _CC + "license", _XHV + "license"),
    "notice": (*(s + "copyrightNotice" for s in _SCHEMA), _DCT + "rights", _DCE + "rights"),
    "holder": tuple(s + "copyrightHolder" for s in _SCHEMA),
    "year": tuple(s + "copyrightYear" for s in _SCHEMA),
}
_RDFA_NAMES = (*(s + "name" for s in _SCHEMA), "http://xmlns.com/foaf/0.1/name")
_RELATIVE_URL = re.compile(r"(?:/|\./|\.\./|\?)\S*\Z")


def structured(
    root: html.HtmlElement, text: Callable[[], bytes], url: str, base: str
) -> list[tuple[str, Fields]]:
    """Attribution per syntax, in precedence order, running extruct only where markers exist.

    JSON-LD, microdata and OpenGraph are read from the already-parsed ``root`` (extruct accepts a
    tree for those), so a crawled page is not parsed twice. Only RDFa needs ``text()``: pyRdfa
    walks a DOM that extruct builds with its own parser class. Each JSON-LD script is extracted on
    its own because extruct lets one malformed script discard every other one on the page.
    ``base`` is the page's ``<base href>`` (or ``url``); pyRdfa finds that one by itself.
    """
    found: list[tuple[str, Fields]] = []
    scripts = _XP_JSONLD(root)
    if scripts:
        items = [i for s in scripts for i in _run(s, base, "json-ld")]
        found.append(("json-ld", schema_fields(jsonld_nodes(items), base)))
    shallow = not _XP_DEEP(root)
    if shallow and _XP_ITEMSCOPE(root):
        nodes = [n for n in _run(root, base, "microdata") if isinstance(n, dict)]
        found.append(("microdata", schema_fields([_untyped(n) for n in nodes], base)))
    properties = _XP_PROPERTY(root)
    if (
        shallow
        and (
            _XP_RDFA(root)
            or not all(p.startswith(_OG) for p in properties)
            or any(":" in r for r in _XP_REL(root))  # rel="cc:license", rel="dc:creator"
        )
        and _XP_ELEMENTS(root) <= RDFA_MAX_ELEMENTS
    ):
        found.append(("rdfa", from_rdfa(_run(text(), url, "rdfa"), (url, base))))
    if any(p.startswith(_OG) for p in properties):
        found.append(("opengraph", from_opengraph(_run(root, base, "opengraph"))))
    return found


def plain_html(
    root: html.HtmlElement, names: dict[str, str], base: str
) -> list[tuple[str, Fields]]:
    """The fallbacks after structured data: ``rel="license"``, then ``<meta name>`` tags.

    ``names`` maps lower-cased meta names to their content (the first of each wins).
    """
    dc = {k: names.get(f"dcterms.{k}") or names.get(f"dc.{k}") for k in ("creator", "rights")}
    found = [
        ("link-rel-license", {"license_url": _rel_license(root, base)}),
        ("meta-author", {"author": _literal(names.get("author"))}),
        ("meta-copyright", {"copyright": _literal(names.get("copyright"))}),
        ("meta-dc", {"creator": _literal(dc["creator"]), "copyright": _literal(dc["rights"])}),
    ]
    return [(source, {k: v for k, v in fields.items() if v}) for source, fields in found]


def _rel_license(root: html.HtmlElement, base: str) -> str | None:
    """The first ``rel="license"`` of a ``<link>``, ``<a>`` or ``<area>``, made absolute."""
    for rel in _XP_REL_NODES(root):  # attribute steps: far cheaper than element predicates
        el = rel.getparent()
        if el.tag in ("link", "a", "area") and "license" in rel.lower().split():
            href: str = (el.get("href") or "").strip()
            try:
                url = urljoin(base, href)
            except ValueError:
                continue
            if href and as_url(url, base):
                return url
    return None


def _run(document: object, url: str, syntax: str) -> list[Any]:
    """One extruct syntax; any failure (bad JSON, pyRdfa recursion, odd trees) yields nothing.

    rdflib warns about the page's own data (``datatype="xsd:boolean" content="maybe"`` gives
    "Parsing weird boolean"): nothing we can act on, and under pytest's ``filterwarnings = error``
    it would turn into a lost source in tests only. So rdflib's warnings, and only those, are
    ignored for the duration of the call.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"rdflib\.")
            out = extruct.extract(
                document, base_url=url, syntaxes=[syntax], uniform=True, with_og_array=True
            )
        items = out.get(syntax)
        return items if isinstance(items, list) else []
    except Exception:
        return []


def jsonld_nodes(items: Iterable[object]) -> list[dict[str, Any]]:
    """Flatten lists and ``@graph`` containers into a list of nodes, in document order."""
    nodes: list[dict[str, Any]] = []
    stack: list[object] = list(reversed(list(items)))
    while stack and len(nodes) < 10_000:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            if "@type" in item or "@graph" not in item:
                nodes.append(item)
            graph = item.get("@graph")
            if isinstance(graph, list | dict):
                stack.append(graph)
    return nodes


def _untyped(node: dict[str, Any]) -> dict[str, Any]:
    """extruct's uniform microdata leaves an item without itemtype as ``{"properties": ...}``."""
    props = node.get("properties")
    return props if "@type" not in node and isinstance(props, dict) else node


def _types(node: dict[str, Any]) -> set[str]:
    """``Article``, ``schema:Article`` and ``http://schema.org/Article`` all mean Article."""
    types = node.get("@type")
    types = types if isinstance(types, list) else [types]
    return {re.split(r"[/#:]", t)[-1] for t in types if isinstance(t, str)}


def schema_fields(nodes: list[dict[str, Any]], base: str) -> Fields:
    """schema.org attribution of the main entity: the first creative work, else the first node."""
    main = next((n for n in nodes if _types(n) & CREATIVE_WORKS), nodes[0] if nodes else None)
    if main is None:
        return {}
    index = {n["@id"]: n for n in nodes if isinstance(n.get("@id"), str)}
    out: Fields = {}
    for key in ("author", "creator", "publisher"):
        _put(out, key, _names(main.get(key), index))
    _put(out, "license_url", _license(main.get("license"), base))
    holder = _names(main.get("copyrightHolder"), index)
    year = _literal(main.get("copyrightYear"))
    _put(out, "copyright", _literal(main.get("copyrightNotice")) or _notice(holder, year))
    return out


def _names(value: object, index: dict[str, dict[str, Any]]) -> str | None:
    """A person/organisation value (string, node, ``@id`` reference or list) as "A, B"."""
    names: list[str] = []
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, dict):
            v = index.get(v["@id"], v) if "name" not in v and isinstance(v.get("@id"), str) else v
            v = _untyped(v)
            given = " ".join(
                filter(None, (_literal(v.get(k)) for k in ("givenName", "familyName")))
            )
            name = _literal(v.get("name")) or given or None
        else:
            name = _literal(v)
        if name and name not in names:
            names.append(name)
    return ", ".join(names) or None


def _literal(value: object) -> str | None:
    """Text of a JSON-LD literal: a string, number, ``{"@value": ...}`` or the first of a list.

    Deliberately not recursive: page data can nest lists deeper than the recursion limit.
    """
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, dict):
            v = v.get("@value")
        if isinstance(v, str | int | float) and not isinstance(v, bool):
            text = " ".join(str(v).split())
            if text:
                return text
    return None


def _license(value: object, base: str) -> str | None:
    """A licence given as a URL, a ``{"url"|"@id": URL}`` node, or a list of either."""
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, dict):
            v = v.get("url") or v.get("@id")
        found = as_url(_literal(v), base)
        if found:
            return found
    return None


def as_url(value: str | None, base: str) -> str | None:
    """An absolute http(s) URL, or None for prose such as "CC BY 4.0" that is no URL at all."""
    if not value:
        return None
    if value[:8].lower().startswith(("http://", "https://")):
        return value if " " not in value else None
    if _RELATIVE_URL.match(value):
        try:
            return urljoin(base, value)
        except ValueError:
            return None
    return None


def _notice(holder: str | None, year: str | None) -> str | None:
    if not holder:
        return None
    return f"© {year} {holder}" if year else f"© {holder}"


def _put(out: Fields, key: str, value: str | None) -> None:
    if value:
        out[key] = value


def from_rdfa(nodes: list[Any], pages: tuple[str, ...]) -> Fields:
    """Expanded RDFa: the first typed creative work, then the page itself (CC licence markup).

    ``pages`` are the page's own IRIs (its URL and ``<base href>``). Objects are
    ``{"@value": text}`` or ``{"@id": IRI}``; an ``@id`` is looked up for a name and otherwise
    kept as the IRI (an author's profile URL beats no author), unless it is a blank node.
    """
    nodes = [n for n in nodes if isinstance(n, dict)]
    index = {n["@id"]: n for n in nodes if isinstance(n.get("@id"), str)}
    typed = [n for n in nodes if _types(n) & CREATIVE_WORKS][:1]
    iris = {p.partition("#")[0] for p in pages} | set(pages)
    candidates = typed + [n for n in nodes if n.get("@id") in iris]
    values: dict[str, str] = {}
    for field, keys in _RDFA_KEYS.items():
        for node in candidates:
            found = _rdfa_values(node, keys, index, resolve=field != "license_url")
            if found:
                values[field] = found
                break
    out: Fields = {k: values[k] for k in ("author", "creator", "publisher") if k in values}
    _put(out, "license_url", as_url(values.get("license_url"), pages[-1]))
    _put(
        out, "copyright", values.get("notice") or _notice(values.get("holder"), values.get("year"))
    )
    return out


def _rdfa_values(
    node: dict[str, Any], keys: tuple[str, ...], index: dict[str, Any], *, resolve: bool
) -> str | None:
    names: list[str] = []
    for key in keys:
        objects = node.get(key)
        for obj in objects if isinstance(objects, list) else []:
            if not isinstance(obj, dict):
                continue
            iri = obj.get("@id")
            if isinstance(iri, str):
                target = index.get(iri, {}) if resolve else {}
                name = next(filter(None, (_literal(target.get(k)) for k in _RDFA_NAMES)), None)
                name = name or (None if iri.startswith("_:") else iri)
            else:
                name = _literal(obj)
            if name and name not in names:
                names.append(name)
        if names:
            return ", ".join(names)
    return None


def from_opengraph(items: list[Any]) -> Fields:
    """``article:author`` (often a profile URL; may repeat) and ``og:site_name`` as publisher."""
    out: Fields = {}
    for item in items:
        if isinstance(item, dict):
            authors = item.get("article:author") or item.get("og:article:author")
            authors = authors if isinstance(authors, list) else [authors]
            names = [n for n in map(_literal, authors) if n]
            _put(out, "author", ", ".join(dict.fromkeys(names)))
            _put(out, "publisher", _literal(item.get("og:site_name")))
            break
    return out
