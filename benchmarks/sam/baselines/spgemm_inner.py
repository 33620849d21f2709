from dsl import sam


def kernel(A, B, **params):
    """spgemm_inner baseline: one fused graph, order ijk.

    X(i,j) = A(i,k) * B(k,j)
    """
    X = sam.output('X', format=['dense', 'dense'], mode_order=[0, 1])
    with sam.graph('X'):
        i_crd_A, A_i_ref = A.scan(0)
        i_crd_A_0, i_crd_A_1 = sam.broadcast(i_crd_A, 2)
        i_repsig = sam.repeat_signal(i_crd_A_0)
        B_i_ref = sam.repeat(sam.root(), i_repsig)
        j_crd_B, B_j_ref = B.scan(0, B_i_ref)
        j_crd_B_0, j_crd_B_1 = sam.broadcast(j_crd_B, 2)
        j_repsig = sam.repeat_signal(j_crd_B_0)
        A_j_ref = sam.repeat(A_i_ref, j_repsig)
        k_crd_A, A_k_ref = A.scan(1, A_j_ref)
        k_crd_B, B_k_ref = B.scan(1, B_j_ref)
        _, A_k_ref_2, B_k_ref_2 = sam.intersect((k_crd_A, A_k_ref), (k_crd_B, B_k_ref))
        A_val = A.load(A_k_ref_2)
        B_val = B.load(B_k_ref_2)
        mul = sam.alu('mul', A_val, B_val)
        sum_k = sam.reduce(mul)
        X.write_level(0, i_crd_A_1)
        X.write_level(1, j_crd_B_1)
        X.write_vals(sum_k)
