"""``ConsentAddon``: one line in ``ADDONS`` wires the whole consent layer into a project.

    ADDONS = {"crawler.addon.ConsentAddon": 0}

It replaces Scrapy's RobotsTxtMiddleware with the origin-policy middleware (slot 100), adds the
registry middleware (110) and its prefetching spider middleware (980; both only when a
registry is configured), the response consent middleware (585: after decompression, before
meta refresh), the download-failure middlewares (540, and 590 in place of Scrapy's
HttpCompressionMiddleware), the provenance spider middleware, the store pipeline and the
collector tuning extension (``CONSENT_GC_TUNING``) and the JOBDIR frontier queue
(``crawler.disk_queue``; a project's own ``SCHEDULER_DISK_QUEUE`` wins), sets the page caps
(``CONSENT_MAX_PAGE_BYTES``, ``CONSENT_DOWNLOAD_TIMEOUT``) and the policy's User-Agent, and
gives every ``CONSENT_*`` setting its default.  A broken policy raises here, before anything is
fetched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware

from crawler.collector import CollectorTuning
from crawler.context import SETTINGS, load_crawl_policy
from crawler.disk_queue import BufferedLifoDiskQueue
from crawler.middlewares.decompression_failures import DecompressionFailuresMiddleware
from crawler.middlewares.download_failures import DownloadFailuresMiddleware
from crawler.middlewares.network_guard import NetworkGuardMiddleware
from crawler.middlewares.origin_policy import OriginPolicyMiddleware
from crawler.middlewares.provenance import ProvenanceMiddleware
from crawler.middlewares.registry import RegistryMiddleware
from crawler.middlewares.registry_prefetch import RegistryPrefetchMiddleware
from crawler.middlewares.response_consent import ResponseConsentMiddleware
from crawler.pipelines import ConsentStorePipeline

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

PRIORITIES = {
    "origin_policy": 100,  # RobotsTxtMiddleware's slot
    "registry": 110,  # after the origin check: refused origins are never sent to the registry
    "download_failures": 540,  # below RetryMiddleware (550): sees only what retries gave up
    "response_consent": 585,
    "decompression_failures": 590,  # HttpCompressionMiddleware's slot
    # Above every built-in middleware: its process_exception sees a connection the network
    # guard refused before retries or download-failure handling do.
    "network_guard": 950,
    "registry_prefetch": 980,
    "provenance": 990,
    "store": 1000,
}


class ConsentAddon:
    def update_settings(self, settings: BaseSettings) -> None:
        for setting in SETTINGS:
            settings.setdefault(setting.name, setting.default)
        if not settings.getbool("CONSENT_ENABLED"):
            return
        policy = load_crawl_policy(
            settings["CONSENT_POLICY"], settings["CONSENT_TOKEN"], settings["CONSENT_USER_AGENT"]
        )
        # Identity is the policy's: every request, policy files included, carries it.
        settings.set("USER_AGENT", policy.identity.user_agent, priority="cmdline")
        settings.set("ROBOTSTXT_OBEY", False, priority="addon")
        if settings.get("CONSENT_REDIS"):  # one of many workers: the frontier is in Redis
            settings.set("SCHEDULER", "crawler.scale.scheduler.RedisScheduler", priority="addon")
        # The JOBDIR frontier (used only when JOBDIR is set); a project's own queue still wins.
        settings.set("SCHEDULER_DISK_QUEUE", BufferedLifoDiskQueue, priority="addon")
        dmw = "DOWNLOADER_MIDDLEWARES"
        settings.set_in_component_priority_dict(dmw, RobotsTxtMiddleware, None)
        settings.set_in_component_priority_dict(
            dmw, NetworkGuardMiddleware, PRIORITIES["network_guard"]
        )
        settings.set_in_component_priority_dict(
            dmw, OriginPolicyMiddleware, PRIORITIES["origin_policy"]
        )
        settings.set_in_component_priority_dict(
            dmw, ResponseConsentMiddleware, PRIORITIES["response_consent"]
        )
        settings.set_in_component_priority_dict(
            dmw, DownloadFailuresMiddleware, PRIORITIES["download_failures"]
        )
        settings.set_in_component_priority_dict(dmw, HttpCompressionMiddleware, None)
        settings.set_in_component_priority_dict(
            dmw, DecompressionFailuresMiddleware, PRIORITIES["decompression_failures"]
        )
        # Page caps; a project's own DOWNLOAD_* settings (or --set) still win over these.
        cap = settings.getint("CONSENT_MAX_PAGE_BYTES")
        settings.set("DOWNLOAD_MAXSIZE", cap, priority="addon")
        settings.set("DOWNLOAD_WARNSIZE", cap // 2, priority="addon")
        settings.set("DOWNLOAD_TIMEOUT", settings.getfloat("CONSENT_DOWNLOAD_TIMEOUT"), "addon")
        if settings.get("CONSENT_REGISTRY") or policy.registry.enabled:
            settings.set_in_component_priority_dict(dmw, RegistryMiddleware, PRIORITIES["registry"])
            settings.set_in_component_priority_dict(
                "SPIDER_MIDDLEWARES", RegistryPrefetchMiddleware, PRIORITIES["registry_prefetch"]
            )
        settings.set_in_component_priority_dict(
            "SPIDER_MIDDLEWARES", ProvenanceMiddleware, PRIORITIES["provenance"]
        )
        settings.set_in_component_priority_dict(
            "ITEM_PIPELINES", ConsentStorePipeline, PRIORITIES["store"]
        )
        settings.set_in_component_priority_dict("EXTENSIONS", CollectorTuning, 0)
