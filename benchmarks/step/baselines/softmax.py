"""softmax: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along M;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(x, tile_rows=16, compute=1):
    x_t = step.linear_offchip_load(x, (tile_rows, 128))  # stream [cdiv(M, tile_rows), 1]
    y_a, y_b = step.copy(x_t)
    y_shifted = step.map([y_a, step.map(y_b, "row_max", compute=compute)], "sub", compute=compute)
    y_e1, y_e2 = step.copy(step.map(y_shifted, "exp", compute=compute))
    y = step.map([y_e1, step.map(y_e2, "row_sum", compute=compute)], "div", compute=compute)
    return step.linear_offchip_store(y, "y")
