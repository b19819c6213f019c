"""Cloudflare Content Signals Policy: ``Content-Signal: search=yes, ai-train=no``.

No grammar is published; following signals.md §6 we read keys and values case-insensitively,
ignore malformed pairs, let the last duplicate win and accept aipref-style ``y``/``n`` (noting
them as non-conformant).  ``ai-train`` decides; ``search``, ``ai-input`` and ``use`` are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .decision import Reason

_YES = {"yes": "yes", "y": "yes"}
_NO = {"no": "no", "n": "no"}


@dataclass(frozen=True, slots=True)
class ContentSignal:
    text: str
    values: tuple[tuple[str, str], ...]  # (key, value) lower-cased, last duplicate kept
    nonconformant: tuple[str, ...]

    def get(self, key: str) -> str | None:
        return dict(self.values).get(key)


@lru_cache(maxsize=4096)
def parse(text: str) -> ContentSignal:
    values: dict[str, str] = {}
    odd: list[str] = []
    for pair in text.split(","):
        k, sep, v = pair.partition("=")
        k, v = k.strip().lower(), v.strip().lower()
        if not sep or not k:
            continue
        if v in ("y", "n"):
            odd.append(f"{k}={v}")
        values[k] = _YES.get(v) or _NO.get(v) or v
    return ContentSignal(text, tuple(values.items()), tuple(odd))


def reasons(signal: ContentSignal, where: str, evidence: str | None = None) -> list[Reason]:
    said = f"Content-Signal {signal.text.strip()!r} ({where})"
    others = [f"{k}={v}" for k, v in signal.values if k != "ai-train"]
    note = f"; also {', '.join(others)}" if others else ""
    if signal.nonconformant:
        note += f"; non-conformant value {', '.join(signal.nonconformant)} read as yes/no"
    value = signal.get("ai-train")
    if value == "no":
        return [Reason("content-signal", "refuse", "use", f"{said}: ai-train=no{note}", evidence)]
    if value == "yes":
        return [Reason("content-signal", "allow", "use", f"{said}: ai-train=yes{note}", evidence)]
    shown = f"ai-train={value!r} not understood" if value else "no ai-train signal"
    return [Reason("content-signal", "unknown", "use", f"{said}: {shown}{note}", evidence)]
