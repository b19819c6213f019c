"""Property tests of the pure decision core: every parser takes any input without raising,
answers deterministically and quickly, and robots.txt matching agrees with a slow reference.

Each property runs a few hundred examples with a per-example deadline, so the whole file stays
well under half a minute.  The example database is off: runs are reproducible from the seed
hypothesis prints on failure and nothing is written to the work tree.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
import re
import string
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crawler.core import (
    SIGNALS,
    EmbeddedDocument,
    Evidence,
    EvidenceError,
    FetchedFile,
    Headers,
    Policy,
    RegistryAnswer,
    _html,
    _robots,
    _tdmrep_embedded,
    aipref,
    content_signal,
    decide,
    load_policy,
    tdmrep,
)
from crawler.core._patterns import matches, normalise_path, normalise_pattern, url_path
from crawler.core.decide import clear_caches
from crawler.core.directives import _header_directives
from tests.vectorlib import ROOT

# On a failure hypothesis's pytest plugin imports its patch writer (libcst), which warns about
# mypy_extensions.TypedDict; with filterwarnings = error that turns the report into a pytest
# INTERNALERROR.  Importing it here, warnings silenced, keeps failure reports readable.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

POLICY = load_policy(ROOT / "policies" / "default.toml")
AI_TOKENS = POLICY.robots_ai_tokens.tokens

BASE = settings(
    max_examples=250,
    deadline=400,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW = settings(BASE, max_examples=200, deadline=800)

# Unicode text without surrogates (a surrogate cannot occur in decoded input).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
ONE_LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"))


# ---------------------------------------------------------------------------------------------
# Strategies: robots-style files built line by line.


def cased(word: str) -> st.SearchStrategy[str]:
    """``word`` with a random upper/lower case for each letter."""
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flips: "".join(
            c.upper() if f else c.lower() for c, f in zip(word, flips, strict=True)
        )
    )


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, picked with the given weights (nested one_of would flatten)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


AGENT_KEYS = st.sampled_from(["user-agent", "useragent", "user_agent"]).flatmap(cased)
ALLOW_KEYS = cased("allow")
DISALLOW_KEYS = st.sampled_from(
    ["disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"]
).flatmap(cased)
# RFC 9309 §2.2: a colon with optional blanks around it; Google also takes blanks alone.
COLONS = st.sampled_from([":", ": ", " : ", "\t:\t", ":  "])
SEPARATORS = st.one_of(COLONS, st.sampled_from([" ", "\t"]))
INDENT = st.sampled_from(["", "", " ", "\t"])
COMMENT = st.sampled_from(["", "", "", " # note", "#x", "\t# é ç"])
AGENT_NAMES = weighted(
    (4, st.sampled_from(["*", "ConsentBot", "GPTBot", "consent_bot"])),
    (
        3,
        st.sampled_from(
            [
                "*",
                "* ",
                "*\tlegacy",
                "*x",
                "ConsentBot",
                "consentbot",
                "CONSENTBOT/2.0",
                "ConsentBot 1.0",
                "Consent",
                "Consent Bot",
                "consent_bot",
                "GPTBot",
                "AI2Bot",
                "Ai2Bot-Dolma",
                "Brightbot 1.0",
                "brightbot",
                "img2dataset",
                "Kangaroo  Bot",
                "other-bot",
                "bötchen",
                "",
            ]
        ),
    ),
    (1, st.text(string.ascii_letters + "_-*/ .0123456789", max_size=12)),
)
PATTERN_PIECES = st.sampled_from(
    [
        "/",
        "/",
        "a",
        "b",
        "x",
        "*",
        "$",
        "~",
        "?",
        "=",
        ".",
        "-",
        "_",
        "&",
        "é",
        "ü/",
        "index.html",
        "%7e",
        "%7E",
        "%2A",
        "%2a",
        "%24",
        "%41",
        "%2f",
        "%2F",
        "%zz",
        "%",
        "%C3%A9",
    ]
)
PATTERNS = st.tuples(st.sampled_from(["/", "/", "", "*"]), st.lists(PATTERN_PIECES, max_size=6))
PATTERNS = PATTERNS.map(lambda parts: parts[0] + "".join(parts[1]))
STATEMENTS = st.sampled_from(
    ["train-ai=n", "train-ai=y", "search=y, train-ai=n", "train-genai=n", "Train-AI=n", "x=("]
)
SIGNAL_VALUES = st.sampled_from(["ai-train=no", "search=yes, ai-train=yes", "AI-Train=n", "junk"])


# A record is drawn as (indent, field, value, comment); robots_texts picks its separator.
Record = tuple[str, str, str, str]


def record(
    keys: st.SearchStrategy[str], values: st.SearchStrategy[str]
) -> st.SearchStrategy[Record]:
    return st.tuples(INDENT, keys, values, COMMENT)


AGENT_LINES = record(AGENT_KEYS, AGENT_NAMES)
RULE_LINES = st.one_of(record(ALLOW_KEYS, PATTERNS), record(DISALLOW_KEYS, PATTERNS))
OTHER_LINES = st.one_of(
    record(
        cased("content-usage"), st.one_of(STATEMENTS, PATTERNS.map(lambda p: f"{p} train-ai=n"))
    ),
    record(cased("content-signal"), SIGNAL_VALUES),
    record(cased("sitemap"), st.just("https://e.com/sitemap.xml")),
    record(st.sampled_from(["Crawl-delay", "Host", "License"]), st.just("10")),
    st.sampled_from(["", "# comment", "   ", "\t# indented comment"]),
    ONE_LINE.map(lambda s: s[:30]),  # garbage
)


ROBOTS_LINES = weighted((2, RULE_LINES), (1, AGENT_LINES), (1, OTHER_LINES))
# A group: user-agent lines (maybe with other records between), then its rules.
GROUPS = st.tuples(
    st.lists(weighted((3, AGENT_LINES), (1, OTHER_LINES)), min_size=1, max_size=4),
    st.lists(weighted((3, RULE_LINES), (1, OTHER_LINES)), max_size=6),
).map(lambda g: g[0] + g[1])
LINE_ENDS = st.sampled_from(["\n", "\n", "\r\n", "\r"])


@st.composite
def robots_texts(draw: st.DrawFn, separators: st.SearchStrategy[str] = SEPARATORS) -> str:
    """A robots-style file: groups of lines, or a random mix of lines; mixed line ends."""
    if draw(st.integers(0, 3)) == 0:
        lines = draw(st.lists(ROBOTS_LINES, max_size=25))
    else:
        lines = draw(st.lists(ROBOTS_LINES, max_size=2))  # before the first user-agent
        for group in draw(st.lists(GROUPS, min_size=1, max_size=5)):
            lines += group
    ends = draw(st.lists(LINE_ENDS, min_size=len(lines), max_size=len(lines)))
    texts = [
        line if isinstance(line, str) else line[0] + line[1] + draw(separators) + line[2] + line[3]
        for line in lines
    ]
    body = "".join(text + end for text, end in zip(texts, ends, strict=True))
    if lines and draw(st.booleans()):
        body = body[: -len(ends[-1])]  # no newline at the end of the file
    return ("\ufeff" if draw(st.booleans()) else "") + body


ROBOTS_BODIES = st.one_of(robots_texts().map(lambda t: t.encode("utf-8")), st.binary(max_size=300))
TOKENS = st.sampled_from(["ConsentBot", "consentbot", "GPTBot", "consent_bot", "AI", "Consent"])
NAMES = st.one_of(
    st.sampled_from(AI_TOKENS),
    st.sampled_from(["AI2Bot", "Ai2Bot-Dolma", "Brightbot 1.0", "Brightbot", "img2dataset"]),
    st.sampled_from(["GPTBot", "Kangaroo Bot", "ai2bot/1", "ConsentBot", "Consent Bot"]),
)


def paths_for(text: str) -> st.SearchStrategy[str]:
    """Raw URL paths, many of them built from the file's own patterns so that rules match."""
    found = re.findall(r"[/*][^\s#]*", text)
    from_patterns = (
        st.tuples(
            st.sampled_from(found), st.lists(st.sampled_from(["", "a", "/", "x.gif", "?q"]))
        ).map(lambda t: t[0].rstrip("$").replace("*", "".join(t[1])))
        if found
        else st.just("/")
    )
    return st.one_of(from_patterns, st.just("/"), TEXT.map(lambda s: "/" + s))


# ---------------------------------------------------------------------------------------------
# robots.txt: parsing never fails, is deterministic, and lookups accept anything.


def summary(robots: _robots.RobotsFile) -> tuple[object, ...]:
    return (
        robots.text,
        robots.records,
        robots.kinds,
        robots.prefixes,
        robots.runs,
        robots.by_token,
        robots.by_name,
        robots.star,
        robots.truncated_at,
    )


@SLOW
@given(ROBOTS_BODIES, st.integers(min_value=1, max_value=600))
def test_robots_parse_any_body_is_deterministic(body: bytes, max_bytes: int) -> None:
    first = _robots.parse(body, max_bytes)
    second = _robots.parse(body, max_bytes)
    clear_caches()
    third = _robots.parse(body, max_bytes)
    assert summary(first) == summary(second) == summary(third)
    assert len(first.records) == len(first.kinds) == len(first.prefixes)
    assert (first.truncated_at is not None) == (len(body) > max_bytes)


@SLOW
@given(st.data(), ROBOTS_BODIES, TEXT, TEXT)
def test_robots_lookups_never_raise(
    data: st.DataObject, body: bytes, token: str, name: str
) -> None:
    robots = _robots.parse(body, 512_000)
    for path in (data.draw(TEXT), normalise_path(data.draw(TEXT)), "/", ""):
        for group in (robots.group_for(token)[0], robots.named_group(name), robots.star_group):
            if group is None:
                continue
            rule = group.longest_match(path)
            again = group.longest_match(path)
            assert rule == again
            if rule is not None:
                assert robots.line_of(rule[2]) >= 1
                assert robots.describe(rule).startswith(("Allow: ", "Disallow: "))
            for line in group.usages + group.signals:
                assert robots.line_of(line.record) >= 1
            assert group.label().startswith("User-agent: ")


# ---------------------------------------------------------------------------------------------
# Differential: Group.longest_match against a slow reference written from RFC 9309 + Google.

_REF_FIELDS = {
    "user-agent": "agent",
    "useragent": "agent",
    "user_agent": "agent",
    "allow": "allow",
    "disallow": "disallow",
    "dissallow": "disallow",
    "dissalow": "disallow",
    "disalow": "disallow",
    "diasllow": "disallow",
    "disallaw": "disallow",
    "content-usage": "usage",
    "content-signal": "signal",
}


@dataclass
class RefGroup:
    agents: list[str] = field(default_factory=list)
    rules: list[tuple[str, bool, int]] = field(default_factory=list)  # (value, allow, line)
    usages: list[tuple[str, int]] = field(default_factory=list)
    signals: list[tuple[str, int]] = field(default_factory=list)
    closed: bool = False  # a group line was seen: the next user-agent line starts a new group


def ref_parse(body: bytes) -> list[RefGroup]:
    """RFC 9309 §2.2 line by line: UTF-8 (BOM skipped), CR/LF/CRLF lines, '#' comments,
    ``key: value`` or (Google) ``key value`` with exactly two words, consecutive user-agent
    lines share a group, rules before the first user-agent line are ignored."""
    text = body.decode("utf-8", "replace").removeprefix("\ufeff")
    groups: list[RefGroup] = []
    current: RefGroup | None = None
    for number, raw in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        line = raw.split("#", 1)[0].strip(" \t")
        found = re.fullmatch(r"([A-Za-z_-]+)[ \t]*:[ \t]*(.*)", line) or re.fullmatch(
            r"([A-Za-z_-]+)[ \t]+([^ \t]+)", line
        )
        if found is None:
            continue
        kind, value = _REF_FIELDS.get(found.group(1).lower()), found.group(2).strip(" \t")
        if kind == "agent":
            if current is None or current.closed:
                current = RefGroup()
                groups.append(current)
            current.agents.append(value)
        elif kind is not None and current is not None:
            current.closed = True
            if kind == "usage":
                current.usages.append((value, number))
            elif kind == "signal":
                current.signals.append((value, number))
            else:
                current.rules.append((value, kind == "allow", number))
    return groups


def ref_is_star(agent: str) -> bool:
    return agent == "*" or agent.startswith(("* ", "*\t"))


def ref_token(agent: str) -> str:
    """The leading run of [A-Za-z_-], lower-cased (RFC 9309 §2.2.1 identifier)."""
    return re.sub(r"[^A-Za-z_-].*", "", agent, flags=re.DOTALL).lower()


def ref_name(agent: str) -> str:
    return " ".join(agent.split("/", 1)[0].split()).lower()


def ref_select(groups: list[RefGroup], token: str) -> tuple[list[RefGroup], bool]:
    """Every group naming the token (merged); else every '*' group (RFC 9309 §2.2.1)."""
    own = [
        g
        for g in groups
        if any(not ref_is_star(a) and ref_token(a) == token.lower() for a in g.agents)
    ]
    if own:
        return own, True
    return [g for g in groups if any(ref_is_star(a) for a in g.agents)], False


def ref_named(groups: list[RefGroup], name: str) -> list[RefGroup]:
    """Groups whose user-agent, as written up to '/', is the name; or whose token is it."""
    key = ref_name(name)
    return [
        g
        for g in groups
        if any(not ref_is_star(a) and key in (ref_name(a), ref_token(a)) for a in g.agents)
    ]


def ref_matches(pattern: str, path: str) -> bool:
    """'*' is any run of characters, a final '$' anchors the end, all else is literal."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = "".join(".*" if c == "*" else re.escape(c) for c in body)
    return re.match(regex + (r"\Z" if anchored else ""), path, re.DOTALL) is not None


def ref_longest(groups: list[RefGroup], path: str) -> tuple[str, bool, int] | None:
    """The matching rule with the longest normalised pattern; a tie goes to Allow, then to
    the earliest line."""
    best: tuple[str, bool, int] | None = None
    for group in groups:
        for value, allow, line in group.rules:
            pattern = normalise_pattern(value)
            if not pattern or not ref_matches(pattern, path):
                continue
            if best is None or (len(pattern), allow) > (len(best[0]), best[1]):
                best = (pattern, allow, line)
    return best


def core_answer(robots: _robots.RobotsFile, group: _robots.Group | None, path: str) -> object:
    if group is None:
        return None
    rule = group.longest_match(path)
    return None if rule is None else (rule[0], rule[1], robots.line_of(rule[2]))


@settings(BASE, max_examples=250)
@given(st.data(), robots_texts(SEPARATORS), st.lists(TOKENS, min_size=1, max_size=3))
def test_longest_match_agrees_with_reference(
    data: st.DataObject, text: str, tokens: list[str]
) -> None:
    """Group selection, merging, longest match, tie to Allow, and the Content-Usage and
    Content-Signal lines kept with each group agree with the reference, for files written
    with RFC 9309's ``field: value`` syntax and Google's colon-less ``field value`` form."""
    body = text.encode("utf-8")
    robots = _robots.parse(body, 512_000)
    groups = ref_parse(body)
    paths = [normalise_path(data.draw(paths_for(text))) for _ in range(4)]
    for token in tokens:
        group, own = robots.group_for(token)
        expected, expected_own = ref_select(groups, token)
        assert (group is None) == (not expected), token
        if group is None:
            continue
        assert own == expected_own, token
        for path in paths:
            assert core_answer(robots, group, path) == ref_longest(expected, path), (token, path)
        usages = [(line.value, robots.line_of(line.record)) for line in group.usages]
        signals = [(line.value, robots.line_of(line.record)) for line in group.signals]
        assert usages == [u for g in expected for u in g.usages]
        assert signals == [s for g in expected for s in g.signals]
    name = data.draw(NAMES)
    named = ref_named(groups, name)
    group = robots.named_group(name)
    assert (group is None) == (not named), name
    for path in paths:
        assert core_answer(robots, group, path) == (ref_longest(named, path) if named else None)


# ---------------------------------------------------------------------------------------------
# Path patterns.


@BASE
@given(st.one_of(TEXT, PATTERNS))
def test_normalisation_never_raises_and_is_ascii(text: str) -> None:
    for normalise in (normalise_path, normalise_pattern):
        once = normalise(text)
        assert once == normalise(text)
        assert once.isascii()
    assert normalise_path(text).count("*") == 0
    assert normalise_path(text).count("$") == 0


@BASE
@given(st.one_of(TEXT, PATTERNS))
def test_normalisation_is_idempotent(text: str) -> None:
    for normalise in (normalise_path, normalise_pattern):
        once = normalise(text)
        assert normalise(once) == once


@BASE
@given(TEXT, st.sampled_from(["https://e.com", "http://E.com:8080", "https://x.example"]))
def test_url_path_of_any_path(path: str, origin: str) -> None:
    result = url_path(origin + "/" + path)
    assert result == url_path(origin + "/" + path)
    assert result.startswith("/")
    assert "#" not in result
    assert result.isascii()  # non-ASCII is percent-encoded


@BASE
@given(st.one_of(PATTERNS, TEXT), st.one_of(TEXT, PATTERNS))
def test_matches_never_raises(pattern: str, path: str) -> None:
    normalised, target = normalise_pattern(pattern), normalise_path(path)
    answer = matches(normalised, target)
    assert answer == matches(normalised, target)
    assert answer == ref_matches(normalised, target)
    if "*" not in normalised and not normalised.endswith("$"):
        assert answer == target.startswith(normalised)


# ---------------------------------------------------------------------------------------------
# TDMRep: tdmrep.json and embedded EPUB/PDF metadata.

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), TEXT
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)
    ),
    max_leaves=15,
)
TDM_RULES = st.lists(
    st.dictionaries(
        st.sampled_from(["location", "tdm-reservation", "tdm-policy", "other"]),
        st.one_of(JSON_SCALARS, PATTERNS, st.sampled_from([0, 1, "1", "0", 1.0, True])),
        max_size=4,
    ),
    max_size=5,
)


def tdm_summary(parsed: tdmrep.TdmFile) -> tuple[object, ...]:
    rules = [(r.index, r.location.text, r.reservation, r.raw, r.policy) for r in parsed.rules]
    return (rules, parsed.error, parsed.skipped)


def json_bytes(value: object) -> bytes:
    return json.dumps(value).encode("utf-8")


@BASE
@given(
    st.one_of(
        st.binary(max_size=200),
        JSON.map(json_bytes),
        TDM_RULES.map(json_bytes),
        TDM_RULES.map(lambda r: b"\xef\xbb\xbf" + json_bytes(r)),
    )
)
def test_tdmrep_parse_file_any_body(body: bytes) -> None:
    parsed = tdmrep.parse_file(body)
    assert tdm_summary(parsed) == tdm_summary(tdmrep.parse_file(body))
    assert (parsed.error is None) or not parsed.rules
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except ValueError:
        data = None
    if isinstance(data, list):
        assert parsed.error is None
        assert len(parsed.rules) + len(parsed.skipped) == len(data)
    else:
        assert parsed.error is not None and not parsed.rules
    for rule in parsed.rules:
        assert rule.reservation in (None, "0", "1")
        assert rule.location.text.isascii()


CONTAINER_NS = "urn:oasis:names:tc:opendocument:xmlns:container"
XML_TEXT = st.one_of(
    TEXT,
    st.sampled_from(
        [
            f'<container xmlns="{CONTAINER_NS}"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf"/></rootfiles></container>',
            f'<container xmlns="{CONTAINER_NS}"><rootfiles><rootfile/></rootfiles></container>',
            f'<container xmlns="{CONTAINER_NS}"><rootfile full-path="missing.opf"/></container>',
            '<?xml version="1.0"?><!DOCTYPE c [<!ENTITY e SYSTEM "file:///etc/passwd">]><c>&e;</c>',
            "<not-closed",
        ]
    ),
)
OPF_TEXT = st.one_of(
    TEXT,
    st.tuples(
        st.sampled_from(
            [
                '<meta property="tdm:reservation">{v}</meta>',
                '<meta name="tdm:reservation" content="{v}"/>',
                '<meta name="TDM:Policy" content="{v}"/>',
                '<meta property="tdm:policy">{v}</meta>',
                "<meta>{v}</meta>",
            ]
        ),
        st.sampled_from(["1", "0", " 1 ", "2", "", "yes", "&amp;"]),
    ).map(
        lambda t: (
            '<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata>'
            + t[0].format(v=t[1])
            + "</metadata></package>"
        )
    ),
)


@st.composite
def epubs(draw: st.DrawFn) -> bytes:
    buffer = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        if draw(st.booleans()):
            archive.writestr("mimetype", "application/epub+zip")
        if draw(st.integers(0, 9)):
            archive.writestr("META-INF/container.xml", draw(XML_TEXT))
        archive.writestr(draw(st.sampled_from(["OEBPS/content.opf", "other.opf"])), draw(OPF_TEXT))
    return buffer.getvalue()


XMP = st.tuples(
    st.sampled_from(
        [
            "<tdm:reservation>{v}</tdm:reservation>",
            '<rdf:Description tdm:reservation="{v}" tdm:policy="https://e.com/p"/>',
            "<tdm:policy>{v}</tdm:policy>",
            "<tdm:reservation>{v}",
        ]
    ),
    st.sampled_from(["1", "0", "", "x"]),
).map(
    lambda t: (
        "%PDF-1.7\n<x:xmpmeta xmlns:x='adobe:ns:meta/' "
        "xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
        "xmlns:tdm='http://www.w3.org/ns/tdmrep/'><rdf:RDF>"
        + t[0].format(v=t[1])
        + "</rdf:RDF></x:xmpmeta>\n%%EOF"
    ).encode()
)
DOCUMENT_TYPES = st.sampled_from(
    ["application/epub+zip", "application/pdf", "application/PDF; x=1", "text/html", ""]
)


@SLOW
@given(
    DOCUMENT_TYPES,
    st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=100).map(lambda b: b"PK\x03\x04" + b),
        st.binary(max_size=100).map(lambda b: b"%PDF-" + b),
        epubs(),
        XMP,
    ),
)
def test_embedded_reader_any_document(content_type: str, body: bytes) -> None:
    found = _tdmrep_embedded.read(content_type, body)
    assert found == _tdmrep_embedded.read(content_type, body)
    if found is not None:
        assert isinstance(found.where, str)
        assert found.reservation is None or found.reservation == found.reservation.strip()


# ---------------------------------------------------------------------------------------------
# Header and markup parsers.

SF_PIECES = st.sampled_from(
    [
        "train-ai",
        "search",
        "ai-use",
        "bots",
        "=",
        "y",
        "n",
        "?1",
        "?0",
        '"n"',
        ",",
        ", ",
        ";",
        "a=b",
        "(",
        ")",
        " ",
        "*",
        "%",
        "1.5",
        ":YQ==:",
        "@1",
        "Train-AI",
        "\t",
        "é",
    ]
)
SF_TEXT = st.one_of(TEXT, st.lists(SF_PIECES, max_size=12).map("".join))


@BASE
@given(SF_TEXT)
def test_aipref_parse_statement_any_text(text: str) -> None:
    first = aipref.parse_statement(text)
    aipref.parse_statement.cache_clear()
    second = aipref.parse_statement(text)
    assert first == second
    assert first.train_ai in (None, "y", "n")
    assert set(first.legacy_refusals) <= set(aipref.LEGACY_LABELS)
    if first.error is not None:
        assert first.train_ai is None and not first.legacy_refusals
    reasons = aipref.statement_reasons(first, "fuzz", POLICY)
    assert reasons and all(r.signal == "content-usage" and r.scope == "use" for r in reasons)


CS_TEXT = st.one_of(
    TEXT,
    st.lists(
        st.sampled_from(["ai-train", "AI-Train", "search", "=", "yes", "no", "y", "N", ",", " "]),
        max_size=10,
    ).map("".join),
)


@BASE
@given(CS_TEXT)
def test_content_signal_parse_any_text(text: str) -> None:
    first = content_signal.parse(text)
    content_signal.parse.cache_clear()
    assert first == content_signal.parse(text)
    keys = [k for k, _ in first.values]
    assert len(keys) == len(set(keys))
    assert all(k == k.lower() and k for k in keys)
    [reason] = content_signal.reasons(first, "fuzz")
    assert reason.verdict in ("allow", "refuse", "unknown")


META_PIECES = st.sampled_from(
    [
        '<meta name="robots" content="noai">',
        '<meta name="ROBOTS" content="NoImageAI">',
        '<meta name="tdm-reservation" content="1">',
        "<meta content=x>",
        "<meta name=a>",
        "<html>",
        "<head>",
        "</head>",
        "<body>",
        "<p>",
        "<svg>",
        "<!--",
        "-->",
        "<![CDATA[",
        "<!DOCTYPE html>",
        "\x00",
        "&amp;",
        "<",
        '<?xml version="1.0" encoding="utf-8"?>',
    ]
)
HTML = st.one_of(TEXT, st.lists(st.one_of(META_PIECES, TEXT), max_size=10).map("".join))


@BASE
@given(HTML, st.booleans())
def test_meta_from_html_any_markup(html: str, as_bytes: bool) -> None:
    source: str | bytes = html.encode("utf-8") if as_bytes else html
    tags = _html.meta_from_html(source)
    assert tags == _html.meta_from_html(source)
    assert all(name == name.strip().lower() for name, _ in tags)


# Markup that can hide a "<meta" from the tokenizer, or cut a tag short: the stretch parse of
# meta_from_html must give what a parse of the whole document gives.
STRETCH_PIECES = st.sampled_from(
    [
        '<meta name="robots" content="noai">',
        "<META\tname=robots content=noimageai>",
        "<Meta/name=tdm-reservation content=0>",
        '<meta name="robots" content="a<b">',
        "<meta name='robots' content='>'>",
        '<meta name=robots content="x',
        "<meta",
        "<metadata>",
        "<script>",
        "</script>",
        "<style>",
        "</style>",
        "<title>",
        "</title>",
        "<textarea>",
        "</textarea>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<svg>",
        "<math>",
        '<p title="',
        '">',
        "'",
        "<",
        ">",
        "\x00",
        "</head><body>",
        '<?xml version="1.0" encoding="iso-8859-1"?>',
    ]
)


@BASE
@given(st.lists(st.one_of(STRETCH_PIECES, TEXT), max_size=14).map("".join))
@example('<!-- <meta name="robots" content="noai"> --><p>')
@example('<script>"<meta name=robots content=noai>"</script><meta name=a content=b>')
@example('<meta name=a content=b><meta name=robots content="<x>">')
def test_meta_from_html_reads_what_the_whole_document_holds(html: str) -> None:
    whole = html.strip().replace("\x00", "")
    assert _html.meta_from_html(html) == _html._parse_text(whole)[0]


HEADER_TEXT = st.one_of(
    TEXT,
    st.lists(
        st.sampled_from(
            [
                "noai",
                "NoImageAI",
                "noindex",
                ",",
                ", ",
                ":",
                " ",
                "-1",
                "otherbot:",
                "consentbot:",
                "unavailable_after:",
                "max-snippet:",
                "25 Jun 2010 15:00:00 PST",
            ]
        ),
        max_size=10,
    ).map("".join),
)


@BASE
@given(HEADER_TEXT, TOKENS)
def test_header_directives_any_line(line: str, token: str) -> None:
    found = _header_directives(line, token.lower())
    assert found == _header_directives(line, token.lower())
    assert all(d and d == d.lower() and "," not in d and ":" not in d for d in found)


# ---------------------------------------------------------------------------------------------
# Evidence.from_json: a malformed input raises EvidenceError and nothing else.

STATUS_JSON = st.one_of(st.sampled_from([0, 200, 404, 503, -1, 1000, True]), JSON)
FILE_JSON = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"status": STATUS_JSON},
        optional={
            "body": st.one_of(TEXT, JSON),
            "content_type": st.one_of(st.just("text/plain"), JSON),
            "redirects": st.one_of(st.integers(-2, 9), JSON),
        },
    ),
)
BASE64_TEXT = st.one_of(
    st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()),
    st.text(string.ascii_letters + string.digits + "+/= -_!", max_size=20),
)
INPUT_JSON = st.fixed_dictionaries(
    {"url": st.one_of(st.just("https://e.com/a"), JSON)},
    optional={
        "token": st.one_of(TOKENS, JSON),
        "robots_txt": FILE_JSON,
        "ai_txt": FILE_JSON,
        "tdmrep_json": FILE_JSON,
        "headers": st.one_of(
            JSON, st.dictionaries(TEXT, st.one_of(TEXT, st.lists(TEXT, max_size=3), JSON))
        ),
        "html": st.one_of(HTML, JSON),
        "document": st.one_of(
            JSON,
            st.fixed_dictionaries(
                {"content_type": st.one_of(DOCUMENT_TYPES, JSON)},
                optional={"base64": st.one_of(BASE64_TEXT, JSON)},
            ),
        ),
        "registry": st.one_of(
            JSON,
            st.fixed_dictionaries(
                {},
                optional={
                    "opted_out": st.one_of(st.booleans(), JSON),
                    "opted_in": st.one_of(st.booleans(), JSON),
                    "error": st.one_of(st.just("timeout"), JSON),
                    "source": JSON,
                },
            ),
        ),
    },
)


@SLOW
@given(st.one_of(JSON, INPUT_JSON))
def test_evidence_from_json_raises_only_evidence_error(obj: Any) -> None:
    try:
        evidence = Evidence.from_json(obj)
    except EvidenceError as exc:
        assert str(exc)
        return
    assert isinstance(evidence, Evidence)
    assert evidence.url == obj["url"]


# ---------------------------------------------------------------------------------------------
# decide: never raises, deterministic, and the answer is consistent with its reasons.

STATUSES = st.sampled_from([0, 200, 200, 200, 301, 401, 403, 404, 429, 503])
FILES = st.builds(
    FetchedFile,
    status=STATUSES,
    body=ROBOTS_BODIES,
    content_type=st.sampled_from([None, "text/plain", "text/html; charset=utf-8"]),
    redirects=st.sampled_from([0, 0, 1, 5, 6]),
)
TDM_FILES = st.builds(
    FetchedFile,
    status=STATUSES,
    body=st.one_of(TDM_RULES.map(json_bytes), st.binary(max_size=50)),
)
HEADER_LINES = st.lists(
    st.one_of(
        st.tuples(st.just("X-Robots-Tag"), HEADER_TEXT),
        st.tuples(st.just("Content-Usage"), SF_TEXT),
        st.tuples(st.just("Content-Signal"), CS_TEXT),
        st.tuples(
            st.sampled_from(["tdm-reservation", "TDM-Reservation"]),
            st.sampled_from(["1", "0", " 1", "2", "", "yes"]),
        ),
        st.tuples(st.just("tdm-policy"), st.just("https://e.com/policy.json")),
        st.tuples(TEXT, TEXT),
    ),
    max_size=6,
)
REGISTRY = st.builds(
    RegistryAnswer,
    opted_out=st.booleans(),
    opted_in=st.booleans(),
    error=st.sampled_from([None, None, "timeout"]),
)
POLICIES = st.sampled_from(
    [
        POLICY,
        POLICY,
        POLICY.replace(mode="opt-in"),
        POLICY.replace(
            robots=dataclasses.replace(
                POLICY.robots, unauthorized="refuse", group_fallback="refuse"
            )
        ),
        POLICY.replace(tdmrep=dataclasses.replace(POLICY.tdmrep, on_error="ignore")),
    ]
)


@st.composite
def evidence(draw: st.DrawFn) -> Evidence:
    robots = draw(st.none() | FILES)
    path = draw(st.one_of(paths_for(robots.body.decode("utf-8", "replace")) if robots else TEXT))
    return Evidence(
        url="https://e.com/" + path.lstrip("/"),
        token=draw(st.none() | TOKENS),
        robots_txt=robots,
        ai_txt=draw(st.none() | FILES),
        tdmrep_json=draw(st.none() | TDM_FILES),
        headers=draw(st.none() | HEADER_LINES.map(Headers)),
        meta=draw(st.none() | HTML.map(_html.meta_from_html)),
        document=draw(
            st.none() | st.builds(EmbeddedDocument, DOCUMENT_TYPES, st.one_of(XMP, epubs()))
        ),
        registry=draw(st.none() | REGISTRY),
    )


@SLOW
@given(evidence(), POLICIES)
def test_decide_after_the_request_stage_answers_as_decide_alone(
    evidence: Evidence, policy: Policy
) -> None:
    """A page is decided before its request (files only), then after its response (headers,
    meta, document, registry too): the second answer, made with the first one's cached file
    answer, is the answer decide gives with nothing cached, and so is the first."""
    before_request = dataclasses.replace(
        evidence, headers=None, meta=None, document=None, registry=None
    )
    clear_caches()
    cold_response = decide(evidence, policy).to_dict()
    clear_caches()
    cold_request = decide(before_request, policy).to_dict()
    clear_caches()
    assert decide(before_request, policy).to_dict() == cold_request
    assert decide(evidence, policy).to_dict() == cold_response
    assert decide(before_request, policy).to_dict() == cold_request


@SLOW
@given(evidence(), POLICIES)
def test_decide_invariants(evidence: Evidence, policy: Policy) -> None:
    decision = decide(evidence, policy)
    assert decide(evidence, policy).to_dict() == decision.to_dict()
    clear_caches()
    assert decide(evidence, policy).to_dict() == decision.to_dict()

    assert decision.fetch in ("allowed", "refused")
    assert (decision.use == "n/a") == (decision.fetch == "refused")
    assert decision.use in ("allowed", "refused", "n/a")
    assert decision.reasons, "every decision says why"
    for reason in decision.reasons:
        assert reason.signal in SIGNALS
        assert reason.verdict in ("allow", "refuse", "unknown", "error")
        assert reason.scope in ("fetch", "use")
    if any(r.scope == "use" and r.verdict in ("refuse", "error") for r in decision.reasons):
        assert decision.use == "refused"
    if decision.fetch == "refused":
        assert any(
            r.scope == "fetch" and r.verdict in ("refuse", "error") for r in decision.reasons
        )
    else:
        assert not any(r.scope == "fetch" and r.refuses for r in decision.reasons)
        assert decision.use == "refused" or not decision.refusals()
    summary = decision.signals()
    assert set(summary) == {r.signal for r in decision.reasons}
    carriers = {"robots.txt": evidence.robots_txt, "ai.txt": evidence.ai_txt}
    carriers["tdmrep.json"] = evidence.tdmrep_json
    assert decision.evidence == {k: f.sha256 for k, f in carriers.items() if f is not None}


# ---------------------------------------------------------------------------------------------
# Bounded time on hostile input (found while writing the atheris harnesses in fuzz/): the work
# grows linearly with the input, so these stay far inside the deadline; each explicit example
# took seconds (and grows exponentially or quadratically from there) before the fix.


@settings(BASE, max_examples=60, deadline=300)
@given(st.integers(1, 60), st.integers(0, 4000))
@example(stars=7, length=60)  # 6 s with the regex a.*a.*…x; minutes at 9 stars
def test_wildcard_matching_time_is_bounded(stars: int, length: int) -> None:
    """A robots.txt rule ``/*a*a*…*x`` against a long path of a's: with a backtracking
    regex the time is exponential in the number of stars."""
    path = "/" + "a" * length
    pattern = "/" + "*a" * stars + "*x"
    assert not matches(pattern, path) and not matches(pattern + "$", path)
    assert matches(pattern, path + "x") == matches(pattern + "$", path + "x") == (length >= stars)
    assert matches(pattern + "$", path + "xa") is False


WILDCARD_PIECES = st.lists(st.sampled_from(["*", "*", "a", "b", "ab", "/", "$"]), max_size=12)


@BASE
@given(WILDCARD_PIECES.map(lambda p: "/" + "".join(p)), st.text("ab/$", max_size=30))
def test_wildcard_matching_agrees_with_the_reference_on_star_heavy_patterns(
    pattern: str, path: str
) -> None:
    normalised, target = normalise_pattern(pattern), normalise_path("/" + path)
    assert matches(normalised, target) == ref_matches(normalised, target)


_XMP_REGEX = re.compile(rb"<x:xmpmeta\b.*?</x:xmpmeta>", re.DOTALL)  # the old scan
XMP_BYTES = st.lists(
    st.sampled_from([b"<x:xmpmeta", b"</x:xmpmeta>", b"a", b" ", b"<", b">", b"_", b"9", b"\n"]),
    max_size=14,
).map(b"".join)


@BASE
@given(XMP_BYTES)
def test_xmp_packets_are_the_ones_the_regex_found(data: bytes) -> None:
    found = [m.group(0) for m in _XMP_REGEX.finditer(data)]
    assert list(_tdmrep_embedded.xmp_packets(data)) == found


@settings(BASE, max_examples=40, deadline=300)
@given(st.integers(0, 20_000), st.sampled_from([b"<x:xmpmeta ", b"<x:xmpmeta>", b"<x:xmpmeta_"]))
@example(count=10_000, piece=b"<x:xmpmeta ")  # 4 s with the lazy regex; 64 s at 40,000
def test_pdf_xmp_scan_time_is_bounded(count: int, piece: bytes) -> None:
    """Unclosed ``<x:xmpmeta`` tags: the lazy regex rescanned the rest of the file from each."""
    assert _tdmrep_embedded.read("application/pdf", b"%PDF-1.7\n" + piece * count) is None


# ---------------------------------------------------------------------------------------------
# The atheris harnesses (fuzz/, run by hand) take their own seeds without failing, so they
# cannot rot unnoticed: here they run once over the seeds made from the test vectors.

FUZZ_TARGETS = ("robots", "ai_txt", "tdmrep", "headers", "html_meta", "documents", "decide_json")


@pytest.mark.parametrize("target", FUZZ_TARGETS)
def test_fuzz_harness_accepts_its_seeds(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import tomllib

    monkeypatch.syspath_prepend(str(ROOT / "fuzz"))
    harness = importlib.import_module(f"fuzz_{target}")
    seeds_module = importlib.import_module("make_seeds")
    seeds: list[bytes] = [b"", b"\0\0", b"\xff" * 40]
    for file in sorted(Path(ROOT / "tests" / "vectors").glob("*.toml")):
        for vector in tomllib.loads(file.read_text(encoding="utf-8"))["vector"]:
            seeds += seeds_module.seeds_from_vector(vector["input"])[target]
    if target == "documents":
        seeds += seeds_module.built_documents()
    assert len(seeds) > 3
    for seed in seeds:
        harness.fuzz_one(seed)
