"""Robots-style path patterns: ``*`` wildcards, a ``$`` end anchor, percent-encoding rules.

RFC 9309 §2.2.2-§2.2.3 defines these for robots.txt; ai.txt, TDMRep ``location`` and the aipref
``Content-Usage`` path reuse them, so every signal matches paths the same way.  Both the pattern
and the URL path are normalised before comparison: non-ASCII octets are percent-encoded,
percent-encoded *unreserved* characters are decoded, hex digits are upper-cased, and in a URL
path a literal ``*`` or ``$`` becomes ``%2A``/``%24`` (the RFC's way to match them literally).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789abcdefABCDEF")


def _normalise(text: str, *, literal_specials: bool) -> str:
    # Fast path: most paths and patterns are plain ASCII without escapes.
    if text.isascii() and "%" not in text and not (
        literal_specials and ("*" in text or "$" in text)
    ):
        return text
    data = text.encode("utf-8", "surrogatepass")
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte == 0x25 and i + 2 < n:
            hi, lo = chr(data[i + 1]), chr(data[i + 2])
            if hi in _HEX and lo in _HEX:
                char = chr(int(hi + lo, 16))
                out.append(char if char in _UNRESERVED else "%" + (hi + lo).upper())
                i += 3
                continue
        if byte >= 0x80 or byte < 0x21 or byte == 0x7F:
            out.append(f"%{byte:02X}")
        elif literal_specials and byte == 0x2A:
            out.append("%2A")
        elif literal_specials and byte == 0x24:
            out.append("%24")
        else:
            out.append(chr(byte))
        i += 1
    return "".join(out)


def normalise_pattern(pattern: str) -> str:
    """Normalise a rule pattern; ``*`` and ``$`` keep their special meaning."""
    return _normalise(pattern, literal_specials=False)


def normalise_path(path: str) -> str:
    """Normalise a URL path (with query) for comparison against patterns."""
    return _normalise(path, literal_specials=True)


def url_path(url: str) -> str:
    """The part of a URL that rules match against: path, params and query, no fragment."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return normalise_path(path)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled pattern; ``length`` is its specificity in octets (RFC 9309 longest match)."""

    text: str
    length: int
    matches: Callable[[str], bool]


def compile_pattern(raw: str) -> Pattern:
    """Compile a pattern; plain prefixes use ``str.startswith``, the rest a regular expression."""
    text = normalise_pattern(raw)
    anchored = text.endswith("$")
    body = text[:-1] if anchored else text
    if not anchored and "*" not in body:
        return Pattern(text, len(text), _prefix_matcher(body))
    regex = ".*".join(re.escape(piece) for piece in body.split("*"))
    compiled = re.compile(regex + (r"\Z" if anchored else ""), re.DOTALL)
    return Pattern(text, len(text), _regex_matcher(compiled))


def _prefix_matcher(prefix: str) -> Callable[[str], bool]:
    def matches(path: str) -> bool:
        return path.startswith(prefix)

    return matches


def _regex_matcher(compiled: re.Pattern[str]) -> Callable[[str], bool]:
    def matches(path: str) -> bool:
        return compiled.match(path) is not None

    return matches
