"""Reasons and decisions: what the core answers, in the contract's vocabulary (design.md §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

# Contract signal names (design.md §4).
SIGNALS: Final = (
    "robots",
    "robots-ai-tokens",
    "content-usage",
    "content-signal",
    "ai-txt",
    "tdmrep",
    "x-robots-tag",
    "meta-robots",
    "registry",
    "policy",
    "network",
)

Verdict = Literal["allow", "refuse", "unknown", "error"]
Scope = Literal["fetch", "use"]
FetchAnswer = Literal["allowed", "refused"]
UseAnswer = Literal["allowed", "refused", "n/a"]

# A reason with one of these verdicts refuses its scope: "error" means the signal could not be
# read and the policy's on_error is "refuse" (failure is never permission).
REFUSING: Final = frozenset({"refuse", "error"})


@dataclass(frozen=True, slots=True)
class Reason:
    """One signal's contribution: what it said, where, and the hash of the file it came from."""

    signal: str
    verdict: Verdict
    scope: Scope
    detail: str
    evidence: str | None = None

    @property
    def refuses(self) -> bool:
        return self.verdict in REFUSING

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "signal": self.signal,
            "verdict": self.verdict,
            "scope": self.scope,
            "detail": self.detail,
        }
        if self.evidence is not None:
            out["evidence"] = self.evidence
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one URL: may we fetch it, may we use it for training, and why."""

    url: str
    fetch: FetchAnswer
    use: UseAnswer
    mode: str
    reasons: tuple[Reason, ...]
    evidence: dict[str, str] = field(default_factory=dict)  # carrier -> sha256

    @property
    def kept(self) -> bool:
        return self.fetch == "allowed" and self.use == "allowed"

    def reasons_for(self, signal: str) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.signal == signal)

    def reason_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.reasons]

    def refusals(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.refuses)

    def signals(self) -> dict[str, dict[str, Any]]:
        """Per-signal summary for provenance: the strongest verdict and what matched."""
        rank = {"refuse": 3, "error": 3, "allow": 2, "unknown": 1}
        out: dict[str, dict[str, Any]] = {}
        for reason in self.reasons:
            current = out.get(reason.signal)
            if current is None or rank[reason.verdict] > rank[current["verdict"]]:
                entry: dict[str, Any] = {"verdict": reason.verdict, "matched": reason.detail}
                if reason.evidence is not None:
                    entry["sha256"] = reason.evidence
                out[reason.signal] = entry
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "fetch": self.fetch,
            "use": self.use,
            "mode": self.mode,
            "reasons": self.reason_dicts(),
            "evidence": dict(self.evidence),
        }
