"""Tensor storage formats: one format per level (dense or compressed) plus a mode order.

Storage level `l` holds tensor mode `mode_order[l]`. A dense level stores only its size
(child position = parent position * size + coordinate); a compressed level stores `seg`
(one entry per parent position, plus one) and `crd` arrays.
"""

from __future__ import annotations

DENSE, COMPRESSED = "dense", "compressed"
LEVEL_FORMATS = (DENSE, COMPRESSED)

NAMED_FORMATS: dict[str, tuple[tuple[str, ...], tuple[int, ...] | None]] = {
    "csr": ((DENSE, COMPRESSED), (0, 1)),
    "csc": ((DENSE, COMPRESSED), (1, 0)),
    "dcsr": ((COMPRESSED, COMPRESSED), (0, 1)),
    "dcsc": ((COMPRESSED, COMPRESSED), (1, 0)),
}
"""Matrix formats with their own mode order; "csf", "dense" and "sparse_vector" fit any rank."""


class FormatError(ValueError):
    """A format name, level list or mode order that does not fit the tensor's rank."""


def normalize(
    fmt: object, rank: int, mode_order: object = None
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(level formats, mode order) for a format given by name or as a per-level list."""
    implied: tuple[int, ...] | None = None
    if isinstance(fmt, str):
        name = fmt.lower()
        if name in NAMED_FORMATS:
            levels, implied = NAMED_FORMATS[name]
            if rank != 2:
                raise FormatError(f"format {fmt!r} is for matrices, the tensor has rank {rank}")
        elif name == "csf":
            levels = (COMPRESSED,) * rank
        elif name == "dense":
            levels = (DENSE,) * rank
        elif name in LEVEL_FORMATS:
            levels = (name,) * rank
        else:
            known = ", ".join([*NAMED_FORMATS, "csf", "dense", "compressed"])
            raise FormatError(f"unknown format {fmt!r}; known: {known}, or a per-level list")
    elif isinstance(fmt, list | tuple):
        levels = tuple(fmt)
        for lv in levels:
            if lv not in LEVEL_FORMATS:
                raise FormatError(f"level format {lv!r} is not one of {', '.join(LEVEL_FORMATS)}")
        if len(levels) != rank:
            raise FormatError(f"format has {len(levels)} levels, the tensor has rank {rank}")
    else:
        raise FormatError(f"format must be a name or a list of level formats, got {fmt!r}")
    if mode_order is None:
        order = implied if implied is not None else tuple(range(rank))
    else:
        if not isinstance(mode_order, list | tuple) or not all(
            isinstance(m, int) and not isinstance(m, bool) for m in mode_order
        ):
            raise FormatError(f"mode_order must be a list of ints, got {mode_order!r}")
        order = tuple(mode_order)
        if implied is not None and order != implied and fmt in ("csc", "dcsc"):
            raise FormatError(f"format {fmt!r} fixes mode_order {list(implied)}")
    if sorted(order) != list(range(rank)):
        raise FormatError(f"mode_order {list(order)} is not a permutation of 0..{rank - 1}")
    return levels, order
