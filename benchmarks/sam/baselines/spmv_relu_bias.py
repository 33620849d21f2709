from dsl import sam


def kernel(A, x, b, **params):
    """spmv_relu_bias baseline: 2 graphs, order ij.

    graph 0: t(i) = A(i,j) * x(j)
    graph 1: y(i) = relu(t(i) + b(i))
    """
    y = sam.output('y', format=['dense'], mode_order=[0])
    t = sam.tensor('t', ['N'], format=['dense'], mode_order=[0])
    with sam.graph('t'):
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
        t.write_level(0, i_crd_A_1)
        t.write_vals(sum_j)
    with sam.graph('y'):
        i_crd_t, t_i_ref = t.scan(0)
        i_crd_b, b_i_ref = b.scan(0)
        i_crd, t_i_ref_2, b_i_ref_2 = sam.union((i_crd_t, t_i_ref), (i_crd_b, b_i_ref))
        t_val = t.load(t_i_ref_2)
        b_val = b.load(b_i_ref_2)
        add = sam.alu('add', t_val, b_val)
        relu = sam.alu('relu', add)
        y.write_level(0, i_crd)
        y.write_vals(relu)
