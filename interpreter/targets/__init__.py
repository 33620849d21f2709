"""Hardware models: one TOML file per target, named `<dialect>_<variant>.toml`."""

from __future__ import annotations

import tomllib
from pathlib import Path

TARGETS_DIR = Path(__file__).parent


class TargetError(Exception):
    """A target name that does not exist or a file that does not parse."""


def available() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def load_target(name: str) -> dict:
    """The target's parameters as a dict (with its `name` added)."""
    path = TARGETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise TargetError(f"unknown target {name!r}; known: {', '.join(available()) or 'none'}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path}: {exc}") from None
    data.setdefault("name", name)
    return data
