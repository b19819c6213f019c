"""Tombstones: what is left of a stored item after ``recheck`` purged it.

A purged item's line is replaced in place by a tombstone, so a part keeps its line count and
order (the manifest's part list stays true) and the store can still say which URL was purged,
when, why and under which policy and registry answer, while the content is gone.  The shape
is defined here once; ``verify``, the index, ``show``, ``stats`` and ``report`` read it through
these helpers.
"""

from __future__ import annotations

from typing import Any, Final

from crawler.core import Policy, Reason, RegistryAnswer

TOMBSTONE_FIELDS: Final = (
    "tombstone",
    "url",
    "final_url",
    "item_id",
    "content_sha256",
    "purged_at",
    "reason",
    "reasons",
    "policy",
    "registry",
    "purge_run",
    "signals_from",  # "stored" evidence or "refetched" files
)


def is_tombstone(record: dict[str, Any]) -> bool:
    return record.get("tombstone") is True


def item_id_of(record: dict[str, Any]) -> Any:
    """The item id of a stored line, live item or tombstone."""
    if is_tombstone(record):
        return record.get("item_id")
    return (record.get("provenance") or {}).get("item_id")


def reason_summary(reason: Reason) -> dict[str, Any]:
    return {
        "signal": reason.signal,
        "verdict": reason.verdict,
        "scope": reason.scope,
        "detail": reason.detail,
    }


def make_tombstone(
    record: dict[str, Any],
    *,
    reasons: tuple[Reason, ...],
    policy: Policy,
    registry: RegistryAnswer | None,
    purged_at: str,
    run_id: str,
    signals_from: str,
) -> dict[str, Any]:
    """The line that replaces ``record``: identity and why, no content.  ``reasons[0]`` is the
    refusal that caused the purge (a positive one, never an error)."""
    return {
        "tombstone": True,
        "url": record.get("url"),
        "final_url": record.get("final_url"),
        "item_id": item_id_of(record),
        "content_sha256": record.get("content_sha256"),
        "purged_at": purged_at,
        "reason": reason_summary(reasons[0]),
        "reasons": [r.to_dict() for r in reasons],
        "policy": {"name": policy.name, "sha256": policy.sha256},
        "registry": None if registry is None else registry.to_dict(),
        "purge_run": run_id,
        "signals_from": signals_from,
    }


def describe(record: dict[str, Any]) -> str:
    """``PURGED at <time> (signal: detail)``, as ``show`` prints it."""
    reason = record.get("reason") or {}
    return (
        f"PURGED at {record.get('purged_at')} "
        f"({reason.get('signal', '?')}: {reason.get('detail', '')})"
    )
