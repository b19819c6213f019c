"""``consent-crawler decide`` input: any bytes as a JSON line → Evidence.from_json, which may
only raise EvidenceError, → decide under the default and the opt-in policy.

Input: one JSON object (seeds: the test vectors' inputs, see fuzz/make_seeds.py).
"""

from __future__ import annotations

import json

from _harness import OPT_IN, POLICY, checked_decision, run

from crawler.core import Evidence, EvidenceError


def fuzz_one(data: bytes) -> None:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return
    try:
        evidence = Evidence.from_json(obj)
    except EvidenceError:
        return
    for policy in (POLICY, OPT_IN):
        checked_decision(evidence, policy)


if __name__ == "__main__":
    run(fuzz_one)
