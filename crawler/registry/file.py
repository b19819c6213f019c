"""A local opt-out list: URLs, URL prefixes, domains and content hashes, reloaded when changed.

Formats, by content:
* plain text, one entry a line (``#`` comments): ``https://a.example/work.jpg`` (a URL),
  ``https://a.example/gallery/*`` (a prefix), ``domain:a.example`` or a bare ``a.example``
  (the domain and its subdomains), ``sha256:<64 hex>`` (content);
* CSV with a header naming one of the columns ``url``, ``prefix``, ``domain``, ``sha256``;
* JSON lines: ``{"url": …}``, ``{"prefix": …}``, ``{"domain": …}`` or ``{"sha256": …}``.
A line that fits none of these is an error naming the file and line: a registry we cannot read
must not quietly let everything through.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from crawler.core import RegistryAnswer

from .base import RegistryError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
KINDS = ("url", "prefix", "domain", "sha256")


@dataclass
class _Entries:
    urls: set[str] = field(default_factory=set)
    prefixes: list[str] = field(default_factory=list)
    domains: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)

    def add(self, kind: str, value: str, where: str) -> None:
        value = value.strip()
        if kind == "url" and value.startswith(("http://", "https://")):
            self.urls.add(value)
        elif kind == "prefix" and value.startswith(("http://", "https://")):
            self.prefixes.append(value.rstrip("*"))
        elif kind == "domain" and _DOMAIN.fullmatch(value.lower().lstrip(".")):
            self.domains.add(value.lower().lstrip("."))
        elif kind == "sha256" and _SHA256.fullmatch(value.lower()):
            self.hashes.add(value.lower())
        else:
            raise RegistryError(f"{where}: {value!r} is not a valid {kind} entry")


class FileRegistry:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self._stamp: tuple[int, int] | None = None
        self._entries = _Entries()
        self._reload()

    def _reload(self) -> None:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise RegistryError(f"{self.path}: cannot read the registry file: {exc}") from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{self.path}: cannot read the registry file: {exc}") from None
        self._entries = parse(text, str(self.path))
        self._stamp = stamp

    def check(self) -> None:
        self._reload()

    def lookup(self, urls: Sequence[str]) -> dict[str, RegistryAnswer]:
        self._reload()  # opt-outs added while a crawl runs apply from the next lookup
        return {url: self._answer(url) for url in urls}

    def _answer(self, url: str) -> RegistryAnswer:
        entries = self._entries
        why = None
        if url in entries.urls:
            why = "the URL is listed"
        elif prefix := next((p for p in entries.prefixes if url.startswith(p)), None):
            why = f"the prefix {prefix}* is listed"
        else:
            host = (urlsplit(url).hostname or "").lower()
            domain = next((d for d in entries.domains if host == d or host.endswith("." + d)), None)
            if domain is not None:
                why = f"the domain {domain} is listed"
        return RegistryAnswer(opted_out=why is not None, source=self.name, detail=why)

    def lookup_content(self, sha256: str) -> RegistryAnswer:
        """Content-hash opt-outs (checked after fetching, where a registry lists hashes)."""
        self._reload()
        listed = sha256.lower() in self._entries.hashes
        return RegistryAnswer(
            opted_out=listed,
            source=self.name,
            detail="the content's sha256 is listed" if listed else None,
        )


def parse(text: str, name: str) -> _Entries:
    entries = _Entries()
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].lstrip().startswith("{"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise RegistryError(f"{name}:{number}: not a JSON object") from None
            kinds = [k for k in KINDS if isinstance(record, dict) and k in record]
            if len(kinds) != 1:
                raise RegistryError(f"{name}:{number}: expected one of {', '.join(KINDS)}")
            entries.add(kinds[0], str(record[kinds[0]]), f"{name}:{number}")
        return entries
    columns = [c.strip() for c in lines[0].lower().split(",")] if lines else []
    if any(column in KINDS for column in columns):  # a CSV header such as "url,note"
        reader = csv.DictReader(io.StringIO(text))
        for number, row in enumerate(reader, start=2):
            for kind in KINDS:
                value = next((v for k, v in row.items() if k and k.strip().lower() == kind), None)
                if value:
                    entries.add(kind, value, f"{name}:{number}")
        return entries
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{name}:{number}"
        if line.startswith("sha256:"):
            entries.add("sha256", line[len("sha256:") :], where)
        elif line.startswith("domain:"):
            entries.add("domain", line[len("domain:") :], where)
        elif line.startswith(("http://", "https://")):
            entries.add("prefix" if line.endswith("*") else "url", line, where)
        else:
            entries.add("domain", line, where)
    return entries
