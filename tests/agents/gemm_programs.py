"""Programs for step/gemm (and its variants) that the agent tests hand to models and the CLI.

They are written out whole, not edited out of the suite's baseline: the baseline is the
builtin compiler's output and changes with it (it declares tunable parameters, its maps read
`compute=compute`), so a test that edits its text silently stops making the program it means.

Cycles on step_default at the suite's timing input, by compute: 1 (the baseline's) ~1366,
2 ~726, 4 ~406, 8 ~246, 16 ~166 — the matmul is bound by its units' memory ports.
"""

from __future__ import annotations


def gemm_program(compute: int = 1, fn: str = "matmul", scale: float | None = None) -> str:
    """The row-tiled gemm with its matmul on `compute` units; `fn` names the map's element
    function (a name the dialect lacks makes an invalid program); `scale` multiplies the
    product (a well-formed program that only the reference comparison rejects)."""
    units = "" if compute == 1 else f", compute={compute}"
    scaled = "" if scale is None else f"\n    c = step.map(c, step.fn.scale(factor={scale!r}))"
    return f'''from dsl import step


def kernel(a, b, tile_rows=16):
    a_t = step.linear_offchip_load(a, (tile_rows, 128))  # stream of [16, 128] row tiles
    a_t0, a_t1 = step.copy(a_t, 2)
    b_t = step.expand(step.linear_offchip_load(b, (128, 64)), a_t1)  # read once, kept on chip
    c = step.map([a_t0, b_t], "{fn}"{units}){scaled}
    return step.linear_offchip_store(c, "c")
'''


def with_compute(program: str, compute: int) -> str:
    """`program` (one that declares a tunable `compute`, as every compiled row-tiled baseline
    does) run on `compute` units: how a tuned program states its values."""
    return (
        f"{program.rstrip()}\n\n\nkernel = step.tunable.with_defaults(kernel, compute={compute})\n"
    )
