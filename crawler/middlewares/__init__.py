"""The consent layer's Scrapy components (wired by ``crawler.addon.ConsentAddon``)."""
