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
again.  The crawl writes it when a job ends (``store_index``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from crawler.store.objects import ObjectStore

from .jobs import Job, Line

INDEX_NAME: Final = "index.sqlite"
SCHEMA_VERSION: Final = "1"
REFUSING: Final = frozenset({"refuse", "error"})
_BATCH: Final = 5000

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY, item_id TEXT, url TEXT, final_url TEXT, fetched_at TEXT,
    status INTEGER, content_sha256 TEXT, domain TEXT, host_key TEXT, use TEXT,
    part TEXT NOT NULL, line INTEGER NOT NULL);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY, url TEXT, fetch TEXT, use TEXT, stage TEXT, decided_at TEXT,
    refusing TEXT NOT NULL, domain TEXT, host_key TEXT, item_id TEXT,
    part TEXT NOT NULL, line INTEGER NOT NULL);
-- Reasons that allow, refuse or failed (not 'unknown'); refusing = counts for the refusal.
CREATE TABLE reasons (
    decision INTEGER NOT NULL, signal TEXT, verdict TEXT, scope TEXT, refusing INTEGER,
    detail TEXT);
-- Every URL a record answers for: item url, final url and redirect hops; decision url and hops.
CREATE TABLE urls (url TEXT NOT NULL, kind TEXT NOT NULL, ref INTEGER NOT NULL);
"""
_INDEXES = """
CREATE INDEX items_item_id ON items (item_id);
CREATE INDEX decisions_host ON decisions (host_key);
CREATE INDEX decisions_domain ON decisions (domain);
CREATE INDEX decisions_time ON decisions (decided_at);
CREATE INDEX reasons_signal ON reasons (signal, refusing, decision);
CREATE INDEX reasons_decision ON reasons (decision);
CREATE INDEX urls_url ON urls (url);
"""


def index_key(job_id: str) -> str:
    return f"jobs/{job_id}/{INDEX_NAME}"


def parts_signature(manifest: dict[str, Any]) -> str:
    """The manifest's part list, canonically: an index built from other parts is stale."""
    return json.dumps(manifest.get("parts") or {}, sort_keys=True, separators=(",", ":"))


# -- fields the filters use ------------------------------------------------------------------


def authority(url: str) -> tuple[str, str]:
    """(domain, host key) of a URL: the host with a non-default port (so local test origins on
    one address stay apart), and the host in an order where a parent domain is a prefix."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "", ""
    default = {"http": 80, "https": 443}.get(parts.scheme)
    domain = f"{host}:{port}" if port is not None and port != default else host
    if ":" in host:
        domain = f"[{host}]:{port}" if port is not None and port != default else host
    return domain, host_key(host)


def host_key(host: str) -> str:
    """``www.example.com`` -> ``com.example.www.`` so ``example.com`` and its subdomains share
    the prefix ``com.example.``; an IP address is kept as it is (it has no parents)."""
    host = host.strip().strip(".").lower()
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return host + "."
    return ".".join(reversed(host.split("."))) + "."


def normalise_time(value: Any) -> str | None:
    """An RFC 3339 time or a date as UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (sortable as text);
    None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refusal_scope(record: dict[str, Any]) -> str | None:
    """Which scope's reasons made a decision a refusal (None when it was kept)."""
    if record.get("fetch") == "refused":
        return "fetch"
    if record.get("use") != "allowed":
        return "use"
    return None


def refusing_signals(record: dict[str, Any]) -> list[str]:
    """The signals that refused this decision, in reason order, each once (the manifest's
    ``refused_by_signal`` counts the same reasons)."""
    scope = refusal_scope(record)
    out: list[str] = []
    for reason in record.get("reasons") or []:
        if reason.get("scope") == scope and reason.get("verdict") in REFUSING:
            signal = str(reason.get("signal", "?"))
            if signal not in out:
                out.append(signal)
    return out


# -- building --------------------------------------------------------------------------------


class _Batches:
    """Rows collected per table and inserted in batches (one transaction for the whole build)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.rows: dict[str, list[tuple[Any, ...]]] = {}

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
                self.conn.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
                rows.clear()


def _hop_urls(record: dict[str, Any]) -> Iterator[str]:
    for hop in record.get("redirects") or []:
        if isinstance(hop, dict) and isinstance(hop.get("url"), str):
            yield hop["url"]


def _add_item(out: _Batches, row_id: int, line: Line) -> None:
    rec = line.record
    prov = rec.get("provenance") or {}
    final_url = rec.get("final_url") or rec.get("url")
    domain, key = authority(str(final_url or ""))
    out.add(
        "items",
        (
            row_id,
            prov.get("item_id"),
            rec.get("url"),
            final_url,
            normalise_time(rec.get("fetched_at")) or rec.get("fetched_at"),
            rec.get("status"),
            rec.get("content_sha256"),
            domain,
            key,
            (prov.get("decision") or {}).get("use"),
            line.part,
            line.line,
        ),
    )
    urls = {u for u in (rec.get("url"), final_url, *_hop_urls(prov)) if isinstance(u, str)}
    for url in urls:
        out.add("urls", (url, "items", row_id))


def _add_decision(out: _Batches, row_id: int, line: Line) -> None:
    rec = line.record
    domain, key = authority(str(rec.get("url") or ""))
    refusing = refusing_signals(rec)
    out.add(
        "decisions",
        (
            row_id,
            rec.get("url"),
            rec.get("fetch"),
            rec.get("use"),
            rec.get("stage"),
            normalise_time(rec.get("decided_at")) or rec.get("decided_at"),
            " ".join(refusing),
            domain,
            key,
            rec.get("item_id"),
            line.part,
            line.line,
        ),
    )
    scope = refusal_scope(rec)
    for reason in rec.get("reasons") or []:
        verdict = reason.get("verdict")
        if verdict in ("allow", "refuse", "error"):
            counts = reason.get("scope") == scope and verdict in REFUSING
            detail = reason.get("detail") if verdict in REFUSING else None
            out.add(
                "reasons",
                (row_id, reason.get("signal"), verdict, reason.get("scope"), int(counts), detail),
            )
    urls = {u for u in (rec.get("url"), *_hop_urls(rec)) if isinstance(u, str)}
    for url in urls:
        out.add("urls", (url, "decisions", row_id))


def _fill(conn: sqlite3.Connection, job: Job) -> dict[str, int]:
    out = _Batches(conn)
    counts = {"items": 0, "decisions": 0}
    for row_id, line in enumerate(job.lines("items"), 1):
        _add_item(out, row_id, line)
        counts["items"] = row_id
    for row_id, line in enumerate(job.lines("decisions"), 1):
        _add_decision(out, row_id, line)
        counts["decisions"] = row_id
    out.flush()
    return counts


def build_index(objects: ObjectStore, job_id: str) -> bytes:
    """The index of ``job_id`` as the bytes of an SQLite database file."""
    job = Job.open(objects, job_id)
    with tempfile.TemporaryDirectory(prefix="consent-index-") as tmp:
        path = Path(tmp) / INDEX_NAME
        conn = sqlite3.connect(path)
        try:
            # A scratch file rebuilt from the parts on any failure: no journal, no fsync.
            conn.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            conn.executescript(_SCHEMA)
            counts = _fill(conn, job)
            conn.executescript(_INDEXES)
            meta = {
                "schema": SCHEMA_VERSION,
                "job_id": job.job_id,
                "parts": parts_signature(job.manifest),
                "built_at": normalise_time(datetime.now(UTC).isoformat()) or "",
                "items": str(counts["items"]),
                "decisions": str(counts["decisions"]),
            }
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            conn.commit()
        finally:
            conn.close()
        return path.read_bytes()


def store_index(objects: ObjectStore, job_id: str) -> None:
    """Build the index of a job and put it into the store (the writer calls this at job end)."""
    objects.put(index_key(job_id), build_index(objects, job_id))


# -- opening ---------------------------------------------------------------------------------


class Index:
    """An open index: an SQLite connection on a temporary copy, removed on ``close``.
    ``status`` says where it came from: ``stored``, ``built`` (absent) or ``rebuilt`` (stale)."""

    def __init__(self, data: bytes, status: str) -> None:
        fd, name = tempfile.mkstemp(prefix="consent-index-", suffix=".sqlite")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        self.path = Path(name)
        self.status = status
        self.conn = sqlite3.connect(self.path)
        self.conn.row_factory = sqlite3.Row

    def meta(self) -> dict[str, str]:
        try:
            return {k: v for k, v in self.conn.execute("SELECT key, value FROM meta")}
        except sqlite3.DatabaseError:
            return {}

    def close(self) -> None:
        self.conn.close()
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
        if (
            meta.get("schema") == SCHEMA_VERSION
            and meta.get("job_id") == job.job_id
            and meta.get("parts") == parts_signature(job.manifest)
        ):
            return index
        index.close()
        status = "rebuilt"
        log(f"index: {key} does not match the manifest's parts; rebuilding it")
    else:
        log(f"index: {key} is absent; building it")
    data = build_index(job.objects, job.job_id)
    if save:
        try:
            job.objects.put(key, data)
        except Exception as exc:  # a read-only store: use the index without keeping it
            log(f"index: could not store {key}: {exc}")
    return Index(data, status)
