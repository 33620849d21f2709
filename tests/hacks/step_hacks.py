"""STeP programs that bought cycles with hardware the chip does not have, or with precision
they do not pay for, written against the real dialect API as an agent gaming the reward
would write them. This module imports nothing of the verifier, so the same programs can be
run against the code as it was before (the catalogue's "before" column).

- `COMPUTE_GREEDY`: prepended to any program, every compute op asks for 10**12 compute
  units (the old simulator charged nothing for them and shrank the floor with them).
- `GEMM_COMPUTE`: the gemm expert with compute=10**12 on its matmul.
- `SOFTMAX_BF16`: softmax in bfloat16 (cast after loading, cast back before storing), whose
  half-size tiles the old interpreter charged 2 bytes while computing them in float32: every
  on-chip-bandwidth-bound op in between ran twice as fast at full precision.
- `gemm_big_tiles(rows)`: gemm with `rows`-row tiles of a; with a row count past the task's,
  the tiles are mostly padding and the on-chip memory they need exceeds a small target.
"""

from __future__ import annotations

COMPUTE_GREEDY = """\
from dsl import step as _step


def _greedy(build):
    return lambda *args, **kwargs: build(*args, **{**kwargs, "compute": 10**12})


for _name in ("map", "accum", "scan", "flat_map"):
    setattr(_step, _name, _greedy(getattr(_step, _name)))
"""

GEMM_COMPUTE = """
from dsl import step


def kernel(a, b, tile_rows=32):
    K, N = b.shape[0].value, b.shape[1].value
    a_t, ref = step.copy(step.linear_offchip_load(a, (tile_rows, K)))
    b_t = step.expand(step.linear_offchip_load(b, (K, N)), ref)
    return step.linear_offchip_store(step.map([a_t, b_t], "matmul", compute=10**12), "c")
"""

SOFTMAX_BF16 = """
from dsl import step


def kernel(x, tile_rows=4):
    N = x.shape[1].value
    load = step.linear_offchip_load(x, (tile_rows, N))
    x1, x2 = step.copy(step.map(load, step.fn.cast(dtype="bfloat16"), compute=2))
    e1, e2 = step.copy(step.map(step.map([x1, step.map(x2, "row_max")], "sub"), "exp"))
    y = step.map([e1, step.map(e2, "row_sum")], "div")
    return step.linear_offchip_store(step.map(y, step.fn.cast(dtype="float32"), compute=2), "y")
"""


def gemm_big_tiles(rows: int) -> str:
    return f"""
from dsl import step


def kernel(a, b):
    K, N = b.shape[0].value, b.shape[1].value
    a_t, ref = step.copy(step.linear_offchip_load(a, ({rows}, K)))
    b_t = step.expand(step.linear_offchip_load(b, (K, N)), ref)
    return step.linear_offchip_store(step.map([a_t, b_t], "matmul"), "c")
"""
