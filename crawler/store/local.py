"""A store in a local directory, with the contract layout:

<store>/jobs/<job_id>/manifest.json
<store>/jobs/<job_id>/items/<part>.jsonl.gz
<store>/jobs/<job_id>/decisions/<part>.jsonl.gz
<store>/evidence/<sha256>
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .parts import PartWriter


class StoreError(RuntimeError):
    """The store cannot be used (bad location, not writable); raised before any fetch."""


def open_store(location: str, job_id: str, *, worker: str = "w0", **rotation: Any) -> LocalStore:
    if location.startswith("s3://"):
        raise StoreError(
            f"{location}: S3 stores are not supported by this version yet; use a local directory"
        )
    return LocalStore(Path(location), job_id, worker=worker, **rotation)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class LocalStore:
    def __init__(
        self,
        root: Path,
        job_id: str,
        *,
        worker: str = "w0",
        part_max_lines: int = 10_000,
        part_max_bytes: int = 64 * 1024 * 1024,
        part_max_seconds: float = 300.0,
    ) -> None:
        self.root = root
        self.location = str(root)
        self.job_id = job_id
        self.job_dir = root / "jobs" / job_id
        try:
            self.job_dir.mkdir(parents=True, exist_ok=True)
            (root / "evidence").mkdir(parents=True, exist_ok=True)
            probe = self.job_dir / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"{root}: cannot write to the store: {exc}") from None
        self.parts: dict[str, list[dict[str, Any]]] = {"items": [], "decisions": []}
        self.items, self.decisions = (
            PartWriter(
                self.job_dir / kind,
                f"part-{worker}",
                on_close=self._closed(kind),
                max_lines=part_max_lines,
                max_bytes=part_max_bytes,
                max_seconds=part_max_seconds,
            )
            for kind in ("items", "decisions")
        )
        self._evidence_seen: set[str] = set()

    def _closed(self, kind: str) -> Any:
        def record(path: Path, lines: int) -> None:
            self.parts[kind].append({"name": path.name, "lines": lines})

        return record

    def put_evidence(self, sha256: str, body: bytes) -> None:
        """Store a policy-file snapshot once, content-addressed."""
        if sha256 in self._evidence_seen:
            return
        path = self.root / "evidence" / sha256
        if not path.exists():
            _atomic_write(path, body)
        self._evidence_seen.add(sha256)

    def write_item(self, record: dict[str, Any]) -> None:
        self.items.write(record)

    def write_decision(self, record: dict[str, Any]) -> None:
        self.decisions.write(record)

    def tick(self) -> None:
        self.items.tick()
        self.decisions.tick()

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest = {**manifest, "parts": self.parts}
        data = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        _atomic_write(self.job_dir / "manifest.json", data.encode("utf-8"))

    def close(self) -> None:
        self.items.close_part()
        self.decisions.close_part()
