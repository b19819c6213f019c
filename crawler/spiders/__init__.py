"""Spiders of the consent-crawler project."""
