"""Policy safety (issue #8 part 4): a policy that fails validation never starts a crawl; every
manifest carries the policy's text and sha256; a policy file changed while a job runs is
detected and reported, and the job goes on under the policy it started with.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from crawler.core import load_policy
from crawler.demo.server import Origin, Route, SiteServer
from tests.crawlkit import DEFAULT_POLICY, FAST, Job, crawl, start_crawl, wait_until


def page(title: str, *links: str) -> Route:
    anchors = " ".join(f'<a href="{link}">{link}</a>' for link in links)
    return Route(body=f"<html lang=en><title>{title}</title><p>{title}</p>{anchors}</html>")


BROKEN = {
    "unknown key": 'extends = "{default}"\n[tdmrep]\non_eror = "refuse"\n',
    "bad value": 'extends = "{default}"\nmode = "sometimes"\n',
    "not TOML": 'extends = "{default}"\n[robots\n',
    "missing parent": 'extends = "no-such-policy.toml"\n',
    "extends loop": 'extends = "policy.toml"\n',
    "bad network entry": 'extends = "{default}"\n[network]\nallow = ["10.0.0.5/8"]\n',
    "name as network entry": 'extends = "{default}"\n[network]\nallow = ["intranet.example"]\n',
}


@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_a_policy_that_fails_validation_never_starts_a_crawl(tmp_path: Path, problem: str) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(BROKEN[problem].format(default=DEFAULT_POLICY), encoding="utf-8")
    origin = Origin("never", {"/": page("home")})
    with SiteServer([origin]) as site:
        store = tmp_path / "store"
        job = crawl(store, origin.url("/"), extra=("--policy", str(policy)))
        site.wait_idle()
        assert site.requests() == []
    assert job.exit_code == 2, job.stderr
    assert "policy error: " in job.stderr, job.stderr
    assert str(policy.name) in job.stderr or "no-such-policy" in job.stderr
    assert not (store / "jobs").exists()  # no job was started: not even a manifest


def test_every_manifest_carries_the_whole_policy_chain_and_its_sha256(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text(f'extends = "{DEFAULT_POLICY}"\nmode = "opt-in"\n', encoding="utf-8")
    team = tmp_path / "team.toml"
    team.write_text('extends = "base.toml"\nname = "team"\n', encoding="utf-8")
    origin = Origin("site", {"/": page("home")})
    with SiteServer([origin]):
        job = crawl(tmp_path / "store", origin.url("/"), extra=("--policy", str(team)))
    assert job.exit_code == 0, job.stderr
    recorded = job.manifest["policy"]
    text = recorded["text"]
    for file in (team, base, DEFAULT_POLICY):
        assert file.read_text(encoding="utf-8") in text  # nearest first, each file whole
    assert recorded["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert recorded["sha256"] == load_policy(team).sha256
    assert (recorded["name"], recorded["mode"]) == ("team", "opt-in")
    assert "policy_changed" not in job.manifest
    for item in job.items:
        assert item["provenance"]["policy"] == {"name": "team", "sha256": recorded["sha256"]}


def test_a_policy_changed_during_a_job_is_reported_and_not_applied(tmp_path: Path) -> None:
    """The parent of the policy's extends chain is rewritten (to deny the site) while the
    crawl runs: the change is seen by the periodic check (in the running manifest, before the
    crawl ends) and at the end; every page is still decided under the starting policy."""
    base = tmp_path / "base.toml"
    base.write_text(f'extends = "{DEFAULT_POLICY}"\n', encoding="utf-8")
    team = tmp_path / "team.toml"
    team.write_text('extends = "base.toml"\nname = "team"\n', encoding="utf-8")
    started_with = load_policy(team).sha256
    slow = Route(body="<html lang=en><title>slow</title><p>slow</p></html>", delay=7.0)
    origin = Origin("site", {"/": page("home", "/a", "/slow"), "/a": page("a"), "/slow": slow})
    store = tmp_path / "store"
    manifest = store / "jobs" / "changing" / "manifest.json"
    with SiteServer([origin]) as site:
        crawl_process = start_crawl(
            store,
            origin.url("/"),
            job_id="changing",
            extra=("--policy", str(team), "--log-level", "INFO"),
        )
        wait_until(lambda: site.count("site", "/slow") > 0)
        base.write_text(
            f'extends = "{DEFAULT_POLICY}"\n[domains]\ndeny = ["127.0.0.1"]\n', encoding="utf-8"
        )
        changed_to = load_policy(team).sha256

        def reported_while_running() -> bool:
            try:
                seen = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return False
            return seen["status"] == "running" and "policy_changed" in seen

        wait_until(reported_while_running, timeout=20)
        still_running = crawl_process.poll() is None
        stdout, stderr = crawl_process.communicate(timeout=60)
    assert still_running, "the change was only reported at the end"
    assert crawl_process.returncode == 0, stderr
    job = Job(crawl_process.returncode, stdout, stderr, store, "changing")
    final = job.manifest
    assert final["policy"]["sha256"] == started_with
    assert final["policy_changed"]["sha256_now"] == changed_to != started_with
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", final["policy_changed"]["at"])
    assert f"the policy {team} changed during job changing" in stderr
    assert "'consent/policy_changed': 1" in stderr
    # Decided under the starting policy: the new deny list was never applied.
    assert job.kept_urls() == {origin.url("/"), origin.url("/a"), origin.url("/slow")}
    assert final["counts"]["refused_by_signal"] == {}


def test_a_policy_made_unreadable_during_a_job_is_reported(tmp_path: Path) -> None:
    team = tmp_path / "team.toml"
    team.write_text(f'extends = "{DEFAULT_POLICY}"\n', encoding="utf-8")
    origin = Origin("site", {"/": page("home", "/slow"), "/slow": Route(delay=1.0)})
    store = tmp_path / "store"
    with SiteServer([origin]) as site:
        process = start_crawl(
            store, origin.url("/"), job_id="broken", extra=("--policy", str(team), *FAST)
        )
        wait_until(lambda: site.count("site", "/slow") > 0)
        team.write_text("mode = [\n", encoding="utf-8")
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    changed = Job(0, "", stderr, store, "broken").manifest["policy_changed"]
    assert changed["sha256_now"] is None
    assert "not valid TOML" in changed["error"]
    assert "unreadable: " in stderr
