"""consent-crawler: a Scrapy crawler that honours machine-readable do-not-train signals."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("consent-crawler")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
