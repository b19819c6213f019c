"""The background uploader: drain() waits for the uploads themselves, not for a poll."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path

from crawler.store.objects import LocalObjects
from crawler.store.uploader import Upload, Uploader


class _SlowStore(LocalObjects):
    """A local store whose puts wait for a gate, and may fail a few times first."""

    def __init__(self, root: Path, failures: int = 0) -> None:
        super().__init__(root)
        self.gate = threading.Event()
        self.failures = failures

    def put_file(self, key: str, path: Path) -> None:
        self.gate.wait(10)
        if self.failures:
            self.failures -= 1
            raise OSError("store unavailable")
        super().put_file(key, path)


def _file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "outbox" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(name.encode())
    return path


def test_drain_returns_as_the_last_upload_is_done_with_its_callback_run(tmp_path: Path) -> None:
    store = _SlowStore(tmp_path / "store")
    uploader = Uploader(store)
    done: list[str] = []

    def slow_callback(name: str) -> None:
        time.sleep(0.2)  # e.g. the writer taking its lock to list the part
        done.append(name)

    for name in ("a", "b", "c"):
        uploader.submit(Upload(f"k/{name}", _file(tmp_path, name), partial(slow_callback, name)))
    threading.Timer(0.1, store.gate.set).start()
    started = time.monotonic()
    assert uploader.drain(10)
    waited = time.monotonic() - started
    # Every callback ran before drain() returned: a manifest written next lists every part.
    assert done == ["a", "b", "c"]
    assert sorted(store.list("k/")) == ["k/a", "k/b", "k/c"]
    assert 0.6 < waited < 5
    assert uploader.pending == 0
    uploader.stop()


def test_drain_of_an_empty_queue_returns_at_once(tmp_path: Path) -> None:
    uploader = Uploader(LocalObjects(tmp_path / "store"))
    started = time.monotonic()
    assert uploader.drain(10)
    assert time.monotonic() - started < 1
    uploader.stop()


def test_drain_gives_up_at_its_timeout_while_the_store_fails_and_keeps_the_file(
    tmp_path: Path,
) -> None:
    store = _SlowStore(tmp_path / "store", failures=1000)
    store.gate.set()
    uploader = Uploader(store, first_backoff=0.01, max_backoff=0.02)
    path = _file(tmp_path, "part")
    uploader.submit(Upload("k/part", path))
    started = time.monotonic()
    assert not uploader.drain(0.3)
    assert 0.25 < time.monotonic() - started < 5
    assert uploader.pending == 1
    assert path.exists()  # still in the outbox, for a resume
    assert uploader.failures >= 2  # retried meanwhile: the drain did not stall the thread
    uploader.stop()
