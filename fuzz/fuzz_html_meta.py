"""HTML <meta> tags: robots / our token (noai, noimageai) and tdm-reservation, from any
bytes or text, then decided on.

Input: an HTML document (any bytes).
"""

from __future__ import annotations

from _harness import checked_decision, run, text

from crawler.core import Evidence, _html


def fuzz_one(data: bytes) -> None:
    for source in (data, text(data)):
        tags = _html.meta_from_html(source)
        if tags != _html.meta_from_html(source):
            raise AssertionError("meta_from_html is not deterministic")
        checked_decision(Evidence(url="https://fuzz.example/page", meta=tags))


if __name__ == "__main__":
    run(fuzz_one)
