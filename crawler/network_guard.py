"""The network guard: never let the crawler be pointed at its own network.

Loopback, private, link-local (cloud metadata such as 169.254.169.254), multicast, reserved,
unspecified and every other address that is not globally reachable (e.g. carrier-grade NAT
100.64.0.0/10) are refused with signal ``policy`` unless the crawl allows them:
``crawl --allow-private`` or the policy's ``network.allow_private`` let all of them through,
``network.allow`` lists the few that may be (``10.1.0.0/16``, ``127.0.0.1:8080``).

Two checks use these rules: the URL's host (IP literals and loopback names), early and cheap,
here; and every address a host name resolves to, at connect time (``crawler/guarded_resolver.py``),
so a name that resolves, or is rebound, to a forbidden address is refused too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from crawler.core import Policy, PolicyError, PolicyIssue, Reason
from crawler.core._allow_entries import IPNetwork, allow_entry_error, parse_allow_entry

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_DEFAULT_PORTS = {"http": 80, "https": 443}
HOW_TO_ALLOW = "allow it with --allow-private or the policy's [network] keys"


def ip_of(host: str) -> IPAddress | None:
    """The IP address a host string is written as (IPv4-mapped IPv6 unwrapped), or None."""
    try:
        address = ipaddress.ip_address(host.strip("[]").rstrip("."))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_kind(address: IPAddress) -> str | None:
    """What forbids connecting to ``address`` ('a private address', …), or None if it is a
    globally reachable one."""
    for label, test in (
        ("a loopback", address.is_loopback),
        ("a link-local (cloud metadata)", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("an unspecified", address.is_unspecified),
        ("a reserved", address.is_reserved),
        ("a private", address.is_private),
        ("a non-global (special-purpose)", not address.is_global),
    ):
        if test:
            return f"{label} address"
    return None


def blocked_address(host: str) -> str | None:
    """Why ``host`` (a name or an IP literal) must not be contacted, or None."""
    host = host.strip("[]").lower().rstrip(".")
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return f"{host} is a loopback name"
    address = ip_of(host)
    kind = None if address is None else address_kind(address)
    return None if kind is None else f"{address} is {kind}"


@dataclass(frozen=True)
class NetworkRules:
    """What one crawl may connect to besides globally reachable addresses."""

    allow_private: bool = False
    allow: tuple[tuple[IPNetwork, int | None], ...] = ()

    def refusal(self, address: str, port: int | None) -> str | None:
        """Why connecting to the IP ``address`` on ``port`` is refused ('a private address'),
        or None."""
        if self.allow_private:
            return None
        ip = ip_of(address)
        if ip is None:  # a resolver answered with something that is not an address
            return "not an IP address"
        kind = address_kind(ip)
        if kind is None:
            return None
        for network, allowed_port in self.allow:
            if ip in network and allowed_port in (None, port):
                return None
        return kind

    def url_refusal(self, url: str) -> str | None:
        """Why the URL's host, as written, is refused, or None (names are checked when they
        are resolved)."""
        if self.allow_private:
            return None
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:  # "http://[/": failure is never permission
            return f"the host of {url!r} cannot be read"
        why = blocked_address(host)
        address = ip_of(host)
        if why is None or address is None:
            return why
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            port = None
        return None if self.refusal(str(address), port) is None else why


def network_rules(policy: Policy, allow_private: bool = False) -> NetworkRules:
    """The policy's ``[network]`` rules, with ``--allow-private``; raises PolicyError on an
    ``allow`` entry that is not an address, a network or an address:port."""
    allowed = []
    for number, entry in enumerate(policy.network.allow, start=1):
        message = allow_entry_error(number, entry)
        if message is not None:
            raise PolicyError([PolicyIssue(policy.source, "network.allow", message)])
        allowed.append(parse_allow_entry(entry))
    return NetworkRules(allow_private or policy.network.allow_private, tuple(allowed))


def guard_refusal(why: str) -> Reason:
    """The reason a request refused by the network guard is recorded with."""
    return Reason("policy", "refuse", "fetch", f"network guard: {why}; {HOW_TO_ALLOW}")


def guard_reason(url: str, rules: NetworkRules | bool) -> Reason | None:
    """The refusal of a URL whose host is a forbidden address or a loopback name, or None.
    ``rules`` may be a plain ``allow_private`` flag."""
    if isinstance(rules, bool):
        rules = NetworkRules(allow_private=rules)
    why = rules.url_refusal(url)
    return None if why is None else guard_refusal(why)
