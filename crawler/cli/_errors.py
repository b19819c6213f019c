"""Errors of the command line that need no heavy imports."""


class CrawlSetupError(Exception):
    """The crawl cannot start (policy, store or arguments); nothing was fetched."""
