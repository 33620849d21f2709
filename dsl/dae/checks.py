"""Limits and small checks shared by the DAE validator and the op rules.

Every number in the IR has a range, so nothing a program writes into its IR can overflow,
round to infinity or size an allocation on the trusted side; each failure is one line that
names the node and what disagreed.
"""

from __future__ import annotations

from typing import Any

from dsl.errors import ValidationError

MAX_NODES = 20_000
MAX_INT = 2**31 - 1
"""Largest magnitude of any integer in the IR (bounds, steps, extents, constants, counter
values): every index and count the interpreter computes from them then fits in int64."""
MAX_LENGTH = 1 << 16
"""Longest static row (`pop` buffer and `arange` lengths)."""
MAX_LANES = 1024
"""Widest vector loop the IR can express; what a target has is its `[budget] lanes`."""
MAX_FLOAT = 3.4028234663852886e38
"""Largest finite float32: a larger constant would round to infinity."""
MEMREF_DTYPES = {"float32": "float32", "int64": "int64", "int32": "int64"}
"""Task dtypes a memref may have, and the value dtype its loads produce."""


def fail(where: str, message: str) -> ValidationError:
    """The error of a broken rule at `where` (the node): "where: message"."""
    return ValidationError(message, where=where)


def int_in(
    value: Any, where: str, what: str, minimum: int | None = None, maximum: int = MAX_INT
) -> int:
    """An int in [minimum (default -MAX_INT), maximum]: no IR integer can overflow int64
    arithmetic on the trusted side."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail(where, f"{what} must be an int, got {show(value)}")
    low = -MAX_INT if minimum is None else minimum
    if not low <= value <= maximum:
        raise fail(where, f"{what} must be in [{low}, {maximum}], got {show(value)}")
    return value


def show(value: Any) -> str:
    """A value for a message: huge ints as their magnitude, so the line stays one line, and
    a builder object (a stream, a value) by its type, not its address."""
    if not isinstance(value, (int, float, str, list, dict, tuple, type(None))):
        return type(value).__name__
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**12:
        return f"{'-' if value < 0 else ''}~2**{abs(value).bit_length() - 1}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def as_list(d: dict, key: str, where: str) -> list:
    value = d.get(key, [])
    if not isinstance(value, list):
        raise fail(where, f"{key!r} must be a list")
    if len(value) > MAX_NODES:
        raise fail(where, f"{key!r} has {len(value)} entries, over the limit of {MAX_NODES}")
    return value


def as_table(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise fail(where, f"must be an object, got {type(value).__name__}")
    return value
