"""Spawning ai.txt (robots syntax, longest match, HTML answers treated as absent).

Input: BODY NUL PATH NUL CONTENT-TYPE.
"""

from __future__ import annotations

from _harness import OPT_IN, checked_decision, fields, run, text, url_for

from crawler.core import Evidence, FetchedFile


def fuzz_one(data: bytes) -> None:
    body, raw_path, raw_type = fields(data, 3)
    content_type = text(raw_type)[:60] or None
    ai_txt = FetchedFile(status=200, body=body, content_type=content_type)
    evidence = Evidence(url=url_for(raw_path), ai_txt=ai_txt)
    checked_decision(evidence)
    checked_decision(evidence, OPT_IN)


if __name__ == "__main__":
    run(fuzz_one)
