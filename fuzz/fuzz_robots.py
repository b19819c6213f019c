"""robots.txt: parse any body, select groups for any token and AI-bot name, match any path,
and decide on it (fetch, AI-bot reservations, Content-Usage/Content-Signal lines).

Input: BODY NUL PATH NUL TOKEN.
"""

from __future__ import annotations

from _harness import POLICY, checked_decision, fields, run, text, url_for

from crawler.core import Evidence, FetchedFile, _robots
from crawler.core._patterns import normalise_path, url_path

AI_NAMES = POLICY.robots_ai_tokens.tokens[:4]


def fuzz_one(data: bytes) -> None:
    body, raw_path, raw_token = fields(data, 3)
    token = text(raw_token)[:40]
    url = url_for(raw_path)
    robots = _robots.parse(body, 512_000)
    path = url_path(url)
    groups = (robots.group_for(token)[0], robots.star_group, *map(robots.named_group, AI_NAMES))
    for group in groups:
        if group is None:
            continue
        for candidate in (path, normalise_path(text(raw_path))):
            rule = group.longest_match(candidate)
            if rule != group.longest_match(candidate):
                raise AssertionError("longest_match is not deterministic")
            if rule is not None:
                robots.describe(rule)
    for status in (200, 503):
        robots_txt = FetchedFile(status=status, body=body, content_type="text/plain")
        checked_decision(Evidence(url=url, token=token or None, robots_txt=robots_txt))


if __name__ == "__main__":
    run(fuzz_one)
