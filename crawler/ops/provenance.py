"""``provenance show|list|stats``: answers from a job's index, records from its parts.

The index says where a URL or an item id lives; the record itself is always read from its part,
so what is shown is exactly what the store holds.  Each function returns plain data (what
``--json`` prints) and a ``render_*`` function turns it into text for people.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .index import Index, authority, host_key, normalise_time
from .jobs import Job, Line
from .text import pairs, table

ITEM_ID = re.compile(r"[0-9a-f]{8,32}")
USES = ("allowed", "refused", "n/a")
FETCHES = ("allowed", "refused")


# -- show ------------------------------------------------------------------------------------


def _url_variants(url: str) -> list[str]:
    """The URL as typed, and with or without the root path's slash (``http://a`` = ``/``)."""
    out = [url]
    if re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+/?", url):
        out.append(url[:-1] if url.endswith("/") else url + "/")
    return out


def find(job: Job, index: Index, query: str) -> dict[str, Any]:
    """Every item and decision line a URL or an item id (or a unique prefix of at least 8 hex
    digits) answers for, with its location."""
    query = query.strip()
    refs: dict[str, set[int]] = {"items": set(), "decisions": set()}
    conn = index.conn
    if ITEM_ID.fullmatch(query.lower()):
        low = query.lower()
        rows = conn.execute(
            "SELECT id, item_id FROM items WHERE item_id >= ? AND item_id < ?", (low, low + "g")
        ).fetchall()
        refs["items"] |= {r["id"] for r in rows}
        ids = sorted({r["item_id"] for r in rows})
    else:
        variants = _url_variants(query)
        marks = ",".join("?" * len(variants))
        for row in conn.execute(f"SELECT kind, ref FROM urls WHERE url IN ({marks})", variants):
            refs[row["kind"]].add(row["ref"])
        ids = [
            r["item_id"]
            for r in conn.execute(
                f"SELECT DISTINCT item_id FROM items WHERE id IN ({','.join('?' * len(refs['items']))})",
                sorted(refs["items"]),
            )
            if r["item_id"]
        ]
    if ids:  # the decision that kept an item, found by the item's id
        marks = ",".join("?" * len(ids))
        found = conn.execute(f"SELECT id FROM decisions WHERE item_id IN ({marks})", ids)
        refs["decisions"] |= {r["id"] for r in found}
    out: dict[str, Any] = {"job_id": job.job_id, "query": query}
    for kind, row_ids in refs.items():
        out[kind] = [_located(line) for line in _read(job, index, kind, row_ids)]
    return out


def _read(job: Job, index: Index, kind: str, row_ids: set[int]) -> list[Line]:
    if not row_ids:
        return []
    marks = ",".join("?" * len(row_ids))
    where: dict[str, list[int]] = defaultdict(list)
    order = f"SELECT part, line FROM {kind} WHERE id IN ({marks}) ORDER BY part, line"
    for row in index.conn.execute(order, sorted(row_ids)):
        where[row["part"]].append(row["line"])
    lines: list[Line] = []
    for part, numbers in where.items():
        found = job.records_at(kind, part, numbers)
        lines += [found[n] for n in numbers]
    return lines


def _located(line: Line) -> dict[str, Any]:
    return {"key": line.key, "part": line.part, "line": line.line, "record": line.record}


def evidence_status(job: Job, sha256: str, cache: dict[str, str]) -> str:
    """``stored, N bytes`` / ``MISSING`` / ``CHANGED`` for an evidence hash (looked up once)."""
    if sha256 not in cache:
        try:
            data = job.evidence(sha256)
        except (KeyError, ValueError):
            cache[sha256] = "MISSING from the store"
        else:
            ok = hashlib.sha256(data).hexdigest() == sha256
            cache[sha256] = f"stored, {len(data)} bytes" if ok else "CHANGED: hash does not match"
    return cache[sha256]


def render_item(job: Job, found: dict[str, Any], cache: dict[str, str]) -> str:
    rec = found["record"]
    prov = rec.get("provenance") or {}
    decision = prov.get("decision") or {}
    policy = prov.get("policy") or {}
    crawler = prov.get("crawler") or {}
    out = [f"item {prov.get('item_id')}  ({found['key']} line {found['line']})"]
    facts: list[tuple[str, object]] = [
        ("url", rec.get("url")),
        ("final url", rec.get("final_url")),
        ("fetched at", rec.get("fetched_at")),
        ("status", f"{rec.get('status')}  {rec.get('content_type') or ''}".rstrip()),
        ("content sha256", rec.get("content_sha256")),
    ]
    if rec.get("html_sha256"):
        facts.append(("html sha256", rec["html_sha256"]))
    facts += [
        ("title", rec.get("title") or "-"),
        ("language", rec.get("language") or "-"),
        (
            "decision",
            f"fetch {decision.get('fetch')}, use {decision.get('use')} "
            f"(mode {decision.get('mode')})",
        ),
        ("policy", f"{policy.get('name')} sha256 {policy.get('sha256')}"),
        ("crawler", f"{crawler.get('user_agent')} (token {crawler.get('token')})"),
        ("versions", f"consent-crawler {crawler.get('version')}, Scrapy {crawler.get('scrapy')}"),
    ]
    out.append(pairs(facts).rstrip("\n"))
    out.append("  signals:")
    for name, sig in (prov.get("signals") or {}).items():
        out.append(f"    {name:<17} {sig.get('verdict', '?'):<8} {sig.get('matched', '')}")
        if sig.get("url") or sig.get("status") is not None:
            out.append(
                f"    {'':<17} file {sig.get('url')}  HTTP {sig.get('status')}  fetched "
                f"{sig.get('fetched_at')}  redirects {sig.get('redirects', 0)}"
            )
        if sig.get("sha256"):
            status = evidence_status(job, sig["sha256"], cache)
            out.append(f"    {'':<17} evidence sha256 {sig['sha256']} ({status})")
    out.append("  reasons:")
    for reason in decision.get("reasons") or []:
        out.append(
            f"    - {reason.get('signal')} ({reason.get('scope')}) {reason.get('verdict')}: "
            f"{reason.get('detail')}"
        )
    out.append("  redirects:")
    for n, hop in enumerate(prov.get("redirects") or [], 1):
        out.append(f"    {n}. {hop.get('status')}  {hop.get('decision')}  {hop.get('url')}")
    out.append("  attribution:")
    attribution = rec.get("attribution") or {}
    sources = attribution.get("sources") or {}
    shown = [(k, v) for k, v in attribution.items() if k != "sources" and v]
    for key, value in shown:
        where = f"  (from {sources[key]})" if key in sources else ""
        out.append(f"    {key:<12} {value}{where}")
    if not shown:
        out.append("    (none found)")
    return "\n".join(out) + "\n"


def render_decision(job: Job, found: dict[str, Any], cache: dict[str, str]) -> str:
    from crawler.cli._explain import explain

    rec = found["record"]
    mode = (job.manifest.get("policy") or {}).get("mode", "?")
    out = [f"decision  ({found['key']} line {found['line']})"]
    block = explain({**rec, "mode": mode, "reasons": rec.get("reasons") or []})
    out.append("  " + block.rstrip("\n").replace("\n", "\n  "))
    facts: list[tuple[str, object]] = [
        ("stage", rec.get("stage")),
        ("decided at", rec.get("decided_at")),
        ("HTTP status", rec.get("status") if rec.get("status") is not None else "-"),
        ("item id", rec.get("item_id") or "-"),
    ]
    out.append(pairs(facts, indent="    ").rstrip("\n"))
    carriers: dict[str, list[str]] = defaultdict(list)
    for carrier, sha in (rec.get("evidence") or {}).items():
        carriers[str(sha)].append(str(carrier))
    out.append("    evidence:")
    for sha, names in carriers.items():
        status = evidence_status(job, sha, cache)
        out.append(f"      {sha}  {', '.join(names)}  ({status})")
    hops = rec.get("redirects") or []
    out.append("    redirects:" + ("" if hops else " none"))
    for n, hop in enumerate(hops, 1):
        out.append(f"      {n}. {hop.get('status')}  {hop.get('decision')}  {hop.get('url')}")
    return "\n".join(out) + "\n"


def render_found(job: Job, found: dict[str, Any]) -> str:
    cache: dict[str, str] = {}
    blocks = [render_item(job, item, cache) for item in found["items"]]
    blocks += [render_decision(job, d, cache) for d in found["decisions"]]
    return "\n".join(blocks)


# -- list ------------------------------------------------------------------------------------


@dataclass
class Filters:
    use: str | None = None
    fetch: str | None = None
    signal: str | None = None
    domain: str | None = None
    since: str | None = None
    limit: int | None = None


def domain_clause(domain: str) -> tuple[str, list[str]]:
    """SQL matching a host and its subdomains (``example.com``), or one origin's authority
    exactly when a port is given (``127.0.0.1:8080``); a URL may be given too."""
    value = domain.strip().lower()
    if "://" in value:
        value, _ = authority(value)
    value = value.rstrip("/")
    has_port = re.search(r":\d+$", value) is not None and (
        value.count(":") == 1 or value.startswith("[")
    )
    if has_port:
        return "d.domain = ?", [value]
    key = host_key(value.strip("[]"))
    return "(d.host_key >= ? AND d.host_key < ?)", [key, key[:-1] + "/"]


def list_decisions(index: Index, filters: Filters) -> list[dict[str, Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("use", filters.use), ("fetch", filters.fetch)):
        if value:
            where.append(f"d.{column} = ?")
            params.append(value)
    if filters.signal:
        where.append(
            "d.id IN (SELECT decision FROM reasons WHERE signal = ? AND refusing = 1)"
        )
        params.append(filters.signal)
    if filters.domain:
        clause, values = domain_clause(filters.domain)
        where.append(clause)
        params += values
    if filters.since:
        since = normalise_time(filters.since)
        if since is None:
            raise ValueError(f"--since {filters.since!r}: not an RFC 3339 time or a date")
        where.append("d.decided_at >= ?")
        params.append(since)
    sql = (
        "SELECT url, fetch, use, refusing, stage, decided_at, domain, item_id, part, line "
        "FROM decisions d"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY d.decided_at, d.id"
    )
    if filters.limit is not None:
        sql += " LIMIT ?"
        params.append(filters.limit)
    rows = []
    for row in index.conn.execute(sql, params):
        entry = dict(row)
        entry["signals"] = entry.pop("refusing").split()
        rows.append(entry)
    return rows


def render_list(rows: list[dict[str, Any]]) -> str:
    width = max((len(r["url"] or "") for r in rows), default=0)
    return "".join(
        f"{(r['url'] or '').ljust(width)}  {r['fetch']:<7}  {r['use']:<7}  "
        f"{','.join(r['signals']) or '-'}\n"
        for r in rows
    )


# -- stats -----------------------------------------------------------------------------------


def stats(job: Job, index: Index, top: int = 10) -> dict[str, Any]:
    conn = index.conn

    def scalar(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0] or 0)

    kept_sql = "fetch = 'allowed' AND use = 'allowed'"
    domains = conn.execute(
        f"SELECT domain, COUNT(*) AS decisions, SUM({kept_sql}) AS kept, "
        f"SUM(NOT ({kept_sql})) AS refused FROM decisions GROUP BY domain "
        "ORDER BY decisions DESC, refused DESC, domain LIMIT ?",
        (top,),
    ).fetchall()
    by_signal = conn.execute(
        "SELECT signal, COUNT(DISTINCT decision) FROM reasons WHERE refusing = 1 "
        "GROUP BY signal ORDER BY signal"
    ).fetchall()
    return {
        "job_id": job.job_id,
        "status": job.manifest.get("status"),
        "items": scalar("SELECT COUNT(*) FROM items"),
        "decisions": {
            "total": scalar("SELECT COUNT(*) FROM decisions"),
            "kept": scalar(f"SELECT COUNT(*) FROM decisions WHERE {kept_sql}"),
            "refused": scalar(f"SELECT COUNT(*) FROM decisions WHERE NOT ({kept_sql})"),
            "fetch_refused": scalar("SELECT COUNT(*) FROM decisions WHERE fetch = 'refused'"),
            "use_refused": scalar(
                "SELECT COUNT(*) FROM decisions WHERE fetch = 'allowed' AND use != 'allowed'"
            ),
        },
        "refused_by_signal": {signal: n for signal, n in by_signal},
        "domains_total": scalar("SELECT COUNT(DISTINCT domain) FROM decisions"),
        "top_domains": [dict(row) for row in domains],
        "manifest_counts": job.manifest.get("counts") or {},
    }


def render_stats(data: dict[str, Any]) -> str:
    d = data["decisions"]
    out = [f"job {data['job_id']} ({data['status']})\n"]
    out.append(
        pairs(
            [
                ("URLs decided", d["total"]),
                ("  kept", d["kept"]),
                ("  refused", d["refused"]),
                ("    fetch refused", d["fetch_refused"]),
                ("    use refused", d["use_refused"]),
                ("items stored", data["items"]),
            ]
        )
    )
    out.append("\nrefused by signal (URLs)\n")
    out.append(table(["signal", "refused"], sorted(data["refused_by_signal"].items())))
    shown = len(data["top_domains"])
    out.append(f"\ntop {shown} of {data['domains_total']} domains (URLs decided)\n")
    rows = [(r["domain"], r["decisions"], r["kept"], r["refused"]) for r in data["top_domains"]]
    out.append(table(["domain", "decided", "kept", "refused"], rows))
    counts = data["manifest_counts"]
    manifest = (
        counts.get("items"),
        (counts.get("decisions") or {}).get("kept"),
        (counts.get("decisions") or {}).get("refused"),
    )
    if counts and manifest != (data["items"], d["kept"], d["refused"]):
        out.append(
            f"\nnote: the manifest counts items {manifest[0]}, kept {manifest[1]}, refused "
            f"{manifest[2]}; `provenance verify` says where they differ\n"
        )
    return "".join(out)
