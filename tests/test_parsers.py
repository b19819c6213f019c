"""Parser edge cases that the signals.md vector corpus (tests/vectors) does not pin down.

Each test names the rule it checks and where the rule comes from: RFC 9309 sections, the
behaviour of Google's reference parser (google/robotstxt robots.cc), the W3C TDMRep spec,
RFC 9651 Structured Fields, or the project's own documented choices (signals.md, design.md).
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Callable, Iterator

import pytest

from crawler.core import (
    Decision,
    EmbeddedDocument,
    Evidence,
    EvidenceError,
    FetchedFile,
    Headers,
    Policy,
    Reason,
    _robots,
    _tdmrep_embedded,
    content_signal,
    decide,
    load_policy,
    policy_from_mapping,
    robots_txt,
    tdmrep,
)
from crawler.core._cache import PARSED_FILES
from crawler.core._html import meta_from_html
from crawler.core._patterns import normalise_path, normalise_pattern, url_path
from crawler.core.directives import _header_directives
from tests.vectorlib import ROOT

POLICY = load_policy(ROOT / "policies" / "default.toml")
TOKEN = "ConsentBot"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    PARSED_FILES.clear()
    yield
    PARSED_FILES.clear()


def parse(body: str | bytes) -> _robots.RobotsFile:
    return _robots.parse(body.encode("utf-8") if isinstance(body, str) else body, 512_000)


def rule_for(body: str | bytes, url: str, token: str = TOKEN) -> tuple[str, bool, int] | None:
    """The rule of ``token``'s group that decides ``url`` (None: no group or no match)."""
    group, _ = parse(body).group_for(token)
    return None if group is None else group.longest_match(url_path(url))


def blocked(body: str | bytes, url: str, token: str = TOKEN) -> bool:
    rule = rule_for(body, url, token)
    return rule is not None and not rule[1]


def run(url: str, policy: Policy = POLICY, token: str = TOKEN, **carriers: object) -> Decision:
    return decide(Evidence(url=url, token=token, **carriers), policy)  # type: ignore[arg-type]


def robots_file(body: str, status: int = 200, redirects: int = 0) -> FetchedFile:
    return FetchedFile(status=status, body=body.encode("utf-8"), redirects=redirects)


def verdicts(decision: Decision, signal: str) -> list[str]:
    return [r.verdict for r in decision.reasons_for(signal)]


# ---------------------------------------------------------------------------------------------
# robots.txt: file format


def test_bom_at_file_start_is_skipped() -> None:
    """A UTF-8 BOM before the first line is skipped (robots.cc Parse: utf_bom prefix)."""
    body = b"\xef\xbb\xbfUser-agent: ConsentBot\nDisallow: /x\n"
    assert blocked(body, "https://e.com/x/1")
    # Only the file's first bytes: a BOM starting a later line leaves that line unreadable.
    later = b"User-agent: ConsentBot\n\xef\xbb\xbfDisallow: /x\n"
    assert not blocked(later, "https://e.com/x/1")


def test_cr_only_line_endings() -> None:
    """A lone CR ends a line like LF (RFC 9309 §2.2 NL; robots.cc treats 0x0D as an EOL)."""
    body = "User-agent: ConsentBot\rDisallow: /x\rAllow: /x/ok\r"
    robots = parse(body)
    group, own = robots.group_for(TOKEN)
    assert group is not None and own
    assert group.longest_match("/x/1") == ("/x", False, 1)
    rule = group.longest_match("/x/ok")
    assert rule is not None and rule[1] and robots.line_of(rule[2]) == 3


def test_crlf_line_endings_count_as_one_line_break() -> None:
    """CRLF is one line end, never an extra empty line (robots.cc is_CRLF_continuation)."""
    body = "User-agent: ConsentBot\r\n\r\nDisallow: /a\r\nDisallow: /b\r\n"
    robots = parse(body)
    group, _ = robots.group_for(TOKEN)
    assert group is not None
    rule = group.longest_match("/b")
    assert rule is not None and robots.line_of(rule[2]) == 4
    assert robots.describe(rule) == "Disallow: /b (line 4)"


def test_missing_colon_tolerated_with_two_words() -> None:
    """``Disallow /x`` (blanks instead of the colon, two words) is read as a rule
    (robots.cc GetKeyAndValueFrom: 'some people forget the colon')."""
    assert blocked("User-agent: ConsentBot\nDisallow /x\n", "https://e.com/x/1")
    assert blocked("User-agent ConsentBot\nDisallow\t/x # why\n", "https://e.com/x/1")
    # A field name with nothing after it is not a rule.
    assert rule_for("User-agent: ConsentBot\nDisallow #/x\n", "https://e.com/x") is None


@pytest.mark.parametrize("field", ["dissallow", "dissalow", "disalow", "diasllow", "DISALLAW"])
def test_google_disallow_misspellings(field: str) -> None:
    """Google accepts common Disallow misspellings (robots.cc KeyIsDisallow with
    kAllowFrequentTypos)."""
    assert blocked(f"User-agent: ConsentBot\n{field}: /x\n", "https://e.com/x")


@pytest.mark.parametrize("field", ["useragent", "USERAGENT", "uSeR-aGeNt"])
def test_user_agent_field_spellings(field: str) -> None:
    """Field names are case-insensitive and ``useragent`` is Google's tolerated typo
    (RFC 9309 §2.2 ABNF literals; robots.cc KeyIsUserAgent)."""
    assert blocked(f"{field}: ConsentBot\nDisallow: /x\n", "https://e.com/x")


def test_misspelling_is_not_a_prefix_match() -> None:
    """Only the listed spellings count: ``Disallows`` is an unknown record and is ignored."""
    assert rule_for("User-agent: ConsentBot\nDisallows: /x\n", "https://e.com/x") is None


def test_sitemap_between_user_agent_lines_does_not_end_the_run() -> None:
    """Sitemap (and other unknown records) MUST NOT end a group (RFC 9309 §2.2.4)."""
    body = (
        "User-agent: OtherBot\n"
        "Sitemap: https://e.com/sitemap.xml\n"
        "Crawl-delay: 5\n"
        "User-agent: ConsentBot\n"
        "Disallow: /x\n"
    )
    robots = parse(body)
    group, own = robots.group_for("OtherBot")
    assert own and group is not None
    assert group.agents == ["OtherBot", "ConsentBot"]
    assert blocked(body, "https://e.com/x", token="OtherBot")
    # A group record (here Content-Usage) does end the run: OtherBot keeps no Disallow.
    split = body.replace("Sitemap: https://e.com/sitemap.xml", "Content-Usage: train-ai=n")
    assert not blocked(split, "https://e.com/x", token="OtherBot")
    assert blocked(split, "https://e.com/x")


@pytest.mark.parametrize("agent", ["*", "* ", "*   # everyone", "*\tlegacy text", "* x"])
def test_star_user_agent_variants(agent: str) -> None:
    """``*`` followed by blanks and more text is still the global group
    (robots.cc HandleUserAgent: '*' followed by space)."""
    body = f"User-agent: {agent}\nDisallow: /x\n"
    robots = parse(body)
    assert robots.star_group is not None
    group, own = robots.group_for(TOKEN)
    assert group is robots.star_group and not own
    assert blocked(body, "https://e.com/x")


def test_star_glued_to_text_is_not_the_global_group() -> None:
    """``*x`` is neither ``*`` nor a product token, so no group applies (robots.cc
    HandleUserAgent; RFC 9309 §2.2.1 product-token = identifier / "*")."""
    robots = parse("User-agent: *x\nDisallow: /x\n")
    assert robots.star_group is None
    assert robots.group_for(TOKEN) == (None, False)


@pytest.mark.parametrize(
    ("agent", "applies"),
    [
        ("ConsentBot/2.0", True),
        ("consentbot 1.0 (+https://e.com)", True),
        ("CONSENTBOT", True),
        ("Consent Bot", False),
        ("ConsentBot2", True),
        ("consent_bot", False),
        ("ConsentBotX", False),
    ],
)
def test_product_token_is_cut_then_compared_exactly(agent: str, applies: bool) -> None:
    """The user-agent value is cut at the first character outside [A-Za-z_-] and compared
    case-insensitively for equality (RFC 9309 §2.2.1; robots.cc ExtractUserAgent)."""
    body = f"User-agent: {agent}\nDisallow: /\n"
    assert blocked(body, "https://e.com/p") is applies


def test_ai_bot_names_are_matched_as_written() -> None:
    """AI-bot list entries are product names, not RFC tokens: ``AI2Bot`` and ``Ai2Bot-Dolma``
    must not share a group although both cut to the token ``ai`` (policies/default.toml
    robots_ai_tokens; ai.robots.txt FAQ: match whole names)."""
    names = ("AI2Bot", "Ai2Bot-Dolma", "img2dataset", "Brightbot 1.0")
    assert set(names) <= set(POLICY.robots_ai_tokens.tokens)
    robots = parse(
        "User-agent: AI2Bot\nDisallow: /a\n\n"
        "User-agent: Ai2Bot-Dolma/1.0\nDisallow: /b\n\n"
        "User-agent: img2dataset\nDisallow: /c\n\n"
        "User-agent: Brightbot  1.0\nDisallow: /d\n"
    )
    expected = {"AI2Bot": "/a", "Ai2Bot-Dolma": "/b", "img2dataset": "/c", "Brightbot 1.0": "/d"}
    for name, pattern in expected.items():
        group = robots.named_group(name)
        assert group is not None, name
        rules = [group.longest_match(p) for p in ("/a", "/b", "/c", "/d")]
        assert [r[0] for r in rules if r is not None] == [pattern], name
    # "Brightbot" (without the version) still finds the group through its RFC token.
    brightbot = robots.named_group("Brightbot")
    assert brightbot is not None and brightbot.agents == ["Brightbot  1.0"]
    # RFC token matching would merge the Ai2 groups; that is why names are used for the list.
    merged, own = robots.group_for("ai")
    assert own and merged is not None and merged.agents == ["AI2Bot", "Ai2Bot-Dolma/1.0"]
    assert robots.named_group("Kangaroo Bot") is None


def test_ai_bot_group_reserves_use_through_decide() -> None:
    """A Disallow in a listed AI bot's own group reserves AI use (signals.md §1.8, RB-25 rule),
    while fetching still follows our own token."""
    body = "User-agent: *\nAllow: /\n\nUser-agent: Ai2Bot-Dolma\nDisallow: /corpus/\n"
    hit = run("https://e.com/corpus/1", robots_txt=robots_file(body))
    assert (hit.fetch, hit.use) == ("allowed", "refused")
    assert (
        "Ai2Bot-Dolma: Disallow: /corpus/ (line 5)" in hit.reasons_for("robots-ai-tokens")[0].detail
    )
    miss = run("https://e.com/other", robots_txt=robots_file(body))
    assert verdicts(miss, "robots-ai-tokens") == ["unknown"]


# ---------------------------------------------------------------------------------------------
# robots.txt: path matching


@pytest.mark.parametrize(
    ("pattern", "url"),
    [
        ("/%7ejoe", "https://e.com/~joe/a"),
        ("/%7Ejoe", "https://e.com/%7ejoe/a"),
        ("/~joe", "https://e.com/%7Ejoe/a"),
        ("/%61bc", "https://e.com/abc"),
    ],
)
def test_percent_encoded_unreserved_characters_are_decoded(pattern: str, url: str) -> None:
    """Percent-encoded unreserved characters equal the plain character, in the pattern and
    in the path (RFC 9309 §2.2.2; RFC 3986 §2.3, §6.2.2.2)."""
    assert blocked(f"User-agent: *\nDisallow: {pattern}\n", url)


def test_percent_encoded_reserved_characters_stay_encoded() -> None:
    """``%2F`` is not ``/``: reserved characters are compared encoded (RFC 3986 §2.2)."""
    body = "User-agent: *\nDisallow: /a%2fb\n"
    assert blocked(body, "https://e.com/a%2Fb")
    assert not blocked(body, "https://e.com/a/b")


@pytest.mark.parametrize(
    ("pattern", "url"),
    [
        ("/café", "https://e.com/caf%C3%A9/menu"),
        ("/café", "https://e.com/café/menu"),
        ("/caf%c3%a9", "https://e.com/café/menu"),
        ("/%E6%97%A5", "https://e.com/日本"),
    ],
)
def test_non_ascii_pattern_and_path_are_percent_encoded(pattern: str, url: str) -> None:
    """Non-ASCII octets are percent-encoded (upper-case hex) before comparison, on both
    sides (RFC 9309 §2.2.2; robots.cc MaybeEscapePattern)."""
    assert blocked(f"User-agent: *\nDisallow: {pattern}\n", url)


def test_percent_2a_is_a_literal_star() -> None:
    """``%2A`` in a pattern matches a literal ``*`` in the path, ``*`` is a wildcard
    (RFC 9309 §2.2.3 special characters)."""
    literal = "User-agent: *\nDisallow: /a%2Ab\n"
    assert blocked(literal, "https://e.com/a*b")
    assert not blocked(literal, "https://e.com/axb")
    wildcard = "User-agent: *\nDisallow: /a*b\n"
    assert blocked(wildcard, "https://e.com/axxb")
    assert blocked(wildcard, "https://e.com/a*b")


def test_dollar_only_anchors_at_the_end() -> None:
    """``$`` anchors only as the pattern's last character; a literal ``$`` in the path is
    matched with ``%24`` (RFC 9309 §2.2.3; robots.cc Matches)."""
    middle = "User-agent: *\nDisallow: /a$b\n"
    assert not blocked(middle, "https://e.com/a")
    assert not blocked(middle, "https://e.com/a/b")
    anchored = "User-agent: *\nDisallow: /a$\n"
    assert blocked(anchored, "https://e.com/a")
    assert not blocked(anchored, "https://e.com/ab")
    encoded = "User-agent: *\nDisallow: /price%24\n"
    assert blocked(encoded, "https://e.com/price$")
    assert blocked(encoded, "https://e.com/price%24")


@pytest.mark.parametrize("rule", ["Disallow:", "Disallow:   ", "Disallow: # nothing here"])
def test_empty_disallow_allows_everything(rule: str) -> None:
    """An empty Disallow matches nothing (RFC 9309 §2.2.2 empty-pattern), and the group it is
    in still replaces the ``*`` group (§2.2.1)."""
    body = f"User-agent: *\nDisallow: /\n\nUser-agent: ConsentBot\n{rule}\n"
    decision = run("https://e.com/anything", robots_txt=robots_file(body))
    assert decision.fetch == "allowed"
    [reason] = decision.reasons_for("robots")
    assert (
        reason.verdict == "allow" and "no rule of group 'User-agent: ConsentBot'" in reason.detail
    )


def test_robots_txt_itself_is_always_allowed() -> None:
    """/robots.txt is implicitly allowed, even when our own group names it (RFC 9309 §2.2.2)."""
    body = "User-agent: ConsentBot\nDisallow: /robots.txt\nDisallow: /\n"
    allowed = run("https://e.com/robots.txt", robots_txt=robots_file(body))
    assert allowed.fetch == "allowed"
    assert "always allowed" in allowed.reasons_for("robots")[0].detail
    assert run("https://e.com/robots.txt.bak", robots_txt=robots_file(body)).fetch == "refused"


def test_line_of_counts_comments_and_blank_lines() -> None:
    """Reasons cite the 1-based line of the deciding rule, counting comment and blank lines
    (design.md §4 provenance; robots.cc reports line numbers the same way)."""
    body = (
        "# robots.txt for e.com\n"  # 1
        "\n"  # 2
        "User-agent: ConsentBot # us\n"  # 3
        "# private area follows\n"  # 4
        "\n"  # 5
        "Allow: /private/open\n"  # 6
        "   \n"  # 7
        "Disallow: /private\n"  # 8
    )
    robots = parse(body)
    group, _ = robots.group_for(TOKEN)
    assert group is not None
    closed, opened = group.longest_match("/private/x"), group.longest_match("/private/open/y")
    assert closed is not None and opened is not None
    assert (robots.line_of(closed[2]), robots.line_of(opened[2])) == (8, 6)
    decision = run("https://e.com/private/x", robots_txt=robots_file(body))
    assert "Disallow: /private (line 8)" in decision.reasons_for("robots")[0].detail


def test_longest_match_tie_goes_to_allow_across_merged_groups() -> None:
    """Equal-length matching Allow and Disallow: Allow wins (RFC 9309 §2.2.2), also when the
    rules come from two groups merged for our token (§2.2.1) and both use wildcards."""
    body = "User-agent: ConsentBot\nDisallow: /a*gif\n\nUser-agent: consentbot\nAllow: /*.gif\n"
    rule = rule_for(body, "https://e.com/a.gif")
    assert rule is not None and rule[:2] == ("/*.gif", True)
    # One octet more and the Disallow wins.
    longer = body.replace("/a*gif", "/a*.gif")
    rule = rule_for(longer, "https://e.com/a.gif")
    assert rule is not None and rule[:2] == ("/a*.gif", False)


# ---------------------------------------------------------------------------------------------
# robots.txt: fetch status


@pytest.mark.parametrize(("redirects", "fetch"), [(5, "refused"), (6, "allowed")])
def test_more_than_five_redirects_is_unavailable(redirects: int, fetch: str) -> None:
    """Five redirects are followed; more MAY be treated as unavailable, i.e. no restrictions
    (RFC 9309 §2.3.1.2, policy robots.max_redirects = 5)."""
    robots = robots_file("User-agent: *\nDisallow: /\n", redirects=redirects)
    decision = run("https://e.com/p", robots_txt=robots)
    assert decision.fetch == fetch
    if fetch == "allowed":
        [reason] = decision.reasons_for("robots")
        assert reason.verdict == "unknown" and "6 redirects (limit 5)" in reason.detail


def test_redirect_limit_follows_the_policy() -> None:
    """robots.max_redirects raises the limit (policy schema, RFC 9309 §2.3.1.2 'at least five')."""
    policy = policy_from_mapping({"robots": {"max_redirects": 10}})
    robots = robots_file("User-agent: *\nDisallow: /\n", redirects=6)
    assert run("https://e.com/p", policy=policy, robots_txt=robots).fetch == "refused"


@pytest.mark.parametrize("status", [401, 403])
def test_unauthorized_robots_txt_with_refuse_policy(status: int) -> None:
    """401/403 is 'unavailable' (crawl) by RFC 9309 §2.3.1.3, and a complete disallow when the
    policy says robots.unauthorized = "refuse"."""
    robots = robots_file("<html>Forbidden</html>", status=status)
    assert run("https://e.com/p", robots_txt=robots).fetch == "allowed"
    strict = POLICY.replace(robots=dataclasses.replace(POLICY.robots, unauthorized="refuse"))
    decision = run("https://e.com/p", policy=strict, robots_txt=robots)
    assert (decision.fetch, decision.use) == ("refused", "n/a")
    [reason] = decision.reasons_for("robots")
    assert (reason.verdict, reason.scope) == ("refuse", "fetch")
    assert f"HTTP {status}" in reason.detail
    # Other 4xx stay "unavailable" under the strict policy.
    assert run("https://e.com/p", policy=strict, robots_txt=robots_file("", 404)).fetch == "allowed"


# ---------------------------------------------------------------------------------------------
# TDMRep


def tdm_file(rules: object, prefix: bytes = b"") -> FetchedFile:
    return FetchedFile(status=200, body=prefix + json.dumps(rules).encode("utf-8"))


def test_tdmrep_string_one_honoured_string_zero_unset() -> None:
    """A string "1" is a protocol error but is honoured as a reservation; a string "0" stays
    unset, so an invalid value never grants permission (TDMRep: values other than 0/1 are a
    protocol error, signals.md §3.1)."""
    rules = [
        {"location": "/a", "tdm-reservation": "1"},
        {"location": "/b", "tdm-reservation": "0"},
        {"location": "/c", "tdm-reservation": 0},
    ]
    parsed = tdmrep.parse_file(json.dumps(rules).encode())
    assert [r.reservation for r in parsed.rules] == ["1", None, "0"]
    a = run("https://e.com/a/1", tdmrep_json=tdm_file(rules))
    assert a.use == "refused" and verdicts(a, "tdmrep") == ["refuse"]
    b = run("https://e.com/b/1", tdmrep_json=tdm_file(rules))
    assert verdicts(b, "tdmrep") == ["unknown"]
    assert "'0' is not 0 or 1" in b.reasons_for("tdmrep")[0].detail
    c = run("https://e.com/c/1", tdmrep_json=tdm_file(rules))
    assert verdicts(c, "tdmrep") == ["allow"]


@pytest.mark.parametrize("body", [b'"/"', b"1", b"null", b'{"location": "/"}'])
def test_tdmrep_non_array_json_is_ignored(body: bytes) -> None:
    """tdmrep.json must be a JSON array of rules, brackets mandatory (TDMRep, signals.md §3.2);
    anything else is logged and unset (signals.md TD-14 recommendation)."""
    parsed = tdmrep.parse_file(body)
    assert parsed.rules == () and parsed.error is not None
    assert "JSON array" in parsed.error
    decision = run("https://e.com/a", tdmrep_json=FetchedFile(200, body))
    assert verdicts(decision, "tdmrep") == ["unknown"] and decision.use == "allowed"


def test_tdmrep_entries_without_location_are_skipped() -> None:
    """A rule without a 'location' string cannot match; it is skipped and later rules still
    apply, keeping their 1-based rule numbers (TDMRep: location is required, signals.md §3.2)."""
    rules = [
        {"tdm-reservation": 0},
        {"location": 5, "tdm-reservation": 0},
        "not an object",
        {"location": "/", "tdm-reservation": 1},
    ]
    parsed = tdmrep.parse_file(json.dumps(rules).encode())
    assert [r.index for r in parsed.rules] == [4]
    assert len(parsed.skipped) == 3
    decision = run("https://e.com/a", tdmrep_json=tdm_file(rules))
    assert decision.use == "refused"
    assert "tdmrep.json rule 4" in decision.reasons_for("tdmrep")[0].detail


def test_tdmrep_bom_prefixed_json_is_read() -> None:
    """A UTF-8 BOM before the JSON text is tolerated (RFC 8259 §8.1 parsers MAY ignore it)."""
    file = tdm_file([{"location": "/", "tdm-reservation": 1}], prefix=b"\xef\xbb\xbf")
    assert tdmrep.parse_file(file.body).error is None
    assert run("https://e.com/a", tdmrep_json=file).use == "refused"


@pytest.mark.parametrize("order", [("0", "1"), ("1", "0"), ("1", "x", "0")])
def test_conflicting_tdm_reservation_headers_resolve_to_one(order: tuple[str, ...]) -> None:
    """Conflicting valid values in one carrier resolve to 1, the restrictive reading
    (TDMRep processing priority has one value per carrier, signals.md §3.3; tdmrep.py
    _carrier_value reads conflicts restrictively)."""
    headers = Headers([("tdm-reservation", value) for value in order])
    decision = run("https://e.com/a", headers=headers)
    assert decision.use == "refused"
    assert "tdm-reservation 1 from the tdm-reservation header" in "".join(
        r.detail for r in decision.reasons_for("tdmrep")
    )


CONTAINER = (
    '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
    '<rootfiles><rootfile full-path="OEBPS/content.opf" '
    'media-type="application/oebps-package+xml"/></rootfiles></container>'
)
OPF = (
    '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
    'prefix="tdm: http://www.w3.org/ns/tdmrep#"><metadata>'
    '<meta property="tdm:reservation">1</meta></metadata></package>'
)
PADDING = "<!--" + " " * (2 * 1024 * 1024) + "-->"


def make_epub(container: str, opf: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("OEBPS/content.opf", opf)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("container", "opf"), [(CONTAINER + PADDING, OPF), (CONTAINER, OPF + PADDING)]
)
def test_epub_member_larger_than_the_cap_is_rejected(container: str, opf: str) -> None:
    """A zip member over the 2 MiB XML cap is not inflated and carries no value (defensive
    reading of EPUB package metadata, TDMRep §EPUB; zip-bomb guard)."""
    body = make_epub(container, opf)
    assert len(body) < 64 * 1024  # compresses well: the cap is on the inflated size
    assert _tdmrep_embedded.read("application/epub+zip", body) is None
    decision = run("https://e.com/b.epub", document=EmbeddedDocument("application/epub+zip", body))
    assert decision.reasons_for("tdmrep") == () and decision.use == "allowed"
    # The same package within the cap carries its reservation.
    small = _tdmrep_embedded.read("application/epub+zip", make_epub(CONTAINER, OPF))
    assert small is not None and small.reservation == "1"


def test_pdf_xmp_reservation_as_rdf_description_attribute() -> None:
    """XMP may write a simple property as an attribute of rdf:Description (RDF/XML property
    attribute shorthand); TDMRep §PDF properties are read in either form."""
    pdf = (
        b"%PDF-1.7\n1 0 obj << /Type /Metadata /Subtype /XML >> stream\n"
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
        b"xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
        b"<rdf:Description rdf:about='' xmlns:tdm='http://www.w3.org/ns/tdmrep/' "
        b"tdm:reservation=' 1 ' tdm:policy='https://e.com/tdm-policy.json'/>"
        b"</rdf:RDF></x:xmpmeta>\nendstream endobj\n%%EOF\n"
    )
    found = _tdmrep_embedded.read("application/pdf", pdf)
    assert found is not None
    assert (found.reservation, found.policy) == ("1", "https://e.com/tdm-policy.json")
    decision = run("https://e.com/a.pdf", document=EmbeddedDocument("application/pdf", pdf))
    assert decision.use == "refused"
    detail = decision.reasons_for("tdmrep")[0].detail
    assert "PDF XMP metadata" in detail and "https://e.com/tdm-policy.json" in detail


# ---------------------------------------------------------------------------------------------
# X-Robots-Tag and robots meta tags


def test_x_robots_tag_scope_carries_over() -> None:
    """A ``token:`` scope applies to the following comma items until another scope appears
    (Google X-Robots-Tag docs: 'otherbot: noindex, nofollow')."""
    assert _header_directives("otherbot: noindex, noai", "consentbot") == []
    assert _header_directives("otherbot: noindex, noai", "otherbot") == ["noindex", "noai"]
    assert _header_directives("noai, otherbot: noindex", "consentbot") == ["noai"]
    assert _header_directives("otherbot: noai, ConsentBot: noarchive", "consentbot") == [
        "noarchive"
    ]
    decision = run(
        "https://e.com/a", headers=Headers([("X-Robots-Tag", "otherbot: noindex, noai")])
    )
    assert decision.use == "allowed" and decision.reasons_for("x-robots-tag") == ()


def test_unavailable_after_date_is_not_a_scope() -> None:
    """``unavailable_after: <date>`` is a valued directive, not a user-agent scope, so later
    items still apply to everyone (Google robots meta spec, valued rules)."""
    line = "unavailable_after: 25 Jun 2030 15:00:00 PST, noai"
    assert _header_directives(line, "consentbot") == ["unavailable_after", "noai"]
    decision = run("https://e.com/a", headers=Headers([("X-Robots-Tag", line)]))
    assert decision.use == "refused" and verdicts(decision, "x-robots-tag") == ["refuse"]


def test_valued_directives_keep_their_name_only() -> None:
    """max-snippet / max-image-preview / max-video-preview take values after a colon and are
    recorded by name (Google robots meta spec); a scope before them still applies."""
    line = "max-snippet: 20, max-image-preview: large, MAX-VIDEO-PREVIEW: -1, noarchive"
    assert _header_directives(line, "consentbot") == [
        "max-snippet",
        "max-image-preview",
        "max-video-preview",
        "noarchive",
    ]
    assert _header_directives("otherbot: max-snippet: 0, noai", "consentbot") == []
    assert _header_directives("ConsentBot: max-snippet: 0, noai", "consentbot") == [
        "max-snippet",
        "noai",
    ]


def test_meta_tags_in_the_body_are_counted() -> None:
    """<meta> tags outside <head> count too: pages put them there and reading more can only
    refuse more (crawler/core/_html.py; DeviantArt noai)."""
    html = (
        "<!DOCTYPE html><html><head><title>t</title></head><body><p>Text.</p>"
        '<meta name="robots" content="NoAI"></body></html>'
    )
    assert ("robots", "NoAI") in meta_from_html(html)
    decision = run("https://e.com/a", meta=meta_from_html(html))
    assert decision.use == "refused" and verdicts(decision, "meta-robots") == ["refuse"]


def test_meta_tags_of_a_page_with_an_xml_declaration_are_read() -> None:
    """XHTML served as text with an XML declaration naming its encoding: lxml refuses such a
    str outright, so the text is parsed as parsel parses it (UTF-8 bytes), and the tags count."""
    html = (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n<html><head>'
        '<meta name="robots" content="noai"></head><body>\x00\u00e9t\u00e9</body></html>'
    )
    assert meta_from_html(html) == (("robots", "noai"),)
    assert meta_from_html(html.encode("latin-1")) == (("robots", "noai"),)
    assert run("https://e.com/a", meta=meta_from_html(html)).use == "refused"


# ---------------------------------------------------------------------------------------------
# Content-Signal and aipref Content-Usage


@pytest.mark.parametrize(
    ("text", "verdict"),
    [("ai-train=no, ai-train=yes", "allow"), ("AI-Train=yes, search=no, ai-train=NO", "refuse")],
)
def test_content_signal_last_duplicate_wins(text: str, verdict: str) -> None:
    """A repeated key takes its last value (signals.md §6, as RFC 9651 dictionaries do)."""
    parsed = content_signal.parse(text)
    assert [k for k, _ in parsed.values].count("ai-train") == 1
    [reason] = content_signal.reasons(parsed, "test")
    assert reason.verdict == verdict


def test_content_signal_y_n_are_noted_as_nonconformant() -> None:
    """``y``/``n`` are read as yes/no but noted, since the policy only defines yes/no
    (Cloudflare Content Signals Policy; signals.md §6: treat y/n as yes/no and log it)."""
    parsed = content_signal.parse("search=Y, ai-train=n")
    assert parsed.nonconformant == ("search=y", "ai-train=n")
    assert parsed.get("ai-train") == "no" and parsed.get("search") == "yes"
    [reason] = content_signal.reasons(parsed, "test")
    assert (
        reason.verdict == "refuse" and "non-conformant value search=y, ai-train=n" in reason.detail
    )
    # Conformant values raise no note.
    assert content_signal.parse("ai-train=no").nonconformant == ()


def test_content_usage_lines_combine_and_one_bad_line_spoils_all() -> None:
    """Header lines are combined into one field before parsing; a parse error anywhere fails
    the whole field, leaving every preference unknown (RFC 9651 §4.2; signals.md §5.1)."""
    good = [("Content-Usage", "search=y"), ("Content-Usage", "train-ai=n")]
    assert run("https://e.com/a", headers=Headers(good)).use == "refused"
    bad = [*good, ("Content-Usage", "Train-AI=n")]
    decision = run("https://e.com/a", headers=Headers(bad))
    assert decision.use == "allowed"
    [reason] = decision.reasons_for("content-usage")
    assert reason.verdict == "unknown" and "every preference unknown" in reason.detail
    assert "search=y, train-ai=n, Train-AI=n" in reason.detail


def test_legacy_labels_in_robots_txt_follow_the_policy() -> None:
    """Labels of aipref drafts -01..-04 (here ``ai=n`` on a robots.txt line) refuse under
    legacy_labels = "refuse" and are ignored under "ignore" (draft-ietf-aipref-vocab-07:
    unknown labels MUST be ignored; signals.md §5.1 label history)."""
    robots = robots_file("User-agent: *\nAllow: /\nContent-Usage: ai=n, search=y\n")
    strict = run("https://e.com/a", robots_txt=robots)
    assert strict.use == "refused" and verdicts(strict, "content-usage") == ["refuse"]
    lenient = POLICY.replace(
        content_usage=dataclasses.replace(POLICY.content_usage, legacy_labels="ignore")
    )
    decision = run("https://e.com/a", policy=lenient, robots_txt=robots)
    assert decision.use == "allowed" and verdicts(decision, "content-usage") == ["unknown"]
    assert "ignored by policy" in decision.reasons_for("content-usage")[0].detail


# ---------------------------------------------------------------------------------------------
# The parse cache


def counting_parse(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Replace robots_txt.parse by a wrapper that records every body it parses."""
    calls: list[bytes] = []
    real: Callable[[bytes, int], _robots.RobotsFile] = robots_txt.parse

    def wrapper(body: bytes, max_bytes: int) -> _robots.RobotsFile:
        calls.append(body)
        return real(body, max_bytes)

    monkeypatch.setattr(robots_txt, "parse", wrapper)
    return calls


def test_same_robots_body_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An origin's robots.txt is parsed once and reused for every URL (crawler/core/_cache.py,
    keyed by kind, sha256 and byte limit)."""
    calls = counting_parse(monkeypatch)
    body = "User-agent: *\nDisallow: /private\n"
    assert run("https://e.com/private/1", robots_txt=robots_file(body)).fetch == "refused"
    assert run("https://e.com/public/2", robots_txt=robots_file(body)).fetch == "allowed"
    assert len(calls) == 1
    # Another byte limit is another parsed form.
    bigger = POLICY.replace(robots=dataclasses.replace(POLICY.robots, max_bytes=600_000))
    assert run("https://e.com/private/3", policy=bigger, robots_txt=robots_file(body)).fetch == (
        "refused"
    )
    assert len(calls) == 2


def test_body_heavier_than_the_cache_is_still_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file weighing more than the cache's max_weight is parsed and used, just not kept
    (BoundedCache evicts it at once)."""
    calls = counting_parse(monkeypatch)
    monkeypatch.setattr(PARSED_FILES, "max_weight", 64)
    body = "User-agent: *\n" + "".join(f"Disallow: /dir{i}/\n" for i in range(20))
    assert len(body) > 64
    for _ in range(2):
        assert run("https://e.com/dir19/x", robots_txt=robots_file(body)).fetch == "refused"
        assert run("https://e.com/dir20/x", robots_txt=robots_file(body)).fetch == "allowed"
    assert len(calls) == 4
    assert len(PARSED_FILES) == 0 and PARSED_FILES.weight == 0


# ---------------------------------------------------------------------------------------------
# Decision summary


def test_signals_summary_picks_the_strongest_verdict() -> None:
    """Decision.signals() reports per signal the strongest verdict, refuse/error over allow over
    unknown, the first of equals kept (design.md §4 provenance summary)."""
    reasons = (
        Reason("robots", "allow", "fetch", "no rule matches"),
        Reason("content-usage", "unknown", "use", "no train-ai preference"),
        Reason("content-usage", "allow", "use", "train-ai=y", "sha-a"),
        Reason("content-usage", "refuse", "use", "train-ai=n", "sha-b"),
        Reason("content-usage", "allow", "use", "train-ai=y again"),
        Reason("tdmrep", "error", "use", "tdmrep.json unreachable"),
        Reason("tdmrep", "refuse", "use", "tdm-reservation 1"),
    )
    decision = Decision("https://e.com/a", "allowed", "refused", "opt-out", reasons)
    summary = decision.signals()
    assert summary["content-usage"] == {
        "verdict": "refuse",
        "matched": "train-ai=n",
        "sha256": "sha-b",
    }
    assert summary["tdmrep"] == {"verdict": "error", "matched": "tdmrep.json unreachable"}
    assert summary["robots"]["verdict"] == "allow"
    assert list(summary) == ["robots", "content-usage", "tdmrep"]


# --- Regressions found by the property tests --------------------------------------------------


def test_deeply_nested_tdmrep_json_is_unset_not_a_crash() -> None:
    """TDMRep: a hostile file ("[[[[…") is invalid JSON → unset, recorded (TD-14 Rec)."""
    from crawler.core.tdmrep import parse_file

    parsed = parse_file(b"[" * 5000)
    assert parsed.rules == () and parsed.error == "not valid JSON: nested too deeply"


@pytest.mark.parametrize("damage", ["bad-deflate", "method-99", "encrypted-flag"])
def test_damaged_epub_archives_carry_no_value(damage: str) -> None:
    """TDMRep §EPUB: an unreadable package carries no reservation; reading never raises."""
    import io
    import zipfile

    from crawler.core._tdmrep_embedded import read

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/container.xml", "<container>" + "x" * 500 + "</container>")
    data = bytearray(buffer.getvalue())
    central = data.rindex(b"PK\x01\x02")
    if damage == "bad-deflate":
        data[40:60] = b"\xff" * 20
    elif damage == "method-99":
        data[central + 10] = 99
    else:
        data[central + 8] |= 0x01
    assert read("application/epub+zip", bytes(data)) is None


def test_non_ascii_base64_is_an_evidence_error() -> None:
    """decide input: a malformed field is reported for that line, as EvidenceError."""
    with pytest.raises(EvidenceError, match=r"document\.base64"):
        Evidence.from_json(
            {"url": "https://e.com/", "document": {"content_type": "a", "base64": "é"}}
        )


def test_unparseable_url_is_refused_not_a_crash() -> None:
    """Failure is never permission: a URL that cannot be parsed is refused, with the reason."""
    decision = decide(Evidence(url="http://[x/"), POLICY)
    assert (decision.fetch, decision.use) == ("refused", "n/a")
    assert "cannot be parsed" in decision.reasons[0].detail
    with pytest.raises(EvidenceError, match="cannot be parsed"):
        Evidence.from_json({"url": "http://[x/"})


def test_colonless_line_with_three_words_is_ignored() -> None:
    """Google robots.cc: ``field value`` without a colon only with exactly two words."""
    robots = _robots.parse(b"useragent ConsentBot 1.0\nDisallow: /\n", 512_000)
    assert robots.group_for("ConsentBot") == (None, False)


def test_user_agent_with_a_space_is_tolerated() -> None:
    """Google robots.cc accepts ``user agent:`` as a misspelling of user-agent."""
    group, own = _robots.parse(b"User Agent: ConsentBot\nDisallow: /x\n", 512_000).group_for(
        "consentbot"
    )
    assert own and group is not None and group.longest_match("/x/1") is not None


def test_dollar_inside_a_pattern_is_literal() -> None:
    """Google robots.cc: ``$`` anchors only at the end; elsewhere it is an ordinary character."""
    group, _ = _robots.parse(b"User-agent: *\nDisallow: /a$b\n", 512_000).group_for("x")
    assert group is not None
    assert group.longest_match(normalise_path("/a$b")) is not None
    assert group.longest_match(normalise_path("/a$bc")) is not None  # a prefix, not anchored
    assert group.longest_match(normalise_path("/ab")) is None


def test_spaces_are_encoded_on_every_path() -> None:
    """RFC 9309 §2.2.2: octets outside the allowed set are compared percent-encoded."""
    group, _ = _robots.parse(b"User-agent: *\nDisallow: /a%20b\n", 512_000).group_for("x")
    assert group is not None
    assert group.longest_match(url_path("https://e.com/a b")) is not None
    assert normalise_path("/a b") == normalise_pattern("/a%20b") == "/a%20b"


def test_stray_percent_keeps_normalising_idempotent() -> None:
    """A '%' that starts no %XX stands for itself (%25), so a second pass changes nothing."""
    once = normalise_path("%4%31")
    assert once == "%2541" and normalise_path(once) == once


def test_only_ascii_blanks_are_stripped_from_values() -> None:
    """Google robots.cc strips ASCII whitespace; a no-break space is part of the value."""
    group, _ = _robots.parse("User-agent: *\nDisallow: /a\u00a0\n".encode(), 512_000).group_for("x")
    assert group is not None
    assert group.longest_match(normalise_path("/ab")) is None
    assert group.longest_match(normalise_path("/a\u00a0")) is not None


def test_a_tdmrep_json_cut_at_the_cap_that_does_not_parse_is_unreadable_not_unset() -> None:
    """We cut policy files at robots.max_bytes; an unparseable remainder is a file we could not
    read (on_error), unlike a small invalid file, which is the site's (TD-14: unset)."""
    from crawler.core import Evidence, FetchedFile, decide, load_policy
    from tests.vectorlib import ROOT

    policy = load_policy(ROOT / "policies" / "default.toml")
    start = b'[{"location": "/", "tdm-reservation": 0},'
    cut = FetchedFile(status=200, body=start + b" " * policy.robots.max_bytes)
    small = FetchedFile(status=200, body=start)
    refused = decide(Evidence(url="https://a.example/p", tdmrep_json=cut), policy)
    (reason,) = refused.reasons_for("tdmrep")
    assert refused.use == "refused" and reason.verdict == "error"
    assert "larger than the 512,000-byte cap" in reason.detail
    unset = decide(Evidence(url="https://a.example/p", tdmrep_json=small), policy)
    assert unset.use == "allowed" and unset.reasons_for("tdmrep")[0].verdict == "unknown"
