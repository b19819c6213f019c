"""The consent report as one self-contained HTML page: inline CSS, inline SVG, no script.

The page is an artefact that gets mailed, attached to tickets and archived, so it must render
the same offline and years later: no JavaScript, no fonts, stylesheets or images fetched from
anywhere, no link to follow (a crawled URL appears as text in a table, never as a link or a
resource).  Every chart is drawn from numbers that are also on the page, in the chart's own
``data-label``/``data-value`` attributes and in a table carrying the same ``data-chart`` name,
so a reader (or a test) can check the picture against its data.
"""

from __future__ import annotations

from html import escape
from typing import Any

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .92em; word-break: break-all; }
svg text { font: 12px system-ui, sans-serif; fill: #222; }
.refused { fill: #b3261e; } .kept { fill: #2e7d32; } .muted { color: #666; }
"""
LABEL_WIDTH = 210
BAR_WIDTH = 380
ROW = 22


def bar_chart(name: str, title: str, bars: list[tuple[str, int, str]]) -> str:
    """Horizontal bars (label, value, CSS class), each carrying its data as attributes."""
    peak = max((value for _, value, _ in bars), default=0) or 1
    height = ROW * max(len(bars), 1) + 10
    width = LABEL_WIDTH + BAR_WIDTH + 60
    out = [
        f'<svg data-chart="{escape(name)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for n, (label, value, css) in enumerate(bars):
        y = 5 + n * ROW
        length = round(BAR_WIDTH * value / peak)
        shown = label if len(label) <= 32 else label[:31] + "…"
        out.append(
            f'<g data-label="{escape(label)}" data-value="{value}">'
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{escape(shown)}</text>'
            f'<rect class="{css}" x="{LABEL_WIDTH}" y="{y + 3}" width="{length}" height="16"/>'
            f'<text x="{LABEL_WIDTH + length + 5}" y="{y + 15}">{value}</text></g>'
        )
    if not bars:
        out.append('<text x="10" y="20">nothing to show</text>')
    out.append("</svg>")
    return "".join(out)


def data_table(name: str, headers: tuple[str, str], bars: list[tuple[str, int, str]]) -> str:
    """The numbers of a chart, as a table with the chart's name."""
    rows = "".join(
        f'<tr data-label="{escape(label)}" data-value="{value}"><td>{escape(label)}</td>'
        f'<td class="n">{value}</td></tr>'
        for label, value, _ in bars
    )
    return (
        f'<table class="data" data-chart="{escape(name)}"><thead><tr><th>{escape(headers[0])}'
        f'</th><th class="n">{escape(headers[1])}</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(
        f"<th{' class=n' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=n' if i in numeric else ''}>{escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    empty = f'<tr><td colspan="{len(headers)}" class="muted">none</td></tr>' if not rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}{empty}</tbody></table>"


def _chart(
    name: str, title: str, headers: tuple[str, str], bars: list[tuple[str, int, str]]
) -> str:
    return (
        f'<h2 id="{escape(name)}">{escape(title)}</h2>'
        + bar_chart(name, title, bars)
        + data_table(name, headers, bars)
    )


def render_html(data: dict[str, Any]) -> str:
    job, totals = data["job"], data["totals"]
    policy, identity = job["policy"], job["identity"]
    facts = [
        ["job", job["job_id"]],
        ["store", job["store"]],
        ["status", f"{job['status']} ({job['finish_reason']})"],
        ["started", job["started_at"]],
        ["finished", job["finished_at"]],
        ["duration (s)", job["duration_seconds"]],
        ["runs", job["runs"]],
        ["seeds", job["seeds"]],
        ["policy", f"{policy['name']} ({policy['mode']})"],
        ["policy sha256", policy["sha256"]],
        ["product token", identity["token"]],
        ["user agent", identity["user_agent"]],
        ["contact", identity["contact_url"]],
        ["versions", ", ".join(f"{k} {v}" for k, v in job["versions"].items())],
    ]
    kept_refused = [
        ("kept", totals["kept"], "kept"),
        ("refused: fetch", totals["fetch_refused"], "refused"),
        ("refused: use", totals["use_refused"], "refused"),
    ]
    by_signal = [(s["signal"], s["refused"], "refused") for s in data["signals"] if s["refused"]]
    by_domain = [(d["domain"], d["refused"], "refused") for d in data["top_refusing_domains"]]
    signals = [[s["signal"], s["permitted"], s["refused"], s["errors"]] for s in data["signals"]]
    domains = [
        [d["domain"], d["decided"], d["kept"], d["refused"], ", ".join(d["signals"]) or "-"]
        for d in data["domains"]
    ]
    errors = [
        [e["signal"], e["domain"], e["refused"], e["detail"] or "", e["example_url"] or ""]
        for e in data["error_refusals"]
    ]
    purged = [[p["signal"], p["purged"], p["runs"], p["last"]] for p in data["purged"]]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Consent report: job {escape(job['job_id'])}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Consent report: job <code>{escape(job['job_id'])}</code></h1>",
        '<h2 id="job">Job, policy and identity</h2>',
        _table(["", ""], facts),
        '<h2 id="totals">URLs decided</h2>',
        f'<p data-decided="{totals["decided"]}" data-kept="{totals["kept"]}" '
        f'data-refused="{totals["refused"]}" data-items="{totals["items"]}" '
        f'data-purged="{totals["purged"]}">'
        f"{totals['decided']} URLs decided: {totals['kept']} kept, {totals['refused']} refused "
        f"({totals['fetch_refused']} not fetched, {totals['use_refused']} fetched but not used); "
        f"{totals['items']} items stored, {totals['purged']} purged after the crawl.</p>",
        _chart("kept-vs-refused", "Kept vs refused", ("outcome", "URLs"), kept_refused),
        _chart("refusals-by-signal", "Refusals by signal", ("signal", "URLs refused"), by_signal),
        _chart(
            "refusals-by-domain",
            f"Top {len(by_domain)} refusing domains",
            ("domain", "URLs refused"),
            by_domain,
        ),
        '<h2 id="signals">Kept vs refused per signal</h2>',
        '<p class="muted">allowed (kept): kept URLs where the signal gave an explicit allow; '
        "errors: refusals because the signal's file could not be read.</p>",
        _table(["signal", "allowed (kept)", "refused", "errors"], signals, {1, 2, 3}),
        f'<h2 id="domains">Kept vs refused per domain (top {len(domains)} of '
        f"{data['domains_total']})</h2>",
        _table(["domain", "decided", "kept", "refused", "refusing signals"], domains, {1, 2, 3}),
        '<h2 id="errors">Refusals caused by errors</h2>',
        _table(["signal", "domain", "refused", "example reason", "example URL"], errors, {2}),
        '<h2 id="purged">Purged after the crawl</h2>',
        '<p class="muted">Items deleted by <code>recheck</code> because a later policy or '
        "registry answer refuses them; a tombstone keeps what was purged, when and why.</p>",
        _table(["signal", "purged", "runs", "last purge"], purged, {1, 2}),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
