"""Reading one crawl job back out of a store: manifest, parts, lines, evidence.

Only the ``ObjectStore`` interface is used (never the filesystem), so a job on S3 reads exactly
like a job in a local directory.  Parts are read one at a time and decoded line by line from
the compressed bytes: the writer bounds a part (``CONSENT_PART_MAX_LINES``/``_BYTES``), so
memory stays flat however many items a job holds.

Only the parts the manifest lists are read by default: the writer lists a part once it is
completely stored, so a listed part is the job's committed record; anything else under the
job's folders is an upload in flight or debris, and ``verify`` reports it.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from crawler.store.objects import ObjectStore

KINDS: Final = ("items", "decisions")
PART_SUFFIX: Final = ".jsonl.gz"
# What a damaged part raises while it is decompressed.
GZIP_ERRORS: Final = (OSError, EOFError, zlib.error)


class JobNotFound(LookupError):
    """No such job in the store (or the store holds no job at all)."""


class StoreDataError(RuntimeError):
    """A stored object cannot be read as the layout says (``verify`` says exactly what)."""


@dataclass(frozen=True)
class Part:
    """A part as the manifest lists it."""

    kind: str
    name: str
    lines: int


@dataclass(frozen=True)
class Line:
    """One stored record and where it lives: object key, part name, 1-based line number."""

    key: str
    part: str
    line: int
    record: dict[str, Any]


def list_jobs(objects: ObjectStore) -> list[str]:
    """Ids of the jobs that have a manifest, sorted."""
    ids = {
        key[len("jobs/") : -len("/manifest.json")]
        for key in objects.list("jobs/")
        if key.endswith("/manifest.json") and key.count("/") == 2
    }
    return sorted(ids)


def load_manifest(objects: ObjectStore, job_id: str) -> dict[str, Any]:
    key = f"jobs/{job_id}/manifest.json"
    try:
        data = objects.get(key)
    except KeyError:
        raise JobNotFound(f"no job {job_id!r} in {objects.location} (no {key})") from None
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise StoreDataError(f"{key}: not JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise StoreDataError(f"{key}: not a JSON object")
    return manifest


def latest_job(objects: ObjectStore) -> str:
    """The job started last (by the manifest's ``started_at``; job ids are free-form, so their
    order says nothing), ties broken by id."""
    ids = list_jobs(objects)
    if not ids:
        raise JobNotFound(f"no job in {objects.location} (no jobs/<id>/manifest.json)")
    started = {}
    for job_id in ids:
        try:
            started[job_id] = str(load_manifest(objects, job_id).get("started_at") or "")
        except StoreDataError:
            started[job_id] = ""
    return max(ids, key=lambda j: (started[j], j))


def iter_raw_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based number, bytes) of each line of a gzipped part, decompressed as it is read.
    Raises one of ``GZIP_ERRORS`` when the compressed data is damaged."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
        yield from enumerate(fh, 1)


def parse_line(raw: bytes) -> dict[str, Any]:
    """A JSON-lines record; ValueError (UnicodeDecodeError, JSONDecodeError) when it is not."""
    record = json.loads(raw)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    return record


class Job:
    """One job of a store, read through its manifest."""

    def __init__(self, objects: ObjectStore, job_id: str, manifest: dict[str, Any]) -> None:
        self.objects = objects
        self.job_id = job_id
        self.manifest = manifest
        self.prefix = f"jobs/{job_id}"

    @classmethod
    def open(cls, objects: ObjectStore, job_id: str | None = None) -> Job:
        """The job ``job_id``, or the latest job of the store when it is not given."""
        job_id = job_id or latest_job(objects)
        return cls(objects, job_id, load_manifest(objects, job_id))

    def part_key(self, kind: str, name: str) -> str:
        return f"{self.prefix}/{kind}/{name}"

    def parts(self, kind: str) -> list[Part]:
        """The complete parts the manifest lists for ``kind``, in order."""
        listed = (self.manifest.get("parts") or {}).get(kind) or []
        return [Part(kind, str(p["name"]), int(p.get("lines", 0))) for p in listed]

    def stored_parts(self, kind: str) -> list[str]:
        """Names of the part objects actually in the store for ``kind``."""
        folder = f"{self.prefix}/{kind}/"
        return [
            key[len(folder) :]
            for key in self.objects.list(folder)
            if key.endswith(PART_SUFFIX) and "/" not in key[len(folder) :]
        ]

    def part_lines(self, kind: str, name: str) -> Iterator[Line]:
        """Every record of one part, in order; StoreDataError names the part and line."""
        key = self.part_key(kind, name)
        try:
            data = self.objects.get(key)
        except KeyError:
            raise StoreDataError(f"{key}: listed in the manifest but not in the store") from None
        number = 0
        try:
            for number, raw in iter_raw_lines(data):
                if raw.strip():
                    yield Line(key, name, number, parse_line(raw))
        except GZIP_ERRORS as exc:
            raise StoreDataError(f"{key}: damaged after line {number}: {exc}") from None
        except ValueError as exc:
            raise StoreDataError(f"{key} line {number}: not a JSON record: {exc}") from None

    def lines(self, kind: str, parts: Iterable[str] | None = None) -> Iterator[Line]:
        """Every record of ``kind`` (``items`` or ``decisions``), part by part."""
        names = [p.name for p in self.parts(kind)] if parts is None else list(parts)
        for name in names:
            yield from self.part_lines(kind, name)

    def records_at(self, kind: str, part: str, lines: Iterable[int]) -> dict[int, Line]:
        """Records by location (what the index points at), reading the part once, only up to
        the last line wanted, and parsing only the lines wanted."""
        wanted = set(lines)
        found: dict[int, Line] = {}
        last = max(wanted, default=0)
        key = self.part_key(kind, part)
        try:
            data = self.objects.get(key)
        except KeyError:
            raise StoreDataError(f"{key}: listed in the manifest but not in the store") from None
        try:
            for number, raw in iter_raw_lines(data):
                if number in wanted:
                    found[number] = Line(key, part, number, parse_line(raw))
                if number >= last:
                    break
        except GZIP_ERRORS as exc:
            raise StoreDataError(f"{key}: damaged: {exc}") from None
        except ValueError as exc:
            raise StoreDataError(f"{key}: not a JSON record: {exc}") from None
        missing = wanted - set(found)
        if missing:
            raise StoreDataError(f"{key} has no line {min(missing)} (the index is stale?)")
        return found

    def evidence(self, sha256: str) -> bytes:
        """A stored policy-file snapshot; KeyError when absent."""
        return self.objects.get(f"evidence/{sha256}")
