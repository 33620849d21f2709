"""layernorm expert: centred rows reused for the variance and the output."""

from dsl import step


def kernel(x, g, b, tile_rows=4):
    H = x.shape[1].value
    x1, x2, ref_g, ref_b = step.copy(step.linear_offchip_load(x, (tile_rows, H)), 4)
    c1, c2 = step.copy(step.map([x1, step.map(x2, "row_mean")], "sub"))
    var = step.map(step.map(c1, "square"), "row_mean")
    inv = step.map(step.map(var, step.fn.add_scalar(value=1e-5)), "rsqrt")
    gain = step.expand(step.linear_offchip_load(g, (1, H)), ref_g)
    bias = step.expand(step.linear_offchip_load(b, (1, H)), ref_b)
    y = step.map([step.map([step.map([c2, inv], "mul"), gain], "mul"), bias], "add")
    return step.linear_offchip_store(y, "y")
