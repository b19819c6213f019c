"""Where a store's bytes live: a local directory or an S3 bucket, behind one small interface.

Keys are relative paths of the contract layout (design.md §4), e.g.
``jobs/<job_id>/manifest.json`` or ``evidence/<sha256>``.  Every ``put`` is atomic: an object
is complete or absent.  The crawler's writer, the operators' tools, verify and purge all go
through this interface, so local and S3 stores behave the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class StoreError(RuntimeError):
    """The store cannot be used (bad location, not writable, unreachable)."""


class ObjectStore(Protocol):
    location: str

    def put(self, key: str, data: bytes) -> None: ...

    def put_file(self, key: str, path: Path) -> None: ...

    def get(self, key: str) -> bytes:
        """The object's bytes; raises KeyError when absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix``, sorted."""
        ...

    def delete(self, key: str) -> None: ...

    def check_writable(self) -> None:
        """Raise StoreError when the store cannot be written (checked before a crawl)."""
        ...


class LocalObjects:
    """A store in a local directory; writes go through a temporary file and a rename."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in Path(key).parts:
            raise ValueError(f"not a store key: {key!r}")
        return self.root / key

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot write to the store: {exc}") from None

    def _staging(self, key: str) -> tuple[Path, Path]:
        """Where ``key``'s object goes, and the temporary name it is written under first."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, path.with_name(f".{path.name}.{os.getpid()}.tmp")

    def put(self, key: str, data: bytes) -> None:
        path, tmp = self._staging(key)
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def put_file(self, key: str, path: Path) -> None:
        """Hard-link the finished file into place when the spool shares the store's file
        system (the default spool is <store>/.spool): no copy of every part through memory.
        Elsewhere, or where links are refused, it is copied as by ``put``."""
        dest, tmp = self._staging(key)
        try:
            os.link(path, tmp)
        except OSError:  # another file system, no hard links, or a left-over tmp
            self.put(key, path.read_bytes())
            return
        try:
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        base = self.root
        if prefix == "" or prefix.endswith("/"):
            folder = self._path(prefix) if prefix else base
        else:
            folder = self._path(prefix).parent
        if not folder.is_dir():
            return iter(())
        keys = (p.relative_to(base).as_posix() for p in folder.rglob("*") if p.is_file())
        return iter(
            sorted(k for k in keys if k.startswith(prefix) and not Path(k).name.startswith("."))
        )

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def open_objects(location: str, *, endpoint_url: str | None = None) -> ObjectStore:
    """The object store for a ``--store`` value: ``s3://bucket/prefix`` or a directory."""
    if location.startswith("s3://"):
        from .s3 import S3Objects

        return S3Objects.from_url(location, endpoint_url=endpoint_url)
    return LocalObjects(location)
