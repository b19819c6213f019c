"""``provenance list`` and ``provenance stats``: filters and counts answered by the index.

Both are SQL over the index (see ``index.py``), never a scan of the parts, so they take
milliseconds on a job of any size; ``list`` prints the decision lines' key facts, and the full
line is one ``provenance show URL`` away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .fields import authority, host_key, normalise_time
from .index import Index
from .jobs import Job
from .text import pairs, table

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
        return "d.domain IN (SELECT id FROM domains WHERE domain = ?)", [value]
    key = host_key(value.strip("[]"))
    sql = "d.domain IN (SELECT id FROM domains WHERE host_key >= ? AND host_key < ?)"
    return sql, [key, key[:-1] + "/"]


def list_decisions(index: Index, filters: Filters) -> list[dict[str, Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("use", filters.use), ("fetch", filters.fetch)):
        if value:
            where.append(f"d.{column} = ?")
            params.append(value)
    if filters.signal:
        where.append("d.id IN (SELECT decision FROM refusals WHERE signal = ?)")
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
        "SELECT d.url, d.fetch, d.use, d.refusing, d.stage, d.decided_at, m.domain, d.item_id, "
        "p.name AS part, d.line FROM decisions d JOIN domains m ON m.id = d.domain "
        "JOIN parts p ON p.id = d.part"
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
        f"SELECT m.domain, COUNT(*) AS decisions, SUM({kept_sql}) AS kept, "
        f"SUM(NOT ({kept_sql})) AS refused FROM decisions x JOIN domains m ON m.id = x.domain "
        "GROUP BY x.domain ORDER BY decisions DESC, refused DESC, m.domain LIMIT ?",
        (top,),
    ).fetchall()
    by_signal = conn.execute(
        "SELECT signal, COUNT(DISTINCT decision) FROM refusals GROUP BY signal ORDER BY signal"
    ).fetchall()
    purged = conn.execute(
        "SELECT signal, COUNT(*) FROM tombstones GROUP BY signal ORDER BY signal"
    ).fetchall()
    return {
        "job_id": job.job_id,
        "status": job.manifest.get("status"),
        "items": scalar("SELECT COUNT(*) FROM items WHERE use IS NOT 'purged'"),
        "purged": scalar("SELECT COUNT(*) FROM tombstones"),
        "purged_by_signal": {signal: n for signal, n in purged},
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
                ("items purged", data["purged"]),
            ]
        )
    )
    out.append("\nrefused by signal (URLs)\n")
    out.append(table(["signal", "refused"], sorted(data["refused_by_signal"].items())))
    if data["purged"]:
        out.append("\npurged after the crawl by `recheck`, by signal (items)\n")
        out.append(table(["signal", "purged"], sorted(data["purged_by_signal"].items())))
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
