from dsl import sam


def kernel(B, c, **params):
    """ttv baseline: one fused graph, order ijk.

    A(i,j) = B(i,j,k) * c(k)
    """
    A = sam.output('A', format=['compressed', 'compressed'], mode_order=[0, 1])
    with sam.graph('A'):
        i_crd_B, B_i_ref = B.scan(0)
        i_crd_B_0, i_crd_B_1 = sam.broadcast(i_crd_B, 2)
        i_repsig = sam.repeat_signal(i_crd_B_0)
        c_i_ref = sam.repeat(sam.root(), i_repsig)
        j_crd_B, B_j_ref = B.scan(1, B_i_ref)
        j_crd_B_0, j_crd_B_1 = sam.broadcast(j_crd_B, 2)
        j_repsig = sam.repeat_signal(j_crd_B_0)
        c_j_ref = sam.repeat(c_i_ref, j_repsig)
        k_crd_B, B_k_ref = B.scan(2, B_j_ref)
        _, c_k_ref = c.locate(0, k_crd_B, c_j_ref)
        B_val = B.load(B_k_ref)
        c_val = c.load(c_k_ref)
        mul = sam.alu('mul', B_val, c_val)
        sum_k = sam.reduce(mul)
        A.write_level(0, i_crd_B_1)
        A.write_level(1, j_crd_B_1)
        A.write_vals(sum_k)
