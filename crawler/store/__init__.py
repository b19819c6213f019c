"""Where a job's items, decisions, evidence and manifest go (design.md §4 layout, contract)."""

from .objects import LocalObjects, ObjectStore, StoreError, open_objects
from .writer import JobWriter

__all__ = ["JobWriter", "LocalObjects", "ObjectStore", "StoreError", "open_objects"]
