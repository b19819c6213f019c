"""``consent-crawler recheck``: decide stored items again under today's policy and registry,
and purge the content of those now refused (a tombstone stays).

Purging is irreversible, so everything is decided before anything is written: a registry
that cannot answer, a damaged part or an invalid policy stops the run with nothing purged.
Without ``--refetch-signals`` no request is sent except to the registry, and Scrapy is not
imported.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from typing import Any

from ._common import load_policy_or_exit, policy_path

# Exit statuses, as the other commands use them.
BAD_ARGUMENTS, FAILED = 2, 1


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "recheck",
        help="re-decide stored items under today's policy and registry; purge the refused",
        description="Decide every stored item again, from its stored evidence (or freshly "
        "fetched signals) under today's policy and opt-out registry. Items now refused have "
        "their content deleted from the store and their line replaced by a tombstone; a purge "
        "log is written per run. Only a positive refusal purges: an item whose refusal comes "
        "from an error (a file or registry that cannot be read) is reported as unverifiable "
        "and kept, and a registry that cannot answer stops the run with nothing purged.",
    )
    parser.add_argument(
        "--store", required=True, metavar="LOCATION", help="a directory or s3://bucket/prefix"
    )
    parser.add_argument(
        "--s3-endpoint", default="", metavar="URL", help="S3-compatible endpoint URL"
    )
    parser.add_argument("--job", metavar="ID", help="one job (default: every job in the store)")
    parser.add_argument("--dry-run", action="store_true", help="decide and report, write nothing")
    parser.add_argument(
        "--refetch-signals",
        action="store_true",
        help="fetch each origin's robots.txt, ai.txt and tdmrep.json again instead of using "
        "the stored copies",
    )
    parser.add_argument(
        "--policy",
        metavar="FILE|NAME",
        help="policy to decide with (default: each job's policy as its file reads today)",
    )
    parser.add_argument(
        "--registry",
        metavar="URL|FILE",
        help="opt-out registry (default: the policy's, when registry.enabled)",
    )
    parser.add_argument(
        "--allow-private",
        action="store_true",
        help="let --refetch-signals fetch from loopback and private addresses",
    )
    parser.add_argument(
        "--force", action="store_true", help="also check jobs whose crawl is still running"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=run)


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def job_policy(manifest: dict[str, Any], override: Any, override_arg: str | None) -> Any:
    """(policy, how it was found): ``--policy``, else the job's policy file as it is today,
    else the text the manifest stored (when the file is gone).  PolicyError when invalid."""
    from crawler.core import load_policy, policy_from_mapping

    if override is not None:
        return override, f"--policy {override_arg}"
    stored = manifest.get("policy") or {}
    source = str(stored.get("source") or "")
    if source and policy_path(source).is_file():
        return load_policy(policy_path(source)), f"reloaded from {policy_path(source)}"
    text = stored.get("text")
    if not isinstance(text, str) or not text:
        raise ValueError("the manifest stores no policy; give --policy")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(
            f"the manifest's policy text cannot be read ({exc}); give --policy"
        ) from None
    data.pop("extends", None)
    policy = policy_from_mapping(data, name=str(stored.get("name") or "stored")).replace(
        text=text, sha256=str(stored.get("sha256") or ""), source=source
    )
    gone = f"{source} no longer exists" if source else "no source recorded"
    return policy, f"the text stored in the manifest ({gone})"


def run(args: argparse.Namespace) -> int:
    from crawler.core import PolicyError
    from crawler.ops.jobs import Job, JobNotFound, StoreDataError, list_jobs
    from crawler.store.objects import StoreError, open_objects

    override = load_policy_or_exit(args.policy) if args.policy else None
    try:
        objects = open_objects(args.store, endpoint_url=args.s3_endpoint or None)
        job_ids = [args.job] if args.job else list_jobs(objects)
        jobs = [Job.open(objects, job_id) for job_id in job_ids]
    except (JobNotFound, StoreDataError, StoreError) as exc:
        _error(str(exc))
        return BAD_ARGUMENTS
    if not jobs:
        _error(f"no job in {args.store}")
        return BAD_ARGUMENTS
    skipped: list[dict[str, str]] = []
    chosen = []
    for job in jobs:
        if job.manifest.get("status") == "running" and not args.force:
            why = "its crawl is still running (its writer may be appending); --force to check it"
            skipped.append({"job_id": job.job_id, "why": why})
            print(f"job {job.job_id}: skipped: {why}", file=sys.stderr)
            continue
        try:
            policy, how = job_policy(job.manifest, override, args.policy)
        except PolicyError as exc:
            for issue in exc.issues:
                _error(f"job {job.job_id}: policy: {issue}")
            return BAD_ARGUMENTS
        except ValueError as exc:
            _error(f"job {job.job_id}: {exc}")
            return BAD_ARGUMENTS
        chosen.append((job, policy, how))
    return _recheck(args, chosen, skipped)


def _recheck(args: argparse.Namespace, chosen: list[Any], skipped: list[dict[str, str]]) -> int:
    from crawler.ops.jobs import StoreDataError
    from crawler.ops.purge import RegistryUnavailable, Setup, apply_plan, plan_job
    from crawler.ops.redecide import SignalFiles
    from crawler.records import new_job_id, now_rfc3339
    from crawler.registry import RegistryError, registry_for
    from crawler.store.objects import StoreError

    run_id, at = new_job_id(), now_rfc3339()
    registries: dict[str, Any] = {}
    sources: dict[str, SignalFiles] = {}
    plans = []
    try:
        for job, policy, how in chosen:
            if policy.sha256 not in registries:  # --registry, else the policy's when enabled
                registries[policy.sha256] = registry_for(policy, args.registry or "")
                if registries[policy.sha256] is not None:
                    registries[policy.sha256].check()
            registry = registries[policy.sha256]
            if policy.sha256 not in sources:
                sources[policy.sha256] = _signal_files(args, job.objects, policy)
            setup = Setup(policy, how, registry, sources[policy.sha256])
            plans.append(plan_job(job, setup, run_id=run_id, at=at))
    except (RegistryError, RegistryUnavailable) as exc:
        _error(f"registry unavailable: {exc}")
        _error("nothing was purged: an outage must not delete data; run recheck again later")
        return FAILED
    except (StoreDataError, StoreError) as exc:
        _error(f"{exc}; nothing was purged")
        return FAILED
    warnings: list[str] = []
    if not args.dry_run:
        bodies: dict[str, bytes] = {}
        for files in sources.values():
            bodies.update(getattr(files, "bodies", {}))
        for plan in plans:
            try:
                warnings += apply_plan(plan, bodies)
            except (StoreError, KeyError, RuntimeError, OSError, EOFError, ValueError) as exc:
                _error(f"job {plan.job.job_id}: writing the purge failed: {exc}")
                _error("the store is consistent; run recheck again to complete the purge")
                return FAILED
    jobs = [plan.summary() for plan in plans]
    summary = _totals(run_id, at, args.dry_run, jobs, skipped)
    if args.json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    else:
        from crawler.ops.recheck_text import render

        sys.stdout.write(render(summary, [plan.log_key for plan in plans], args.store))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    named_and_skipped = bool(args.job and skipped)
    return FAILED if summary["unverifiable"] or named_and_skipped else 0


def _signal_files(args: argparse.Namespace, objects: Any, policy: Any) -> Any:
    from crawler.ops.redecide import StoredFiles

    if not args.refetch_signals:
        return StoredFiles(objects)
    from crawler.ops.refetch import FreshFiles  # brings in Scrapy (the crawler's paths)

    return FreshFiles(policy, allow_private=args.allow_private)


def _totals(
    run_id: str, at: str, dry_run: bool, jobs: list[dict[str, Any]], skipped: list[Any]
) -> dict[str, Any]:
    by_signal: dict[str, int] = {}
    for job in jobs:
        for signal, n in job["purged_by_signal"].items():
            by_signal[signal] = by_signal.get(signal, 0) + n
    total = {
        key: sum(job[key] for job in jobs)
        for key in ("items_checked", "still_kept", "purged", "already_tombstoned", "unverifiable")
    }
    return {
        "run_id": run_id,
        "at": at,
        "dry_run": dry_run,
        "jobs_checked": len(jobs),
        "jobs_skipped": skipped,
        **total,
        "purged_by_signal": dict(sorted(by_signal.items())),
        "jobs": jobs,
    }
