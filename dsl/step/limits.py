"""The ranges of every numeric field of STeP IR.

The IR comes back from the sandbox untrusted; the trusted side sizes arrays from its numbers
(tile grids, selectors, sub-streams, stop levels held in int8). Each field therefore has a
range that every sensible program stays far inside and that keeps the interpreter's memory
bounded; a value outside it is a one-line error naming the op and the field. Resources that
buy speed (`compute=`) are bounded by the target's budget instead (`interpreter/step/budget.py`),
so that the message names the budget.
"""

from __future__ import annotations

from dsl.core.errors import RuleError

MAX_INT = 1 << 40  # any integer attribute or dim coefficient (products stay in int64)
MAX_FN_INT = 1 << 31  # an element function's integer parameter (scale, offset, stride...)
MAX_TILE_SIDE = 1 << 14  # rows or cols of a tile
MAX_TILE_ELEMS = 1 << 22  # elements of a static tile (16 MiB of float32)
MAX_RANK = 32  # stream rank (stop levels are int8)
MAX_CHOICES = 4096  # selector width, partition consumers, dispatch regions
MAX_COPIES = 1024  # outputs of one copy
MAX_SUBSTREAM = 1 << 20  # elements one flat_map element expands to (arange count)
MAX_DIM_DEPTH = 8  # nesting of cdiv / fdiv in one dim

# attribute (op, name) -> largest value, beyond the generic MAX_INT
ATTR_MAX = {
    ("copy", "n"): MAX_COPIES,
    ("partition", "num_consumers"): MAX_CHOICES,
    ("reshape", "chunk"): MAX_SUBSTREAM,
}
RANK_ATTRS = ("rank", "dim", "min_dim", "max_dim")


class LimitError(RuleError):
    """A numeric field outside its range (the message says which range)."""


def check_int(value: int, most: int, least: int | None = None) -> int:
    """`value` if it lies in least..most (least defaults to -most), else LimitError."""
    if value > most:
        raise LimitError(f"must be at most {most}, got {value}")
    low = -most if least is None else least
    if value < low:
        raise LimitError(f"must be at least {low}, got {value}")
    return value


def check_attr(op: str, key: str, value: object) -> None:
    """Range of one parsed integer-like attribute of `op` (other kinds pass)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return
    if key in RANK_ATTRS:
        check_int(value, MAX_RANK + 1)
    else:
        check_int(value, ATTR_MAX.get((op, key), MAX_INT))


def check_tile(rows: int, cols: int) -> None:
    """A static tile's sides and size."""
    for what, v in (("rows", rows), ("cols", cols)):
        if v > MAX_TILE_SIDE:
            raise LimitError(f"{what} must be at most {MAX_TILE_SIDE}, got {v}")
    if rows * cols > MAX_TILE_ELEMS:
        raise LimitError(
            f"a [{rows}, {cols}] tile has {rows * cols} elements (at most {MAX_TILE_ELEMS})"
        )
