"""Background uploads with retry: the crawl never waits for the store, and never loses a part.

Files to store wait in a local outbox; a thread puts them into the ObjectStore and deletes the
local copy only once the put succeeded.  A failing store (S3 down, throttling) is retried with
exponential backoff while the crawl goes on spooling; what is still queued when the job closes
stays in the outbox for ``crawl --resume`` to upload.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .objects import ObjectStore

logger = logging.getLogger(__name__)


@dataclass
class Upload:
    key: str
    path: Path
    on_done: Callable[[], None] | None = None
    only_if_absent: bool = False  # evidence is content-addressed: skip what is already there


class Uploader:
    def __init__(
        self, objects: ObjectStore, *, first_backoff: float = 0.5, max_backoff: float = 30.0
    ) -> None:
        self.objects = objects
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self._queue: deque[Upload] = deque()
        self._lock = threading.Condition()
        self._stopping = False
        self.failures = 0
        self.uploaded = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="consent-uploader", daemon=True)
        self._thread.start()

    def submit(self, upload: Upload) -> None:
        with self._lock:
            self._queue.append(upload)
            self._lock.notify_all()  # the thread (drain() callers wait on this condition too)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _run(self) -> None:
        backoff = self.first_backoff
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._lock.wait()
                if not self._queue:
                    return
                upload = self._queue[0]
            try:
                self._put(upload)
            except Exception as exc:  # the store is down or refusing: keep it, retry later
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "consent: store upload of %s failed (%s); retrying in %.1f s",
                    upload.key,
                    self.last_error,
                    backoff,
                )
                with self._lock:
                    if self._stopping:
                        return
                    self._lock.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = self.first_backoff
            self.uploaded += 1
            if upload.on_done is not None:
                upload.on_done()
            with self._lock:  # only now done: drain() returns once on_done has run
                self._queue.popleft()
                self._lock.notify_all()

    def _put(self, upload: Upload) -> None:
        if not upload.path.exists():
            return  # an earlier attempt succeeded just before a crash
        if not (upload.only_if_absent and self.objects.exists(upload.key)):
            self.objects.put_file(upload.key, upload.path)
        upload.path.unlink(missing_ok=True)

    def drain(self, timeout: float) -> bool:
        """Wait until every queued upload is done, or ``timeout`` passes; True when empty."""
        # Woken by the thread as each upload completes (polling every 50 ms added up to
        # 0.1 s to the end of every crawl).
        with self._lock:
            return self._lock.wait_for(lambda: not self._queue, timeout)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout=5)
