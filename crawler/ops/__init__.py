"""The operators' provenance tools: read a stored job back, index it, show, list, verify, report.

Everything here reads a store only through ``crawler.store.objects.ObjectStore``, so the same
commands work on a local directory and on S3, and nothing here imports Scrapy: an operator
inspecting a job needs neither the crawler nor the network it ran on.
"""
