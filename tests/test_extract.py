"""crawler.extract: title, main text, language, attribution (and its provenance), links."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import extruct  # type: ignore[import-untyped]
import parsel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract import Attribution, Extracted, extract

URL = "https://example.com/blog/post.html"


def page(head: str = "", body: str = "", html_attrs: str = "") -> str:
    return f"<!doctype html><html {html_attrs}><head>{head}</head><body>{body}</body></html>"


def ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def og(**props: str) -> str:
    return "".join(
        f'<meta property="{k.replace("__", ":")}" content="{v}">' for k, v in props.items()
    )


def attribution(html: str, url: str = URL) -> Attribution:
    return extract(html, url).attribution


def with_root(html: str, url: str = URL) -> Extracted:
    """As the crawler calls it: with the tree Scrapy's selector already parsed."""
    return extract(html, url, root=parsel.Selector(text=html).root)


# --- title -----------------------------------------------------------------------------------


def test_title_is_the_title_element_with_whitespace_collapsed() -> None:
    html = page("<title>\n  A   title\n</title>" + og(og__title="OG"), "<h1>H1</h1>")
    assert extract(html, URL).title == "A title"


def test_title_falls_back_to_og_title_then_first_non_empty_h1() -> None:
    assert extract(page("<title> </title>" + og(og__title="OG title")), URL).title == "OG title"
    assert extract(page(body="<h1> </h1><h1>First <b>h1</b></h1><h1>2</h1>"), URL).title == (
        "First h1"
    )
    assert extract(page(body="<p>no title</p>"), URL).title is None


def test_an_svg_title_is_not_the_page_title() -> None:
    html = page(body="<svg><title>icon</title></svg><h1>Heading</h1>")
    assert extract(html, URL).title == "Heading"


# --- main text -------------------------------------------------------------------------------


def test_main_text_skips_chrome_scripts_forms_and_hidden_elements() -> None:
    body = """
      <nav>Menu</nav><header>Site header</header>
      <main>
        <h1>Heading</h1>
        <p>First <b>bold</b>   paragraph
           spans lines.<script>var x = 1;</script><style>p{}</style></p>
        <noscript>Enable JS</noscript><template><p>tpl</p></template>
        <aside>Related</aside><form><label>Search</label></form>
        <div hidden>Hidden attr</div><p aria-hidden="true">Hidden from AT</p>
        <p aria-hidden="false">Shown</p>
        <footer>Post footer</footer>
      </main>
      <footer>Site footer</footer>"""
    assert extract(page(body=body), URL).text == (
        "Heading\nFirst bold paragraph spans lines.\nShown"
    )


def test_text_after_a_skipped_element_or_comment_is_kept() -> None:
    body = "<p>Before<script>x()</script> after <!-- note --> and<span hidden>no</span> end</p>"
    assert extract(page(body=body), URL).text == "Before after and end"


def test_blocks_become_lines_inline_elements_do_not_and_blank_lines_go() -> None:
    body = (
        "<div><p>One</p>\n\n\n<p>Two <a href='/x'>link</a><em>joined</em></p></div>"
        "<ul><li>a</li><li>b</li></ul>line<br>break<table><tr><td>c1</td><td>c2</td></tr></table>"
    )
    assert extract(page(body=body), URL).text == "One\nTwo linkjoined\na\nb\nline\nbreak\nc1 c2"


def test_preformatted_text_keeps_its_indentation() -> None:
    body = "<p>Code:</p><pre>\ndef f():\n    return  1\n</pre><p>after</p>"
    assert extract(page(body=body), URL).text == "Code:\ndef f():\n    return  1\nafter"


def test_main_text_prefers_main_then_articles_then_body() -> None:
    chrome = "<div>Sidebar text</div>"
    assert extract(page(body=chrome + "<main><p>Main</p></main>"), URL).text == "Main"
    two = (
        chrome + "<article><p>A1</p><article><p>nested</p></article></article><article>A2</article>"
    )
    assert extract(page(body=two), URL).text == "A1\nnested\nA2"
    assert extract(page(body=chrome + "<p>Body</p>"), URL).text == "Sidebar text\nBody"


def test_an_empty_main_falls_back_to_the_body() -> None:
    assert extract(page(body="<main> </main><p>Real content</p>"), URL).text == "Real content"


# --- language --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("en-GB", "en-GB"), ("en-gb", "en-GB"), ("EN_us", "en-US"), ("zh-hant-tw", "zh-Hant-TW")],
)
def test_html_lang_is_normalised_to_bcp47_case(lang: str, expected: str) -> None:
    assert extract(page(html_attrs=f'lang="{lang}"'), URL).language == expected


def test_language_falls_back_to_meta_then_http_header_then_none() -> None:
    meta = '<meta http-equiv="Content-Language" content="fr-CA">'
    assert extract(page(meta, html_attrs='lang="de"'), URL, content_language="es").language == "de"
    assert extract(page(meta, html_attrs='lang=""'), URL, content_language="es").language == "fr-CA"
    assert extract(page(html_attrs='lang="!!"'), URL, content_language="es, en").language == "es"
    assert extract(page(), URL).language is None


# --- attribution: each source ----------------------------------------------------------------


def test_json_ld_fields() -> None:
    data = {
        "@context": "https://schema.org",
        "@type": "BlogPosting",
        "author": {"@type": "Person", "name": "Ada Lovelace"},
        "creator": "Charles Babbage",
        "publisher": {"@type": "Organization", "name": "Analytical Press"},
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "copyrightHolder": {"@type": "Organization", "name": "Analytical Press"},
        "copyrightYear": 1843,
    }
    assert attribution(page(ld(data))) == Attribution(
        author="Ada Lovelace",
        creator="Charles Babbage",
        publisher="Analytical Press",
        license_url="https://creativecommons.org/licenses/by/4.0/",
        copyright="© 1843 Analytical Press",
        sources=dict.fromkeys(
            ("author", "creator", "publisher", "license_url", "copyright"), "json-ld"
        ),
    )


def test_json_ld_copyright_notice_beats_holder_and_year() -> None:
    data = {"@type": "Article", "copyrightNotice": "© Someone, all rights reserved"}
    data |= {"copyrightHolder": "Other", "copyrightYear": "2020"}
    assert attribution(page(ld(data))).copyright == "© Someone, all rights reserved"


def test_json_ld_author_lists_join_names_in_order_without_repeats() -> None:
    authors = [
        {"@type": "Person", "name": "A"},
        "B",
        {"name": "A"},
        {"givenName": "C", "familyName": "D"},
    ]
    assert attribution(page(ld({"@type": "Article", "author": authors}))).author == "A, B, C D"


@pytest.mark.parametrize(
    ("license_value", "expected"),
    [
        ({"@type": "CreativeWork", "url": "https://l.example/by"}, "https://l.example/by"),
        ({"@id": "https://l.example/by-sa"}, "https://l.example/by-sa"),
        (["CC BY 4.0", "/terms"], "https://example.com/terms"),
        ("CC BY 4.0", None),  # prose, not a URL
    ],
)
def test_json_ld_license_as_object_list_or_relative_url(license_value: Any, expected: str) -> None:
    assert attribution(page(ld({"@type": "Article", "license": license_value}))).license_url == (
        expected
    )


def test_json_ld_graph_main_entity_and_id_references() -> None:
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "Organization", "@id": "#org", "name": "Org Inc", "license": "/org"},
            {"@type": ["NewsArticle"], "author": {"@id": "#jane"}, "publisher": {"@id": "#org"}},
            {"@type": "Person", "@id": "#jane", "name": "Jane Doe"},
        ],
    }
    found = attribution(page(ld(graph)))
    assert (found.author, found.publisher, found.license_url) == ("Jane Doe", "Org Inc", None)


def test_json_ld_without_a_creative_work_uses_the_first_object() -> None:
    items = [{"@type": "Person", "name": "x", "author": "First"}, {"@type": "Thing", "author": "2"}]
    assert attribution(page(ld(items))).author == "First"


def test_json_ld_across_scripts_and_a_malformed_script_spoils_nothing() -> None:
    broken = '<script type="application/ld+json">{"@type": "Article", "author": </script>'
    head = (
        broken
        + ld({"@type": "Organization", "name": "x"})
        + ld({"@type": "Article", "author": "Kept"})
    )
    head += og(og__site_name="Site")
    found = attribution(page(head))
    assert (found.author, found.publisher) == ("Kept", "Site")
    assert found.sources == {"author": "json-ld", "publisher": "opengraph"}


def test_microdata_fields() -> None:
    body = """<div itemscope itemtype="https://schema.org/Article">
      <span itemprop="author" itemscope itemtype="https://schema.org/Person">
        <span itemprop="name">Grace Hopper</span></span>
      <span itemprop="author">Second Author</span>
      <span itemprop="publisher" itemscope><span itemprop="name">Navy Press</span></span>
      <link itemprop="license" href="/license">
      <meta itemprop="copyrightYear" content="1952"><span itemprop="copyrightHolder">US Navy</span>
    </div>"""
    assert attribution(page(body=body)) == Attribution(
        author="Grace Hopper, Second Author",
        publisher="Navy Press",
        license_url="https://example.com/license",
        copyright="© 1952 US Navy",
        sources=dict.fromkeys(("author", "publisher", "license_url", "copyright"), "microdata"),
    )


def test_rdfa_dublin_core_and_creative_commons() -> None:
    body = """<div xmlns:dc="http://purl.org/dc/terms/" xmlns:cc="http://creativecommons.org/ns#">
      <span property="dc:creator">Alan Turing</span> <span property="dc:rights">Rights text</span>
      <a rel="cc:license" href="https://creativecommons.org/licenses/by-sa/4.0/">BY-SA</a>
      <span property="cc:attributionName">A. M. Turing</span></div>"""
    assert attribution(page(body=body)) == Attribution(
        author="A. M. Turing",
        creator="Alan Turing",
        license_url="https://creativecommons.org/licenses/by-sa/4.0/",
        copyright="Rights text",
        sources=dict.fromkeys(("author", "creator", "license_url", "copyright"), "rdfa"),
    )


def test_rdflib_warnings_about_page_data_are_silenced() -> None:
    # rdflib warns "Parsing weird boolean" for this; a crawl would log it for every such page.
    body = """<div xmlns:dc="http://purl.org/dc/terms/" xmlns:xsd="http://www.w3.org/2001/XMLSchema#">
      <span property="dc:creator">Creator</span>
      <span property="dc:valid" datatype="xsd:boolean" content="maybe">?</span></div>"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = attribution(page(body=body))
    assert [str(w.message) for w in caught] == []
    assert found.sources == {"creator": "rdfa"}


def test_with_rdfa_markup_a_plain_rel_license_is_reported_as_rdfa() -> None:
    # RDFa 1.1 reads rel="license" as xhv:license, and RDFa outranks link-rel-license.
    body = '<span property="dc:title" xmlns:dc="http://purl.org/dc/terms/">T</span>'
    body += '<a rel="license" href="/cc">CC</a>'
    found = attribution(page(body=body))
    assert (found.license_url, found.sources) == ("https://example.com/cc", {"license_url": "rdfa"})


def test_rdfa_schema_org_properties_of_a_typed_article() -> None:
    body = """<article vocab="https://schema.org/" typeof="Article">
      <span property="author" typeof="Person"><span property="name">Katherine Johnson</span></span>
      <span property="publisher">NASA</span><a property="license" href="/lic">licence</a>
    </article>"""
    found = attribution(page(body=body))
    assert (found.author, found.publisher, found.license_url) == (
        "Katherine Johnson",
        "NASA",
        "https://example.com/lic",
    )
    assert set(found.sources.values()) == {"rdfa"}


def test_opengraph_article_authors_and_site_name_as_publisher() -> None:
    head = og(og__title="T", article__author="https://fb.example/ann") + og(article__author="Bob")
    head += og(og__site_name="The Site")
    found = attribution(page(head))
    assert (found.author, found.publisher) == ("https://fb.example/ann, Bob", "The Site")
    assert found.sources == {"author": "opengraph", "publisher": "opengraph"}


def test_link_rel_license_is_resolved_against_the_page_or_its_base() -> None:
    html = page('<link rel="License" href="../terms.html">')
    assert attribution(html).license_url == "https://example.com/terms.html"
    assert attribution(html).sources == {"license_url": "link-rel-license"}
    based = page('<base href="https://cdn.example/site/"><link rel="license" href="lic">')
    assert attribution(based).license_url == "https://cdn.example/site/lic"
    structured = ld({"@type": "Article", "license": "/by"}) + '<base href="https://cdn.example/">'
    assert attribution(page(structured)).license_url == "https://cdn.example/by"
    anchor = page(body='<a rel="nofollow license" href="/cc">CC</a>')
    assert attribution(anchor).license_url == "https://example.com/cc"


def test_meta_author_copyright_and_dublin_core_rights() -> None:
    head = '<meta name="Author" content=" Meta  Author "><meta name="copyright" content="© Me">'
    head += '<meta name="DC.creator" content="DC Creator">'
    assert attribution(page(head)) == Attribution(
        author="Meta Author",
        creator="DC Creator",
        copyright="© Me",
        sources={"author": "meta-author", "copyright": "meta-copyright", "creator": "meta-dc"},
    )
    for name in ("dcterms.rights", "DC.rights"):
        found = attribution(page(f'<meta name="{name}" content="CC0">'))
        assert (found.copyright, found.sources) == ("CC0", {"copyright": "meta-dc"})


def test_no_attribution_markup_gives_an_empty_attribution() -> None:
    assert attribution(page(body="<p>Just text</p>")) == Attribution()


# --- attribution: precedence -----------------------------------------------------------------


def test_each_field_takes_the_first_source_in_precedence_order() -> None:
    head = ld({"@type": "Article", "author": "JSON-LD Author"})
    head += og(article__author="OG Author", og__site_name="OG Site")
    head += '<link rel="license" href="/rel-license"><meta name="author" content="Meta Author">'
    head += '<meta name="copyright" content="Meta Copyright">'
    body = """<div itemscope itemtype="https://schema.org/Article">
        <span itemprop="author">Microdata Author</span>
        <span itemprop="publisher">MD Publisher</span>
      </div>
      <div vocab="https://schema.org/" typeof="Article"><span property="publisher">RDFa Pub</span>
        <a property="license" href="/rdfa-license">l</a></div>"""
    found = attribution(page(head, body))
    assert found.to_dict() == {
        "author": "JSON-LD Author",
        "creator": None,
        "publisher": "MD Publisher",
        "license_url": "https://example.com/rdfa-license",
        "copyright": "Meta Copyright",
        "sources": {
            "author": "json-ld",
            "publisher": "microdata",
            "license_url": "rdfa",
            "copyright": "meta-copyright",
        },
    }


def test_opengraph_beats_link_rel_and_meta_and_meta_copyright_beats_dc_rights() -> None:
    head = og(article__author="OG") + '<meta name="author" content="Meta">'
    head += '<meta name="DC.rights" content="DC"><meta name="copyright" content="Copyright">'
    found = attribution(page(head))
    assert (found.author, found.copyright) == ("OG", "Copyright")


# --- which extruct syntaxes run --------------------------------------------------------------


@pytest.fixture
def extruct_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The syntaxes extruct is asked for, in order."""
    calls: list[str] = []
    real = extruct.extract

    def spy(document: object, **kwargs: Any) -> Any:
        calls.extend(kwargs["syntaxes"])
        return real(document, **kwargs)

    monkeypatch.setattr(extruct, "extract", spy)
    return calls


def test_extruct_runs_only_the_syntaxes_whose_markers_are_present(extruct_calls: list[str]) -> None:
    extract(page("<title>t</title>", "<p>plain</p>"), URL)
    assert extruct_calls == []
    # OpenGraph's property="og:..." attributes are no reason for the slow RDFa pass.
    extract(page(og(og__title="x", article__author="y") + ld({"@type": "Article"})), URL)
    assert extruct_calls == ["json-ld", "opengraph"]
    extruct_calls.clear()
    extract(page(body='<div itemscope><span property="dc:title">x</span></div>'), URL)
    assert extruct_calls == ["microdata", "rdfa"]


def test_deeply_nested_pages_skip_microdata_and_rdfa(extruct_calls: list[str]) -> None:
    # extruct's microdata is O(depth³) here (0.1 s at depth 200), pyRdfa recurses per level.
    depth = 400
    html = page(body="<div itemscope itemprop='author' property='dc:x'>" * depth + "</div>" * depth)
    assert extract(html, URL).attribution == Attribution()
    assert extruct_calls == []


def test_an_extruct_failure_only_silences_that_source(monkeypatch: pytest.MonkeyPatch) -> None:
    real = extruct.extract

    def failing_rdfa(document: object, **kwargs: Any) -> Any:
        if kwargs["syntaxes"] == ["rdfa"]:
            raise RecursionError("pyRdfa on a deep page")
        return real(document, **kwargs)

    monkeypatch.setattr(extruct, "extract", failing_rdfa)
    body = (
        '<div vocab="https://schema.org/" typeof="Article"><span property="author">R</span></div>'
    )
    found = attribution(page(og(article__author="OG"), body))
    assert (found.author, found.sources) == ("OG", {"author": "opengraph"})


# --- links -----------------------------------------------------------------------------------


def test_links_are_absolute_http_deduplicated_in_order_without_fragments() -> None:
    hrefs = [
        "/a#top",
        "https://other.example/x?q=1#frag",
        "/a",
        "b/../c",
        "//cdn.example/lib",
        "?page=2",
        " https://other.example/x?q=1 ",
        "#section",
        "",
        "mailto:me@example.com",
        "javascript:void(0)",
        "tel:+123",
        "ftp://files.example/",
        "http://[::1",
        "HTTPS://Upper.example/",
    ]
    body = "".join(f'<a href="{h}">x</a>' for h in hrefs) + "<a>no href</a>"
    assert extract(page(body=body), URL).links == [
        "https://example.com/a",
        "https://other.example/x?q=1",
        "https://example.com/blog/c",
        "https://cdn.example/lib",
        "https://example.com/blog/post.html?page=2",
        "HTTPS://Upper.example/",
    ]


def test_links_resolve_against_base_href() -> None:
    html = page('<base href="/docs/">', '<a href="intro">i</a><a href="/root">r</a>')
    assert extract(html, URL).links == [
        "https://example.com/docs/intro",
        "https://example.com/root",
    ]


# --- odd input -------------------------------------------------------------------------------

EMPTY = Extracted(title=None, text="", language=None, attribution=Attribution(), links=[])


@pytest.mark.parametrize(
    "garbage",
    ["", b"", "   \n ", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\x00" * 50, "\x00\x01\x02"],
)
def test_empty_or_binary_input_gives_an_empty_result(garbage: str | bytes) -> None:
    assert extract(garbage, URL) == EMPTY
    assert extract(garbage, URL, content_language="en").language == "en"


def test_text_that_is_not_html_is_just_text() -> None:
    assert extract("plain words, no markup", URL) == Extracted(
        None, "plain words, no markup", None, Attribution(), []
    )


def test_bytes_are_decoded_by_declared_charset_or_utf8_with_replacement() -> None:
    latin = b'<meta charset="iso-8859-1"><p>caf\xe9 \x93quoted\x94</p>'  # windows-1252 quotes
    assert extract(latin, URL).text == "café “quoted”"
    assert extract(b"<p>na\xc3\xafve \xff</p>", URL).text == "naïve \ufffd"
    bom = "\ufeff<p>ü</p>".encode("utf-16-le")
    assert extract(bom, URL).text == "ü"
    lying = '<meta charset="utf-16"><p>ü</p>'.encode()  # a UTF-16 claim in ASCII markup
    assert extract(lying, URL).text == "ü"


def test_deep_and_large_documents_do_not_break_anything() -> None:
    deep = "<div>" * 20_000 + "x" + "</div>" * 20_000
    assert isinstance(extract(deep, URL), Extracted)
    large = page(body="<p>word</p>" * 50_000)
    assert extract(large, URL).text.count("word") == 50_000


# --- the crawler's pre-parsed tree -----------------------------------------------------------

SAMPLES = [
    page(
        '<title>T</title><meta name="author" content="M">'
        + ld({"@type": "Article", "author": "J", "license": "/l"})
        + og(og__site_name="S"),
        "<nav>n</nav><main><p>Hello <a href='/x#y'>x</a></p></main>",
        'lang="en-gb"',
    ),
    page(
        body='<div vocab="https://schema.org/" typeof="Article"><span property="author">R</span>'
        '<div itemscope><span itemprop="name">n</span></div></div><a rel="license" href="c">c</a>'
    ),
    "<p>fragment only</p>",
    "",
]


@pytest.mark.parametrize("html", SAMPLES)
def test_passing_the_parsed_root_gives_the_same_result(html: str) -> None:
    assert with_root(html) == extract(html, URL)
    assert with_root(html) == extract(html.encode(), URL)


def test_with_a_root_the_html_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    html = SAMPLES[0]
    expected = extract(html, URL)
    monkeypatch.setattr("crawler.extract._parse", lambda text: pytest.fail("parsed again"))
    assert with_root(html) == expected


def test_to_dict_is_json_ready_and_leaves_links_out() -> None:
    result = extract(SAMPLES[0], URL)
    as_dict = result.to_dict()
    assert set(as_dict) == {"title", "text", "language", "attribution"}
    assert as_dict["attribution"]["sources"] == {
        "author": "json-ld",
        "license_url": "json-ld",
        "publisher": "opengraph",
    }
    assert json.loads(json.dumps(as_dict)) == as_dict


# --- never raises ----------------------------------------------------------------------------


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def no_fallback_used() -> Iterator[None]:
    """extract() has a catch-all fallback; the fuzz test checks that it was not what saved us."""
    handler = _Failures()
    logger = logging.getLogger("crawler.extract")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert handler.records == []


_markup = st.sampled_from(
    [
        "<html lang='x'>",
        "<title>",
        "<main>",
        "<article>",
        "<pre>",
        "<p hidden>",
        "<a href='",
        '<script type="application/ld+json">',
        '{"@graph": [',
        '{"@type": "Article", "author": ',
        "<div itemscope itemtype='https://schema.org/Article'><span itemprop='author'>",
        "<span property='dc:creator'>",
        '<meta property="article:author" content="',
        '<link rel="license" href="',
        "<base href='",
        "</",
        ">",
        '"',
        "#",
    ]
)
_html_like = st.lists(st.one_of(_markup, st.text(max_size=20)), max_size=30).map("".join)


@settings(max_examples=200, deadline=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_html_like, st.text(), st.binary(), _html_like.map(str.encode)))
def test_extract_never_raises(data: str | bytes) -> None:
    with no_fallback_used():
        result = extract(data, URL)
    assert isinstance(result, Extracted)
    assert all(link.startswith(("http://", "https://", "HTTP")) for link in result.links)
