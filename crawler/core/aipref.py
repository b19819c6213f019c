"""IETF aipref ``Content-Usage`` (draft-ietf-aipref-vocab-07, attach-05).

A statement is an RFC 9651 Structured Fields Dictionary: ``train-ai`` with Token ``y`` allows
training, Token ``n`` refuses it, anything else is unknown; a dictionary that fails to parse
leaves every preference unknown (signals.md §5.1).  Labels of earlier drafts that covered
training are honoured as refusals when the policy says so (legacy_labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from http_sfv.dictionary import Dictionary
from http_sfv.types import Token

from .decision import Reason
from .policy import Policy

LABEL: Final = "train-ai"
# Labels from drafts -01 to -04 whose meaning included AI training (signals.md §5.1 history).
LEGACY_LABELS: Final = ("all", "bots", "tdm", "ai", "genai", "train-genai", "ai-use")


@dataclass(frozen=True, slots=True)
class UsageStatement:
    text: str
    train_ai: str | None  # "y", "n" or None (unknown)
    legacy_refusals: tuple[str, ...]
    error: str | None


@lru_cache(maxsize=4096)
def parse_statement(text: str) -> UsageStatement:
    parsed = Dictionary()
    try:
        parsed.parse(text.encode("utf-8"))
    except (ValueError, UnicodeEncodeError) as exc:
        message = str(exc) or "malformed dictionary"
        return UsageStatement(text, None, (), f"not an RFC 9651 dictionary ({message})")
    train_ai = _token_value(parsed, LABEL)
    legacy = tuple(label for label in LEGACY_LABELS if _token_value(parsed, label) == "n")
    return UsageStatement(text, train_ai, legacy, None)


def _token_value(parsed: Dictionary, label: str) -> str | None:
    if label not in parsed:
        return None
    value = parsed[label].value
    # Only the Tokens y and n carry meaning; strings, booleans and other tokens are unknown.
    if isinstance(value, Token) and str(value) in ("y", "n"):
        return str(value)
    return None


def statement_reasons(
    statement: UsageStatement, where: str, policy: Policy, evidence: str | None = None
) -> list[Reason]:
    """Reasons for one statement found at ``where`` (a header, or a robots.txt line)."""
    said = f"Content-Usage {statement.text.strip()!r} ({where})"
    if statement.error is not None:
        return [
            Reason(
                "content-usage",
                "unknown",
                "use",
                f"{said}: {statement.error}; every preference unknown",
                evidence,
            )
        ]
    reasons: list[Reason] = []
    if statement.train_ai == "n":
        reasons.append(Reason("content-usage", "refuse", "use", f"{said}: train-ai=n", evidence))
    elif statement.train_ai == "y":
        reasons.append(Reason("content-usage", "allow", "use", f"{said}: train-ai=y", evidence))
    for label in statement.legacy_refusals:
        text = f"{said}: legacy label {label}=n from an earlier aipref draft"
        if policy.content_usage.legacy_labels == "refuse":
            reasons.append(
                Reason("content-usage", "refuse", "use", text + ", read as train-ai=n", evidence)
            )
        else:
            reasons.append(
                Reason("content-usage", "unknown", "use", text + ", ignored by policy", evidence)
            )
    if not reasons:
        reasons.append(
            Reason("content-usage", "unknown", "use", f"{said}: no train-ai preference", evidence)
        )
    return reasons


def header_reasons(lines: tuple[str, ...], policy: Policy) -> list[Reason]:
    """Every Content-Usage header line, combined into one dictionary (RFC 9651 §4.2)."""
    if not lines:
        return []
    return statement_reasons(parse_statement(", ".join(lines)), "response header", policy)
