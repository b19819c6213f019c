"""``consent-crawler recheck`` (issue #5, part 4): stored items decided again under today's
registry and policy, the newly refused purged (tombstone, purge log), on real crawls.

One crawl per module of three local origins, kept serving for the whole module (the
``--refetch-signals`` tests change their files live): ``alpha`` and ``gamma`` on 127.0.0.1,
``beta`` behind a forwarder on 127.0.0.2, so that a domain opt-out (or deny list) covers one
origin alone.  Every test works on a copy of the crawled store, through the console script.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crawler.core import Decision, Reason
from crawler.core.decide import OPT_IN_DEFAULT
from crawler.demo.server import Origin, Request, Route, SiteServer
from crawler.ops.redecide import judge
from crawler.ops.tombstone import TOMBSTONE_FIELDS
from crawler.store.s3 import S3Objects
from tests.clitools import run_cli
from tests.crawlkit import Job, crawl
from tests.s3kit import OutageProxy, moto_server
from tests.vectorlib import ROOT

JOB = "recheck-job"
OPEN_ROBOTS = Route(body="User-agent: *\nAllow: /\n", content_type="text/plain")
PAGES = {
    "alpha": ["/", "/a.html", "/b.html", "/c.html", "/gallery/1.html", "/gallery/2.html"],
    "beta": ["/", "/x.html", "/y.html"],
    "gamma": ["/", "/z.html", "/w.html"],
}


def marker(origin: str, path: str) -> str:
    """Text that appears in exactly one page, to grep the store for."""
    return f"marker-{origin}-{path.strip('/').replace('/', '-').replace('.', '-') or 'home'}"


def _origin(name: str) -> Origin:
    routes: dict[str, Any] = {"/robots.txt": OPEN_ROBOTS} if name == "alpha" else {}
    links = "".join(f'<a href="{p}">{p}</a>' for p in PAGES[name][1:])
    for path in PAGES[name]:
        body = f"<html><head><title>{name} {path}</title></head><body><p>{marker(name, path)}</p>"
        routes[path] = Route(body=body + (links if path == "/" else "") + "</body></html>")
    return Origin(name, routes)


class SecondAddress(OutageProxy):
    """A forwarder listening on 127.0.0.2: an origin with a host of its own."""

    host = "127.0.0.2"


@dataclass
class Site:
    server: SiteServer
    bases: dict[str, str]
    crawled: Job

    def url(self, origin: str, path: str) -> str:
        return self.bases[origin] + path

    def urls(self, origin: str, *paths: str) -> set[str]:
        return {self.url(origin, p) for p in paths or PAGES[origin]}

    def seeds(self) -> list[str]:
        return [self.url(name, "/") for name in PAGES]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    store = tmp_path_factory.mktemp("recheck") / "store"
    registry = Origin("registry", {})
    with SiteServer([*(_origin(n) for n in PAGES), registry]) as server:
        proxy = SecondAddress(server.origin("beta").port)
        try:
            bases = {n: server.origin(n).base_url for n in ("alpha", "gamma", "registry")}
            bases["beta"] = f"http://127.0.0.2:{proxy.port}"
            seeds = [bases[name] + "/" for name in PAGES]
            job = crawl(store, *seeds, job_id=JOB)
            assert job.exit_code == 0, job.stderr
            found = Site(server, bases, job)
            assert job.kept_urls() == {u for n in PAGES for u in found.urls(n)}
            yield found
        finally:
            proxy.close()


# -- helpers ----------------------------------------------------------------------------------


def copy_store(site: Site, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(site.crawled.store, target)
    return target


def recheck(store: Path | str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_cli("recheck", "--store", store, *args)


def recheck_json(store: Path | str, *args: str | Path, code: int = 0) -> dict[str, Any]:
    done = recheck(store, *args, "--json")
    assert done.returncode == code, done.stderr + done.stdout
    return dict(json.loads(done.stdout))


def snapshot(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*") if p.is_file()}


def items(store: Path) -> list[dict[str, Any]]:
    return Job(0, "", "", store, JOB).items


def tombstones(store: Path) -> dict[str, dict[str, Any]]:
    return {line["final_url"]: line for line in items(store) if line.get("tombstone")}


def parts_text(store: Path) -> str:
    parts = sorted((store / "jobs" / JOB / "items").glob("*.jsonl.gz"))
    return "".join(gzip.decompress(p.read_bytes()).decode("utf-8") for p in parts)


def manifest(store: Path) -> dict[str, Any]:
    return dict(json.loads((store / "jobs" / JOB / "manifest.json").read_text()))


def has_line(text: str, words: str) -> bool:
    """A line of ``text`` that is ``words`` once runs of spaces are squeezed."""
    return any(line.split() == words.split() for line in text.splitlines())


def verify_ok(*where: str | Path) -> None:
    done = run_cli("provenance", "verify", *where, "--job", JOB)
    assert done.returncode == 0, done.stdout
    assert done.stdout.rstrip().endswith("ok: no problems")


def content_sha(site: Site, url: str) -> str:
    (item,) = [i for i in site.crawled.items if i["final_url"] == url]
    return str(item["content_sha256"])


def opt_outs(site: Site, path: Path) -> tuple[Path, set[str]]:
    """A file registry with one URL, one prefix, one domain and one content hash, and the
    URLs they cover."""
    path.write_text(
        "# added after the crawl\n"
        f"{site.url('alpha', '/a.html')}\n"
        f"{site.url('alpha', '/gallery/')}*\n"
        "domain:127.0.0.2\n"
        f"sha256:{content_sha(site, site.url('gamma', '/z.html'))}\n",
        encoding="utf-8",
    )
    covered = site.urls("alpha", "/a.html", "/gallery/1.html", "/gallery/2.html")
    return path, covered | site.urls("beta") | site.urls("gamma", "/z.html")


# -- purging after new opt-outs ---------------------------------------------------------------


def test_recheck_purges_exactly_the_newly_opted_out_items(site: Site, tmp_path: Path) -> None:
    store = copy_store(site, tmp_path)
    registry, covered = opt_outs(site, tmp_path / "optouts.txt")
    before = manifest(store)
    summary = recheck_json(store, "--registry", registry)
    assert summary["purged"] == len(covered) and summary["purged_by_signal"] == {"registry": 7}
    assert summary["items_checked"] == len(site.crawled.items) == 12
    assert summary["still_kept"] == 12 - 7 and summary["unverifiable"] == 0
    purged = tombstones(store)
    assert set(purged) == covered

    run_id = summary["run_id"]
    policy = before["policy"]
    for url, tomb in purged.items():
        assert set(TOMBSTONE_FIELDS) <= set(tomb)
        assert tomb["url"] == url and tomb["purge_run"] == run_id
        assert (
            tomb["item_id"]
            == hashlib.sha256(f"{url}\n{tomb['content_sha256']}".encode()).hexdigest()[:32]
        )
        assert tomb["purged_at"] == summary["at"] and tomb["purged_at"].endswith("Z")
        assert tomb["reason"]["signal"] == "registry" and tomb["reason"]["verdict"] == "refuse"
        assert tomb["policy"] == {"name": policy["name"], "sha256": policy["sha256"]}
        assert tomb["registry"]["opted_out"] is True
        assert tomb["registry"]["source"] == f"file:{registry}"
        assert not {"text", "html", "title", "attribution", "provenance"} & set(tomb)
    details = {url: t["reason"]["detail"] for url, t in purged.items()}
    assert "the URL is listed" in details[site.url("alpha", "/a.html")]
    assert "prefix" in details[site.url("alpha", "/gallery/2.html")]
    assert "the domain 127.0.0.2 is listed" in details[site.url("beta", "/x.html")]
    assert "the content's sha256 is listed" in details[site.url("gamma", "/z.html")]

    # The content is gone from the store; everything kept is still there, line for line.
    text = parts_text(store)
    for origin, paths in PAGES.items():
        for path in paths:
            gone = site.url(origin, path) in covered
            assert (marker(origin, path) in text) is not gone, (origin, path)
    assert len(items(store)) == len(site.crawled.items)

    after = manifest(store)
    assert after["counts"]["items"] == 5 and after["counts"]["tombstones"] == 7
    (entry,) = after["purges"]
    log_key = f"jobs/{JOB}/purges/{run_id}.jsonl"
    assert entry["run_id"] == run_id and entry["purged"] == 7 and entry["log"] == log_key
    assert after["parts"] == before["parts"]
    log = [json.loads(line) for line in (store / log_key).read_text().splitlines()]
    assert {line["final_url"] for line in log[:-1]} == covered
    assert all(line["part"].startswith(f"jobs/{JOB}/items/part-") for line in log[:-1])
    assert log[-1]["summary"] is True and log[-1]["purged"] == 7

    verify_ok("--store", store)
    shown = run_cli("provenance", "show", site.url("alpha", "/a.html"), "--store", store)
    assert shown.returncode == 0 and "PURGED at " in shown.stdout
    assert "(registry: opted out in file:" in shown.stdout
    stats = json.loads(run_cli("provenance", "stats", "--store", store, "--json").stdout)
    assert (stats["items"], stats["purged"], stats["purged_by_signal"]) == (5, 7, {"registry": 7})
    report = run_cli("report", "--store", store)
    assert report.returncode == 0 and has_line(report.stdout, "items purged 7")

    # A second run changes nothing: every object stays byte for byte; only its log is new.
    objects = snapshot(store)
    again = recheck_json(store, "--registry", registry)
    assert (again["purged"], again["already_tombstoned"], again["still_kept"]) == (0, 7, 5)
    now = snapshot(store)
    assert {k: v for k, v in now.items() if k in objects} == objects
    assert set(now) - set(objects) == {f"jobs/{JOB}/purges/{again['run_id']}.jsonl"}


def test_dry_run_reports_and_writes_nothing(site: Site, tmp_path: Path) -> None:
    store = copy_store(site, tmp_path)
    registry, covered = opt_outs(site, tmp_path / "optouts.txt")
    objects = snapshot(store)
    done = recheck(store, "--registry", registry, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing written" in done.stdout
    assert {ln.split()[2] for ln in done.stdout.splitlines() if "WOULD PURGE" in ln} == covered
    assert has_line(done.stdout, "would be purged 7")
    assert recheck_json(store, "--registry", registry, "--dry-run")["purged"] == 7
    assert snapshot(store) == objects


def test_a_registry_that_cannot_answer_purges_nothing(site: Site, tmp_path: Path) -> None:
    store = copy_store(site, tmp_path)
    objects = snapshot(store)
    done = recheck(store, "--registry", tmp_path / "no-such-list.txt")
    assert done.returncode == 1
    assert "registry unavailable" in done.stderr and "nothing was purged" in done.stderr
    # An HTTP registry that answers, but not for every URL: an error answer, never "not out".
    site.server.origin("registry").set_route(
        "/optouts", Route(body='{"urls": []}', content_type="application/json")
    )
    done = recheck(store, "--registry", site.url("registry", "/optouts"))
    assert done.returncode == 1 and "does not mention this URL" in done.stderr
    assert snapshot(store) == objects


def test_an_http_registry_is_asked_in_one_batch(site: Site, tmp_path: Path) -> None:
    store = copy_store(site, tmp_path)
    refused = site.url("alpha", "/c.html")

    def answer(request: Request) -> Route:
        urls = [
            {"url": u, "optOut": u == refused, "optIn": False} for u in site.crawled.kept_urls()
        ]
        return Route(body=json.dumps({"urls": urls}), content_type="application/json")

    site.server.origin("registry").set_route("/api", answer)
    site.server.log.clear()
    summary = recheck_json(store, "--registry", site.url("registry", "/api"))
    assert set(tombstones(store)) == {refused} and summary["purged"] == 1
    parts = len(manifest(store)["parts"]["items"])
    assert site.server.count("registry", "/api") == parts == 1  # one lookup per part


# -- policy -----------------------------------------------------------------------------------


def test_a_policy_change_purges_that_origins_items(site: Site, tmp_path: Path) -> None:
    store = copy_store(site, tmp_path)
    policy = tmp_path / "deny-beta.toml"
    default = ROOT / "policies" / "default.toml"
    policy.write_text(f'extends = "{default}"\n[domains]\ndeny = ["127.0.0.2"]\n')
    done = recheck(store, "--policy", policy)
    assert done.returncode == 0, done.stderr
    assert f"(--policy {policy})" in done.stdout
    purged = tombstones(store)
    assert set(purged) == site.urls("beta")
    assert {(t["reason"]["signal"], t["reason"]["scope"]) for t in purged.values()} == {
        ("policy", "fetch")
    }
    assert all(t["registry"] is None for t in purged.values())  # no registry was asked
    verify_ok("--store", store)


def test_opt_in_without_permission_purges_only_with_the_headers_stored(
    site: Site, tmp_path: Path
) -> None:
    """Under opt-in, "no permission found" purges only when the evidence is complete: an older
    item stored without its response headers may have had a permission in one."""
    store = copy_store(site, tmp_path)
    summary = recheck_json(store, "--policy", "opt-in", "--dry-run")
    assert summary["purged"] == len(site.crawled.items) and summary["unverifiable"] == 0
    assert summary["purged_by_signal"] == {"policy": len(site.crawled.items)}
    (part,) = (store / "jobs" / JOB / "items").glob("*.jsonl.gz")
    older = [json.loads(line) for line in gzip.decompress(part.read_bytes()).splitlines()]
    for line in older:
        assert line["provenance"].pop("headers") == {}
    part.write_bytes(gzip.compress(b"".join(json.dumps(x).encode() + b"\n" for x in older)))
    summary = recheck_json(store, "--policy", "opt-in", code=1)
    assert summary["purged"] == 0 and summary["unverifiable"] == len(older)
    assert "headers were not stored" in summary["jobs"][0]["unverifiable_items"][0]["why"]
    assert tombstones(store) == {}


def test_the_jobs_policy_is_reloaded_and_its_registry_used(site: Site, tmp_path: Path) -> None:
    """Without --policy: the job's policy file as it reads today (here with a registry turned
    on), or, when that file is gone, the text the manifest stored."""
    store = copy_store(site, tmp_path)
    registry = tmp_path / "optouts.txt"
    registry.write_text(site.url("gamma", "/w.html") + "\n")
    policy = tmp_path / "team.toml"
    policy.write_text(f'[registry]\nenabled = true\nfile = "{registry}"\n')
    path = store / "jobs" / JOB / "manifest.json"
    data = manifest(store)
    data["policy"]["source"] = str(policy)  # the job ran with team.toml, since edited
    path.write_text(json.dumps(data))
    done = recheck(store, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"(reloaded from {policy})" in done.stdout and f"file:{registry}" in done.stdout
    assert "WOULD PURGE  " + site.url("gamma", "/w.html") in done.stdout

    policy.unlink()
    done = recheck(store, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"the text stored in the manifest ({policy} no longer exists)" in done.stdout
    assert "WOULD PURGE" not in done.stdout  # the crawl's policy asked no registry


def test_a_running_job_is_skipped_unless_forced(site: Site, tmp_path: Path) -> None:
    store = copy_store(site, tmp_path)
    registry, covered = opt_outs(site, tmp_path / "optouts.txt")
    path = store / "jobs" / JOB / "manifest.json"
    path.write_text(json.dumps({**manifest(store), "status": "running"}))
    objects = snapshot(store)
    done = recheck(store, "--registry", registry)
    assert done.returncode == 0 and "still running" in done.stderr
    assert has_line(done.stdout, "jobs checked 0")
    named = recheck(store, "--registry", registry, "--job", JOB)
    assert named.returncode == 1 and "skipped" in named.stderr
    assert snapshot(store) == objects
    assert recheck_json(store, "--registry", registry, "--force")["purged"] == 7
    assert set(tombstones(store)) == covered


def test_a_rerun_completes_a_purge_cut_off_before_its_manifest(site: Site, tmp_path: Path) -> None:
    store = copy_store(site, tmp_path)
    registry, covered = opt_outs(site, tmp_path / "optouts.txt")
    path = store / "jobs" / JOB / "manifest.json"
    old_manifest = path.read_bytes()
    first = recheck_json(store, "--registry", registry)
    path.write_bytes(old_manifest)  # as if the process died after the parts were written
    verify = run_cli("provenance", "verify", "--store", store, "--json")
    assert verify.returncode == 1
    assert {p["kind"] for p in json.loads(verify.stdout)["problems"]} == {"count"}
    again = recheck_json(store, "--registry", registry)
    assert again["purged"] == 0 and again["already_tombstoned"] == len(covered)
    (entry,) = manifest(store)["purges"]
    assert entry["run_id"] == first["run_id"] and entry["purged"] == len(covered)
    verify_ok("--store", store)
    shown = run_cli("provenance", "show", site.url("beta", "/y.html"), "--store", store)
    assert "PURGED at" in shown.stdout  # the index was rebuilt after the purge
    (store / entry["log"]).unlink()  # the audit trail of a purge is part of the job
    verify = run_cli("provenance", "verify", "--store", store, "--json")
    assert [p["kind"] for p in json.loads(verify.stdout)["problems"]] == ["missing-purge-log"]


# -- S3 ---------------------------------------------------------------------------------------


def test_recheck_purges_from_an_s3_store(site: Site, tmp_path: Path) -> None:
    registry, covered = opt_outs(site, tmp_path / "optouts.txt")
    with moto_server() as s3:
        where = ("--store", s3.url("crawls"), "--s3-endpoint", s3.endpoint)
        spool = ("--set", f"CONSENT_SPOOL_DIR={tmp_path / 'spool'}")
        job = crawl(tmp_path, *site.seeds(), job_id=JOB, extra=(*where, *spool))
        assert job.exit_code == 0, job.stderr
        objects = S3Objects.from_url(s3.url("crawls"), endpoint_url=s3.endpoint)

        def stored() -> dict[str, bytes]:
            return {key: objects.get(key) for key in objects.list("")}

        def lines() -> list[dict[str, Any]]:
            keys = objects.list(f"jobs/{JOB}/items/")
            raw = b"".join(gzip.decompress(objects.get(k)) for k in keys)
            return [json.loads(line) for line in raw.splitlines()]

        summary = recheck_json(where[1], *where[2:], "--registry", registry)
        assert summary["purged"] == len(covered)
        assert {ln["final_url"] for ln in lines() if ln.get("tombstone")} == covered
        text = b"".join(
            gzip.decompress(objects.get(k))
            for k in objects.list("jobs/")
            if k.endswith(".jsonl.gz")
        ).decode()
        assert marker("alpha", "/gallery/1.html") not in text
        assert marker("alpha", "/b.html") in text
        assert objects.exists(f"jobs/{JOB}/purges/{summary['run_id']}.jsonl")
        verify_ok(*where)
        before = stored()
        again = recheck_json(where[1], *where[2:], "--registry", registry)
        assert again["purged"] == 0
        after = stored()
        assert {k: v for k, v in after.items() if k in before} == before
        assert set(after) - set(before) == {f"jobs/{JOB}/purges/{again['run_id']}.jsonl"}


# -- fresh signals ----------------------------------------------------------------------------


def test_refetched_robots_txt_disallowing_us_purges_those_items(site: Site, tmp_path: Path) -> None:
    store = copy_store(site, tmp_path)
    robots = "User-agent: ConsentCrawler\nDisallow: /gallery/\nDisallow: /b.html\n"
    alpha = site.server.origin("alpha")
    alpha.set_route("/robots.txt", Route(body=robots, content_type="text/plain"))
    try:
        site.server.log.clear()
        summary = recheck_json(store, "--refetch-signals", "--allow-private")
        fetched = site.server.requests("alpha", "/robots.txt")
    finally:
        alpha.set_route("/robots.txt", OPEN_ROBOTS)
    assert summary["purged"] == 3 and summary["purged_by_signal"] == {"robots": 3}
    assert len(fetched) == 1 and fetched[0].user_agent.startswith("ConsentCrawler/")
    purged = tombstones(store)
    assert set(purged) == site.urls("alpha", "/b.html", "/gallery/1.html", "/gallery/2.html")
    sha = hashlib.sha256(robots.encode()).hexdigest()
    for tomb in purged.values():
        assert tomb["reason"]["signal"] == "robots" and tomb["signals_from"] == "refetched"
        assert tomb["reasons"][0]["evidence"] == sha
    assert (store / "evidence" / sha).read_text() == robots  # the new file, as evidence
    verify_ok("--store", store)


def test_refetch_of_an_unreachable_file_is_unverifiable_not_purged(
    site: Site, tmp_path: Path
) -> None:
    store = copy_store(site, tmp_path)
    parts = {k: v for k, v in snapshot(store).items() if "/purges/" not in k}
    gamma = site.server.origin("gamma")
    gamma.set_route("/robots.txt", Route(status=503, body="down", content_type="text/plain"))
    try:
        summary = recheck_json(store, "--refetch-signals", "--allow-private", code=1)
        done = recheck(store, "--refetch-signals", "--allow-private")
    finally:
        del gamma.routes["/robots.txt"]
    assert (summary["purged"], summary["unverifiable"]) == (0, len(PAGES["gamma"]))
    unverifiable = {i["url"] for i in summary["jobs"][0]["unverifiable_items"]}
    assert unverifiable == site.urls("gamma")
    assert "UNVERIFIABLE  " + site.url("gamma", "/z.html") in done.stdout
    assert "robots.txt unreachable (HTTP 503)" in done.stdout
    # Without --allow-private the network guard stops every fetch: all unverifiable.
    guarded = recheck_json(store, "--refetch-signals", code=1)
    assert guarded["unverifiable"] == len(site.crawled.items) and guarded["purged"] == 0
    assert "network guard" in guarded["jobs"][0]["unverifiable_items"][0]["why"]
    assert {k: v for k, v in snapshot(store).items() if "/purges/" not in k} == parts


# -- what counts as a refusal to purge on ------------------------------------------------------


def test_only_positive_refusals_purge() -> None:
    error = Reason("ai-txt", "error", "use", "ai.txt could not be read (HTTP 503)")
    refuse = Reason("registry", "refuse", "use", "opted out")
    mode = OPT_IN_DEFAULT  # no signal refused; nothing permitted

    def decision(*reasons: Reason) -> Decision:
        return Decision("https://a.example/", "allowed", "refused", "opt-in", reasons)

    assert judge(decision(error), []).outcome == "unverifiable"
    both = judge(decision(error, refuse), [])
    assert both.outcome == "purge" and both.reasons == (refuse, error)
    assert judge(decision(mode), []).outcome == "purge"
    missing = judge(decision(mode), ["the item's response headers were not stored"])
    assert missing.outcome == "unverifiable" and "headers were not stored" in missing.why
    assert judge(decision(mode, refuse), ["headers missing"]).outcome == "purge"
    denied = Reason("policy", "refuse", "fetch", "a.example is on the policy's deny list")
    fetch = Decision("https://a.example/", "refused", "n/a", "opt-in", (denied,))
    assert judge(fetch, ["headers missing"]).outcome == "purge"


def test_recheck_from_stored_evidence_does_not_import_scrapy(site: Site, tmp_path: Path) -> None:
    """Only --refetch-signals needs the crawler's fetch code; the rest is an operator's tool."""
    store = copy_store(site, tmp_path)
    registry, _ = opt_outs(site, tmp_path / "optouts.txt")
    script = (
        "import sys\n"
        "from crawler.cli.main import main\n"
        "code = main(['recheck', '--store', sys.argv[1], '--registry', sys.argv[2]])\n"
        "assert code == 0, code\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('scrapy', 'twisted')]\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(store), str(registry)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(tombstones(store)) == 7


def test_a_resumed_job_never_stores_a_purged_item_again(site: Site, tmp_path: Path) -> None:
    """Resume after a purge: the purged items' ids are known, so re-fetching them stores
    nothing, and the manifest keeps its purge runs and tombstone count."""
    store = copy_store(site, tmp_path)
    registry, covered = opt_outs(site, tmp_path / "optouts.txt")
    recheck_json(store, "--registry", registry)
    path = store / "jobs" / JOB / "manifest.json"
    path.write_text(path.read_text().replace('"finished"', '"interrupted"'))
    resumed = crawl(store, extra=("--resume", JOB), job_id=JOB)
    assert resumed.exit_code == 0, resumed.stderr
    lines = items(store)
    assert len(lines) == len(site.crawled.items)  # nothing stored twice, nothing back
    assert set(tombstones(store)) == covered
    after = manifest(store)
    assert after["counts"]["tombstones"] == 7 and after["counts"]["items"] == 5
    assert len(after["purges"]) == 1
    verify_ok("--store", store)
