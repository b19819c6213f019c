"""``network.allow`` entries: an address, a network, or an address with a port.

In the core so that ``policy validate`` rejects a bad entry exactly as a crawl would.
"""

from __future__ import annotations

import ipaddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_entry(entry: str) -> tuple[IPNetwork, int | None]:
    """``'10.0.0.5'``, ``'10.1.0.0/16'``, ``'127.0.0.1:8080'`` or ``'[::1]:8080'`` as a network
    and a port (None: any); raises ValueError."""
    text, port = entry.strip(), None
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError("an IPv6 address with a port is written [address]:port")
        text, port = inside, _port(rest[1:])
    elif text.count(":") == 1:
        text, port_text = text.split(":")
        port = _port(port_text)
    return ipaddress.ip_network(text, strict=True), port


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port number")
    return int(text)


def allow_entry_error(number: int, entry: str) -> str | None:
    """The message for item ``number`` of ``network.allow`` if it cannot be parsed."""
    try:
        parse_allow_entry(entry)
    except ValueError as exc:
        return f"item {number}: {entry!r} is not an address, network or address:port ({exc})"
    return None
