"""``consent-crawler report``: a job's consent report, for a terminal or as one HTML page.

A compliance reviewer asks: under which policy and identity did this job run, how much did it
keep and refuse, which signals refused what, which sites refused most, and which refusals came
from a failure (a file that could not be read) rather than from a site's stated preference.
The numbers come from the job's index (so a report on a large job takes seconds), the job
facts from its manifest.  ``report_html`` renders the same data as a page.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from .index import Index
from .jobs import Job
from .text import pairs, table

KEPT = "d.fetch = 'allowed' AND d.use = 'allowed'"


def _duration(start: Any, end: Any) -> float | None:
    try:
        began = datetime.fromisoformat(str(start))
        ended = datetime.fromisoformat(str(end))
    except ValueError:
        return None
    return round((ended - began).total_seconds(), 3)


def job_facts(job: Job) -> dict[str, Any]:
    m = job.manifest
    policy = m.get("policy") or {}
    identity = m.get("identity") or {}
    return {
        "job_id": job.job_id,
        "store": job.objects.location,
        "status": m.get("status"),
        "finish_reason": m.get("finish_reason"),
        "started_at": m.get("started_at"),
        "finished_at": m.get("finished_at"),
        "duration_seconds": _duration(m.get("started_at"), m.get("finished_at")),
        "runs": len(m.get("runs") or []),
        "seeds": len(m.get("seeds") or []),
        "policy": {k: policy.get(k) for k in ("name", "sha256", "mode", "source")},
        "identity": {k: identity.get(k) for k in ("token", "user_agent", "contact_url")},
        "versions": m.get("versions") or {},
    }


def report_data(job: Job, index: Index, top: int = 10) -> dict[str, Any]:
    """Everything the report shows, as plain data (``--json``, and the HTML's tables)."""
    conn = index.conn

    def rows(sql: str, *params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in conn.execute(sql, params)]

    totals = rows(
        f"SELECT COUNT(*) AS decided, COALESCE(SUM({KEPT}), 0) AS kept, "
        f"COALESCE(SUM(NOT ({KEPT})), 0) AS refused, "
        "COALESCE(SUM(d.fetch = 'refused'), 0) AS fetch_refused FROM decisions d"
    )[0]
    totals["use_refused"] = totals["refused"] - totals["fetch_refused"]
    totals["items"] = conn.execute(
        "SELECT COUNT(*) FROM items WHERE use IS NOT 'purged'"
    ).fetchone()[0]
    totals["purged"] = conn.execute("SELECT COUNT(*) FROM tombstones").fetchone()[0]
    permitted: Counter[str] = Counter()
    for row in rows(f"SELECT allowing, COUNT(*) AS n FROM decisions d WHERE {KEPT} GROUP BY 1"):
        for signal in row["allowing"].split():
            permitted[signal] += row["n"]
    refused = rows(
        "SELECT signal, COUNT(DISTINCT decision) AS refused, "
        "COUNT(DISTINCT CASE WHEN verdict = 'error' THEN decision END) AS errors "
        "FROM refusals GROUP BY signal"
    )
    by_signal = {r["signal"]: {**r, "permitted": 0} for r in refused}
    for signal, n in permitted.items():
        by_signal.setdefault(signal, {"signal": signal, "refused": 0, "errors": 0})
        by_signal[signal]["permitted"] = n
    domain_sql = (
        f"SELECT m.domain, COUNT(*) AS decided, SUM({KEPT}) AS kept, "
        f"SUM(NOT ({KEPT})) AS refused, GROUP_CONCAT(DISTINCT NULLIF(d.refusing, '')) AS signals "
        "FROM decisions d JOIN domains m ON m.id = d.domain GROUP BY d.domain"
    )
    domains = rows(f"SELECT * FROM ({domain_sql}) ORDER BY decided DESC, domain LIMIT ?", top)
    refusing = rows(
        f"SELECT * FROM ({domain_sql}) WHERE refused > 0 ORDER BY refused DESC, domain LIMIT ?",
        top,
    )
    for row in [*domains, *refusing]:
        row["signals"] = sorted(set((row["signals"] or "").replace(",", " ").split()))
    errors = rows(
        "SELECT r.signal, m.domain, COUNT(DISTINCT d.id) AS refused, MIN(r.detail) AS detail, "
        "MIN(d.url) AS example_url FROM refusals r JOIN decisions d ON d.id = r.decision "
        "JOIN domains m ON m.id = d.domain WHERE r.verdict = 'error' "
        "GROUP BY r.signal, m.domain ORDER BY refused DESC, r.signal, m.domain"
    )
    return {
        "job": job_facts(job),
        "totals": totals,
        "signals": sorted(by_signal.values(), key=lambda s: (-s["refused"], s["signal"])),
        "domains_total": conn.execute("SELECT COUNT(DISTINCT domain) FROM decisions").fetchone()[0],
        "domains": domains,
        "top_refusing_domains": refusing,
        "error_refusals": errors,
        # Items purged after the crawl by `recheck`, by the signal that now refuses them.
        "purged": rows(
            "SELECT signal, COUNT(*) AS purged, COUNT(DISTINCT run) AS runs, "
            "MIN(purged_at) AS first, MAX(purged_at) AS last FROM tombstones "
            "GROUP BY signal ORDER BY purged DESC, signal"
        ),
    }


def render_text(data: dict[str, Any]) -> str:
    job, totals = data["job"], data["totals"]
    policy, identity = job["policy"], job["identity"]
    out = [f"consent report: job {job['job_id']}\n"]
    out.append(
        pairs(
            [
                ("store", job["store"]),
                ("status", f"{job['status']} ({job['finish_reason']})"),
                ("started", job["started_at"]),
                ("finished", job["finished_at"]),
                ("duration", f"{job['duration_seconds']} s, {job['runs']} run(s)"),
                ("seeds", job["seeds"]),
                ("policy", f"{policy['name']} ({policy['mode']}) sha256 {policy['sha256']}"),
                ("token", identity["token"]),
                ("user agent", identity["user_agent"]),
                ("contact", identity["contact_url"]),
                ("versions", ", ".join(f"{k} {v}" for k, v in job["versions"].items())),
            ]
        )
    )
    out.append("\nURLs decided\n")
    out.append(
        pairs(
            [
                ("decided", totals["decided"]),
                ("kept", totals["kept"]),
                ("refused", totals["refused"]),
                ("  fetch refused", totals["fetch_refused"]),
                ("  use refused", totals["use_refused"]),
                ("items stored", totals["items"]),
                ("items purged", totals["purged"]),
            ]
        )
    )
    out.append(
        "\nby signal (URLs kept with its explicit allow / refused by it / of which errors)\n"
    )
    rows = [(s["signal"], s["permitted"], s["refused"], s["errors"]) for s in data["signals"]]
    out.append(table(["signal", "allowed (kept)", "refused", "errors"], rows))
    out.append(f"\nby domain (top {len(data['domains'])} of {data['domains_total']})\n")
    out.append(_domain_table(data["domains"]))
    out.append("\ntop refusing domains\n")
    out.append(_domain_table(data["top_refusing_domains"]))
    out.append("\nrefusals caused by errors (a file that could not be read)\n")
    errors = [
        (e["signal"], e["domain"], e["refused"], (e["detail"] or "")[:70])
        for e in data["error_refusals"]
    ]
    out.append(table(["signal", "domain", "refused", "example reason"], errors))
    out.append("\npurged after the crawl (`recheck`: refused under a later policy or registry)\n")
    purged = [(p["signal"], p["purged"], p["runs"], p["last"]) for p in data["purged"]]
    out.append(table(["signal", "purged", "runs", "last purge"], purged))
    return "".join(out)


def _domain_table(rows: list[dict[str, Any]]) -> str:
    cells = [
        (r["domain"], r["decided"], r["kept"], r["refused"], ", ".join(r["signals"]) or "-")
        for r in rows
    ]
    return table(["domain", "decided", "kept", "refused", "refusing signals"], cells)
