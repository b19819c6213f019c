"""``provenance verify``: check a stored job against itself, reading every byte it points at.

What is checked, and why each can fail in practice:

* every evidence object referenced by an item (``provenance.signals.*.sha256``, reasons) or a
  decision (``evidence`` values, reasons) exists and hashes to its key: evidence is what proves
  a decision, and a content-addressed object that no longer matches its name proves nothing;
* every part the manifest lists exists, decompresses, holds one JSON record per line and has
  the listed line count; parts in the store that the manifest does not list are reported (an
  upload that outlived its job, or a copy made by hand);
* the manifest's counts (items, decisions kept and refused, refusals by signal) equal what the
  parts hold;
* each item's id is ``sha256(final_url + "\\n" + content_sha256)[:32]`` and no id repeats;
* an item's ``html_sha256``, where present, matches its ``html`` (items store decoded HTML,
  while ``content_sha256`` is of the raw body bytes, which are not kept, so this is what can
  be recomputed); items without the field are counted, not failed;
* a tombstone (an item ``recheck`` purged) has its fields and no content left, keeps its
  item's id, and is counted by the manifest (``counts.tombstones``, and per purge run in
  ``purges``, whose logs must exist); ``counts.items`` counts live items only.

Everything is streamed part by part; only item ids and evidence hashes are held in memory.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from crawler.records import item_id_for

from .fields import refusal_scope
from .jobs import GZIP_ERRORS, KINDS, Job, iter_raw_lines, parse_line
from .tombstone import TOMBSTONE_FIELDS, is_tombstone

SHA256 = re.compile(r"[0-9a-f]{64}")
CONTENT_FIELDS = ("title", "text", "html", "attribution")


@dataclass
class Problem:
    kind: str
    key: str
    detail: str
    part: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.key + (f" line {self.line}" if self.line is not None else "")
        return f"{self.kind}: {where}: {self.detail}"


@dataclass
class Report:
    job_id: str
    status: str | None
    problems: list[Problem] = field(default_factory=list)
    checked: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.status,
            "ok": self.ok,
            "checked": dict(sorted(self.checked.items())),
            "problems": [asdict(p) for p in self.problems],
        }


class _Verifier:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.report = Report(job.job_id, job.manifest.get("status"))
        self.evidence: dict[str, tuple[str, str, int]] = {}  # sha -> first (key, part, line)
        self.item_ids: dict[str, tuple[str, int]] = {}
        self.kept = self.refused = 0
        self.by_signal: Counter[str] = Counter()
        self.purge_runs: Counter[str] = Counter()

    def problem(
        self, kind: str, key: str, detail: str, part: str | None = None, line: int | None = None
    ) -> None:
        self.report.problems.append(Problem(kind, key, detail, part, line))

    def run(self) -> Report:
        for kind in KINDS:
            self.parts(kind)
        self.evidence_objects()
        self.counts()
        return self.report

    # -- parts -----------------------------------------------------------------------------

    def parts(self, kind: str) -> None:
        listed = self.job.parts(kind)
        names = {p.name for p in listed}
        for name in self.job.stored_parts(kind):
            if name not in names:
                self.problem(
                    "unlisted-part",
                    self.job.part_key(kind, name),
                    "in the store but not listed in the manifest",
                    name,
                )
        for part in listed:
            self.part(kind, part.name, part.lines)

    def part(self, kind: str, name: str, listed_lines: int) -> None:
        key = self.job.part_key(kind, name)
        try:
            data = self.job.objects.get(key)
        except KeyError:
            self.problem("missing-part", key, "listed in the manifest, not in the store", name)
            return
        self.report.checked[f"{kind}_parts"] += 1
        count = 0
        try:
            for count, raw in iter_raw_lines(data):
                try:
                    record = parse_line(raw)
                except ValueError as exc:
                    self.problem("bad-line", key, f"not a JSON record: {exc}", name, count)
                    continue
                self.report.checked[kind] += 1
                if kind == "items" and is_tombstone(record):
                    self.tombstone(record, key, name, count)
                elif kind == "items":
                    self.item(record, key, name, count)
                else:
                    self.decision(record, key, name, count)
        except GZIP_ERRORS as exc:
            detail = f"gzip data damaged after line {count}: {exc}"
            self.problem("unreadable-part", key, detail, name)
            return
        if count != listed_lines:
            self.problem(
                "line-count", key, f"{count} lines, the manifest lists {listed_lines}", name
            )

    # -- records ---------------------------------------------------------------------------

    def refer(self, sha: Any, key: str, part: str, line: int, what: str) -> None:
        if not isinstance(sha, str) or not SHA256.fullmatch(sha):
            self.problem("bad-evidence-ref", key, f"{what} is not a sha256: {sha!r}", part, line)
            return
        self.report.checked["evidence_refs"] += 1
        self.evidence.setdefault(sha, (key, part, line))

    def reasons(self, reasons: Any, key: str, part: str, line: int) -> None:
        for n, reason in enumerate(reasons or []):
            if isinstance(reason, dict) and reason.get("evidence") is not None:
                self.refer(reason["evidence"], key, part, line, f"reasons[{n}].evidence")

    def item(self, rec: dict[str, Any], key: str, part: str, line: int) -> None:
        prov = rec.get("provenance") or {}
        self.item_id(rec, prov.get("item_id"), key, part, line)
        if "html_sha256" in rec:
            html = rec.get("html")
            actual = hashlib.sha256(str(html).encode("utf-8")).hexdigest()
            if not isinstance(html, str) or actual != rec["html_sha256"]:
                self.problem(
                    "html-sha256",
                    key,
                    f"html hashes to {actual}, the line says {rec['html_sha256']}",
                    part,
                    line,
                )
            self.report.checked["html_sha256"] += 1
        else:
            self.report.checked["html_sha256_absent"] += 1
        for name, signal in (prov.get("signals") or {}).items():
            if isinstance(signal, dict) and signal.get("sha256") is not None:
                self.refer(signal["sha256"], key, part, line, f"signals.{name}.sha256")
        self.reasons((prov.get("decision") or {}).get("reasons"), key, part, line)

    def tombstone(self, rec: dict[str, Any], key: str, part: str, line: int) -> None:
        self.report.checked["tombstones"] += 1
        self.purge_runs[str(rec.get("purge_run"))] += 1
        self.item_id(rec, rec.get("item_id"), key, part, line)
        absent = [name for name in TOMBSTONE_FIELDS if name not in rec]
        if absent:
            self.problem("tombstone", key, f"tombstone lacks {', '.join(absent)}", part, line)
        left = [name for name in CONTENT_FIELDS if rec.get(name)]
        if left:
            self.problem("tombstone", key, f"purged content is still here: {left}", part, line)
        self.reasons(rec.get("reasons"), key, part, line)

    def item_id(self, rec: dict[str, Any], item_id: Any, key: str, part: str, line: int) -> None:
        expected = item_id_for(str(rec.get("final_url")), str(rec.get("content_sha256")))
        if item_id != expected:
            self.problem(
                "item-id",
                key,
                f"item_id {item_id!r} != sha256(final_url + content_sha256)[:32] {expected}",
                part,
                line,
            )
        self.report.checked["item_ids"] += 1
        if isinstance(item_id, str):
            first = self.item_ids.setdefault(item_id, (part, line))
            if first != (part, line):
                self.problem(
                    "duplicate-item",
                    key,
                    f"item_id {item_id} already at {first[0]} line {first[1]}",
                    part,
                    line,
                )

    def decision(self, rec: dict[str, Any], key: str, part: str, line: int) -> None:
        for carrier, sha in (rec.get("evidence") or {}).items():
            self.refer(sha, key, part, line, f"evidence[{carrier!r}]")
        self.reasons(rec.get("reasons"), key, part, line)
        scope = refusal_scope(rec)
        if scope is None:
            self.kept += 1
            return
        self.refused += 1
        for reason in rec.get("reasons") or []:  # counted the way the writer counts them
            if reason.get("scope") == scope and reason.get("verdict") in ("refuse", "error"):
                self.by_signal[str(reason.get("signal", "?"))] += 1

    # -- evidence and counts ---------------------------------------------------------------

    def evidence_objects(self) -> None:
        for sha, (ref_key, _part, ref_line) in sorted(self.evidence.items()):
            key = f"evidence/{sha}"
            where = f"referenced by {ref_key} line {ref_line}"
            try:
                data = self.job.objects.get(key)
            except KeyError:
                self.problem("missing-evidence", key, f"not in the store ({where})")
                continue
            self.report.checked["evidence_objects"] += 1
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha:
                self.problem("evidence-hash", key, f"the stored bytes hash to {actual} ({where})")

    def counts(self) -> None:
        key = f"{self.job.prefix}/manifest.json"
        counts = self.job.manifest.get("counts") or {}
        decisions = counts.get("decisions") or {}
        tombstones = self.report.checked["tombstones"]
        expected = {
            "items": (counts.get("items"), self.report.checked["items"] - tombstones),
            "tombstones": (counts.get("tombstones", 0), tombstones),
            "decisions.kept": (decisions.get("kept"), self.kept),
            "decisions.refused": (decisions.get("refused"), self.refused),
        }
        listed = counts.get("refused_by_signal") or {}
        for signal in sorted(set(listed) | set(self.by_signal)):
            expected[f"refused_by_signal.{signal}"] = (
                listed.get(signal, 0),
                self.by_signal[signal],
            )
        for name, (said, found) in expected.items():
            if said != found:
                self.problem("count", key, f"counts.{name} is {said}, the parts hold {found}")
        self.purges(key)

    def purges(self, key: str) -> None:
        listed = {str(p.get("run_id")): p for p in self.job.manifest.get("purges") or []}
        for run in sorted(set(listed) | set(self.purge_runs)):
            said = (listed.get(run) or {}).get("purged", 0)
            if said != self.purge_runs[run]:
                detail = f"purge run {run} purged {said}, the parts hold {self.purge_runs[run]}"
                self.problem("count", key, detail)
            log = (listed.get(run) or {}).get("log")
            if log is not None:
                self.report.checked["purge_logs"] += 1
                if not self.job.objects.exists(str(log)):
                    self.problem("missing-purge-log", str(log), f"the log of purge run {run}")


def verify(job: Job) -> Report:
    return _Verifier(job).run()


def render(report: Report, location: str) -> str:
    c = report.checked
    purged = (
        f" ({c['tombstones']} tombstones; {c['purge_logs']} purge logs checked)"
        if c["tombstones"] or c["purge_logs"]
        else ""
    )
    out = [
        f"verify job {report.job_id} in {location} (status {report.status})",
        f"  parts: {c['items_parts']} item parts, {c['decisions_parts']} decision parts read",
        f"  items: {c['items']} lines{purged}; {c['item_ids']} item ids recomputed; "
        f"{c['html_sha256']} html_sha256 checked, {c['html_sha256_absent']} without one",
        f"  decisions: {c['decisions']} lines",
        f"  evidence: {c['evidence_objects']} objects hashed, {c['evidence_refs']} references",
    ]
    out += [f"PROBLEM {p}" for p in report.problems]
    n = len(report.problems)
    out.append("ok: no problems" if report.ok else f"{n} problem{'s' if n != 1 else ''}")
    return "\n".join(out) + "\n"
