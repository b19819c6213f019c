"""The network guard: never let the crawler be pointed at its own network.

URLs whose host is loopback, private, link-local (cloud metadata such as 169.254.169.254),
multicast, reserved or unspecified are refused with signal ``network`` unless the crawl allows
private addresses (``--allow-private``, for local sites and tests).  This checks what the URL
names; names that *resolve* to such addresses are checked at connect time (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from crawler.core import Reason

_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def blocked_address(host: str) -> str | None:
    """Why ``host`` (a name or an IP literal) must not be contacted, or None."""
    host = host.strip("[]").lower().rstrip(".")
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return f"{host} is a loopback name"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for label, test in (
        ("loopback", address.is_loopback),
        ("private", address.is_private),
        ("link-local (cloud metadata)", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("unspecified", address.is_unspecified),
    ):
        if test:
            return f"{address} is a {label} address"
    return None


def guard_reason(url: str, allow_private: bool) -> Reason | None:
    if allow_private:
        return None
    why = blocked_address(urlsplit(url).hostname or "")
    if why is None:
        return None
    return Reason(
        "network",
        "refuse",
        "fetch",
        f"{why}; refused by the network guard (allow with --allow-private)",
    )
