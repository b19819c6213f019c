"""The spool journal: a gzip stream flushed after every line, so a kill anywhere loses only the
line being written, and a finished journal is a part as it is."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest

from crawler.store.journal import (
    DECISION_DEFLATE,
    ITEM_DEFLATE,
    Deflate,
    Journal,
    journal_lines,
)
from crawler.store.objects import LocalObjects
from crawler.store.parts import read_part_bytes
from crawler.store.writer import JobWriter

LINES = [(json.dumps({"n": n, "text": "word " * n}) + "\n").encode() for n in range(1, 40)]


def _journal(tmp_path: Path, lines: list[bytes], deflate: Deflate = ITEM_DEFLATE) -> Path:
    journal = Journal(tmp_path / "items.journal", deflate)
    for line in lines:
        journal.append(line)
    journal.close()  # as a kill leaves it: no trailer
    return journal.path


@pytest.mark.parametrize("deflate", [ITEM_DEFLATE, DECISION_DEFLATE], ids=["items", "decisions"])
def test_every_appended_line_decodes_without_the_trailer(tmp_path: Path, deflate: Deflate) -> None:
    path = _journal(tmp_path, LINES, deflate)
    assert journal_lines(path.read_bytes()) == b"".join(LINES)


def test_a_journal_cut_anywhere_decodes_to_a_prefix_of_its_lines(tmp_path: Path) -> None:
    data = _journal(tmp_path, LINES).read_bytes()
    whole = b"".join(LINES)
    for cut in range(0, len(data), 7):
        decoded = journal_lines(data[:cut])
        assert whole.startswith(decoded)
    # A line is whole once its flushed bytes are there: a journal of the first five lines is
    # a prefix of this one and decodes to exactly those lines.
    (tmp_path / "five").mkdir()
    five = _journal(tmp_path / "five", LINES[:5]).read_bytes()
    assert data.startswith(five)
    assert journal_lines(five) == b"".join(LINES[:5])


def test_damage_ends_what_is_read_and_plain_journals_read_as_they_are(tmp_path: Path) -> None:
    data = bytearray(_journal(tmp_path, LINES).read_bytes())
    data[len(data) // 2 :] = b"\xff" * (len(data) - len(data) // 2)
    assert b"".join(LINES).startswith(journal_lines(bytes(data)))
    assert journal_lines(b'{"plain":1}\n{"cut') == b'{"plain":1}\n{"cut'


@pytest.mark.parametrize("deflate", [ITEM_DEFLATE, DECISION_DEFLATE], ids=["items", "decisions"])
def test_a_finished_journal_is_a_gzipped_part(tmp_path: Path, deflate: Deflate) -> None:
    journal = Journal(tmp_path / "items.journal", deflate)
    for line in LINES:
        journal.append(line)
    journal.finish()
    data = journal.path.read_bytes()
    assert gzip.decompress(data) == b"".join(LINES)
    assert [json.loads(line) for line in LINES] == read_part_bytes(data)
    assert journal.lines == len(LINES) and journal.bytes == len(b"".join(LINES))


def test_a_journal_refuses_to_start_on_old_lines_and_to_go_on_after_a_failed_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "items.journal"
    path.write_bytes(LINES[0])
    with pytest.raises(ValueError, match="must start empty"):
        Journal(path)
    path.unlink()
    journal = Journal(path)
    journal.append(LINES[0])

    class FullDisk:
        def write(self, data: memoryview) -> int:
            with path.open("ab") as fh:  # half a line gets out, then the disk is full
                fh.write(bytes(data[: len(data) // 2]))
            raise OSError(28, "No space left on device")

    journal.close()
    journal._fh = FullDisk()  # type: ignore[assignment]
    with pytest.raises(OSError, match="No space"):
        journal.append(LINES[1])
    assert journal_lines(path.read_bytes()) == LINES[0]  # cut back to the whole line
    with pytest.raises(OSError, match="since a write to it failed"):
        journal.append(LINES[2])
    with pytest.raises(OSError, match="since a write to it failed"):
        journal.finish()


def test_a_spool_reused_without_resume_keeps_the_lines_it_holds(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    left = [json.dumps({"url": f"u{n}", "fetch": "allowed", "use": "allowed"}) for n in range(3)]
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    data = compressor.compress("".join(line + "\n" for line in left).encode())
    (spool / "decisions.journal").write_bytes(data + compressor.flush(zlib.Z_SYNC_FLUSH))
    objects = LocalObjects(tmp_path / "store")
    writer = JobWriter(objects, "j", spool=spool)
    writer.write_decision({"url": "u9", "fetch": "allowed", "use": "refused", "reasons": []})
    assert writer.close({"job_id": "j"}, timeout=10)
    stored = [
        line["url"]
        for key in objects.list("jobs/j/decisions/")
        for line in read_part_bytes(objects.get(key))
    ]
    assert stored == ["u0", "u1", "u2", "u9"]


def test_decision_lines_are_compressed_small_and_items_at_the_store_level(tmp_path: Path) -> None:
    writer = JobWriter(LocalObjects(tmp_path / "store"), "j", spool=tmp_path / "spool")
    assert writer.journals["items"].deflate == ITEM_DEFLATE
    assert writer.journals["decisions"].deflate == DECISION_DEFLATE
    writer.write_decision({"url": "u", "fetch": "allowed", "use": "allowed", "reasons": []})
    writer.rotate()  # a new journal of each kind keeps its kind's settings
    assert writer.journals["decisions"].deflate == DECISION_DEFLATE
    assert writer.close({"job_id": "j"}, timeout=10)
