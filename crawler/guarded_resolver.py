"""The network guard at connect time: every address a connection would use is checked.

Scrapy's HTTP handler connects through Twisted's ``HostnameEndpoint``, which asks the reactor's
name resolver (whatever ``TWISTED_DNS_RESOLVER`` installed, caching included) for the host's
addresses and then connects to exactly the addresses it was handed: there is no second lookup.
So the guard wraps that resolver: the answers for a name are collected, checked against the
network rules of every crawl running in this process, and handed on only if none of them is
forbidden.  A refused name reaches the endpoint with no address at all, so nothing is
connected to; Twisted then fails the download with a DNS error ("no results"), and the
refusal is remembered so ``crawler/middlewares/network_guard.py`` can record it as a decision.
Because the checked addresses are the connected ones, DNS rebinding (a name answering a public
address to a check and a private one to the connection) has nothing to switch.

Refusing the whole name when any of its addresses is forbidden (rather than dropping that
address) is deliberate: a public name that also answers 10.0.0.5 is misconfigured or hostile.

Not covered: download handlers that resolve names themselves (Scrapy's optional httpx and
aiohttp handlers) bypass the reactor's resolver; only the URL check applies to them.  An HTTP
proxy is connected to through this resolver, so one on a private address needs a
``network.allow`` entry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IReactorPluggableNameResolver,
    IResolutionReceiver,
)
from zope.interface import implementer  # type: ignore[import-untyped]

from crawler.network_guard import NetworkRules


def host_key(host: str) -> str:
    """One spelling per host: Twisted resolves the Unicode form, URLs carry the ASCII one."""
    try:
        return host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        return host.lower().rstrip(".")


class AddressGuard:
    """The network rules of every crawl running in this process (an address must pass all of
    them), and the latest refusal per host and port, for the middleware to record."""

    def __init__(self, remembered: int = 4096) -> None:
        self._rules: list[NetworkRules] = []
        self._refused: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._remembered = remembered

    def add(self, rules: NetworkRules) -> None:
        self._rules.append(rules)

    def remove(self, rules: NetworkRules) -> None:
        if rules in self._rules:
            self._rules.remove(rules)

    def check(self, host: str, port: int, addresses: Sequence[str]) -> str | None:
        """Why ``host`` may not be connected to on ``port`` at these addresses, or None."""
        why = None
        for address in addresses:
            kinds = (rules.refusal(address, port) for rules in self._rules)
            kind = next((k for k in kinds if k is not None), None)
            if kind is not None:
                why = f"{host} resolves to {address}, {kind}"
                break
        key = (host_key(host), port)
        if why is None:
            self._refused.pop(key, None)  # an earlier refusal no longer explains a failure
            return None
        self._refused[key] = why
        self._refused.move_to_end(key)
        while len(self._refused) > self._remembered:
            self._refused.popitem(last=False)
        return why

    def refusal(self, host: str, port: int) -> str | None:
        """The guard's last refusal of ``host``:``port``, if its last resolution was refused."""
        return self._refused.get((host_key(host), port))


# Process-wide, like the reactor whose resolver consults it.
GUARD = AddressGuard()


@implementer(IResolutionReceiver)
class _CheckedReceiver:
    """Holds a resolution's addresses until it completes, then hands on all or none."""

    # Interfaces are typed Any: mypy reads zope interface methods as lacking ``self``.
    def __init__(self, receiver: Any, guard: AddressGuard, host: str, port: int) -> None:
        self._receiver, self._guard = receiver, guard
        self._host, self._port = host, port
        self._addresses: list[IAddress] = []

    def resolutionBegan(self, resolutionInProgress: Any) -> None:
        self._receiver.resolutionBegan(resolutionInProgress)

    def addressResolved(self, address: IAddress) -> None:
        self._addresses.append(address)

    def resolutionComplete(self) -> None:
        hosts = [str(getattr(address, "host", "")) for address in self._addresses]
        if self._guard.check(self._host, self._port, hosts) is None:
            for address in self._addresses:
                self._receiver.addressResolved(address)
        self._receiver.resolutionComplete()


@implementer(IHostnameResolver)
class GuardedNameResolver:
    """A name resolver that answers only with addresses the guard allows."""

    def __init__(self, resolver: Any, guard: AddressGuard = GUARD) -> None:
        self.resolver = resolver
        self.guard = guard

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        receiver = _CheckedReceiver(resolutionReceiver, self.guard, hostName, portNumber)
        return self.resolver.resolveHostName(
            receiver,
            hostName,
            portNumber=portNumber,
            addressTypes=addressTypes,
            transportSemantics=transportSemantics,
        )


def install(reactor: Any, guard: AddressGuard = GUARD) -> GuardedNameResolver:
    """Wrap the reactor's name resolver in the guard (once; later calls find it in place).

    Called when the first request reaches the downloader, after Scrapy has installed
    ``TWISTED_DNS_RESOLVER`` on the reactor: that resolver (and its cache) stays in use."""
    if not IReactorPluggableNameResolver.providedBy(reactor):
        raise RuntimeError("the reactor's name resolver cannot be replaced: no network guard")
    current = reactor.nameResolver
    if isinstance(current, GuardedNameResolver):
        return current
    guarded = GuardedNameResolver(current, guard)
    reactor.installNameResolver(guarded)
    return guarded
