"""The collector tuning extension: the start-up heap frozen while a crawl runs, then thawed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from crawler.addon import ConsentAddon
from crawler.collector import YOUNG_THRESHOLD, CollectorTuning


@pytest.fixture(autouse=True)
def _collector_as_found() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    CollectorTuning._running = 0
    CollectorTuning._thresholds = None


def _tuning() -> CollectorTuning:
    return CollectorTuning.from_crawler(get_crawler(settings_dict={"CONSENT_GC_TUNING": True}))


def test_a_running_crawl_freezes_the_start_up_heap_and_collects_young_objects_less_often() -> None:
    before = gc.get_threshold()
    tuning = _tuning()
    tuning.engine_started()
    assert gc.get_freeze_count() > 1000  # the modules' objects, at least
    assert gc.get_threshold() == (max(before[0], YOUNG_THRESHOLD), *before[1:])
    tuning.engine_stopped()
    assert gc.get_freeze_count() == 0  # back in the oldest generation: collectable again
    assert gc.get_threshold() == before


def test_garbage_of_the_start_up_is_collected_not_frozen() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    cycle = Cycle()
    collected: list[int] = []
    weakref.finalize(cycle, collected.append, 1)
    del cycle
    tuning = _tuning()
    tuning.engine_started()
    assert collected == [1]
    tuning.engine_stopped()


def test_overlapping_crawls_unfreeze_only_when_the_last_one_stops() -> None:
    before = gc.get_threshold()
    first, second = _tuning(), _tuning()
    first.engine_started()
    frozen = gc.get_freeze_count()
    second.engine_started()
    first.engine_stopped()
    assert gc.get_freeze_count() >= frozen  # the second crawl is still running
    assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    second.engine_stopped()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    second.engine_stopped()  # a second stop signal changes nothing
    assert gc.get_freeze_count() == 0


def test_switched_off_it_is_not_configured() -> None:
    with pytest.raises(NotConfigured):
        CollectorTuning.from_crawler(get_crawler(settings_dict={"CONSENT_GC_TUNING": False}))


def test_the_add_on_enables_it() -> None:
    settings = Settings()
    ConsentAddon().update_settings(settings)
    assert CollectorTuning in settings.getdict("EXTENSIONS")
    assert settings.getbool("CONSENT_GC_TUNING")
