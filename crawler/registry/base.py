"""The registry interface, and choosing a client from a ``--registry`` value or the policy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from crawler.core import Policy, RegistryAnswer


def scrub_location(location: str) -> str:
    """A registry location fit for manifests and logs: no user:password, no query string
    (API keys travel in headers, but a URL someone typed may carry one)."""
    parts = urlsplit(location)
    if not parts.scheme or not parts.netloc:
        return location
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class RegistryError(RuntimeError):
    """The registry could not answer (down, refusing, malformed reply, no API key)."""


class Registry(Protocol):
    name: str

    def lookup(self, urls: Sequence[str]) -> dict[str, RegistryAnswer]:
        """An answer for every URL asked (matched by URL); raises RegistryError."""
        ...

    def check(self) -> None:
        """Raise RegistryError now for what would fail every lookup (e.g. a missing key)."""
        ...


@runtime_checkable
class ContentRegistry(Protocol):
    """A registry that also lists content by sha256 (asked after a fetch)."""

    def lookup_content(self, sha256: str) -> RegistryAnswer: ...


def registry_for(policy: Policy, location: str = "") -> Registry | None:
    """The crawl's registry: ``location`` (``--registry``) if given, else the policy's url and/or
    file when ``registry.enabled``; None when no registry is to be asked."""
    if location:
        return open_registry(location, policy)
    settings = policy.registry
    if not settings.enabled:
        return None
    chosen = [open_registry(where, policy) for where in (settings.url, settings.file) if where]
    if len(chosen) == 1:
        return chosen[0]
    from .combined import CombinedRegistry

    return CombinedRegistry(chosen)


def open_registry(location: str, policy: Policy, user_agent: str | None = None) -> Registry:
    """``http(s)://…`` is a Spawning-compatible API, anything else a local file."""
    settings = policy.registry
    if location.startswith(("http://", "https://")):
        from .http import HttpRegistry

        return HttpRegistry(
            location,
            auth_env=settings.auth_env,
            auth_scheme=settings.auth_scheme,
            batch_size=settings.batch_size,
            timeout=settings.timeout_seconds,
            retries=settings.retries,
            user_agent=user_agent or policy.identity.user_agent,
        )
    from .file import FileRegistry

    return FileRegistry(location)
