"""A journal: the part being written, as a gzip stream on disk, flushed after every line.

Each appended line is compressed and sync-flushed (``Z_SYNC_FLUSH``: the compressed bytes so
far decode to every line so far) and written unbuffered, so a line is in the OS, decodable,
when ``append`` returns and a killed process loses nothing.  Rotating the journal only adds
the gzip trailer and renames the file into the outbox: the part is the journal itself, never
read back or compressed a second time (reading 64 MiB journals back and compressing them
whole cost the crawl ~0.5 ms a page, and the raw lines cost eight times the disk writes).

A journal left by a killed process is read with ``journal_lines``: a gzip stream without its
trailer decodes to the lines flushed before the kill (a line cut by the kill is dropped by the
caller).  Journals of plain JSON lines, as earlier versions wrote them, are read as they are.
"""

from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

# gzip's own default: parts within ~1% of level 9's size for about half the CPU (level 9
# compression was a third of the crawl's CPU on pages of 20-60 KiB; see bench/RESULTS.md).
PART_COMPRESSLEVEL: Final = 6


@dataclass(frozen=True)
class Deflate:
    """How a journal compresses: zlib's level, window (log2 bytes) and memory level."""

    level: int
    window_bits: int
    mem_level: int


ITEM_DEFLATE: Final = Deflate(PART_COMPRESSLEVEL, 15, 8)  # zlib's defaults at the store's level
# A decision line is ~1.6 KB and nearly the line before it, so a 4 KiB window and the fastest
# level lose little (~130 bytes a line compressed, against ~75 with the item settings), and a
# compressor of ~20 KiB instead of ~260 KiB leaves the CPU cache to the page being processed
# (-0.14 M instructions a page, cachegrind; bench/RESULTS.md, Session 8).
DECISION_DEFLATE: Final = Deflate(1, 12, 2)
_GZIP_MAGIC: Final = b"\x1f\x8b"
_CHUNK: Final = 1 << 20


class Journal:
    """Append-only JSON lines of one kind, compressed as they come; ``finish`` makes it a part."""

    def __init__(self, path: Path, deflate: Deflate = ITEM_DEFLATE) -> None:
        self.path = path
        self.deflate = deflate
        self.lines = 0
        self.bytes = 0  # uncompressed: the part size limit is on lines, not on what they shrink to
        self.opened = time.monotonic()
        # Unbuffered: a line is in the OS when append() returns, and a failed write leaves no
        # hidden buffer to be flushed later.  The writer empties a left-over journal first.
        self._fh: IO[bytes] = path.open("ab", buffering=0)
        self._size = os.fstat(self._fh.fileno()).st_size
        if self._size:
            self._fh.close()
            raise ValueError(f"{path}: a journal must start empty (recover it first)")
        self._gzip = zlib.compressobj(  # window bits + 16: gzip framing
            deflate.level, zlib.DEFLATED, 16 + deflate.window_bits, deflate.mem_level
        )
        self._failed = False

    def append(self, data: bytes) -> None:
        """Append one line; if that fails the journal is cut back to its last whole line and
        the error raised.  The compressor has then moved on without the file, so the journal
        takes no further line (the writer stops recording at the first failure anyway)."""
        if self._failed:
            raise OSError(f"{self.path}: not written since a write to it failed")
        self._write(self._gzip.compress(data) + self._gzip.flush(zlib.Z_SYNC_FLUSH))
        self.lines += 1
        self.bytes += len(data)

    def finish(self) -> None:
        """Write the gzip trailer and close: the file is now a complete gzipped part."""
        if self._failed:
            raise OSError(f"{self.path}: not finished since a write to it failed")
        self._write(self._gzip.flush(zlib.Z_FINISH))
        self._fh.close()

    def close(self) -> None:
        self._fh.close()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[self._fh.write(view) or 0 :]
        except OSError:
            self._failed = True
            os.truncate(self.path, self._size)
            raise
        self._size += len(data)


def journal_lines(data: bytes) -> bytes:
    """The line bytes a journal file holds: decoded as far as it decodes (a kill can cut the
    gzip stream anywhere; damage ends it), or as it is when it holds plain lines."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    decoder = zlib.decompressobj(31)
    out: list[bytes] = []
    for start in range(0, len(data), _CHUNK):
        try:
            out.append(decoder.decompress(data[start : start + _CHUNK]))
        except zlib.error:
            break  # damaged from here: keep what came before
        if decoder.eof:
            break
    return b"".join(out)
