"""Hardware models: one TOML file per target, named `<dialect>_<variant>.toml`."""

from __future__ import annotations

import tomllib
from pathlib import Path

from interpreter.core.targets import TargetError, typed

TARGETS_DIR = Path(__file__).parent


def available() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def load_target(name: str) -> dict:
    """The target's parameters as a dict (with its `name` added), checked against its
    dialect's typed form (`interpreter.core.targets`)."""
    path = TARGETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise TargetError(f"unknown target {name!r}; known: {', '.join(available()) or 'none'}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path}: {exc}") from None
    data.setdefault("name", name)
    typed(data, str(path))  # refuses a missing, mistyped or unknown key, naming it
    return data
