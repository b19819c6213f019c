"""Response headers: aipref Content-Usage (RFC 9651 dictionaries), Content-Signal,
X-Robots-Tag (with ``token:`` scopes) and tdm-reservation, each line parsed and decided on.

Input: lines of ``Name: value`` (any bytes); the first line picks nothing special.
"""

from __future__ import annotations

from _harness import checked_decision, run, text

from crawler.core import Evidence, Headers, aipref, content_signal
from crawler.core.directives import _header_directives

NAMES = ("Content-Usage", "Content-Signal", "X-Robots-Tag", "tdm-reservation")


def fuzz_one(data: bytes) -> None:
    lines: list[tuple[str, str]] = []
    for number, raw in enumerate(text(data).splitlines()[:16]):
        name, colon, value = raw.partition(":")
        if not colon:  # a bare value goes to each signal header in turn
            name, value = NAMES[number % len(NAMES)], raw
        lines.append((name.strip(), value.strip()))
        statement = aipref.parse_statement(value)
        if statement.train_ai not in (None, "y", "n"):
            raise AssertionError(f"train-ai {statement.train_ai!r}")
        content_signal.parse(value)
        for directive in _header_directives(value, "consentcrawler"):
            if not directive or directive != directive.lower():
                raise AssertionError(f"directive {directive!r}")
    checked_decision(Evidence(url="https://fuzz.example/", headers=Headers(lines)))


if __name__ == "__main__":
    run(fuzz_one)
