"""rope_heads expert: cos/sin row tiles read once, kept on chip (bufferize) and replayed for
every head instead of re-read from off-chip."""

from dsl import step


def kernel(x, cos, sin, tile_rows=4):
    NH, S, D = x.shape
    st = step.cdiv(S, tile_rows)
    x1, x2 = step.copy(step.linear_offchip_load(x, (tile_rows, D.value)))  # [NH, st, 1]

    def table(t):  # [1] of Buffer[st, 1], replayed NH times: [NH, st, 1]
        buf = step.bufferize(
            step.linear_offchip_load(t, (tile_rows, D.value), shape=(1, st, 1)), rank=2
        )
        return step.streamify(step.flatten(step.repeat(buf, NH), 0, 1))

    y = step.map(
        [
            step.map([x1, table(cos)], "mul"),
            step.map([step.map(x2, "rotate_half"), table(sin)], "mul"),
        ],
        "add",
    )
    return step.linear_offchip_store(y, "y")
