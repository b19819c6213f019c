"""``provenance show URL|ITEM_ID``: one URL's or item's full record, found through the index.

The index says where a URL or an item id lives; the record itself is always read from its part,
so what is shown is exactly what the store holds.  A URL is looked up as requested, as final
URL and as a redirect hop, because a decision line is written under the final URL and an
operator usually holds the URL they were sent.  ``find`` returns plain data (what ``--json``
prints); ``render_found`` turns it into text for people.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Any

from .index import Index, url_key
from .jobs import Job, Line
from .text import pairs
from .tombstone import describe, is_tombstone, item_id_of

ITEM_ID = re.compile(r"[0-9a-f]{8,32}")


def _url_variants(url: str) -> list[str]:
    """The URL as typed, and with or without the root path's slash (``http://a`` = ``/``)."""
    out = [url]
    if re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+/?", url):
        out.append(url[:-1] if url.endswith("/") else url + "/")
    return out


def _in(values: list[Any]) -> str:
    return ",".join("?" * len(values))


def _urls_of(kind: str, record: dict[str, Any]) -> set[str]:
    hops = (record.get("provenance") or {}) if kind == "items" else record
    urls = {record.get("url"), record.get("final_url")}
    urls |= {h.get("url") for h in hops.get("redirects") or [] if isinstance(h, dict)}
    return {u for u in urls if isinstance(u, str)}


def find(job: Job, index: Index, query: str) -> dict[str, Any]:
    """Every item and decision line a URL or an item id (or a unique prefix of at least 8 hex
    digits) answers for, with its location."""
    query = query.strip()
    conn = index.conn
    if ITEM_ID.fullmatch(query.lower()):
        low = query.lower()
        sql = "SELECT id, item_id, final_url FROM items WHERE item_id >= ? AND item_id < ?"
        rows = conn.execute(sql, (low, low + "g")).fetchall()
        urls: set[str] = set()
    else:
        urls = set(_url_variants(query))
        keys = [url_key(u) for u in urls]
        refs = conn.execute(f"SELECT ref FROM urls WHERE kind = 1 AND key IN ({_in(keys)})", keys)
        ids = [r["ref"] for r in refs]
        sql = f"SELECT id, item_id, final_url FROM items WHERE id IN ({_in(ids)})"
        rows = conn.execute(sql, ids).fetchall()
    items = [
        line
        for line in _read(job, index, "items", {r["id"] for r in rows})
        if not urls or urls & _urls_of("items", line.record)  # not a 64-bit key collision
    ]
    item_ids = {item_id_of(line.record) for line in items}
    # The decision that kept an item is written under the item's final URL.
    wanted = urls | {str(r["final_url"]) for r in rows if r["final_url"]}
    keys = [url_key(u) for u in wanted]
    refs = conn.execute(f"SELECT ref FROM urls WHERE kind = 2 AND key IN ({_in(keys)})", keys)
    decisions = [
        line
        for line in _read(job, index, "decisions", {r["ref"] for r in refs})
        if (line.record.get("item_id") in item_ids and line.record.get("item_id"))
        or (urls & _urls_of("decisions", line.record))
    ]
    return {
        "job_id": job.job_id,
        "query": query,
        "items": [_located(line) for line in items],
        "decisions": [_located(line) for line in decisions],
    }


def _read(job: Job, index: Index, kind: str, row_ids: set[int]) -> list[Line]:
    if not row_ids:
        return []
    where: dict[str, list[int]] = defaultdict(list)
    order = (
        f"SELECT p.name AS part, x.line FROM {kind} x JOIN parts p ON p.id = x.part "
        f"WHERE x.id IN ({_in(list(row_ids))}) ORDER BY x.part, x.line"
    )
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


def render_tombstone(found: dict[str, Any]) -> str:
    """A purged item: what was purged, when, why, under which policy; its content is gone."""
    rec = found["record"]
    policy = rec.get("policy") or {}
    registry = rec.get("registry") or {}
    out = [f"item {rec.get('item_id')}  ({found['key']} line {found['line']})"]
    out.append(f"  {describe(rec)}")
    facts: list[tuple[str, object]] = [
        ("url", rec.get("url")),
        ("final url", rec.get("final_url")),
        ("content sha256", rec.get("content_sha256")),
        ("purge run", rec.get("purge_run")),
        ("policy", f"{policy.get('name')} sha256 {policy.get('sha256')}"),
        ("signals from", rec.get("signals_from") or "-"),
    ]
    if registry:
        answer = "opted out" if registry.get("opted_out") else "not opted out"
        detail = f": {registry['detail']}" if registry.get("detail") else ""
        facts.append(("registry", f"{registry.get('source')} {answer}{detail}"))
    out.append(pairs(facts).rstrip("\n"))
    out.append("  reasons:")
    for reason in rec.get("reasons") or []:
        out.append(
            f"    - {reason.get('signal')} ({reason.get('scope')}) {reason.get('verdict')}: "
            f"{reason.get('detail')}"
        )
    out.append("  content: removed from the store (the decision below is the crawl's)")
    return "\n".join(out) + "\n"


def render_item(job: Job, found: dict[str, Any], cache: dict[str, str]) -> str:
    rec = found["record"]
    if is_tombstone(rec):
        return render_tombstone(found)
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
        verdict = sig.get("verdict") or "-"
        matched = sig.get("matched") or "(no verdict recorded, only the file's hash)"
        out.append(f"    {name:<17} {verdict:<8} {matched}")
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
