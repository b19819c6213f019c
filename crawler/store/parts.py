"""Reading stored parts: gzipped JSON lines, one record per line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any


def read_part_bytes(data: bytes) -> list[dict[str, Any]]:
    text = gzip.decompress(data).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_part(path: Path) -> list[dict[str, Any]]:
    return read_part_bytes(path.read_bytes())
