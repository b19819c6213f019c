"""``recheck``: decide every stored item again under today's policy and registry, and purge
the items that are now refused.

Two phases, so that nothing is written unless everything could be decided:

* ``plan_job`` reads the job's item parts one at a time, asks the registry once per part (a
  batch of every URL in it), rebuilds each item's evidence (``redecide``) and lets the core
  decide.  A registry that cannot answer raises ``RegistryUnavailable``: purging is
  irreversible, and an outage must never delete data.
* ``apply_plan`` writes, in an order where a crash at any point leaves a store that is
  consistent and that a rerun completes: evidence cited by the tombstones (content-addressed),
  the purge log, the rewritten parts (each item line replaced in place by its tombstone, so
  line counts and order stay), the manifest, the index.  The manifest's ``purges`` and
  ``counts`` are derived from the tombstones in the parts, never incremented, so a rerun after
  a crash writes the same manifest a clean run would have.

Idempotent: tombstones are skipped, and a run that purges nothing rewrites no part and no
manifest; it leaves only its purge log.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crawler.core import Policy, RegistryAnswer, decide
from crawler.records import now_rfc3339
from crawler.registry import ContentRegistry, Registry
from crawler.store.journal import PART_COMPRESSLEVEL
from crawler.store.writer import json_line

from .index import store_index
from .jobs import Job, Line, iter_raw_lines, parse_line
from .redecide import SignalFiles, combined_answer, evidence_for, judge, registry_urls
from .tombstone import is_tombstone, item_id_of, make_tombstone


class RegistryUnavailable(RuntimeError):
    """The registry answered with an error for an item: nothing may be purged."""


@dataclass
class Setup:
    """What a job is decided with today."""

    policy: Policy
    policy_how: str  # where the policy came from, for the operator
    registry: Registry | None
    files: SignalFiles


@dataclass
class JobPlan:
    job: Job
    setup: Setup
    run_id: str
    at: str
    checked: int = 0
    kept: int = 0
    already: int = 0
    purges: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # part, line
    unverifiable: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # from every tombstone

    @property
    def log_key(self) -> str:
        return purge_log_key(self.job.job_id, self.run_id)

    @property
    def purged(self) -> list[dict[str, Any]]:
        return [t for lines in self.purges.values() for t in lines.values()]

    def note_tombstone(self, tomb: dict[str, Any]) -> None:
        run_id = str(tomb.get("purge_run"))
        run = self.runs.setdefault(
            run_id,
            {
                "run_id": run_id,
                "at": tomb.get("purged_at"),
                "policy": tomb.get("policy"),
                "registry": (tomb.get("registry") or {}).get("source"),
                "purged": 0,
                "by_signal": {},
                "log": purge_log_key(self.job.job_id, run_id),
            },
        )
        run["purged"] += 1
        signal = str((tomb.get("reason") or {}).get("signal"))
        run["by_signal"][signal] = run["by_signal"].get(signal, 0) + 1

    def manifest_after(self) -> dict[str, Any]:
        """The manifest with counts and purges as the parts will hold them."""
        manifest = self.job.manifest
        if not self.runs:
            return manifest
        counts = dict(manifest.get("counts") or {})
        counts["items"] = self.checked - len(self.purged)
        counts["tombstones"] = sum(run["purged"] for run in self.runs.values())
        purges = sorted(self.runs.values(), key=lambda r: (str(r["at"]), r["run_id"]))
        return {**manifest, "counts": counts, "purges": purges}

    def summary(self) -> dict[str, Any]:
        policy = self.setup.policy
        registry = self.setup.registry
        purged = self.purged
        return {
            "job_id": self.job.job_id,
            "policy": {"name": policy.name, "sha256": policy.sha256, "how": self.setup.policy_how},
            "registry": None if registry is None else registry.name,
            "signals_from": self.setup.files.name,
            "items_checked": self.checked,
            "still_kept": self.kept,
            "purged": len(purged),
            "purged_by_signal": dict(
                sorted(Counter(t["reason"]["signal"] for t in purged).items())
            ),
            "already_tombstoned": self.already,
            "unverifiable": len(self.unverifiable),
            "purged_items": [
                {"url": t["final_url"], "item_id": t["item_id"], **t["reason"]} for t in purged
            ],
            "unverifiable_items": self.unverifiable,
        }


def purge_log_key(job_id: str, run_id: str) -> str:
    return f"jobs/{job_id}/purges/{run_id}.jsonl"


# -- deciding ----------------------------------------------------------------------------------


def _registry_answers(
    registry: Registry | None, records: Sequence[dict[str, Any]]
) -> list[RegistryAnswer | None]:
    """One answer per record, from one ``lookup`` of every URL of the batch (plus content-hash
    lookups where the registry lists hashes); any error answer stops everything."""
    if registry is None:
        return [None] * len(records)
    urls = list(dict.fromkeys(u for record in records for u in registry_urls(record)))
    answers = registry.lookup(urls) if urls else {}  # RegistryError propagates: abort
    asked_at = now_rfc3339()
    out: list[RegistryAnswer | None] = []
    for record in records:
        asked = [
            (url, answers.get(url) or RegistryAnswer(source=registry.name, error="no answer"))
            for url in registry_urls(record)
        ]
        sha = record.get("content_sha256")
        content = None
        if isinstance(registry, ContentRegistry) and isinstance(sha, str):
            content = registry.lookup_content(sha)
        answer = combined_answer(asked, content, asked_at)
        if answer.error is not None:
            where = record.get("final_url") or record.get("url")
            raise RegistryUnavailable(
                f"{registry.name} could not answer for {where}: {answer.error}"
            )
        out.append(answer)
    return out


def plan_job(job: Job, setup: Setup, *, run_id: str, at: str) -> JobPlan:
    """Decide every live item of ``job`` again; nothing is written."""
    plan = JobPlan(job, setup, run_id, at)
    for part in job.parts("items"):
        live: list[Line] = []
        for line in job.part_lines("items", part.name):
            if is_tombstone(line.record):
                plan.already += 1
                plan.note_tombstone(line.record)
            else:
                live.append(line)
        answers = _registry_answers(setup.registry, [line.record for line in live])
        for line, answer in zip(live, answers, strict=True):
            _decide_line(plan, line, answer)
    return plan


def _decide_line(plan: JobPlan, line: Line, answer: RegistryAnswer | None) -> None:
    setup = plan.setup
    record = line.record
    plan.checked += 1
    files, missing = setup.files.files(record)
    evidence, incomplete = evidence_for(record, files, answer)
    judgement = judge(decide(evidence, setup.policy), [*missing, *incomplete])
    if judgement.outcome == "kept":
        plan.kept += 1
    elif judgement.outcome == "unverifiable":
        plan.unverifiable.append(
            {
                "unverifiable": True,
                "url": record.get("final_url") or record.get("url"),
                "item_id": item_id_of(record),
                "part": line.key,
                "line": line.line,
                "why": judgement.why,
                "reasons": [r.to_dict() for r in judgement.reasons],
            }
        )
    else:
        tomb = make_tombstone(
            record,
            reasons=judgement.reasons,
            policy=setup.policy,
            registry=answer,
            purged_at=plan.at,
            run_id=plan.run_id,
            signals_from=setup.files.name,
        )
        plan.purges.setdefault(line.part, {})[line.line] = tomb
        plan.note_tombstone(tomb)


# -- writing -----------------------------------------------------------------------------------


def apply_plan(plan: JobPlan, bodies: Mapping[str, bytes] | None = None) -> list[str]:
    """Write what ``plan`` decided; returns warnings (an index that could not be stored)."""
    job = plan.job
    objects = job.objects
    for tomb in plan.purged:  # refetched files the tombstones cite, before anything cites them
        for reason in tomb["reasons"]:
            sha = reason.get("evidence")
            key = f"evidence/{sha}"
            if bodies and sha in bodies and not objects.exists(key):
                objects.put(key, bodies[sha])
    objects.put(plan.log_key, _purge_log(plan))
    for part, replacements in plan.purges.items():
        _rewrite_part(job, part, replacements)
    after = plan.manifest_after()
    changed = bool(plan.purges)
    if after != job.manifest:
        text = json.dumps(after, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        objects.put(f"{job.prefix}/manifest.json", text.encode("utf-8"))
        job.manifest = after
        changed = True
    if not changed:
        return []
    try:
        store_index(objects, job.job_id)
    except Exception as exc:  # the tools rebuild a stale index themselves
        return [f"index of job {job.job_id} not stored ({exc}); it is rebuilt on next use"]
    return []


def _purge_log(plan: JobPlan) -> bytes:
    lines = [
        {**tomb, "part": plan.job.part_key("items", part)}
        for part, by_line in plan.purges.items()
        for tomb in by_line.values()
    ]
    lines += plan.unverifiable
    summary = {k: v for k, v in plan.summary().items() if not k.endswith("_items")}
    lines.append({"summary": True, "run_id": plan.run_id, "at": plan.at, **summary})
    return b"".join(json_line(line).encode("utf-8") + b"\n" for line in lines)


def _rewrite_part(job: Job, part: str, replacements: dict[int, dict[str, Any]]) -> None:
    """The part with the given lines replaced by tombstones, every other line byte for byte."""
    key = job.part_key("items", part)
    out: list[bytes] = []
    for number, raw in iter_raw_lines(job.objects.get(key)):
        tomb = replacements.get(number)
        if tomb is None:
            out.append(raw)
            continue
        if item_id_of(parse_line(raw)) != tomb["item_id"]:  # the part changed since planning
            raise RuntimeError(f"{key} line {number} is no longer item {tomb['item_id']}")
        out.append(json_line(tomb).encode("utf-8") + b"\n")
    job.objects.put(key, gzip.compress(b"".join(out), PART_COMPRESSLEVEL, mtime=0))
