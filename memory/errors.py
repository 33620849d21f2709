"""Faults of the experience store: the set-up's, never a program's.

Each is one line naming the store's file and, where there is one, the way out. A run stops on
them (and continues with `--resume` once the cause is gone); the CLI prints the line.
"""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """The experience store cannot be opened, read or written (the message names the file)."""


class StoreLocked(StoreError):
    """Another process held the store's lock for longer than this one was willing to wait."""


class StoreDamaged(StoreError):
    """The file is not a sound SQLite database: cut short, overwritten, or not one at all."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"experience store {path} is damaged ({detail}); save what is readable with "
            f"`agent memory export rescued.jsonl --memory {path}`, then "
            "`agent memory import rescued.jsonl --memory NEW.sqlite` and use the new file"
        )
        self.path = path


class StoreFull(StoreError):
    """The disk (or the file system's quota) has no room for the store to grow."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"experience store {path}: the disk is full (database or disk is full, errno 28); "
            "free some space and run again (a run continues with --resume)"
        )
        self.path = path
