"""Where a job's items, decisions, evidence and manifest go (design.md §4 layout, contract)."""

from .local import LocalStore, StoreError, open_store

__all__ = ["LocalStore", "StoreError", "open_store"]
