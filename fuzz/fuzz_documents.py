"""TDMRep embedded in documents: EPUB package metadata (zip + XML) and PDF XMP packets.

Input: one byte choosing the declared content type, then the document.
"""

from __future__ import annotations

from _harness import checked_decision, run

from crawler.core import EmbeddedDocument, Evidence, _tdmrep_embedded

TYPES = ("application/pdf", "application/epub+zip", "text/html", "")


def fuzz_one(data: bytes) -> None:
    if not data:
        return
    content_type, body = TYPES[data[0] % len(TYPES)], data[1:]
    found = _tdmrep_embedded.read(content_type, body)
    if found != _tdmrep_embedded.read(content_type, body):
        raise AssertionError("read is not deterministic")
    document = EmbeddedDocument(content_type=content_type, body=body)
    checked_decision(Evidence(url="https://fuzz.example/doc", document=document))


if __name__ == "__main__":
    run(fuzz_one)
