"""Gzipped JSON-lines parts that are complete or absent, rotated by size and age.

A part is written to ``<name>.tmp`` and renamed when closed, so a reader (or a crash) never
sees half a part; the manifest lists only closed parts.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class PartWriter:
    """Writes one kind of line (items or decisions) into rotating parts in ``folder``."""

    def __init__(
        self,
        folder: Path,
        prefix: str,
        *,
        max_lines: int,
        max_bytes: int,
        max_seconds: float,
        on_close: Callable[[Path, int], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.prefix = prefix
        self.max_lines, self.max_bytes, self.max_seconds = max_lines, max_bytes, max_seconds
        self.on_close = on_close
        self.clock = clock
        self._seq = 0
        self._fh: IO[bytes] | None = None
        self._gz: gzip.GzipFile | None = None
        self._tmp: Path | None = None
        self._lines = 0
        self._bytes = 0
        self._opened = 0.0

    def write(self, record: dict[str, Any]) -> None:
        data = (_dumps(record) + "\n").encode("utf-8")
        if self._gz is None:
            self._open()
        assert self._gz is not None
        self._gz.write(data)
        self._lines += 1
        self._bytes += len(data)
        if (
            self._lines >= self.max_lines
            or self._bytes >= self.max_bytes
            or self.clock() - self._opened >= self.max_seconds
        ):
            self.close_part()

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            self._seq += 1
            final = self.folder / f"{self.prefix}-{self._seq:05d}.jsonl.gz"
            if not final.exists():
                break
        self._tmp = final.with_name(final.name + ".tmp")
        self._fh = self._tmp.open("wb")
        self._gz = gzip.GzipFile(fileobj=self._fh, mode="wb", mtime=0)
        self._lines = self._bytes = 0
        self._opened = self.clock()

    def close_part(self) -> None:
        """Finish the open part (if any): flush, fsync, rename into place, report it."""
        if self._gz is None or self._fh is None or self._tmp is None:
            return
        self._gz.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        final = self._tmp.with_name(self._tmp.name[: -len(".tmp")])
        os.replace(self._tmp, final)
        lines = self._lines
        self._gz = self._fh = self._tmp = None
        self.on_close(final, lines)

    def tick(self) -> None:
        """Close a part that has been open too long (called periodically)."""
        if self._gz is not None and self.clock() - self._opened >= self.max_seconds:
            self.close_part()


def read_part(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
