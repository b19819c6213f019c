"""The ``consent-crawler`` command line: thin adapters around the core and the crawler."""
