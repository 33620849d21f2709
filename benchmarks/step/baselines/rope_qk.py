"""rope_qk: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along S;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(q, k, cos, sin, tile_rows=16, compute=1):
    q_t = step.linear_offchip_load(q, (tile_rows, 64))  # stream [cdiv(S, tile_rows), 1]
    q_t0, q_t1 = step.copy(q_t, 2)
    k_t = step.linear_offchip_load(k, (tile_rows, 64))  # stream [cdiv(S, tile_rows), 1]
    k_t0, k_t1 = step.copy(k_t, 2)
    cos_t = step.linear_offchip_load(cos, (tile_rows, 64))  # stream [cdiv(S, tile_rows), 1]
    cos_t0, cos_t1 = step.copy(cos_t, 2)
    sin_t = step.linear_offchip_load(sin, (tile_rows, 64))  # stream [cdiv(S, tile_rows), 1]
    sin_t0, sin_t1 = step.copy(sin_t, 2)
    qc = step.map([q_t0, cos_t0], "mul", compute=compute)
    qr = step.map(q_t1, "rotate_half", compute=compute)
    qrs = step.map([qr, sin_t0], "mul", compute=compute)
    q_out = step.map([qc, qrs], "add", compute=compute)
    kc = step.map([k_t0, cos_t1], "mul", compute=compute)
    kr = step.map(k_t1, "rotate_half", compute=compute)
    krs = step.map([kr, sin_t1], "mul", compute=compute)
    k_out = step.map([kc, krs], "add", compute=compute)
    return (
        step.linear_offchip_store(q_out, "q_out"),
        step.linear_offchip_store(k_out, "k_out"),
    )
