"""The job index built while the crawl writes its parts, so ending a job costs no re-read.

Building the index from the stored parts at job end meant reading back and decompressing
every part (~0.7 ms a page, a tenth of the crawl's CPU on the benchmark).  The writer already
has each record in hand, so it hands the index's fields of each line to this feed as the line
is spooled (``line``), and says which part the lines went into when it makes one (``part``);
the rows go into an SQLite file in the temporary directory, numbered exactly as a build from
the parts would number them.

It is only an optimisation: whenever what the feed saw may differ from what the store holds (a
resumed job, parts recovered from a killed process, several workers writing one job, a part
whose line count differs from the lines seen, an SQLite error such as a full temporary disk),
``finish`` returns None and the index is built from the parts as before.  It never raises into
the writer: a convenience must not stop a crawl.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from .index import KIND_CODES, RowBuilder, create_index_db, finish_index_db, index_fields
from .jobs import Job, Line


class IndexFeed:
    """Rows of the job index, added part by part as the writer makes parts."""

    def __init__(self) -> None:
        # Not in the spool: the writer removes the spool when the job is stored, before the
        # index is finished.
        self.broken: str | None = None  # why the feed cannot stand for the stored parts
        self.path: Path | None = None
        self._conn: sqlite3.Connection | None = None
        try:
            fd, name = tempfile.mkstemp(prefix="consent-index-", suffix=".sqlite")
            os.close(fd)
            self.path = Path(name)
            self.path.unlink()  # SQLite makes the file: an empty one is not a database
            self._conn = create_index_db(self.path)
        except (OSError, sqlite3.Error) as exc:
            self.broken = f"no temporary file for the index: {exc}"
        self._builder = RowBuilder(self._conn) if self._conn is not None else None
        self._pending: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KIND_CODES}
        self._parts: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KIND_CODES}

    def line(self, kind: str, record: dict[str, Any]) -> None:
        """A line of ``kind`` was spooled (it goes into the next part of that kind)."""
        if self.broken is None:
            self._pending[kind].append(index_fields(kind, record))

    def part(self, kind: str, name: str, lines: int) -> None:
        """The spooled lines of ``kind`` became the part ``name`` of ``lines`` lines."""
        pending, self._pending[kind] = self._pending[kind], []
        if self.broken is not None or self._builder is None:
            return
        if lines != len(pending):
            self.broken = f"{kind} part {name} holds {lines} lines, {len(pending)} were seen"
            return
        try:
            for number, record in enumerate(pending, 1):
                self._builder.line(kind, Line("", name, number, record))
        except sqlite3.Error as exc:
            self.broken = f"the index could not be written: {exc}"
            self.close()
            return
        self._parts[kind].append({"name": name, "lines": lines})

    def finish(self, job: Job) -> bytes | None:
        """The index's bytes when the feed saw exactly the parts ``job``'s manifest lists,
        else None (the caller builds it from the parts); the feed is closed either way."""
        conn, self._conn = self._conn, None
        if conn is None:
            return None
        try:
            listed = {k: (job.manifest.get("parts") or {}).get(k) or [] for k in KIND_CODES}
            if self.broken is None and listed != self._parts:
                self.broken = "the manifest lists parts this process did not write"
            if self.broken is None and self._builder is not None:
                self._builder.flush()
                finish_index_db(conn, job, self._builder.counts)
        except sqlite3.Error as exc:
            self.broken = f"the index could not be written: {exc}"
        finally:
            conn.close()
        try:
            return None if self.broken or self.path is None else self.path.read_bytes()
        except OSError as exc:
            self.broken = f"the index could not be read back: {exc}"
            return None
        finally:
            self._remove()

    def close(self) -> None:
        """Drop what was built (a job that did not finish); safe to call more than once."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._remove()

    def _remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
