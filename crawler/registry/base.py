"""The registry interface, and choosing a client from a ``--registry`` value or the policy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from crawler.core import Policy, RegistryAnswer


class RegistryError(RuntimeError):
    """The registry could not answer (down, refusing, malformed reply, no API key)."""


class Registry(Protocol):
    name: str

    def lookup(self, urls: Sequence[str]) -> dict[str, RegistryAnswer]:
        """An answer for every URL asked (matched by URL); raises RegistryError."""
        ...


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
