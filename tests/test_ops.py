"""The operators' provenance tools (issue #4), on a store made by a real crawl.

One crawl per module: the bundled demo site (ten origins, one signal each) plus two origins of
our own, one redirecting (``/old`` -> ``/new`` kept, ``/gone`` -> ``/nope`` refused by
X-Robots-Tag) and one whose ai.txt answers 503 (a refusal caused by an error).  Every command
is run through the real console script; tests that damage the store work on a copy.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from crawler.demo.server import Origin, Route, SiteServer
from tests.clitools import run_cli
from tests.crawlkit import Job, crawl, refusing_signals
from tests.vectorlib import ROOT

SITE = ROOT / "crawler" / "demo" / "site"
JOB = "ops-job"


def _page(title: str, *links: str) -> Route:
    anchors = "".join(f'<a href="{link}">{link}</a>' for link in links)
    return Route(body=f"<html><head><title>{title}</title></head><body><p>{title}</p>{anchors}")


EXTRA = (
    Origin(
        "moved",
        {
            "/": _page("moved home", "/old", "/gone"),
            "/old": Route(redirect_to="/new"),
            "/new": _page("new place"),
            "/gone": Route(redirect_to="/nope"),
            "/nope": Route(body="<p>no</p>", headers={"X-Robots-Tag": "noai"}),
        },
    ),
    Origin(
        "flaky",
        {"/ai.txt": Route(status=503, body="down", content_type="text/plain"), "/": _page("f")},
    ),
)


@dataclass
class Crawled:
    job: Job
    bases: dict[str, str]  # origin name -> http://127.0.0.1:PORT

    @property
    def store(self) -> Path:
        return self.job.store

    def url(self, origin: str, path: str) -> str:
        return self.bases[origin] + path


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Crawled:
    store = tmp_path_factory.mktemp("ops") / "store"
    with SiteServer.from_directory(SITE) as demo, SiteServer(EXTRA) as more:
        origins = (*demo.origins, *more.origins)
        job = crawl(store, *[o.url("/") for o in origins], job_id=JOB, extra=("--max-depth", "3"))
        assert job.exit_code == 0, job.stderr
        return Crawled(job, {o.name: o.base_url for o in origins})


def prov(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("provenance", *args, "--store", store, "--job", JOB)


def prov_json(store: Path, *args: str) -> Any:
    done = prov(store, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def list_json(store: Path, *args: str) -> list[dict[str, Any]]:
    done = prov(store, "list", *args, "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def copy_store(crawled: Crawled, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(crawled.store, target)
    return target


def job_dir(store: Path) -> Path:
    return store / "jobs" / JOB


def part_path(store: Path, kind: str) -> Path:
    manifest = json.loads((job_dir(store) / "manifest.json").read_text())
    return job_dir(store) / kind / manifest["parts"][kind][0]["name"]


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_bytes(gzip.compress(b"".join(json.dumps(x).encode() + b"\n" for x in lines)))


def problems(store: Path) -> list[dict[str, Any]]:
    done = prov(store, "verify", "--json")
    assert done.returncode == 1, done.stdout
    report = json.loads(done.stdout)
    assert report["ok"] is False
    return list(report["problems"])


# -- the index -------------------------------------------------------------------------------


def test_the_crawl_stores_an_index_of_the_parts_it_listed(crawled: Crawled) -> None:
    index = job_dir(crawled.store) / "index.sqlite"
    assert index.is_file()
    with sqlite3.connect(index) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        assert json.loads(meta["parts"]) == crawled.job.manifest["parts"]
        assert int(meta["items"]) == len(crawled.job.items)
        assert int(meta["decisions"]) == len(crawled.job.decisions)
    conn.close()


def test_index_is_built_when_absent_reused_and_rebuilt_when_stale(
    crawled: Crawled, tmp_path: Path
) -> None:
    store = copy_store(crawled, tmp_path)
    index = job_dir(store) / "index.sqlite"
    index.unlink()
    done = prov(store, "stats")
    assert done.returncode == 0 and "absent; building it" in done.stderr
    assert index.is_file()
    built = index.read_bytes()

    done = prov(store, "stats")
    assert done.returncode == 0 and "index:" not in done.stderr
    assert index.read_bytes() == built

    # The job goes on: a new decisions part appears in the manifest; the index is stale.
    extra = {**crawled.job.decisions[0], "url": crawled.url("open", "/later.html")}
    write_lines(job_dir(store) / "decisions" / "part-w1-00001.jsonl.gz", [extra])
    manifest_path = job_dir(store) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["parts"]["decisions"].append({"name": "part-w1-00001.jsonl.gz", "lines": 1})
    manifest_path.write_text(json.dumps(manifest))
    done = prov(store, "stats", "--json")
    assert done.returncode == 0 and "rebuilding it" in done.stderr
    assert json.loads(done.stdout)["decisions"]["total"] == len(crawled.job.decisions) + 1
    assert index.read_bytes() != built
    listed = list_json(store, "--domain", crawled.bases["open"][len("http://") :])
    assert extra["url"] in [r["url"] for r in listed]

    index.write_bytes(b"not an index")
    done = prov(store, "stats")
    assert done.returncode == 0 and "is not an index this version reads" in done.stderr
    with sqlite3.connect(index) as conn:
        assert dict(conn.execute("SELECT key, value FROM meta"))["job_id"] == JOB
    conn.close()


# -- show ------------------------------------------------------------------------------------


def test_show_by_url_prints_signals_evidence_redirects_and_attribution(crawled: Crawled) -> None:
    url = crawled.url("open", "/lighthouse.html")
    (item,) = [i for i in crawled.job.items if i["final_url"] == url]
    done = prov(crawled.store, "show", url)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    prov_ = item["provenance"]
    assert f"item {prov_['item_id']}" in out
    assert item["content_sha256"] in out and item["html_sha256"] in out
    for name, signal in prov_["signals"].items():
        assert f"{name} " in out
        if signal.get("sha256"):
            assert f"evidence sha256 {signal['sha256']} (stored" in out
        if signal.get("fetched_at"):
            assert f"fetched {signal['fetched_at']}" in out
        if signal.get("matched"):
            assert signal["matched"] in out
    assert f"1. 200  allowed  {url}" in out
    assert item["attribution"]["author"] and item["attribution"]["author"] in out
    assert "(from json-ld)" in out
    assert prov_["policy"]["sha256"] in out
    assert "KEPT: may be fetched and used for training" in out  # its decision line


def test_show_by_item_id_gives_the_stored_records_as_json(crawled: Crawled) -> None:
    item = crawled.job.items[3]
    item_id = item["provenance"]["item_id"]
    found = prov_json(crawled.store, "show", item_id)
    (shown,) = found["items"]
    assert shown["record"] == item
    assert shown["key"] == f"jobs/{JOB}/items/{shown['part']}" and shown["line"] == 4
    assert [d["record"]["item_id"] for d in found["decisions"]] == [item_id]
    # A unique prefix is enough.
    assert prov_json(crawled.store, "show", item_id[:10])["items"] == found["items"]


def test_show_follows_redirects_from_the_url_first_requested(crawled: Crawled) -> None:
    old, new = crawled.url("moved", "/old"), crawled.url("moved", "/new")
    found = prov_json(crawled.store, "show", old)
    (item,) = found["items"]
    assert item["record"]["url"] == old and item["record"]["final_url"] == new
    assert [h["url"] for h in item["record"]["provenance"]["redirects"]] == [old, new]
    text = prov(crawled.store, "show", old).stdout
    assert f"1. 301  allowed  {old}" in text and f"2. 200  allowed  {new}" in text


def test_show_of_a_refused_url_prints_its_decision_line(crawled: Crawled) -> None:
    url = crawled.url("robots-private", "/private/roadmap.html")
    decision = crawled.job.decision_for(url)
    found = prov_json(crawled.store, "show", url)
    assert found["items"] == []
    assert [d["record"] for d in found["decisions"]] == [decision]
    text = prov(crawled.store, "show", url).stdout
    assert "NOT FETCHED: robots signal" in text
    assert "Disallow: /private/ (line 3)" in text
    assert f"{decision['evidence']['robots.txt']}  robots.txt" in text
    assert "stage        request" in text


def test_show_of_a_redirect_hop_finds_the_refused_target(crawled: Crawled) -> None:
    gone, nope = crawled.url("moved", "/gone"), crawled.url("moved", "/nope")
    found = prov_json(crawled.store, "show", gone)
    (decision,) = found["decisions"]
    assert decision["record"]["url"] == nope and decision["record"]["use"] == "refused"
    text = prov(crawled.store, "show", gone).stdout
    assert "FETCHED BUT NOT USED: x-robots-tag signal" in text and f"301  allowed  {gone}" in text


def test_show_of_an_unknown_url_exits_1(crawled: Crawled) -> None:
    done = prov(crawled.store, "show", crawled.url("open", "/nowhere.html"))
    assert done.returncode == 1 and "not found" in done.stderr


def test_unknown_job_exits_2(crawled: Crawled) -> None:
    done = run_cli("provenance", "stats", "--store", crawled.store, "--job", "nope")
    assert done.returncode == 2 and "no job 'nope'" in done.stderr


def test_latest_job_is_used_when_no_job_is_given(crawled: Crawled, tmp_path: Path) -> None:
    store = copy_store(crawled, tmp_path)
    later = store / "jobs" / "a-later-job"
    shutil.copytree(job_dir(store), later)
    manifest = json.loads((later / "manifest.json").read_text())
    manifest.update(job_id="a-later-job", started_at="2999-01-01T00:00:00.000Z")
    (later / "manifest.json").write_text(json.dumps(manifest))
    done = run_cli("provenance", "stats", "--store", store, "--json")
    assert json.loads(done.stdout)["job_id"] == "a-later-job"


# -- list ------------------------------------------------------------------------------------


def _urls(rows: list[dict[str, Any]]) -> list[str]:
    return [r["url"] for r in rows]


def test_list_prints_one_line_per_decision(crawled: Crawled) -> None:
    done = prov(crawled.store, "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(crawled.job.decisions)
    url = crawled.url("ai-txt", "/gallery/dunes.html")
    (line,) = [ln for ln in lines if ln.startswith(url + " ")]
    assert line.split()[1:] == ["allowed", "refused", "ai-txt"]
    rows = list_json(crawled.store)
    assert sorted(_urls(rows)) == sorted(d["url"] for d in crawled.job.decisions)


@pytest.mark.parametrize(
    ("args", "keep"),
    [
        (("--use", "refused"), lambda d: d["use"] == "refused"),
        (("--use", "allowed"), lambda d: d["use"] == "allowed"),
        (("--fetch", "refused"), lambda d: d["fetch"] == "refused"),
        (("--signal", "ai-txt"), lambda d: "ai-txt" in refusing_signals(d)),
        (("--signal", "robots"), lambda d: "robots" in refusing_signals(d)),
    ],
)
def test_list_filters(crawled: Crawled, args: tuple[str, ...], keep: Any) -> None:
    expected = sorted(d["url"] for d in crawled.job.decisions if keep(d))
    assert expected
    assert sorted(_urls(list_json(crawled.store, *args))) == expected


def test_list_filters_by_domain_host_port_and_host(crawled: Crawled) -> None:
    base = crawled.bases["tdmrep"]
    expected = sorted(d["url"] for d in crawled.job.decisions if d["url"].startswith(base + "/"))
    assert sorted(_urls(list_json(crawled.store, "--domain", base[len("http://") :]))) == expected
    assert sorted(_urls(list_json(crawled.store, "--domain", base + "/"))) == expected
    everything = list_json(crawled.store, "--domain", "127.0.0.1")
    assert len(everything) == len(crawled.job.decisions)
    assert list_json(crawled.store, "--domain", "0.0.1") == []


def test_list_filters_by_time_and_limit(crawled: Crawled) -> None:
    times = sorted(d["decided_at"] for d in crawled.job.decisions)
    middle = times[len(times) // 2]
    since = list_json(crawled.store, "--since", middle)
    assert len(since) == sum(t >= middle for t in times)
    assert all(r["decided_at"] >= middle for r in since)
    assert len(list_json(crawled.store, "--since", "2000-01-01")) == len(times)
    assert list_json(crawled.store, "--since", "2999-12-31") == []
    assert len(list_json(crawled.store, "--limit", "3")) == 3
    combined = list_json(crawled.store, "--use", "refused", "--signal", "tdmrep", "--limit", "2")
    assert len(combined) == 2 and all(r["signals"] == ["tdmrep"] for r in combined)
    done = prov(crawled.store, "list", "--since", "last tuesday")
    assert done.returncode == 2 and "not an RFC 3339 time" in done.stderr


# -- stats -----------------------------------------------------------------------------------


def test_stats_equal_the_manifest_counts(crawled: Crawled) -> None:
    counts = crawled.job.manifest["counts"]
    data = prov_json(crawled.store, "stats", "--top", "20")
    assert data["items"] == counts["items"] == len(crawled.job.items)
    assert data["decisions"]["kept"] == counts["decisions"]["kept"]
    assert data["decisions"]["refused"] == counts["decisions"]["refused"]
    assert data["refused_by_signal"] == counts["refused_by_signal"]
    assert data["domains_total"] == len(crawled.bases)
    by_domain = Counter(d["url"].split("/")[2] for d in crawled.job.decisions)
    assert {r["domain"]: r["decisions"] for r in data["top_domains"]} == by_domain
    text = prov(crawled.store, "stats", "--top", "3").stdout
    assert f"    kept             {counts['decisions']['kept']}" in text
    assert "top 3 of 12 domains" in text
    for signal, n in counts["refused_by_signal"].items():
        assert any(line.split() == [signal, str(n)] for line in text.splitlines())
    assert "note:" not in text


# -- verify ----------------------------------------------------------------------------------


def test_verify_passes_on_the_fresh_store(crawled: Crawled) -> None:
    done = prov(crawled.store, "verify")
    assert done.returncode == 0, done.stdout
    assert done.stdout.rstrip().endswith("ok: no problems")
    report = prov_json(crawled.store, "verify")
    assert report["ok"] and report["problems"] == []
    n_items = len(crawled.job.items)
    assert report["checked"]["items"] == report["checked"]["item_ids"] == n_items
    assert report["checked"]["html_sha256"] == n_items  # the writer adds the field
    assert report["checked"]["decisions"] == len(crawled.job.decisions)
    assert report["checked"]["evidence_objects"] == len(
        list((crawled.store / "evidence").iterdir())
    )


def test_verify_catches_a_tampered_evidence_object(crawled: Crawled, tmp_path: Path) -> None:
    store = copy_store(crawled, tmp_path)
    sha = crawled.job.decision_for(crawled.url("tdmrep", "/press.html"))["evidence"]["tdmrep.json"]
    (store / "evidence" / sha).write_bytes(b'[{"location": "/", "tdm-reservation": 0}]')
    (problem,) = problems(store)
    assert problem["kind"] == "evidence-hash" and problem["key"] == f"evidence/{sha}"
    assert "referenced by jobs/ops-job/" in problem["detail"]
    text = prov(store, "verify").stdout
    assert f"PROBLEM evidence-hash: evidence/{sha}:" in text and "1 problem" in text


def test_verify_catches_a_missing_evidence_object(crawled: Crawled, tmp_path: Path) -> None:
    store = copy_store(crawled, tmp_path)
    sha = crawled.job.decision_for(crawled.url("ai-txt", "/gallery/"))["evidence"]["ai.txt"]
    (store / "evidence" / sha).unlink()
    (problem,) = problems(store)
    assert problem["kind"] == "missing-evidence" and problem["key"] == f"evidence/{sha}"


def test_verify_catches_a_missing_part(crawled: Crawled, tmp_path: Path) -> None:
    store = copy_store(crawled, tmp_path)
    part = part_path(store, "items")
    part.unlink()
    found = problems(store)
    assert found[0] == {
        "kind": "missing-part",
        "key": f"jobs/{JOB}/items/{part.name}",
        "detail": "listed in the manifest, not in the store",
        "part": part.name,
        "line": None,
    }
    assert any(p["kind"] == "count" and "counts.items" in p["detail"] for p in found)


@pytest.mark.parametrize("field", ["html", "final_url"])
def test_verify_catches_a_changed_line(crawled: Crawled, tmp_path: Path, field: str) -> None:
    store = copy_store(crawled, tmp_path)
    part = part_path(store, "items")
    lines = read_lines(part)
    lines[4][field] = lines[4][field].replace("<", "< ", 1) + "/changed"
    write_lines(part, lines)
    (problem,) = problems(store)
    expected_kind = "html-sha256" if field == "html" else "item-id"
    assert problem["kind"] == expected_kind
    assert (problem["key"], problem["part"], problem["line"]) == (
        f"jobs/{JOB}/items/{part.name}",
        part.name,
        5,
    )


def test_verify_catches_a_damaged_part_and_a_bad_line(crawled: Crawled, tmp_path: Path) -> None:
    store = copy_store(crawled, tmp_path)
    part = part_path(store, "decisions")
    raw = gzip.decompress(part.read_bytes()).splitlines(keepends=True)
    raw[1] = b"{not json\n"
    part.write_bytes(gzip.compress(b"".join(raw)))
    items = part_path(store, "items")
    items.write_bytes(items.read_bytes()[:-40])
    kinds = {(p["kind"], p["part"], p["line"]) for p in problems(store)}
    assert ("bad-line", part.name, 2) in kinds
    assert ("unreadable-part", items.name, None) in kinds


def test_verify_reports_an_unlisted_part(crawled: Crawled, tmp_path: Path) -> None:
    store = copy_store(crawled, tmp_path)
    part = part_path(store, "decisions")
    shutil.copy(part, part.with_name("part-w7-00001.jsonl.gz"))
    (problem,) = problems(store)
    assert problem["kind"] == "unlisted-part"
    assert problem["key"] == f"jobs/{JOB}/decisions/part-w7-00001.jsonl.gz"


def test_verify_catches_manifest_count_mismatches(crawled: Crawled, tmp_path: Path) -> None:
    store = copy_store(crawled, tmp_path)
    path = job_dir(store) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["counts"]["items"] += 1
    manifest["counts"]["decisions"]["refused"] -= 1
    manifest["parts"]["items"][0]["lines"] += 2
    path.write_text(json.dumps(manifest))
    found = {(p["kind"], p["detail"]) for p in problems(store)}
    n, refused = len(crawled.job.items), manifest["counts"]["decisions"]["refused"]
    assert found == {
        ("count", f"counts.items is {n + 1}, the parts hold {n}"),
        ("count", f"counts.decisions.refused is {refused}, the parts hold {refused + 1}"),
        ("line-count", f"{n} lines, the manifest lists {n + 2}"),
    }


def test_verify_catches_a_duplicate_item(crawled: Crawled, tmp_path: Path) -> None:
    store = copy_store(crawled, tmp_path)
    part = part_path(store, "items")
    lines = read_lines(part)
    write_lines(part, [*lines, lines[0]])
    path = job_dir(store) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["parts"]["items"][0]["lines"] += 1
    manifest["counts"]["items"] += 1
    path.write_text(json.dumps(manifest))
    (problem,) = problems(store)
    assert problem["kind"] == "duplicate-item" and problem["line"] == len(lines) + 1
    assert f"already at {part.name} line 1" in problem["detail"]


# -- report ----------------------------------------------------------------------------------


def test_report_in_the_terminal(crawled: Crawled) -> None:
    done = run_cli("report", "--store", crawled.store, "--job", JOB)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    manifest = crawled.job.manifest
    assert f"consent report: job {JOB}" in out
    assert manifest["policy"]["sha256"] in out and manifest["identity"]["user_agent"] in out
    assert manifest["started_at"] in out and manifest["finished_at"] in out
    by_signal = out.split("by signal", 1)[1].split("by domain", 1)[0]
    rows = {ln.split()[0]: ln.split()[1:] for ln in by_signal.splitlines()[3:] if ln.strip()}
    for signal, n in manifest["counts"]["refused_by_signal"].items():
        assert rows[signal][1] == str(n), signal
    assert rows["ai-txt"] == ["3", "4", "1"]  # 3 explicit allows; 4 refused, 1 by a 503
    errors = out.split("refusals caused by errors", 1)[1]
    assert crawled.bases["flaky"][7:] in errors and "ai-txt" in errors
    assert crawled.bases["unreachable"][7:] in errors and "robots" in errors


class _Page(HTMLParser):
    """Collects charts' bars, data tables' rows, every attribute, and text by enclosing tag."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.chart: str | None = None
        self.bars: dict[str, dict[str, int]] = {}
        self.rows: dict[str, dict[str, int]] = {}
        self.attrs: list[tuple[str, str]] = []
        self.texts: list[tuple[tuple[str, ...], str]] = []
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.attrs += list(a.items())
        self.tags[tag] += 1
        if tag not in ("rect", "meta"):
            self.stack.append(tag)
        if "data-chart" in a:
            self.chart = a["data-chart"]
            (self.bars if tag == "svg" else self.rows).setdefault(self.chart, {})
        if "data-label" in a and self.chart is not None:
            target = self.bars if tag == "g" else self.rows
            target[self.chart][a["data-label"]] = int(a["data-value"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("svg", "table"):
            self.chart = None
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append((tuple(self.stack), data))


def test_html_report_is_self_contained_and_carries_its_charts_data(
    crawled: Crawled, tmp_path: Path
) -> None:
    page_path = tmp_path / "report.html"
    done = run_cli("report", "--store", crawled.store, "--job", JOB, "--html", page_path, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    html = page_path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)

    totals = data["totals"]
    expected = {
        "kept-vs-refused": {
            "kept": totals["kept"],
            "refused: fetch": totals["fetch_refused"],
            "refused: use": totals["use_refused"],
        },
        "refusals-by-signal": crawled.job.manifest["counts"]["refused_by_signal"],
        "refusals-by-domain": {
            d["domain"]: d["refused"] for d in data["top_refusing_domains"] if d["refused"]
        },
    }
    assert page.bars == expected and page.rows == expected
    assert expected["refusals-by-domain"]
    assert sum(expected["kept-vs-refused"].values()) == len(crawled.job.decisions)

    # Nothing is fetched or run: no script, no stylesheet link, no CSS import or url().
    lowered = html.lower()
    for banned in ("<script", "<link", "@import", "url(", "<img", "<iframe", "src=", "href="):
        assert banned not in lowered, banned
    assert page.tags["svg"] == 3 and page.tags["style"] == 1
    # URLs appear only as text in table cells: crawled URLs, and the crawler's contact URL.
    assert not [v for _, v in page.attrs if "http://" in v or "https://" in v]
    identity = crawled.job.manifest["identity"]
    allowed = {identity["contact_url"], identity["user_agent"]}
    bases = tuple(crawled.bases.values())
    for stack, text in page.texts:
        if "http://" in text or "https://" in text:
            assert stack[-1] == "td", (stack, text)
            assert text in allowed or any(base in text for base in bases), text


# -- what the tools are made of --------------------------------------------------------------


def test_the_commands_do_not_import_scrapy(crawled: Crawled, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from crawler.cli.main import main\n"
        f"store, page = {str(crawled.store)!r}, {str(tmp_path / 'r.html')!r}\n"
        "for args in (['provenance', 'show', sys.argv[1]], ['provenance', 'list'],\n"
        "             ['provenance', 'stats'], ['provenance', 'verify'],\n"
        "             ['report', '--html', page]):\n"
        "    assert main([*args, '--store', store, '--job', 'ops-job']) == 0, args\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('scrapy', 'twisted')]\n"
    )
    url = crawled.url("open", "/")
    done = subprocess.run(
        [sys.executable, "-c", script, url], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_parent_domains_match_subdomains_only(tmp_path: Path) -> None:
    """Hosts with names (the crawl above only has 127.0.0.1): a parent matches its subdomains,
    not a longer name that merely ends the same."""
    hosts = ["example.com", "www.example.com", "a.b.example.com", "notexample.com", "example.org"]
    lines = [
        {
            "url": f"https://{host}/p",
            "fetch": "allowed",
            "use": "refused",
            "reasons": [{"signal": "ai-txt", "verdict": "refuse", "scope": "use", "detail": "x"}],
            "decided_at": "2026-01-02T03:04:05.000Z",
            "evidence": {},
            "stage": "request",
            "job_id": JOB,
        }
        for host in hosts
    ]
    store = tmp_path / "store"
    (job_dir(store) / "decisions").mkdir(parents=True)
    write_lines(job_dir(store) / "decisions" / "part-w0-00001.jsonl.gz", lines)
    manifest = {
        "job_id": JOB,
        "started_at": "2026-01-02T03:04:05.000Z",
        "counts": {"items": 0, "decisions": {"kept": 0, "refused": 5}},
        "parts": {"items": [], "decisions": [{"name": "part-w0-00001.jsonl.gz", "lines": 5}]},
    }
    (job_dir(store) / "manifest.json").write_text(json.dumps(manifest))

    def hosts_of(*args: str) -> list[str]:
        return sorted(r["url"][len("https://") : -len("/p")] for r in list_json(store, *args))

    assert hosts_of("--domain", "example.com") == [
        "a.b.example.com",
        "example.com",
        "www.example.com",
    ]
    assert hosts_of("--domain", "b.example.com") == ["a.b.example.com"]
    assert hosts_of("--domain", "EXAMPLE.org.") == ["example.org"]
    assert hosts_of("--domain", "com") == sorted(h for h in hosts if h.endswith(".com"))
    done = prov(store, "verify")
    assert done.returncode == 1 and "counts.refused_by_signal.ai-txt is 0" in done.stdout


# -- S3 --------------------------------------------------------------------------------------


def test_the_tools_work_on_an_s3_store() -> None:
    """The same commands on a crawl stored in S3 (a local moto server): they read only through
    the ObjectStore interface, and the crawl's index is stored in the bucket too."""
    from tests.s3kit import moto_server

    with moto_server() as s3, SiteServer(EXTRA) as site:
        store = s3.url("crawls")
        where = ("--store", store, "--s3-endpoint", s3.endpoint)
        done = run_cli(
            "crawl",
            *[o.url("/") for o in site.origins],
            *where,
            "--job-id",
            JOB,
            "--allow-private",
            "--set",
            "DOWNLOAD_DELAY=0",
        )
        assert done.returncode == 0, done.stderr
        keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"]]
        assert f"crawls/jobs/{JOB}/index.sqlite" in keys

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return run_cli(*args, *where, "--job", JOB)

        stats = json.loads(cli("provenance", "stats", "--json").stdout)
        assert stats["decisions"] == {
            "total": 4,
            "kept": 2,
            "refused": 2,
            "fetch_refused": 0,
            "use_refused": 2,
        }
        old = site.origin("moved").url("/old")
        shown = json.loads(cli("provenance", "show", old, "--json").stdout)
        assert shown["items"][0]["record"]["final_url"] == site.origin("moved").url("/new")
        refused = cli("provenance", "list", "--use", "refused", "--json").stdout.splitlines()
        assert len(refused) == 2
        verified = cli("provenance", "verify")
        assert verified.returncode == 0, verified.stdout
        assert f"verify job {JOB} in {store}" in verified.stdout
        report = cli("report")
        assert report.returncode == 0 and "ai.txt could not be read (HTTP 503)" in report.stdout
        s3.client().delete_object(Bucket=s3.bucket, Key=f"crawls/jobs/{JOB}/index.sqlite")
        again = cli("provenance", "stats")
        assert again.returncode == 0 and "absent; building it" in again.stderr
        keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket)["Contents"]]
        assert f"crawls/jobs/{JOB}/index.sqlite" in keys
