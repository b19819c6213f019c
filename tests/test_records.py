"""Record helpers: timestamps as the contract spells them."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from crawler import records
from crawler.records import now_rfc3339

_RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_now_is_utc_with_milliseconds_and_agrees_with_the_clock() -> None:
    before = datetime.now(UTC)
    stamp = now_rfc3339()
    after = datetime.now(UTC)
    assert _RFC3339_MS.fullmatch(stamp)
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= when <= after


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        (1_764_892_800.0, "2025-12-05T00:00:00.000Z"),
        (1_764_892_800.9999, "2025-12-05T00:00:00.999Z"),  # truncated, as isoformat does
        (1_764_892_861.25, "2025-12-05T00:01:01.250Z"),
        (951_782_400.5, "2000-02-29T00:00:00.500Z"),
    ],
)
def test_now_formats_the_second_and_truncates_the_milliseconds(
    monkeypatch: pytest.MonkeyPatch, clock: float, expected: str
) -> None:
    monkeypatch.setattr(records, "_SECOND", (-1, ""))
    monkeypatch.setattr(time, "time", lambda: clock)
    assert now_rfc3339() == expected
    assert expected == datetime.fromtimestamp(clock, UTC).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
    # The same second again comes from the cached prefix, with its own milliseconds.
    monkeypatch.setattr(time, "time", lambda: clock + 0.00001)
    assert now_rfc3339()[:19] == expected[:19]
