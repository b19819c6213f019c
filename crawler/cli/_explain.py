"""Decisions in words, for people: used by ``decide --explain`` and ``check``."""

from __future__ import annotations

from typing import Any

_VERDICT = {
    "allow": "allows",
    "refuse": "REFUSES",
    "unknown": "says nothing decisive",
    "error": "COULD NOT BE READ, refuses",
}
_CARRIER = {
    "robots": "robots.txt",
    "robots-ai-tokens": "robots.txt",
    "ai-txt": "ai.txt",
    "tdmrep": "tdmrep.json",
}


def explain(answer: dict[str, Any]) -> str:
    """A decision (``Decision.to_dict()``) as an indented, readable block."""
    if "error" in answer:
        return f"{answer.get('url') or '(no url)'}\n  input error: {answer['error']}\n"
    use = answer["use"]
    verdict = (
        "KEPT: may be fetched and used for training"
        if use == "allowed"
        else "NOT FETCHED: " + _first_refusal(answer, "fetch")
        if answer["fetch"] == "refused"
        else "FETCHED BUT NOT USED: " + _first_refusal(answer, "use")
    )
    lines = [
        answer["url"],
        f"  {verdict}",
        f"  fetch: {answer['fetch']}   use: {use}   mode: {answer.get('mode', '?')}",
    ]
    for reason in answer["reasons"]:
        lines.append(
            f"  - {reason['signal']} ({reason['scope']}) "
            f"{_VERDICT.get(reason['verdict'], reason['verdict'])}: {reason['detail']}"
        )
        if reason.get("evidence"):
            name = _CARRIER.get(reason["signal"], "evidence file")
            lines.append(f"      {name} sha256 {reason['evidence']}")
    return "\n".join(lines) + "\n"


def _first_refusal(answer: dict[str, Any], scope: str) -> str:
    for reason in answer["reasons"]:
        if reason["scope"] == scope and reason["verdict"] in ("refuse", "error"):
            return f"{reason['signal']} signal"
    return "policy"
