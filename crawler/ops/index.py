"""An SQLite index of one job, stored next to its manifest as ``jobs/<job_id>/index.sqlite``.

Why SQLite.  The questions operators ask are point lookups ("where is this URL, this item id?")
and small aggregations ("refusals by signal, by domain, since Tuesday") over 10^5-10^7 lines
spread across gzipped parts that can only be read front to back.  SQLite answers both from
B-tree indexes in milliseconds, ships with Python (no server, no new dependency), and is a
single file, which fits the store's object model: the index is one more object beside the
manifest, written with one ``put`` and fetched with one ``get``, on S3 exactly as in a
directory.  A JSON or pickle map would have to be loaded whole for every lookup; a columnar
format (Parquet, DuckDB) would add a heavy dependency for queries this small.

What it holds.  Locations (part name, line number) and the few fields the filters need, never
the records themselves: ``show`` reads the full line from its part, so what an operator sees
is always what the store holds (and what ``verify`` checks), and the index stays small.  It is
disposable: built from the parts the manifest lists, it records that list, and a reader that
finds it absent or different from the manifest's (a job that went on, a resumed job) builds it
again.  The crawl builds it as it writes (``IndexFeed``) and stores it when the job ends
(``store_index``; from the parts when the feed could not stand for them); ``recheck`` writes it
again after a purge, and the manifest's purge runs are recorded too, so an index from before a
purge is rebuilt (a tombstone is an items row with use ``purged`` plus a ``tombstones`` row).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from crawler.store.objects import ObjectStore

from .fields import REFUSING, authority, normalise_time, refusal_scope, refusing_signals
from .jobs import Job, Line
from .tombstone import is_tombstone

INDEX_NAME: Final = "index.sqlite"
SCHEMA_VERSION: Final = "3"
_BATCH: Final = 5000
KIND_CODES: Final = {"items": 1, "decisions": 2}

# Compact on purpose (the index is downloaded for every command): part names and domains are
# stored once and referred to by number, and URLs are looked up by a 64-bit hash key (the rows
# found are checked against the records read), so no URL text is indexed.  The views give the
# readable shape for ad-hoc ``sqlite3`` queries.
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE parts (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE domains (id INTEGER PRIMARY KEY, domain TEXT NOT NULL, host_key TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY, item_id TEXT, url TEXT, final_url TEXT, fetched_at TEXT,
    status INTEGER, content_sha256 TEXT, domain INTEGER, use TEXT,
    part INTEGER NOT NULL, line INTEGER NOT NULL);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY, url TEXT, fetch TEXT, use TEXT, stage TEXT, decided_at TEXT,
    refusing TEXT NOT NULL, allowing TEXT NOT NULL, domain INTEGER, item_id TEXT,
    part INTEGER NOT NULL, line INTEGER NOT NULL);
-- The reasons that made a decision a refusal (verdict refuse or error, in the refusal's scope).
CREATE TABLE refusals (decision INTEGER NOT NULL, signal TEXT, verdict TEXT, detail TEXT);
-- Items purged by ``recheck`` (their items row has use 'purged'): run, first reason, time.
CREATE TABLE tombstones (item INTEGER NOT NULL, run TEXT, signal TEXT, purged_at TEXT);
-- Every URL a record answers for (item: url, final url, redirect hops; decision: url, hops).
CREATE TABLE urls (key INTEGER NOT NULL, kind INTEGER NOT NULL, ref INTEGER NOT NULL,
    PRIMARY KEY (key, kind, ref)) WITHOUT ROWID;
CREATE VIEW item_rows AS SELECT i.id, i.item_id, i.url, i.final_url, i.fetched_at, i.status,
    i.content_sha256, d.domain, i.use, p.name AS part, i.line
    FROM items i JOIN domains d ON d.id = i.domain JOIN parts p ON p.id = i.part;
CREATE VIEW decision_rows AS SELECT x.id, x.url, x.fetch, x.use, x.stage, x.decided_at,
    x.refusing, d.domain, x.item_id, p.name AS part, x.line
    FROM decisions x JOIN domains d ON d.id = x.domain JOIN parts p ON p.id = x.part;
"""
_INDEXES = """
CREATE INDEX items_item_id ON items (item_id);
CREATE UNIQUE INDEX domains_domain ON domains (domain);
CREATE INDEX domains_host ON domains (host_key);
CREATE INDEX decisions_domain ON decisions (domain);
CREATE INDEX decisions_time ON decisions (decided_at);
CREATE INDEX refusals_signal ON refusals (signal, decision);
CREATE INDEX refusals_decision ON refusals (decision);
CREATE INDEX tombstones_item ON tombstones (item);
"""


def index_key(job_id: str) -> str:
    return f"jobs/{job_id}/{INDEX_NAME}"


def url_key(url: str) -> int:
    """The 64-bit lookup key of a URL (first 8 bytes of its sha256, as a signed integer)."""
    return int.from_bytes(hashlib.sha256(url.encode("utf-8")).digest()[:8], "big", signed=True)


def parts_signature(manifest: dict[str, Any]) -> str:
    """The manifest's part list, canonically: an index built from other parts is stale."""
    return json.dumps(manifest.get("parts") or {}, sort_keys=True, separators=(",", ":"))


def purges_signature(manifest: dict[str, Any]) -> str:
    """The manifest's purge runs: ``recheck`` rewrites parts in place (the part list does not
    change), so an index built before a purge is stale by this instead."""
    runs = [(p.get("run_id"), p.get("purged")) for p in manifest.get("purges") or []]
    return json.dumps(runs, separators=(",", ":"))


# -- building --------------------------------------------------------------------------------


class RowBuilder:
    """Rows collected per table and inserted in batches (one transaction for the whole build);
    part names and domains get their numbers on first sight."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.rows: dict[str, list[tuple[Any, ...]]] = {}
        self.parts: dict[tuple[str, str], int] = {}
        self.domains: dict[str, int] = {}
        self.origins: dict[str, int] = {}
        self.counts = dict.fromkeys(KIND_CODES, 0)

    def line(self, kind: str, line: Line) -> None:
        """Add one stored line of ``kind`` (rows are numbered in the order lines are added)."""
        self.counts[kind] += 1
        (self.item if kind == "items" else self.decision)(self.counts[kind], line)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        rows = self.rows.setdefault(table, [])
        rows.append(row)
        if len(rows) >= _BATCH:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for name in [table] if table else list(self.rows):
            rows = self.rows.get(name) or []
            if rows:
                marks = ",".join("?" * len(rows[0]))
                verb = "INSERT OR IGNORE" if name == "urls" else "INSERT"
                self.conn.executemany(f"{verb} INTO {name} VALUES ({marks})", rows)
                rows.clear()

    def part(self, kind: str, name: str) -> int:
        number = self.parts.get((kind, name))
        if number is None:
            number = self.parts[(kind, name)] = len(self.parts) + 1
            self.add("parts", (number, kind, name))
        return number

    def domain(self, url: Any) -> int:
        url = str(url or "")
        # Parsing a URL costs more than the rest of its row: parse each scheme + host once.
        origin = url.split("/", 3)[:3]
        cache_key = "/".join(origin) if len(origin) == 3 else url
        number = self.origins.get(cache_key)
        if number is not None:
            return number
        domain, key = authority(url)
        number = self.domains.get(domain)
        if number is None:
            number = self.domains[domain] = len(self.domains) + 1
            self.add("domains", (number, domain, key))
        self.origins[cache_key] = number
        return number

    def urls(self, kind: str, row_id: int, urls: Iterable[Any]) -> None:
        for url in {u for u in urls if isinstance(u, str)}:
            self.add("urls", (url_key(url), KIND_CODES[kind], row_id))

    def item(self, row_id: int, line: Line) -> None:
        rec = line.record
        if is_tombstone(rec):
            self.tombstone(row_id, line)
            return
        prov = rec.get("provenance") or {}
        final_url = rec.get("final_url") or rec.get("url")
        self.add(
            "items",
            (
                row_id,
                prov.get("item_id"),
                rec.get("url"),
                final_url,
                normalise_time(rec.get("fetched_at")) or rec.get("fetched_at"),
                rec.get("status"),
                rec.get("content_sha256"),
                self.domain(final_url),
                (prov.get("decision") or {}).get("use"),
                self.part("items", line.part),
                line.line,
            ),
        )
        self.urls("items", row_id, (rec.get("url"), final_url, *_hop_urls(prov)))

    def tombstone(self, row_id: int, line: Line) -> None:
        rec = line.record
        final_url = rec.get("final_url") or rec.get("url")
        self.add(
            "items",
            (
                row_id,
                rec.get("item_id"),
                rec.get("url"),
                final_url,
                None,
                None,
                rec.get("content_sha256"),
                self.domain(final_url),
                "purged",
                self.part("items", line.part),
                line.line,
            ),
        )
        signal = (rec.get("reason") or {}).get("signal")
        purged_at = normalise_time(rec.get("purged_at")) or rec.get("purged_at")
        self.add("tombstones", (row_id, rec.get("purge_run"), signal, purged_at))
        self.urls("items", row_id, (rec.get("url"), final_url))

    def decision(self, row_id: int, line: Line) -> None:
        rec = line.record
        scope = refusal_scope(rec)
        reasons = [r for r in rec.get("reasons") or [] if isinstance(r, dict)]
        allowing = {str(r.get("signal")) for r in reasons if r.get("verdict") == "allow"}
        self.add(
            "decisions",
            (
                row_id,
                rec.get("url"),
                rec.get("fetch"),
                rec.get("use"),
                rec.get("stage"),
                normalise_time(rec.get("decided_at")) or rec.get("decided_at"),
                " ".join(refusing_signals(rec)),
                " ".join(sorted(allowing)) if scope is None else "",
                self.domain(rec.get("url")),
                rec.get("item_id"),
                self.part("decisions", line.part),
                line.line,
            ),
        )
        for reason in reasons:
            if reason.get("scope") == scope and reason.get("verdict") in REFUSING:
                row = (row_id, reason.get("signal"), reason.get("verdict"), reason.get("detail"))
                self.add("refusals", row)
        self.urls("decisions", row_id, (rec.get("url"), *_hop_urls(rec)))


def index_fields(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """The part of a record ``RowBuilder`` reads: what the crawl keeps in memory until a part is
    made (an item without its text and HTML, ~1% of it)."""
    if kind != "items" or is_tombstone(record):
        return record
    prov = record.get("provenance") or {}
    return {
        **{k: record.get(k) for k in ("url", "final_url", "fetched_at", "status")},
        "content_sha256": record.get("content_sha256"),
        "provenance": {
            "item_id": prov.get("item_id"),
            "decision": {"use": (prov.get("decision") or {}).get("use")},
            "redirects": prov.get("redirects"),
        },
    }


def _hop_urls(record: dict[str, Any]) -> Iterator[Any]:
    for hop in record.get("redirects") or []:
        if isinstance(hop, dict):
            yield hop.get("url")


def _fill(conn: sqlite3.Connection, job: Job) -> dict[str, int]:
    out = RowBuilder(conn)
    for kind in KIND_CODES:
        for line in job.lines(kind):
            out.line(kind, line)
    out.flush()
    return out.counts


def build_index(objects: ObjectStore, job_id: str) -> bytes:
    """The index of ``job_id`` as the bytes of an SQLite database file."""
    job = Job.open(objects, job_id)
    with tempfile.TemporaryDirectory(prefix="consent-index-") as tmp:
        path = Path(tmp) / INDEX_NAME
        conn = create_index_db(path)
        try:
            finish_index_db(conn, job, _fill(conn, job))
        finally:
            conn.close()
        return path.read_bytes()


def create_index_db(path: Path) -> sqlite3.Connection:
    """A new, empty index database at ``path``, its tables made, its indexes not yet."""
    conn = sqlite3.connect(path)
    # A scratch file rebuilt from the parts on any failure: no journal, no fsync.
    conn.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
    conn.executescript(_SCHEMA)
    return conn


def finish_index_db(conn: sqlite3.Connection, job: Job, counts: dict[str, int]) -> None:
    """Make the lookup indexes (faster after the rows than before) and record what the index
    was built from, so a reader can tell when it is stale."""
    conn.executescript(_INDEXES)
    meta = {
        "schema": SCHEMA_VERSION,
        "job_id": job.job_id,
        "parts": parts_signature(job.manifest),
        "purges": purges_signature(job.manifest),
        "built_at": normalise_time(datetime.now(UTC).isoformat()) or "",
        "items": str(counts["items"]),
        "decisions": str(counts["decisions"]),
    }
    conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
    conn.commit()


def store_index(objects: ObjectStore, job_id: str, built: bytes | None = None) -> None:
    """Put the index of a job into the store: ``built`` (what the crawl built as it wrote,
    ``IndexFeed``), else built now from the stored parts."""
    objects.put(index_key(job_id), built or build_index(objects, job_id))


# -- opening ---------------------------------------------------------------------------------


class Index:
    """An open index: an SQLite connection on the downloaded bytes (in memory, or a temporary
    file removed on ``close`` where SQLite cannot deserialize).  ``status`` says where it came
    from: ``stored``, ``built`` (it was absent) or ``rebuilt`` (it was stale)."""

    def __init__(self, data: bytes, status: str) -> None:
        self.status = status
        self.path: Path | None = None
        self.conn = sqlite3.connect(":memory:")
        try:  # straight from the downloaded bytes, when this SQLite can
            self.conn.deserialize(data)
        except (AttributeError, sqlite3.Error):
            self.conn.close()
            fd, name = tempfile.mkstemp(prefix="consent-index-", suffix=".sqlite")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self.path = Path(name)
            self.conn = sqlite3.connect(self.path)
        self.conn.row_factory = sqlite3.Row

    def meta(self) -> dict[str, str]:
        try:
            return {k: v for k, v in self.conn.execute("SELECT key, value FROM meta")}
        except sqlite3.DatabaseError:
            return {}

    def close(self) -> None:
        self.conn.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_index(job: Job, *, save: bool = True, log: Callable[[str], None] = print) -> Index:
    """The job's index: the stored one when it matches the manifest, else built now (and put
    into the store when ``save``; a read-only store only costs the rebuild next time)."""
    key = index_key(job.job_id)
    status = "built"
    try:
        data: bytes | None = job.objects.get(key)
    except KeyError:
        data = None
    if data is not None:
        index = Index(data, "stored")
        meta = index.meta()
        if meta.get("schema") != SCHEMA_VERSION:
            problem = "is not an index this version reads"
        elif meta.get("job_id") != job.job_id:
            problem = f"is the index of job {meta.get('job_id')!r}"
        elif meta.get("parts") != parts_signature(job.manifest):
            problem = "does not match the manifest's parts"
        elif meta.get("purges") != purges_signature(job.manifest):
            problem = "predates the manifest's last purge"
        else:
            return index
        index.close()
        status = "rebuilt"
        log(f"index: {key} {problem}; rebuilding it")
    else:
        log(f"index: {key} is absent; building it")
    data = build_index(job.objects, job.job_id)
    if save:
        try:
            job.objects.put(key, data)
        except Exception as exc:  # a read-only store: use the index without keeping it
            log(f"index: could not store {key}: {exc}")
    return Index(data, status)
