"""Scrapy project settings (scrapy.cfg points here), so ``scrapy crawl consent`` works too."""

BOT_NAME = "consent-crawler"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# The consent layer: policy, identity, middlewares, pipeline (see crawler/addon.py).
ADDONS = {"crawler.addon.ConsentAddon": 0}
# Scrapy's robots.txt handling allows on errors; the consent layer replaces it.
ROBOTSTXT_OBEY = False

TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
# Politeness per origin; the consent layer fetches each origin's policy files once.
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0
# Items (and requests) from one response are processed one at a time: Scrapy's default of
# 100 parallel workers per response cost ~15% of the crawl's CPU (bench/RESULTS.md).
CONCURRENT_ITEMS = 1
