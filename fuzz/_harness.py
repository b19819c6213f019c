"""What every atheris target shares: the policy, input splitting, invariants, the run loop.

A target is a module with ``fuzz_one(data: bytes) -> None`` that raises only on a bug (an
uncaught exception, a broken invariant, an answer that differs when asked twice).  Time is
bounded by libFuzzer's ``-timeout`` (``fuzz/run.sh`` passes 10 s): an input that takes longer is
reported like a crash, which is how super-linear parsing shows up.  The targets import
without atheris, so ``tests/test_fuzz.py`` replays them on the seed corpus in CI.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from crawler.core import (
    SIGNALS,
    Decision,
    Evidence,
    Policy,
    decide,
    load_policy,
)
from crawler.core.decide import clear_caches

ROOT = Path(__file__).resolve().parents[1]
POLICY = load_policy(ROOT / "policies" / "default.toml")
OPT_IN = POLICY.replace(mode="opt-in")
URL = "https://fuzz.example"


def fields(data: bytes, count: int) -> list[bytes]:
    """``data`` cut at NUL bytes into exactly ``count`` fields (missing ones empty), so one
    mutated input can carry a file, a path and a token."""
    parts = data.split(b"\0", count - 1)
    return parts + [b""] * (count - len(parts))


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def url_for(raw_path: bytes) -> str:
    path = text(raw_path).lstrip("/")
    return f"{URL}/{path}"


def checked_decision(evidence: Evidence, policy: Policy = POLICY) -> Decision:
    """``decide`` twice (caches cleared in between): the same answer, and a coherent one."""
    first = decide(evidence, policy)
    clear_caches()
    again = decide(evidence, policy)
    if first.to_dict() != again.to_dict():
        raise AssertionError(f"decide is not deterministic:\n{first}\n{again}")
    if not first.reasons:
        raise AssertionError("a decision without reasons")
    if first.fetch not in ("allowed", "refused") or first.use not in ("allowed", "refused", "n/a"):
        raise AssertionError(f"bad answer {first.fetch}/{first.use}")
    if (first.use == "n/a") != (first.fetch == "refused"):
        raise AssertionError(f"use {first.use} with fetch {first.fetch}")
    unknown = {r.signal for r in first.reasons} - set(SIGNALS)
    if unknown:
        raise AssertionError(f"unknown signal names {unknown}")
    return first


def run(fuzz_one: Callable[[bytes], None]) -> None:
    """Fuzz ``fuzz_one`` with the command line's libFuzzer options (see fuzz/run.sh)."""
    # A dev tool, installed by hand (`pip install atheris`), never a test dependency.
    import atheris  # type: ignore[import-untyped, unused-ignore]

    atheris.instrument_all()  # the core is already imported: instrument what is loaded
    atheris.Setup(sys.argv, fuzz_one)
    atheris.Fuzz()
