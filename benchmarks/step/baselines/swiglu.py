"""swiglu: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along M;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(x, w_gate, w_up, w_down, tile_rows=16, compute=1):
    x_t = step.linear_offchip_load(x, (tile_rows, 64))  # stream [cdiv(M, tile_rows), 1]
    x_t0, x_t1, x_t2, x_t3, x_t4 = step.copy(x_t, 5)
    w_gate_tile = step.linear_offchip_load(w_gate, (64, 128))  # read once
    w_gate_t = step.expand(w_gate_tile, x_t2)  # kept on chip, repeated for every row tile
    w_up_tile = step.linear_offchip_load(w_up, (64, 128))  # read once
    w_up_t = step.expand(w_up_tile, x_t3)  # kept on chip, repeated for every row tile
    w_down_tile = step.linear_offchip_load(w_down, (128, 64))  # read once
    w_down_t = step.expand(w_down_tile, x_t4)  # kept on chip, repeated for every row tile
    gate = step.map([x_t0, w_gate_t], "matmul", compute=compute)
    act = step.map(gate, "silu", compute=compute)
    up = step.map([x_t1, w_up_t], "matmul", compute=compute)
    hidden = step.map([act, up], "mul", compute=compute)
    y = step.map([hidden, w_down_t], "matmul", compute=compute)
    return step.linear_offchip_store(y, "y")
