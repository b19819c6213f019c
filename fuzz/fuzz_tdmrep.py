"""W3C TDMRep: /.well-known/tdmrep.json (any bytes), with tdm-* headers over it.

Input: TDMREP.JSON NUL PATH NUL TDM-RESERVATION HEADER.
"""

from __future__ import annotations

from _harness import checked_decision, fields, run, text, url_for

from crawler.core import Evidence, FetchedFile, Headers, tdmrep


def summary(parsed: tdmrep.TdmFile) -> tuple[object, ...]:
    rules = [(r.index, r.location.text, r.reservation, r.raw, r.policy) for r in parsed.rules]
    return (rules, parsed.error, parsed.skipped)


def fuzz_one(data: bytes) -> None:
    body, raw_path, raw_header = fields(data, 3)
    parsed = tdmrep.parse_file(body)
    if summary(parsed) != summary(tdmrep.parse_file(body)):
        raise AssertionError("parse_file is not deterministic")
    if parsed.error is not None and parsed.rules:
        raise AssertionError("a file with an error has rules")
    tdm_file = FetchedFile(status=200, body=body, content_type="application/json")
    url = url_for(raw_path)
    checked_decision(Evidence(url=url, tdmrep_json=tdm_file))
    headers = Headers([("tdm-reservation", text(raw_header)), ("tdm-policy", text(raw_header))])
    checked_decision(Evidence(url=url, tdmrep_json=tdm_file, headers=headers))


if __name__ == "__main__":
    run(fuzz_one)
