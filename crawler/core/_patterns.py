"""Robots-style path patterns: ``*`` wildcards, a ``$`` end anchor, percent-encoding rules.

RFC 9309 §2.2.2-§2.2.3 defines these for robots.txt; ai.txt, TDMRep ``location`` and the aipref
``Content-Usage`` path reuse them, so every signal matches paths the same way.  Both the pattern
and the URL path are normalised before comparison: non-ASCII octets are percent-encoded,
percent-encoded *unreserved* characters are decoded, hex digits are upper-cased, and in a URL
path a literal ``*`` or ``$`` becomes ``%2A``/``%24`` (the RFC's way to match them literally).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789abcdefABCDEF")


# Printable ASCII other than space and "%": text made only of these needs no normalising.
_PLAIN = re.compile(r"[!-$&-~]*\Z")


def plain_pattern(pattern: str) -> bool:
    """True when ``normalise_pattern`` would return ``pattern`` unchanged (the common case)."""
    return _PLAIN.match(pattern) is not None and "$" not in pattern[:-1]


def _normalise(text: str, *, literal_specials: bool) -> str:
    # Fast path: most paths and patterns are plain ASCII without escapes.
    if _PLAIN.match(text) and not (literal_specials and ("*" in text or "$" in text)):
        return text
    data = text.encode("utf-8", "surrogatepass")
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte == 0x25:
            if i + 2 < n and chr(data[i + 1]) in _HEX and chr(data[i + 2]) in _HEX:
                hex_digits = chr(data[i + 1]) + chr(data[i + 2])
                char = chr(int(hex_digits, 16))
                out.append(char if char in _UNRESERVED else "%" + hex_digits.upper())
                i += 3
            else:  # a stray "%" stands for itself; encoding it keeps normalising idempotent
                out.append("%25")
                i += 1
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
    """Normalise a rule pattern; ``*`` keeps its meaning, and ``$`` anchors only at the end
    (elsewhere it is a literal, as in Google's parser, and is compared as ``%24``)."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    if "$" in body:
        body = body.replace("$", "%24")
    return _normalise(body, literal_specials=False) + ("$" if anchored else "")


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


class Pattern:
    """A path pattern; ``length`` is its specificity in octets (RFC 9309 longest match).

    Matching checks the literal prefix (the text before the first ``*``) first and builds a
    regular expression, cached by pattern text, only for wildcard patterns past that check.
    """

    __slots__ = ("length", "text")

    def __init__(self, raw: str) -> None:
        self.text = normalise_pattern(raw)
        self.length = len(self.text)

    def matches(self, path: str) -> bool:
        return matches(self.text, path)

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


def compile_pattern(raw: str) -> Pattern:
    return Pattern(raw)


def literal_prefix(pattern: str) -> str:
    """The text every matching path starts with: up to the first ``*``, without a ``$``."""
    if pattern.endswith("$"):
        pattern = pattern[:-1]
    return pattern.partition("*")[0]


def matches(pattern: str, path: str) -> bool:
    """Does a *normalised* pattern match a normalised path?"""
    star = pattern.find("*")
    if star < 0:
        if pattern.endswith("$"):
            return path == pattern[:-1]
        return path.startswith(pattern)
    if not path.startswith(pattern[:star]):
        return False
    pieces, anchored = _wildcard(pattern)
    # Each literal piece goes at its leftmost place after the one before: an earlier place
    # never loses a match, so no backtracking is needed.  (A regex such as ``a.*b.*c`` would
    # backtrack: time exponential in the number of stars, minutes for one hostile rule.)
    position = star
    for piece in pieces[1:-1]:
        found = path.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    last = pieces[-1]
    if anchored:
        return len(path) - len(last) >= position and path.endswith(last)
    return path.find(last, position) >= 0


@lru_cache(maxsize=8192)
def _wildcard(pattern: str) -> tuple[tuple[str, ...], bool]:
    """The literal pieces between the stars of a wildcard pattern, and its ``$`` anchor."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    return tuple(body.split("*")), anchored
