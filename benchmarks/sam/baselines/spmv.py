from dsl import sam


def kernel(A, x, **params):
    """spmv baseline: one fused graph, order ij.

    y(i) = A(i,j) * x(j)
    """
    y = sam.output('y', format=['dense'], mode_order=[0])
    with sam.graph('y'):
        i_crd_A, A_i_ref = A.scan(0)
        i_crd_A_0, i_crd_A_1 = sam.broadcast(i_crd_A, 2)
        i_repsig = sam.repeat_signal(i_crd_A_0)
        x_i_ref = sam.repeat(sam.root(), i_repsig)
        j_crd_A, A_j_ref = A.scan(1, A_i_ref)
        _, x_j_ref = x.locate(0, j_crd_A, x_i_ref)
        A_val = A.load(A_j_ref)
        x_val = x.load(x_j_ref)
        mul = sam.alu('mul', A_val, x_val)
        sum_j = sam.reduce(mul)
        y.write_level(0, i_crd_A_1)
        y.write_vals(sum_j)
