"""consent-crawler: a Scrapy crawler that honours machine-readable do-not-train signals."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Looked up lazily: importlib.metadata pulls in email and socket, and importing the pure
    # decision core (crawler.core) must not load anything network-shaped.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("consent-crawler")
        except PackageNotFoundError:  # a checkout that was never installed
            return "0.0.0+unknown"
    raise AttributeError(name)
