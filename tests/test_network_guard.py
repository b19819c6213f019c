"""The network guard (issue #8 part 2): loopback, private, link-local and other non-global
addresses are refused with signal ``policy`` unless allowed, on the URL and again at connect
time, so that neither a redirect nor a name that resolves (or is rebound) to such an address
reaches it.  Refusals are recorded decisions; the servers' own request logs show nothing was
sent.  Crawls here run without ``--allow-private``: the test site is let through by a policy
``network.allow`` entry naming its exact address and port, and nothing else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import ConnectingCancelledError, DNSLookupError
from twisted.internet.interfaces import IHostnameResolver, IResolverSimple
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from zope.interface import implementer

from crawler.core import PolicyError, load_policy, policy_from_mapping
from crawler.demo.server import Origin, Route, SiteServer
from crawler.guarded_resolver import AddressGuard, install
from crawler.network_guard import NetworkRules, guard_reason, network_rules, parse_allow_entry
from tests.clitools import console_script
from tests.crawlkit import FAST, Job, derived_policy, refusing_signals

# Keeps hypothesis failure reports readable under filterwarnings=error (see tests/test_fuzz.py).
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
METADATA_URL = "http://169.254.169.254/latest/meta-data/"
KINDS = tuple(
    f"{kind} address"
    for kind in (
        "a loopback",
        "a link-local (cloud metadata)",
        "a multicast",
        "an unspecified",
        "a reserved",
        "a private",
        "a non-global (special-purpose)",
    )
)


def page(title: str, *links: str) -> Route:
    anchors = " ".join(f'<a href="{link}">{link}</a>' for link in links)
    return Route(body=f"<html lang=en><title>{title}</title><p>{title}</p>{anchors}</html>")


def guarded_crawl(
    store: Path, *seeds: str, extra: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> Job:
    """A crawl through the console script *without* --allow-private, stats in stderr."""
    argv = [console_script(), "crawl", *seeds, "--store", str(store), "--job-id", "guard"]
    done = subprocess.run(
        [*argv, "--log-level", "INFO", *FAST, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Job(done.returncode, done.stdout, done.stderr, store, "guard")


def stats_of(stderr: str) -> dict[str, str]:
    """Scrapy's closing stats dump, by name (values as printed)."""
    dump = stderr.split("Dumping Scrapy stats:", 1)[1]
    return dict(re.findall(r"^[{ ]'([^']+)': (.*?),?}?$", dump, re.MULTILINE))


def allowing(tmp_path: Path, *entries: str, tables: str = "") -> tuple[str, str]:
    allow = ", ".join(f'"{entry}"' for entry in entries)
    return ("--policy", derived_policy(tmp_path, f"[network]\nallow = [{allow}]\n{tables}"))


def assert_guard_refusal(decision: dict[str, Any], detail: str) -> None:
    assert (decision["fetch"], decision["use"], decision["stage"]) == ("refused", "n/a", "request")
    assert refusing_signals(decision) == {"policy"}
    [reason] = decision["reasons"]
    assert reason["scope"] == "fetch" and reason["verdict"] == "refuse"
    assert reason["detail"].startswith(f"network guard: {detail}"), reason["detail"]


# -- the rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("169.254.169.254", "a link-local (cloud metadata) address"),
        ("10.0.0.5", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("fd00:ec2::254", "a private address"),
        ("100.100.100.200", "a non-global (special-purpose) address"),
        ("224.0.0.1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_every_non_global_address_is_refused_by_default(address: str, kind: str | None) -> None:
    assert NetworkRules().refusal(address, 80) == kind
    assert NetworkRules(allow_private=True).refusal(address, 80) is None


def test_allow_entries_let_through_exactly_what_they_name() -> None:
    policy = policy_from_mapping(
        {"network": {"allow": ["127.0.0.1:8080", "10.1.0.0/16", "[::1]:9000", "192.168.1.20"]}}
    )
    rules = network_rules(policy)
    assert rules.refusal("127.0.0.1", 8080) is None
    assert rules.refusal("127.0.0.1", 8081) == "a loopback address"
    assert rules.refusal("127.0.0.2", 8080) == "a loopback address"
    assert rules.refusal("10.1.200.3", 1) is None
    assert rules.refusal("10.2.0.1", 80) == "a private address"
    assert rules.refusal("::1", 9000) is None and rules.refusal("::1", 80) is not None
    assert rules.refusal("192.168.1.20", 443) is None
    assert rules.refusal("169.254.169.254", 80) is not None
    # The URL check uses the same rules; names are left to the connect-time check.
    assert guard_reason("http://127.0.0.1:8080/x", rules) is None
    refused = guard_reason("http://127.0.0.1:8081/x", rules)
    assert refused is not None and refused.signal == "policy" and refused.scope == "fetch"
    assert guard_reason("http://localhost:8080/", rules) is not None  # a loopback name
    assert guard_reason("http://rebind.test:8080/", rules) is None
    assert network_rules(policy, allow_private=True).allow_private
    assert network_rules(policy_from_mapping({"network": {"allow_private": True}})).allow_private


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("10.0.0.5/8", "has host bits set"),
        ("999.1.1.1", "does not appear to be an IPv4 or IPv6"),
        ("127.0.0.1:99999", "is not a port number"),
        ("::1:8080]", "does not appear to be an IPv4 or IPv6"),
        ("[::1]", "[address]:port"),
    ],
)
def test_a_bad_allow_entry_is_a_located_policy_error(tmp_path: Path, entry: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_allow_entry(entry)
    path = derived_policy(tmp_path, f'[network]\nallow = ["10.0.0.0/8", "{entry}"]\n')
    with pytest.raises(PolicyError) as caught:
        network_rules(load_policy(path))
    [issue] = caught.value.issues
    assert (issue.file, issue.key) == (path, "network.allow")
    assert issue.message.startswith(f"item 2: '{entry}' is not an address")


def test_host_names_are_not_allow_entries(tmp_path: Path) -> None:
    path = derived_policy(tmp_path, '[network]\nallow = ["intranet.example"]\n')
    with pytest.raises(PolicyError, match=r"network\.allow: item 1: 'intranet.example' does not"):
        load_policy(path)


ENTRY_TEXT = st.one_of(
    st.text(max_size=30),
    st.lists(
        st.sampled_from(["1", "0", "255", "256", ".", ":", "/", "[", "]", "::", "a", "f"])
    ).map("".join),
)


@settings(max_examples=300, deadline=400, database=None)
@given(ENTRY_TEXT, st.integers(0, 70_000))
def test_allow_entries_and_addresses_of_any_text_never_crash(text: str, port: int) -> None:
    try:
        network, allowed_port = parse_allow_entry(text)
    except ValueError:
        pass
    else:
        assert allowed_port is None or 0 < allowed_port < 65536
        assert (
            NetworkRules(allow=((network, allowed_port),)).refusal(
                str(network.network_address), allowed_port
            )
            is None
        )
    for rules in (NetworkRules(), NetworkRules(allow_private=True)):
        assert rules.refusal(text, port) in (None, *KINDS, "not an IP address")
        reason = guard_reason(f"http://{text}/", rules)
        assert reason is None or reason.detail.startswith("network guard: ")


# -- the connect-time check: what is checked is what is connected to ------------------------


@implementer(IHostnameResolver)
class SequenceResolver:
    """Answers the n-th lookup of a name with the n-th answer (the last one repeats): a DNS
    server rebinding the name between lookups."""

    def __init__(self, *answers: tuple[str, ...]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        addresses = self.answers[min(len(self.lookups), len(self.answers) - 1)]
        self.lookups.append(hostName)
        resolutionReceiver.resolutionBegan(None)
        for address in addresses:
            resolutionReceiver.addressResolved(IPv4Address("TCP", address, portNumber))
        resolutionReceiver.resolutionComplete()
        return None


def connect(reactor: MemoryReactorClock, host: str, port: int) -> list[Failure]:
    """Start a connection (the memory reactor records it and never completes it), then give
    it up; the failures other than that cancellation."""
    failures: list[Failure] = []
    attempt = HostnameEndpoint(reactor, host, port).connect(Factory.forProtocol(Protocol))
    attempt.addErrback(failures.append)
    attempt.cancel()
    return [f for f in failures if not f.check(ConnectingCancelledError)]


def guarded_reactor(stub: SequenceResolver, rules: NetworkRules) -> tuple[Any, AddressGuard]:
    reactor = MemoryReactorClock()
    reactor.installNameResolver(stub)
    guard = AddressGuard()
    guard.add(rules)
    install(reactor, guard)
    install(reactor, guard)  # idempotent: one wrapper
    return reactor, guard


def test_a_rebound_name_is_refused_and_only_checked_addresses_are_connected_to() -> None:
    stub = SequenceResolver(("93.184.216.34",), ("10.0.0.5",))
    reactor, guard = guarded_reactor(stub, NetworkRules())

    connect(reactor, "rebind.test", 80)
    assert stub.lookups == ["rebind.test"]  # one lookup, and its checked answer is used
    assert [client[:2] for client in reactor.tcpClients] == [("93.184.216.34", 80)]
    assert guard.refusal("rebind.test", 80) is None

    [failure] = connect(reactor, "rebind.test", 80)  # now the name answers a private address
    assert failure.check(DNSLookupError)
    assert stub.lookups == ["rebind.test", "rebind.test"]
    assert len(reactor.tcpClients) == 1  # nothing was connected for it
    assert guard.refusal("REBIND.test", 80) == "rebind.test resolves to 10.0.0.5, a private address"


def test_a_name_with_any_forbidden_address_is_refused_whole() -> None:
    stub = SequenceResolver(("93.184.216.34", "127.0.0.1"))
    reactor, guard = guarded_reactor(stub, NetworkRules())
    [failure] = connect(reactor, "mixed.test", 443)
    assert failure.check(DNSLookupError) and reactor.tcpClients == []
    assert guard.refusal("mixed.test", 443) == (
        "mixed.test resolves to 127.0.0.1, a loopback address"
    )


def test_the_guard_checks_the_port_connected_to_and_every_crawls_rules() -> None:
    allowed = NetworkRules(allow=(parse_allow_entry("127.0.0.1:8080"),))
    reactor, guard = guarded_reactor(SequenceResolver(("127.0.0.1",)), allowed)
    assert connect(reactor, "local.test", 8080) == []
    assert [client[:2] for client in reactor.tcpClients] == [("127.0.0.1", 8080)]
    [failure] = connect(reactor, "local.test", 8081)
    assert failure.check(DNSLookupError) and len(reactor.tcpClients) == 1
    guard.add(NetworkRules())  # a second crawl in the process, without the entry: strictest wins
    connect(reactor, "local.test", 8080)
    assert len(reactor.tcpClients) == 1
    guard.remove(NetworkRules())
    connect(reactor, "local.test", 8080)
    assert len(reactor.tcpClients) == 2


# -- crawls ------------------------------------------------------------------------------------


def test_metadata_seed_is_refused_and_recorded_and_nothing_is_connected(tmp_path: Path) -> None:
    """The default policy, no --allow-private: the acceptance case of issue #8."""
    seeds = ("http://169.254.169.254/", METADATA_URL)
    job = guarded_crawl(tmp_path, *seeds)
    for seed in seeds:
        assert_guard_refusal(
            job.decision_for(seed), "169.254.169.254 is a link-local (cloud metadata) address"
        )
    stats = stats_of(job.stderr)
    assert stats["consent/refused/fetch/policy"] == "2"
    # Refused before anything was sent: no policy file asked for, no download started.
    assert "downloader/request_count" not in stats
    assert not any(name.startswith("consent/policy_files/") for name in stats)
    assert job.manifest["counts"]["refused_by_signal"] == {"policy": 2}
    assert job.manifest["policy"]["name"] == "default"


def test_redirect_to_a_loopback_address_is_refused_and_never_requested(tmp_path: Path) -> None:
    target = Origin("target", {"/secret": page("secret")})
    site = Origin(
        "site", {"/": page("home", "/go"), "/go": Route(redirect_to="{origin:target}/secret")}
    )
    with SiteServer([site, target]) as server:
        job = guarded_crawl(
            tmp_path / "s",
            site.url("/"),
            target.url("/"),
            extra=allowing(tmp_path, f"127.0.0.1:{site.port}"),
        )
        server.wait_idle()
        assert server.requests("target") == []
        assert "/go" in server.paths("site")
    loopback = "127.0.0.1 is a loopback address"
    redirected = job.decision_for(target.url("/secret"))
    assert_guard_refusal(redirected, loopback)
    assert [hop["url"] for hop in redirected["redirects"]][:1] == [site.url("/go")]
    assert_guard_refusal(job.decision_for(target.url("/")), loopback)
    assert job.kept_urls() == {site.url("/")}


def test_a_name_resolving_to_loopback_is_refused_at_connect_time(tmp_path: Path) -> None:
    """``2130706433`` is 127.0.0.1 written as one number: not an IP literal to the URL check,
    but the system resolver answers 127.0.0.1 for it, and the connect-time check refuses
    that.  Here it is the policy files that are refused: robots.txt is unreachable, so the
    page is refused with a reason that names the guard."""
    target = Origin("target", {"/": page("home")})
    with SiteServer([target]) as server:
        url = f"http://2130706433:{target.port}/"
        job = guarded_crawl(tmp_path, url)
        server.wait_idle()
        assert server.requests() == []
    decision = job.decision_for(url)
    assert (decision["fetch"], decision["stage"]) == ("refused", "request")
    [reason] = [r for r in decision["reasons"] if r["verdict"] != "allow"]
    assert reason["signal"] == "robots" and reason["verdict"] == "error"
    assert "network guard: 2130706433 resolves to 127.0.0.1, a loopback address" in reason["detail"]
    assert int(stats_of(job.stderr)["consent/network_guard/refused_connections"]) >= 1


@implementer(IResolverSimple)
class RebindingResolver:
    """A ``TWISTED_DNS_RESOLVER`` for the crawl below: ``rebind.test`` answers the addresses of
    ``$REBIND_ANSWERS`` in turn (the last one repeats), IP literals answer themselves."""

    def __init__(self, reactor: Any, answers: list[str]) -> None:
        self.reactor, self.answers, self.lookups = reactor, answers, 0

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> RebindingResolver:
        return cls(reactor, os.environ["REBIND_ANSWERS"].split(","))

    def install_on_reactor(self) -> None:
        self.reactor.installResolver(self)

    def getHostByName(self, name: str, timeout: Any = ()) -> defer.Deferred[str]:
        try:
            return defer.succeed(str(ipaddress.ip_address(name)))
        except ValueError:
            answer = self.answers[min(self.lookups, len(self.answers) - 1)]
            self.lookups += 1
            return defer.succeed(answer)


def test_dns_rebinding_between_robots_and_page_is_refused_and_recorded(tmp_path: Path) -> None:
    """robots.txt is fetched from the allowed 127.0.0.1:PORT; then the name is rebound to
    10.0.0.5 and the page's own connection is refused: a decision, signal policy."""
    site = Origin("site", {"/": page("home")})
    with SiteServer([site]) as server:
        url = f"http://rebind.test:{site.port}/"
        job = guarded_crawl(
            tmp_path / "s",
            url,
            extra=(
                *allowing(
                    tmp_path,
                    f"127.0.0.1:{site.port}",
                    tables="[ai_txt]\nhonour = false\n[tdmrep]\nhonour = false\n",
                ),
                "--set",
                f"TWISTED_DNS_RESOLVER={__name__}.RebindingResolver",
            ),
            env={"REBIND_ANSWERS": "127.0.0.1,10.0.0.5", "PYTHONPATH": str(ROOT)},
        )
        server.wait_idle()
        assert server.paths("site") == ["/robots.txt"]
    assert_guard_refusal(
        job.decision_for(url), "rebind.test resolves to 10.0.0.5, a private address"
    )
    stats = stats_of(job.stderr)
    assert stats["consent/network_guard/refused_connections"] == "1"
    assert "retry/count" not in stats  # recorded at once, not retried as a DNS failure


def test_the_policy_key_allows_private_addresses_like_the_flag(tmp_path: Path) -> None:
    site = Origin("site", {"/": page("home")})
    with SiteServer([site]):
        policy = derived_policy(tmp_path, "[network]\nallow_private = true\n")
        job = guarded_crawl(tmp_path / "s", site.url("/"), extra=("--policy", policy))
    assert job.kept_urls() == {site.url("/")}
