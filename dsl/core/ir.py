"""IR base classes shared by the dialects: ports, nodes, programs and the JSON header.

A program is plain data: nodes in creation order (each input names an earlier node, so
the graph is acyclic by construction), each naming an op of its dialect's registry, with
attributes that hold only data. Every IR file opens with the same header,
`{"dialect": ..., "version": ...}`; `check_header` is the one place that refuses a file of
another dialect or of a version this build no longer reads, with a message saying what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from dsl.core.errors import ValidationError
from dsl.core.params import IR_KEY as TUNABLE_KEY  # the declared knobs travel in every IR


@dataclass(frozen=True)
class Port:
    """Output `index` of node `node`."""

    node: int
    index: int = 0


@dataclass(frozen=True)
class Node:
    """One op instance: its id (its position), op name, input ports, attributes, output
    types, and the line of the user's program that built it (for messages)."""

    id: int
    op: str
    inputs: tuple[Port, ...]
    attrs: dict = field(hash=False)
    outputs: tuple[Any, ...] = ()
    line: int | None = None

    def label(self) -> str:
        where = f", line {self.line}" if self.line else ""
        return f"{self.op} (node {self.id}{where})"

    def ports(self) -> tuple[Port, ...]:
        """This node's output ports."""
        return tuple(Port(self.id, i) for i in range(len(self.outputs)))


class Graph(Protocol):
    """What a pass walker needs of a program: nodes in an order where inputs come first."""

    @property
    def nodes(self) -> Sequence[Node]: ...


class ProgramBase:
    """Mixin of every dialect's `Program`: its dialect name and IR version, and the header
    its JSON form opens with."""

    DIALECT: ClassVar[str]
    VERSION: ClassVar[int]

    @classmethod
    def header(cls) -> dict[str, Any]:
        return {"dialect": cls.DIALECT, "version": cls.VERSION}

    @classmethod
    def check_header(cls, ir: object, keys: Iterable[str] | None = None) -> dict:
        return check_header(ir, cls.DIALECT, cls.VERSION, keys)


def check_header(ir: object, dialect: str, version: int, keys: Iterable[str] | None = None) -> dict:
    """`ir` as a dict if it is `dialect` IR of `version`, else a one-line `ValidationError`.

    `keys`, when given, are the only top-level keys allowed: nothing else is read, so a key
    that seems to ask for more is refused rather than ignored.
    """
    if not isinstance(ir, dict):
        raise ValidationError("IR must be a JSON object")
    if ir.get("dialect") != dialect:
        raise ValidationError(f"IR dialect is {ir.get('dialect')!r}, expected {dialect!r}")
    got = ir.get("version")
    if isinstance(got, bool) or not isinstance(got, int):  # True == 1 must not pass
        raise ValidationError(f"IR version {got!r} is not {dialect} version {version}")
    if got < version:
        raise ValidationError(
            f"IR is {dialect} version {got}, which this build no longer reads (it reads "
            f"version {version}); rebuild the program from its source"
        )
    if got != version:
        raise ValidationError(f"IR version {got!r} is not {dialect} version {version}")
    if keys is not None:
        unknown = set(ir) - {"dialect", "version", TUNABLE_KEY, *keys}
        if unknown:
            raise ValidationError(f"IR has unknown keys {sorted(map(str, unknown))}")
    return ir
