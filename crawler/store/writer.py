"""Writing one job (one worker's share of it) to a store, so that nothing is lost.

* Every item and decision line is appended to a journal in the local spool and flushed, so it
  survives the process being killed (``kill -9``) at any point.
* Journals rotate (by lines, bytes, age) into gzipped parts in the spool's outbox, which the
  uploader puts into the store with retries; the store's part is complete or absent.
* The manifest lists the parts that are in the store.
* On ``resume`` the journals and the outbox left by a dead process are recovered first, and
  item ids already stored are remembered, so the resumed crawl neither loses nor duplicates.
* A spool that cannot be written (disk full) fails the job loudly: the line is not counted,
  nothing more is recorded in this run, and the stored manifest keeps saying "running", so
  ``crawl --resume`` starts again from the seeds, as after a kill.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from crawler.ops.fields import refusing_signals

from .journal import DECISION_DEFLATE, ITEM_DEFLATE, PART_COMPRESSLEVEL, Journal, journal_lines
from .objects import ObjectStore, StoreError
from .parts import read_part_bytes
from .text_hashes import TextHashes
from .uploader import Upload, Uploader

logger = logging.getLogger(__name__)
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode_ascii = json.JSONEncoder(separators=(",", ":")).encode
# JSON may hold these raw inside strings, but str.splitlines() (readers of JSON lines) breaks
# lines at them: a page with U+2028 in its text would split its item line in two.
_LINE_BREAKS = (("\x85", "\\u0085"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
KINDS = ("items", "decisions")
DEFLATE = {"items": ITEM_DEFLATE, "decisions": DECISION_DEFLATE}


def json_line(record: dict[str, Any]) -> str:
    """One JSON line: no character any reader could take for a line break."""
    if all(value.isascii() for value in record.values() if isinstance(value, str)):
        # An item's bulk (text, HTML) is ASCII: the ASCII encoder is ~40% faster there, and
        # escapes every other character (line breaks included) of the few nested strings.
        return _encode_ascii(record)
    text = _encode(record)
    for char, escaped in _LINE_BREAKS:
        if char in text:
            text = text.replace(char, escaped)
    return text


class PartObserver(Protocol):
    """Told of each line spooled and of each part made from the spooled lines, in order
    (``crawler.ops.index_feed.IndexFeed`` builds the job index from them)."""

    def line(self, kind: str, record: dict[str, Any]) -> None: ...

    def part(self, kind: str, name: str, lines: int) -> None: ...


class SpoolError(StoreError):
    """The local spool cannot be written (disk full, file too large): the line is not kept."""


class JobWriter:
    def __init__(
        self,
        objects: ObjectStore,
        job_id: str,
        *,
        spool: Path,
        worker: str = "w0",
        part_max_lines: int = 10_000,
        part_max_bytes: int = 64 * 1024 * 1024,
        part_max_seconds: float = 300.0,
        resume: bool = False,
        manifest_key: str | None = None,
        index_feed: PartObserver | None = None,
    ) -> None:
        self.objects = objects
        self.location = objects.location
        self.job_id = job_id
        self.worker = worker
        self.prefix = f"jobs/{job_id}"
        # Multi-worker jobs: each worker its own manifest, merged into the job's (crawler.scale).
        self.manifest_key = manifest_key or f"{self.prefix}/manifest.json"
        self.spool = spool
        self.limits = (part_max_lines, part_max_bytes, part_max_seconds)
        self.outbox = spool / "outbox"
        for kind in KINDS:
            (self.outbox / kind).mkdir(parents=True, exist_ok=True)
        (self.outbox / "evidence").mkdir(parents=True, exist_ok=True)
        self.uploader = Uploader(objects)
        self.parts: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        self.item_ids: set[str] = set()
        self.text_hashes = TextHashes()  # html texts whose hash the consent layer already took
        self.decided: set[tuple[str, str, str]] = set()
        self._evidence_seen: set[str] = set()
        self._manifests = 0
        self.failed: str | None = None  # why the spool could not be written, once it could not
        # Counts over the whole job, earlier runs of a resumed job included.
        self.counts: dict[str, int] = {"items": 0, "kept": 0, "refused": 0, "tombstones": 0}
        self.refused_by_signal: dict[str, int] = {}
        self._seq = {kind: self._last_seq(kind) for kind in KINDS}
        # What this worker's stored parts hold (counts and, as "lines:<kind>", lines written by
        # this process), updated by the uploader thread: a manifest written from it lists only
        # what is in the store.  ``written`` counts the lines appended by this process.
        self._lock = threading.Lock()
        self._stored: dict[str, int] = {}
        self.stored_version = 0
        self.written = dict.fromkeys(KINDS, 0)
        self.index_feed = index_feed
        if resume:
            self._recover()
        else:  # a job id's spool reused without --resume: keep what its journals hold
            self._recover_journals()
        self._cut = {kind: self._kind_counts(kind) for kind in KINDS}
        self.journals = {kind: Journal(spool / f"{kind}.journal", DEFLATE[kind]) for kind in KINDS}

    # -- parts -------------------------------------------------------------------------------

    def _last_seq(self, kind: str) -> int:
        pattern = re.compile(rf"part-{re.escape(self.worker)}-(\d+)\.jsonl\.gz$")
        seqs = [
            int(m.group(1))
            for key in self.objects.list(f"{self.prefix}/{kind}/")
            if (m := pattern.search(key))
        ]
        seqs += [
            int(m.group(1))
            for p in (self.outbox / kind).glob("*.jsonl.gz")
            if (m := pattern.search(p.name))
        ]
        return max(seqs, default=0)

    def _rotate(self, kind: str) -> None:
        journal = self.journals[kind]
        if journal.lines == 0 or self.failed:
            return
        counts = self._kind_counts(kind)
        tally = _difference(counts, self._cut[kind])
        tally[f"lines:{kind}"] = journal.lines
        self._cut[kind] = counts
        try:
            journal.finish()
            self._part_from_journal(kind, journal, tally)
            self.journals[kind] = Journal(journal.path, journal.deflate)
        except OSError as exc:  # the journal's lines stay where they are, for resume
            self._fail(f"cannot write a part in the spool {self.outbox / kind}: {exc}")

    def rotate(self) -> None:
        """Close every journal into a part now (without waiting for the store)."""
        for kind in KINDS:
            self._rotate(kind)

    def _kind_counts(self, kind: str) -> dict[str, int]:
        """The counts lines of ``kind`` make; a part's share is a difference of two of these."""
        if kind == "items":
            return {k: v for k, v in self.counts.items() if k not in ("kept", "refused")}
        return {
            "kept": self.counts["kept"],
            "refused": self.counts["refused"],
            **{f"signal:{s}": n for s, n in self.refused_by_signal.items()},
        }

    def _next_part(self, kind: str) -> tuple[str, Path]:
        self._seq[kind] += 1
        name = f"part-{self.worker}-{self._seq[kind]:05d}.jsonl.gz"
        return name, self.outbox / kind / name

    def _part_from_journal(self, kind: str, journal: Journal, tally: dict[str, int]) -> None:
        """This process's journal, finished (``Journal.finish``), renamed into the outbox as
        a part: its lines are in the journal or in the part, never in both or neither."""
        name, final = self._next_part(kind)
        journal.path.replace(final)
        self._queue_part(kind, final, journal.lines, tally)
        if self.index_feed is not None:
            self.index_feed.part(kind, name, journal.lines)

    def _recover_journals(self) -> None:
        """Journals a killed process left: their lines not already held in a part are decoded
        and compressed into a new part, which is in place before the journal is emptied (a
        kill in between leaves the lines twice, never nowhere, and the next recovery drops
        the second copy).  The index feed is not told: it then declines, and the job is
        indexed from its stored parts."""
        for kind in KINDS:
            path = self.spool / f"{kind}.journal"
            if not path.exists() or not path.stat().st_size:
                continue
            text = journal_lines(path.read_bytes())
            whole = text[: text.rfind(b"\n") + 1]  # a line cut by a kill is dropped
            before = self._kind_counts(kind)
            complete = self._unknown_lines(kind, whole)
            tally = _difference(self._kind_counts(kind), before)
            lines = complete.count(b"\n")
            if lines:
                _name, final = self._next_part(kind)
                tmp = final.with_name(final.name + ".tmp")
                tmp.write_bytes(gzip.compress(complete, PART_COMPRESSLEVEL, mtime=0))
                tmp.replace(final)
                self._queue_part(kind, final, lines, tally)
            path.write_bytes(b"")

    def _unknown_lines(self, kind: str, data: bytes) -> bytes:
        """Journal lines not already held in a part (remembering them as it goes)."""
        keep: list[bytes] = []
        for raw in data.splitlines(keepends=True):
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if self._remember(kind, [line]):
                keep.append(raw)
        return b"".join(keep)

    def _queue_part(self, kind: str, path: Path, lines: int, tally: dict[str, int]) -> None:
        def done() -> None:
            with self._lock:
                self.parts[kind][path.name] = lines
                for key, value in tally.items():
                    self._stored[key] = self._stored.get(key, 0) + value
                self.stored_version += 1

        self.uploader.submit(Upload(f"{self.prefix}/{kind}/{path.name}", path, done))

    def _recover(self) -> None:
        """Pick up what a dead process left: stored parts, outbox parts, journal lines.

        Everything is read and remembered before anything new is queued, so an upload racing
        the recovery cannot hide a line from it.
        """
        mine = re.compile(rf"part-{re.escape(self.worker)}-\d+\.jsonl\.gz$")
        for kind in KINDS:
            for key in self.objects.list(f"{self.prefix}/{kind}/"):
                if not key.endswith(".jsonl.gz"):
                    continue
                lines = read_part_bytes(self.objects.get(key))
                if not mine.search(key):  # another worker's: known, so never stored twice
                    self._remember(kind, lines, count=False)
                    continue
                self.parts[kind].setdefault(key.rsplit("/", 1)[1], len(lines))
                before = self._kind_counts(kind)
                self._remember(kind, lines)
                for name, value in _difference(self._kind_counts(kind), before).items():
                    self._stored[name] = self._stored.get(name, 0) + value
        outbox: list[tuple[str, Path, int, dict[str, int]]] = []
        for kind in KINDS:
            for tmp in (self.outbox / kind).glob("*.tmp"):
                tmp.unlink()
            for path in sorted((self.outbox / kind).glob("*.jsonl.gz")):
                lines = read_part_bytes(path.read_bytes())
                before = self._kind_counts(kind)
                self._remember(kind, lines)
                tally = _difference(self._kind_counts(kind), before)
                outbox.append((kind, path, len(lines), tally))
        self._recover_journals()
        for kind, path, count, tally in outbox:
            self._queue_part(kind, path, count, tally)
        for path in (self.outbox / "evidence").glob("*"):
            self.uploader.submit(Upload(f"evidence/{path.name}", path, only_if_absent=True))

    def _remember(self, kind: str, lines: list[dict[str, Any]], count: bool = True) -> bool:
        """Note lines already held; True when the last of them was new.  ``count``: False for
        another worker's lines (known, so not stored again, but counted by that worker)."""
        new = False
        for line in lines:
            if kind == "items":
                # A purged item (``recheck``) stays known by its id: never stored again.
                purged = line.get("tombstone") is True
                item_id = (
                    line.get("item_id") if purged else line.get("provenance", {}).get("item_id")
                )
                new = not item_id or item_id not in self.item_ids
                if item_id and new:
                    self.item_ids.add(item_id)
                    if count:
                        self.counts["tombstones" if purged else "items"] += 1
            else:
                key = (line.get("url", ""), line.get("fetch", ""), line.get("use", ""))
                new = key not in self.decided
                if new:
                    self.decided.add(key)
                    if count:
                        self._count_decision(line)
        return new

    def _count_decision(self, line: dict[str, Any]) -> None:
        kept = line.get("fetch") == "allowed" and line.get("use") == "allowed"
        self.counts["kept" if kept else "refused"] += 1
        for signal in refusing_signals(line):  # URLs refused by each signal, not reasons
            self.refused_by_signal[signal] = self.refused_by_signal.get(signal, 0) + 1

    # -- writing -------------------------------------------------------------------------------

    def _fail(self, why: str) -> None:
        """Stop recording: loud once, and every later write refused (SpoolError)."""
        if self.failed is None:
            self.failed = why
            logger.error(
                "consent: %s; nothing more is recorded in this run. What is spooled or "
                "stored is kept: free space, then `consent-crawler crawl --resume %s`",
                why,
                self.job_id,
            )

    def _check(self) -> None:
        if self.failed is not None:
            raise SpoolError(self.failed)

    def _write(self, kind: str, record: dict[str, Any]) -> None:
        self._check()
        journal = self.journals[kind]
        try:
            journal.append((json_line(record) + "\n").encode("utf-8"))
        except OSError as exc:
            self._fail(f"cannot write to the spool {journal.path}: {exc}")
            raise SpoolError(self.failed or str(exc)) from exc
        self.written[kind] += 1
        if self.index_feed is not None:
            self.index_feed.line(kind, record)

    def _rotate_if_full(self, kind: str) -> None:
        """After a line is written and counted (a part's counts then match its lines)."""
        journal = self.journals[kind]
        max_lines, max_bytes, max_seconds = self.limits
        if (
            journal.lines >= max_lines
            or journal.bytes >= max_bytes
            or time.monotonic() - journal.opened >= max_seconds
        ):
            self._rotate(kind)

    def write_item(self, record: dict[str, Any]) -> bool:
        """Store an item once; False when this item id is already stored (a resumed job)."""
        item_id = record.get("provenance", {}).get("item_id")
        if item_id in self.item_ids:
            return False
        html = record.get("html")
        if isinstance(html, str):
            record["html_sha256"] = (
                self.text_hashes.take(html) or hashlib.sha256(html.encode("utf-8")).hexdigest()
            )
        self._write("items", record)  # counted only once it is in the spool
        if item_id:
            self.item_ids.add(item_id)
        self.counts["items"] += 1
        self._rotate_if_full("items")
        return True

    def write_decision(self, record: dict[str, Any]) -> bool:
        key = (record["url"], record["fetch"], record["use"])
        if key in self.decided:
            return False
        self._write("decisions", record)  # counted only once it is in the spool
        self.decided.add(key)
        self._count_decision(record)
        self._rotate_if_full("decisions")
        return True

    def put_evidence(self, sha256: str, body: bytes) -> None:
        """Queue a policy-file snapshot for the store, once, content-addressed."""
        if sha256 in self._evidence_seen:
            return
        self._check()
        path = self.outbox / "evidence" / sha256
        try:
            path.write_bytes(body)
        except OSError as exc:
            path.unlink(missing_ok=True)
            self._fail(f"cannot write to the spool {path}: {exc}")
            raise SpoolError(self.failed or str(exc)) from exc
        self._evidence_seen.add(sha256)
        self.uploader.submit(Upload(f"evidence/{sha256}", path, only_if_absent=True))

    def tick(self) -> None:
        """Rotate journals that have been open too long (called periodically)."""
        if self.failed:
            return
        for kind in KINDS:
            if time.monotonic() - self.journals[kind].opened >= self.limits[2]:
                self._rotate(kind)

    # -- manifest and closing ------------------------------------------------------------------

    def stored_state(self) -> tuple[int, dict[str, Any], dict[str, int]]:
        """(version, parts, tally) of what this worker has in the store, taken together."""
        with self._lock:
            return self.stored_version, self._parts_listing(), dict(self._stored)

    def _parts_listing(self) -> dict[str, Any]:
        return {
            kind: [{"name": n, "lines": c} for n, c in sorted(self.parts[kind].items())]
            for kind in KINDS
        }

    def write_manifest(
        self, manifest: dict[str, Any], on_done: Callable[[], None] | None = None
    ) -> None:
        """Queue the manifest (with the stored parts, unless it lists its own) for the store;
        ``on_done`` runs once it is stored."""
        if self.failed:
            return  # the stored one still says "running": resume starts from the seeds
        if "parts" not in manifest:
            with self._lock:
                manifest = {**manifest, "parts": self._parts_listing()}
        data = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        self._manifests += 1  # each write its own file: a queued upload never loses the last
        path = self.spool / f"manifest-{self._manifests:06d}.json"
        path.write_text(data, encoding="utf-8")
        self.uploader.submit(Upload(self.manifest_key, path, on_done))

    def flush(self, timeout: float) -> bool:
        """Rotate every journal and wait for the outbox to empty; True when all is stored."""
        for kind in KINDS:
            self._rotate(kind)
        return self.uploader.drain(timeout)

    def close(self, manifest: dict[str, Any], timeout: float) -> bool:
        stored = self.flush(timeout)
        if self.failed:
            self.uploader.stop()  # what is complete was stored or waits in the outbox
            for journal in self.journals.values():
                journal.close()
            logger.error(
                "consent: job %s is not finished (%s); `consent-crawler crawl --resume %s`",
                self.job_id,
                self.failed,
                self.job_id,
            )
            return False
        if not stored:
            manifest = {
                **manifest,
                "status": "upload-pending",
                "upload_error": self.uploader.last_error,
            }
        self.write_manifest(manifest)
        stored = self.uploader.drain(timeout if stored else 1.0) and stored
        self.uploader.stop()
        for journal in self.journals.values():
            journal.close()
        if stored:
            shutil.rmtree(self.spool, ignore_errors=True)
            _remove_empty_parents(self.spool)
        else:
            logger.error(
                "consent: the store is unreachable; %d file(s) wait in %s for "
                "`consent-crawler crawl --resume %s`",
                self.uploader.pending,
                self.spool,
                self.job_id,
            )
        return stored


def _difference(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def stored_counts(tally: dict[str, int]) -> dict[str, Any]:
    """A stored tally as a manifest's ``counts``."""
    signals = {k.split(":", 1)[1]: v for k, v in tally.items() if k.startswith("signal:") and v}
    items = {k: v for k, v in tally.items() if ":" not in k and k not in ("kept", "refused")}
    return {
        "decisions": {"kept": tally.get("kept", 0), "refused": tally.get("refused", 0)},
        **{k: v for k, v in items.items() if v or k == "items"},
        "items": tally.get("items", 0),
        "refused_by_signal": dict(sorted(signals.items())),
    }


def _remove_empty_parents(path: Path) -> None:
    """Tidy the spool's now-empty job folders (``.spool/<job>/<worker>``)."""
    for parent in list(path.parents)[:2]:
        try:
            parent.rmdir()
        except OSError:
            return
