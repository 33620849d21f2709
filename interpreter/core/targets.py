"""Typed targets: one loader turns a target's TOML table into a checked dataclass.

Each dialect's simulator used to read its target as a dict, with its own keys, defaults
and error messages (or a bare KeyError). Here every dialect's parameters are declared once,
as a frozen dataclass on a shared base (`Target`: name, dialect, description, budget), and
`typed` checks a table against it: a missing key, a value of the wrong type or a negative
number, and a key no dataclass declares (a typo that would silently keep a default) each
fail in one line naming the file and the key. `interpreter.targets.load_target` runs the
check on every file it loads, so a bad target is refused before any program runs.

Readers switch over with `typed(target)`, which accepts the dict form simulators still
receive (tests and benchmarks override a key with `dict(target, fifo_depth=2)`).
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Annotated, Any


class TargetError(Exception):
    """A target name that does not exist, or a file that does not parse or check."""


Positive = Annotated[float, "> 0"]
"""A rate or a size a simulator divides by: zero is refused too."""
PositiveInt = Annotated[int, "> 0"]
AtLeastOne = Annotated[float, ">= 1"]
"""A cost in cycles a simulator charges whole (one op on the core takes at least a cycle)."""


@dataclass(frozen=True)
class Target:
    """What every target has: its name, its dialect, a description, and its `[budget]`
    (resource -> amount; `interpreter.budget`)."""

    name: str
    dialect: str
    description: str = ""
    budget: Mapping[str, float] = field(default_factory=dict)

    @property
    def offchip_bytes_per_cycle(self) -> float | None:
        """The off-chip bandwidth the target states, if any (the verifier's task floor:
        outputs must leave the chip). A dialect whose model has one overrides this."""
        return None


@dataclass(frozen=True)
class SamHbm:
    """Comal's HBM channels: a step moving words waits for the round trip and its turn."""

    enabled: bool = False
    channels: PositiveInt = 8
    latency: int = 2
    ii: PositiveInt = 2
    startup: int = 14


@dataclass(frozen=True, kw_only=True)
class SamTarget(Target):
    fifo_depth: int = 0  # tokens a FIFO holds; 0: unbounded
    hbm: SamHbm = SamHbm()


@dataclass(frozen=True, kw_only=True)
class StepTarget(Target):
    onchip_bw: Positive  # bytes/cycle of one memory port
    flops_per_unit: Positive
    offchip_bw: Positive  # bytes/cycle, shared
    offchip_latency: Positive
    channel_depth: PositiveInt

    @property
    def offchip_bytes_per_cycle(self) -> float | None:
        return self.offchip_bw


@dataclass(frozen=True)
class DaeAccess:
    tu_steps_per_cycle: Positive
    mem_requests_per_cycle: Positive
    pushes_per_cycle: Positive


@dataclass(frozen=True)
class DaeExecute:
    dispatch_cycles: AtLeastOne
    case_compare_cycles: float  # per case tested before the match: may be free
    pop_cycles: AtLeastOne
    scalar_op_cycles: AtLeastOne
    vector_op_cycles: AtLeastOne
    store_cycles: AtLeastOne
    accumulate_cycles: AtLeastOne
    load_cycles: AtLeastOne
    counter_cycles: AtLeastOne
    loop_cycles: AtLeastOne
    load_requests_per_cycle: Positive


@dataclass(frozen=True)
class DaeCache:
    line_bytes: PositiveInt
    l1_latency: float
    l2_latency: float
    llc_latency: float


@dataclass(frozen=True)
class DaeDram:
    latency_cycles: float
    bytes_per_cycle: Positive


@dataclass(frozen=True, kw_only=True)
class DaeTarget(Target):
    access: DaeAccess
    execute: DaeExecute
    cache: DaeCache
    dram: DaeDram

    @property
    def offchip_bytes_per_cycle(self) -> float | None:
        return self.dram.bytes_per_cycle


KINDS: dict[str, type[Target]] = {"sam": SamTarget, "step": StepTarget, "dae": DaeTarget}


def typed(table: Mapping[str, Any], where: str | None = None, dialect: str | None = None) -> Target:
    """The checked dataclass of a target table (a loaded TOML, `name` set). The dialect is
    its `dialect` key, else the name's prefix (`step_small` -> step); a reader that knows
    its dialect passes it, and then an empty table means that dialect's defaults. `where`
    names the file in errors (default: the target's name)."""
    name = str(table.get("name", "?"))
    where = where or f"target {name!r}"
    prefix = name.split("_", 1)[0]
    declared = table.get("dialect") or (prefix if prefix in KINDS or not dialect else None)
    if dialect and declared and declared != dialect:
        raise TargetError(f"{where}: a {declared} target, not a {dialect} one")
    dialect = str(dialect or declared)
    kind = KINDS.get(dialect)
    if kind is None:
        raise TargetError(f"{where}: unknown dialect {dialect!r}; known: {', '.join(KINDS)}")
    return _build(kind, {**table, "name": name, "dialect": dialect}, where, "")


def _build(cls: type, table: Mapping[str, Any], where: str, section: str) -> Any:
    if not isinstance(table, Mapping):
        raise TargetError(f"{where}: [{section}] must be a table, got {table!r}")
    hints = _hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in known:
            raise TargetError(
                f"{where}: unknown key {_key(section, key)}; known: {', '.join(known)}"
            )
    values = {}
    for name, f in known.items():
        if name not in table:
            if f.default is MISSING and f.default_factory is MISSING:
                raise TargetError(f"{where}: missing key {_key(section, name)}")
            continue
        values[name] = _value(hints[name], table[name], where, _key(section, name))
    return cls(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved field types (slow to resolve: a simulate call checks its target)."""
    return typing.get_type_hints(cls, include_extras=True)


def _value(hint: Any, value: Any, where: str, key: str) -> Any:
    if typing.get_origin(hint) is Annotated:
        kind, bound = typing.get_args(hint)
        number = _value(kind, value, where, key)
        if number <= 0 if bound == "> 0" else number < float(bound.split()[1]):
            raise TargetError(f"{where}: {key} must be a number {bound}, got {value!r}")
        return number
    if is_dataclass(hint):
        return _build(hint, value, where, key)
    if hint is str:
        if not isinstance(value, str):
            raise TargetError(f"{where}: {key} must be a string, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise TargetError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        return _number(value, where, key, integral=hint is int)
    # the budget: resource -> amount
    if not isinstance(value, Mapping):
        raise TargetError(f"{where}: [{key}] must be a table, got {value!r}")
    return {k: _number(v, where, f"[{key}] {k}", integral=False) for k, v in value.items()}


def _number(value: Any, where: str, key: str, *, integral: bool) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        raise TargetError(f"{where}: {key} must be a number >= 0, got {value!r}")
    if integral:
        if value != int(value):
            raise TargetError(f"{where}: {key} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def _key(section: str, key: str) -> str:
    return f"[{section}] {key}" if section else key
