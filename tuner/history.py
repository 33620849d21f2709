"""The record of a tuning run, kept as a JSON-lines file so a stopped run resumes where it was.

The first line names the space (parameters and constraints) so a resume against a different
space is refused rather than silently mixing incomparable points. Each further line is one
evaluation, appended and flushed as soon as it is known: a crash loses at most the evaluation in
flight, and a final line cut short by that crash is dropped on reading.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.errors import HistoryError, SpaceError
from tuner.space import Config, Space

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """One configuration tried: its objective value when it ran (``feasible``), else None."""

    config: Config
    value: float | None
    feasible: bool


def load(path: Path, space: Space) -> list[Evaluation]:
    """The evaluations stored at ``path`` (none if it does not exist yet)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        log.warning("%s: dropping the cut-short last line", path)
        lines.pop()
    if not lines:
        return []
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        raise HistoryError(f"{path}:1: not a tuner history (bad JSON header)") from None
    if header.get("space") != space.describe():
        raise HistoryError(f"{path}:1: the history was recorded for a different tuning space")
    evaluations = []
    for number, line in enumerate(lines[1:], start=2):
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
            config = space.from_json(record["config"])
            value, feasible = record["value"], bool(record["feasible"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise HistoryError(f"{where}: not an evaluation record") from None
        try:
            space.check(config, where)
        except SpaceError as exc:
            raise HistoryError(str(exc)) from None
        if feasible and not (isinstance(value, int | float) and math.isfinite(value)):
            raise HistoryError(f"{where}: a feasible evaluation needs a finite value")
        evaluations.append(Evaluation(config, value if feasible else None, feasible))
    return evaluations


class HistoryWriter:
    """Appends evaluations to ``path``, writing the space header when the file is new."""

    def __init__(self, path: Path, space: Space) -> None:
        self.path, self.space = path, space
        if not path.exists() or path.stat().st_size == 0:
            self._append({"space": space.describe()})
        else:
            self._drop_cut_short_line()

    def _drop_cut_short_line(self) -> None:
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            with self.path.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def write(self, evaluation: Evaluation) -> None:
        self._append(
            {
                "config": self.space.to_json(evaluation.config),
                "value": evaluation.value,
                "feasible": evaluation.feasible,
            }
        )
