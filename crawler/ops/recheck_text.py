"""``recheck``'s report for people: per job what it was decided with and what was purged, then
the totals.  ``--json`` prints the same data (``purge.JobPlan.summary``) instead."""

from __future__ import annotations

from typing import Any

from .text import pairs


def _job(job: dict[str, Any], log: str, dry_run: bool) -> list[str]:
    policy = job["policy"]
    signals = "stored evidence" if job["signals_from"] == "stored" else "fetched again now"
    out = [f"job {job['job_id']}"]
    facts: list[tuple[str, object]] = [
        ("policy", f"{policy['name']} sha256 {policy['sha256'][:12]}… ({policy['how']})"),
        ("registry", job["registry"] or "none (no --registry; the policy enables none)"),
        ("signals", signals),
    ]
    out.append(pairs(facts).rstrip("\n"))
    verb = "WOULD PURGE" if dry_run else "PURGED"
    for item in job["purged_items"]:
        out.append(f"  {verb}  {item['url']}  {item['signal']}: {item['detail']}")
    for item in job["unverifiable_items"]:
        out.append(f"  UNVERIFIABLE  {item['url']}  {item['why']}; kept")
    if not dry_run:
        out.append(f"  purge log  {log}")
    return out


def render(summary: dict[str, Any], logs: list[str], location: str) -> str:
    dry_run = summary["dry_run"]
    out = [
        f"recheck run {summary['run_id']} of {location}"
        + (" (dry run: nothing written)" if dry_run else "")
    ]
    for job, log in zip(summary["jobs"], logs, strict=True):
        out += ["", *_job(job, log, dry_run)]
    for skipped in summary["jobs_skipped"]:
        out += ["", f"job {skipped['job_id']}: skipped: {skipped['why']}"]
    rows: list[tuple[str, object]] = [
        ("jobs checked", summary["jobs_checked"]),
        ("items checked", summary["items_checked"]),
        ("still kept", summary["still_kept"]),
        ("would be purged" if dry_run else "purged", summary["purged"]),
    ]
    rows += [(f"  by {signal}", n) for signal, n in summary["purged_by_signal"].items()]
    rows += [
        ("already tombstoned", summary["already_tombstoned"]),
        ("unverifiable (kept)", summary["unverifiable"]),
    ]
    out += ["", "summary", pairs(rows).rstrip("\n")]
    return "\n".join(out) + "\n"
