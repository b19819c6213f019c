"""W3C TDM Reservation Protocol: tdmrep.json, ``tdm-*`` headers, HTML meta, EPUB/PDF metadata.

Within the file the first matching rule wins ("the most specific match is the first in
sequence").  Across carriers the order is file → header → meta → embedded metadata; each later
value supersedes the earlier one in either direction, and absence never resets it.  Values
other than 0 and 1 are protocol errors and leave the value unset.  ``tdm-policy`` is recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import _tdmrep_embedded
from ._cache import PARSED_FILES
from ._file_status import cut_reason, unusable_reason
from ._html import MetaTag
from ._patterns import Pattern, compile_pattern
from .decision import Reason
from .evidence import EmbeddedDocument, FetchedFile, Headers
from .policy import Policy


@dataclass(frozen=True, slots=True)
class TdmRule:
    index: int
    location: Pattern
    reservation: str | None  # "0", "1" or None when the value is not valid
    raw: object
    policy: str | None


@dataclass(frozen=True, slots=True)
class TdmFile:
    rules: tuple[TdmRule, ...]
    error: str | None = None
    skipped: tuple[str, ...] = ()


def parse_file(body: bytes) -> TdmFile:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return TdmFile((), f"not valid JSON: {exc}")
    except RecursionError:  # "[[[[…" a few thousand deep: hostile, not a policy
        return TdmFile((), "not valid JSON: nested too deeply")
    if not isinstance(data, list):
        return TdmFile((), f"must be a JSON array of rules, got a {type(data).__name__}")
    rules: list[TdmRule] = []
    skipped: list[str] = []
    for index, entry in enumerate(data, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("location"), str):
            skipped.append(f"rule {index} has no 'location' string")
            continue
        raw = entry.get("tdm-reservation")
        policy = entry.get("tdm-policy")
        rules.append(
            TdmRule(
                index,
                compile_pattern(entry["location"]),
                _json_value(raw),
                raw,
                policy if isinstance(policy, str) else None,
            )
        )
    return TdmFile(tuple(rules), None, tuple(skipped))


def _json_value(raw: object) -> str | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float) and raw in (0, 1):
        return str(int(raw))
    # A string "1" is a protocol error, but its intent is a reservation: honour restrictive
    # values only, so "0" as a string stays unset.
    if isinstance(raw, str) and raw.strip() == "1":
        return "1"
    return None


def _carrier_value(values: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """One carrier's value from its lines/tags; conflicting valid values resolve to 1."""
    valid = [v.strip() for v in values if v.strip() in ("0", "1")]
    invalid = [v for v in values if v.strip() not in ("0", "1")]
    if not valid:
        return None, invalid
    return ("1" if "1" in valid else "0"), invalid


def carried_by_response(
    headers: Headers | None, meta: tuple[MetaTag, ...] | None, document: EmbeddedDocument | None
) -> bool:
    """Whether a response's own carriers hold a TDM reservation; when none does, ``reasons``
    says exactly what tdmrep.json alone says (the file's answer can then be reused)."""
    if document is not None:
        return True
    if headers is not None and headers.get_all("tdm-reservation"):
        return True
    return meta is not None and any(name == "tdm-reservation" for name, _ in meta)


def reasons(
    path: str,
    policy: Policy,
    file: FetchedFile | None,
    headers: Headers | None,
    meta: tuple[MetaTag, ...] | None,
    document: EmbeddedDocument | None,
) -> list[Reason]:
    if not policy.tdmrep.honour:
        return []
    out: list[Reason] = []
    value: str | None = None
    source = tdm_policy = evidence = None
    trail: list[str] = []

    def take(new: str, where: str, new_policy: str | None, sha: str | None = None) -> None:
        nonlocal value, source, tdm_policy, evidence
        if value is not None:
            trail.append(f"supersedes {source} value {value}")
        value, source, tdm_policy, evidence = new, where, new_policy, sha

    if file is not None:
        problem = unusable_reason("tdmrep", "tdmrep.json", file, policy.tdmrep)
        if problem is not None:
            out.append(problem)
        else:
            parsed = PARSED_FILES.get_or_create(
                ("tdmrep", file.sha256), lambda: parse_file(file.body), len(file.body) + 1
            )
            assert isinstance(parsed, TdmFile)
            cut = None
            if parsed.error is not None:
                cap = policy.robots.max_bytes
                cut = cut_reason("tdmrep", "tdmrep.json", file, policy.tdmrep, cap)
            if cut is not None:
                out.append(cut)
            elif parsed.error is not None:
                out.append(
                    Reason(
                        "tdmrep",
                        "unknown",
                        "use",
                        f"tdmrep.json ignored: {parsed.error}",
                        file.sha256,
                    )
                )
            for rule in parsed.rules:
                if rule.location.matches(path):
                    where = f"tdmrep.json rule {rule.index} (location {rule.location.text!r})"
                    if rule.reservation is None:
                        out.append(
                            Reason(
                                "tdmrep",
                                "unknown",
                                "use",
                                (f"{where}: tdm-reservation {rule.raw!r} is not 0 or 1, unset"),
                                file.sha256,
                            )
                        )
                    else:
                        take(rule.reservation, where, rule.policy, file.sha256)
                    break
    if headers is not None:
        header_value, invalid = _carrier_value(headers.get_all("tdm-reservation"))
        for bad in invalid:
            out.append(
                Reason(
                    "tdmrep",
                    "unknown",
                    "use",
                    f"header tdm-reservation {bad!r} is not 0 or 1, unset",
                )
            )
        if header_value is not None:
            take(header_value, "the tdm-reservation header", _first(headers.get_all("tdm-policy")))
    if meta is not None:
        tags = tuple(content for name, content in meta if name == "tdm-reservation")
        meta_value, invalid = _carrier_value(tags)
        for bad in invalid:
            out.append(
                Reason(
                    "tdmrep",
                    "unknown",
                    "use",
                    f"<meta name=tdm-reservation> {bad!r} is not 0 or 1, unset",
                )
            )
        if meta_value is not None:
            policies = tuple(content for name, content in meta if name == "tdm-policy")
            take(meta_value, "<meta name=tdm-reservation>", _first(policies))
    if document is not None:
        embedded = _tdmrep_embedded.read(document.content_type, document.body)
        if embedded is not None and embedded.reservation is not None:
            embedded_value, _ = _carrier_value((embedded.reservation,))
            if embedded_value is None:
                out.append(
                    Reason(
                        "tdmrep",
                        "unknown",
                        "use",
                        f"{embedded.where}: tdm:reservation {embedded.reservation!r} is not 0 or 1",
                    )
                )
            else:
                take(embedded_value, embedded.where, embedded.policy)
    if value is None:
        if not out and file is not None:
            out.append(Reason("tdmrep", "unknown", "use", "no TDM reservation expressed"))
        return out
    detail = f"tdm-reservation {value} from {source}"
    if trail:
        detail += " (" + "; ".join(trail) + ")"
    if value == "1":
        detail += f"; TDM policy {tdm_policy}" if tdm_policy else "; no TDM policy offered"
        out.append(Reason("tdmrep", "refuse", "use", detail, evidence))
    else:
        out.append(Reason("tdmrep", "allow", "use", detail, evidence))
    return out


def _first(values: tuple[str, ...]) -> str | None:
    for value in values:
        if value.strip():
            return value.strip()
    return None
