"""Several registries asked as one (the policy's ``registry.url`` *and* ``registry.file``).

An opt-out in any of them wins; otherwise an error in any of them makes the answer an error
(failure is never permission); otherwise an opt-in is kept, else "not opted out".
"""

from __future__ import annotations

from collections.abc import Sequence

from crawler.core import RegistryAnswer

from .base import ContentRegistry, Registry


def merge(answers: Sequence[RegistryAnswer]) -> RegistryAnswer:
    for test in (
        lambda a: a.opted_out,
        lambda a: a.error is not None,
        lambda a: a.opted_in,
    ):
        found = next((a for a in answers if test(a)), None)
        if found is not None:
            return found
    return answers[0]


class CombinedRegistry:
    def __init__(self, registries: Sequence[Registry]) -> None:
        self.registries = list(registries)
        self.name = " + ".join(r.name for r in self.registries)

    def check(self) -> None:
        for registry in self.registries:
            registry.check()

    def lookup(self, urls: Sequence[str]) -> dict[str, RegistryAnswer]:
        each = [registry.lookup(urls) for registry in self.registries]
        return {url: merge([answers[url] for answers in each]) for url in urls}

    def lookup_content(self, sha256: str) -> RegistryAnswer:
        answers = [
            r.lookup_content(sha256) for r in self.registries if isinstance(r, ContentRegistry)
        ]
        return merge(answers) if answers else RegistryAnswer(source=self.name)
