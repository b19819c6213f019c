"""Multi-worker crawling (issue #7): many ``consent-crawler crawl --redis URL`` processes, on
any machines, share one job through Redis and write to one store.

* ``keys``: the job's Redis key layout (one place, so tests and tools read the same names);
* ``frontier``: the shared frontier on Redis: a dupefilter, a queue per origin, exclusive
  expiring leases on origins, per-worker in-flight requests and their recovery;
* ``scheduler``: the Scrapy scheduler that crawls from that frontier;
* ``origin_store`` and ``registry_store``: the origin-policy cache and registry answers shared
  by the workers, each entry expiring with the signal's own TTL;
* ``job``: joining a job (seeds, policy, store checked), worker heartbeat, and the job's
  manifest merged from every worker's.

Redis is the only coordinator (design.md §7): there is no process of our own to run.
"""

from .keys import JobKeys, ScaleError, connect, default_worker_name

__all__ = ["JobKeys", "ScaleError", "connect", "default_worker_name"]
