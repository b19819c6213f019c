"""External opt-out registries: who has opted their work out of AI training.

Two clients behind one small interface (``Registry.lookup(urls) -> {url: RegistryAnswer}``):
``HttpRegistry`` for Spawning-compatible APIs and ``FileRegistry`` for a local list.  A
registry that cannot answer raises ``RegistryError``; callers then refuse (failure is never
permission), with signal ``registry`` and reason ``unavailable``.
"""

from .base import ContentRegistry, Registry, RegistryError, open_registry, registry_for
from .file import FileRegistry
from .http import HttpRegistry

__all__ = [
    "ContentRegistry",
    "FileRegistry",
    "HttpRegistry",
    "Registry",
    "RegistryError",
    "open_registry",
    "registry_for",
]
