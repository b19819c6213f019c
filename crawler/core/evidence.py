"""Evidence about one URL: the files, headers and markup the signals are read from.

A field left as ``None`` means that carrier was not consulted; it then plays no part in the
decision.  ``Evidence.from_json`` reads the ``consent-crawler decide`` input (design.md §5).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ._html import MetaTag, meta_from_html


class EvidenceError(ValueError):
    """The evidence given for a URL is malformed (names the offending field)."""


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """A policy file as fetched: HTTP status (0 = network error) and body bytes."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    redirects: int = 0
    url: str | None = None
    fetched_at: str | None = None
    final_url: str | None = None
    error: str | None = None  # why a fetch failed (status 0), for the reason's detail
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.body).hexdigest())

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def unreachable(self) -> bool:
        """5xx, 429 or a network error: the RFC 9309 "unreachable" class."""
        return self.status == 0 or self.status == 429 or self.status >= 500 or self.status < 100

    def looks_like_html(self) -> bool:
        if self.content_type and "html" in self.content_type.lower():
            return True
        head = self.body[:512].lstrip().lower()
        return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


# The response headers that carry a consent signal; no other header can change a decision.
SIGNAL_HEADERS = (
    "x-robots-tag",
    "tdm-reservation",
    "tdm-policy",
    "content-usage",
    "content-signal",
)


class Headers:
    """Response headers: case-insensitive names, every line kept (X-Robots-Tag may repeat)."""

    __slots__ = ("_lines",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        lines: dict[str, list[str]] = {}
        for name, value in items:
            lines.setdefault(name.lower(), []).append(value)
        self._lines = {k: tuple(v) for k, v in lines.items()}

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | Iterable[str]]) -> Headers:
        items: list[tuple[str, str]] = []
        for name, value in mapping.items():
            if isinstance(value, str):
                items.append((name, value))
            else:
                items.extend((name, v) for v in value)
        return cls(items)

    def get_all(self, name: str) -> tuple[str, ...]:
        return self._lines.get(name.lower(), ())

    def signal_lines(self) -> dict[str, list[str]]:
        """The consent-signal headers present, as recorded in provenance."""
        return {name: list(self._lines[name]) for name in SIGNAL_HEADERS if name in self._lines}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lines

    def __repr__(self) -> str:
        return f"Headers({self._lines!r})"


@dataclass(frozen=True, slots=True)
class EmbeddedDocument:
    """A non-HTML document whose own metadata may carry TDMRep (EPUB OPF, PDF XMP)."""

    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class RegistryAnswer:
    """An opt-out registry's answer for the URL; ``error`` set when it could not be asked."""

    opted_out: bool = False
    opted_in: bool = False
    source: str = "registry"
    error: str | None = None
    detail: str | None = None
    asked_at: str | None = None  # RFC 3339, stamped by whoever asked (the core has no clock)

    def to_dict(self) -> dict[str, Any]:
        """The answer as recorded in provenance, decision lines and ``registry check --json``."""
        return {
            "source": self.source,
            "opted_out": self.opted_out,
            "opted_in": self.opted_in,
            "error": self.error,
            "detail": self.detail,
            "asked_at": self.asked_at,
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    url: str
    token: str | None = None
    robots_txt: FetchedFile | None = None
    ai_txt: FetchedFile | None = None
    tdmrep_json: FetchedFile | None = None
    headers: Headers | None = None
    meta: tuple[MetaTag, ...] | None = None
    document: EmbeddedDocument | None = None
    registry: RegistryAnswer | None = None

    @classmethod
    def from_json(cls, obj: Any) -> Evidence:
        """Build evidence from one ``decide`` input object; raises EvidenceError."""
        if not isinstance(obj, dict):
            raise EvidenceError("input line must be a JSON object")
        url = obj.get("url")
        if not isinstance(url, str) or not url:
            raise EvidenceError("'url' must be a non-empty string")
        try:
            urlsplit(url)
        except ValueError as exc:
            raise EvidenceError(f"'url' cannot be parsed: {exc}") from None
        token = obj.get("token")
        if token is not None and not isinstance(token, str):
            raise EvidenceError("'token' must be a string")
        html = obj.get("html")
        if html is not None and not isinstance(html, str):
            raise EvidenceError("'html' must be a string")
        return cls(
            url=url,
            token=token,
            robots_txt=_file(obj, "robots_txt"),
            ai_txt=_file(obj, "ai_txt"),
            tdmrep_json=_file(obj, "tdmrep_json"),
            headers=_headers(obj.get("headers")),
            meta=None if html is None else meta_from_html(html),
            document=_document(obj.get("document")),
            registry=_registry(obj.get("registry")),
        )


def _file(obj: dict[str, Any], key: str) -> FetchedFile | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise EvidenceError(f"'{key}' must be an object with 'status' and 'body'")
    status = value.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 0 <= status <= 999:
        raise EvidenceError(f"'{key}.status' must be an HTTP status code (0 = network error)")
    body = value.get("body", "")
    if not isinstance(body, str):
        raise EvidenceError(f"'{key}.body' must be a string")
    content_type = value.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        raise EvidenceError(f"'{key}.content_type' must be a string")
    redirects = value.get("redirects", 0)
    if not isinstance(redirects, int) or isinstance(redirects, bool) or redirects < 0:
        raise EvidenceError(f"'{key}.redirects' must be a non-negative integer")
    return FetchedFile(
        status=status,
        body=body.encode("utf-8", "surrogatepass"),
        content_type=content_type,
        redirects=redirects,
    )


def _headers(value: Any) -> Headers | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise EvidenceError("'headers' must be an object of name -> value or list of values")
    for name, lines in value.items():
        ok = isinstance(lines, str) or (
            isinstance(lines, list) and all(isinstance(v, str) for v in lines)
        )
        if not ok:
            raise EvidenceError(f"'headers.{name}' must be a string or a list of strings")
    return Headers.from_mapping(value)


def _document(value: Any) -> EmbeddedDocument | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("content_type"), str):
        raise EvidenceError("'document' must be an object with 'content_type' and 'base64'")
    try:
        body = base64.b64decode(value.get("base64", ""), validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise EvidenceError(f"'document.base64' is not valid base64: {exc}") from None
    return EmbeddedDocument(content_type=value["content_type"], body=body)


def _registry(value: Any) -> RegistryAnswer | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise EvidenceError("'registry' must be an object such as {\"opted_out\": false}")
    error = value.get("error")
    if error is not None and not isinstance(error, str):
        raise EvidenceError("'registry.error' must be a string")
    opted_out = value.get("opted_out", False)
    opted_in = value.get("opted_in", False)
    if not isinstance(opted_out, bool) or not isinstance(opted_in, bool):
        raise EvidenceError("'registry.opted_out' and 'registry.opted_in' must be booleans")
    if error is None and "opted_out" not in value:
        raise EvidenceError("'registry' needs 'opted_out' (or 'error' when it was unreachable)")
    source = value.get("source", "registry")
    detail = value.get("detail")
    return RegistryAnswer(
        opted_out=opted_out,
        opted_in=opted_in,
        source=str(source),
        error=error,
        detail=detail if isinstance(detail, str) else None,
    )
