"""The few derived fields the index and the tools filter on, computed one way everywhere.

Domains, times and "which signals refused this" are derived from records in more than one place
(index build, ``list`` filters, ``verify``'s recount); defining them once keeps a count in
``stats`` equal to the same count in ``verify`` and in the manifest.
"""

from __future__ import annotations

import contextlib
import ipaddress
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

REFUSING: Final = frozenset({"refuse", "error"})


def authority(url: str) -> tuple[str, str]:
    """(domain, host key) of a URL: the host with a non-default port (so local test origins on
    one address stay apart), and the host in an order where a parent domain is a prefix."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "", ""
    default = {"http": 80, "https": 443}.get(parts.scheme)
    domain = f"{host}:{port}" if port is not None and port != default else host
    if ":" in host:
        domain = f"[{host}]:{port}" if port is not None and port != default else host
    return domain, host_key(host)


def host_key(host: str) -> str:
    """``www.example.com`` -> ``com.example.www.`` so ``example.com`` and its subdomains share
    the prefix ``com.example.``; an IP address is kept as it is (it has no parents)."""
    host = host.strip().strip(".").lower()
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return host + "."
    return ".".join(reversed(host.split("."))) + "."


def normalise_time(value: Any) -> str | None:
    """An RFC 3339 time or a date as UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (sortable as text);
    None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refusal_scope(record: dict[str, Any]) -> str | None:
    """Which scope's reasons made a decision a refusal (None when it was kept)."""
    if record.get("fetch") == "refused":
        return "fetch"
    if record.get("use") != "allowed":
        return "use"
    return None


def refusing_signals(record: dict[str, Any]) -> list[str]:
    """The signals that refused this decision, in reason order, each once (the manifest's
    ``refused_by_signal`` counts the same reasons)."""
    scope = refusal_scope(record)
    out: list[str] = []
    for reason in record.get("reasons") or []:
        if reason.get("scope") == scope and reason.get("verdict") in REFUSING:
            signal = str(reason.get("signal", "?"))
            if signal not in out:
                out.append(signal)
    return out
