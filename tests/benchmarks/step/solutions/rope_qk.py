"""rope_qk expert: cos and sin read once and shared by q and k."""

from dsl import step


def kernel(q, k, cos, sin, tile_rows=4):
    D = q.shape[1].value
    c1, c2 = step.copy(step.linear_offchip_load(cos, (tile_rows, D)))
    s1, s2 = step.copy(step.linear_offchip_load(sin, (tile_rows, D)))

    def rotate(t, c, s):
        t1, t2 = step.copy(step.linear_offchip_load(t, (tile_rows, D)))
        return step.map(
            [step.map([t1, c], "mul"), step.map([step.map(t2, "rotate_half"), s], "mul")], "add"
        )

    return (
        step.linear_offchip_store(rotate(q, c1, s1), "q_out"),
        step.linear_offchip_store(rotate(k, c2, s2), "k_out"),
    )
