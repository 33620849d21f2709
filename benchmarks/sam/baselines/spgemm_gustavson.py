from dsl import sam


def kernel(A, B, **params):
    """spgemm_gustavson baseline: one fused graph, order ikj.

    X(i,j) = A(i,k) * B(k,j)
    """
    X = sam.output('X', format=['dense', 'compressed'], mode_order=[0, 1])
    with sam.graph('X'):
        i_crd_A, A_i_ref = A.scan(0)
        i_crd_A_0, i_crd_A_1 = sam.broadcast(i_crd_A, 2)
        i_repsig = sam.repeat_signal(i_crd_A_0)
        B_i_ref = sam.repeat(sam.root(), i_repsig)
        k_crd_A, A_k_ref = A.scan(1, A_i_ref)
        _, B_k_ref = B.locate(0, k_crd_A, B_i_ref)
        j_crd_B, B_j_ref = B.scan(1, B_k_ref)
        j_crd_B_0, j_crd_B_1 = sam.broadcast(j_crd_B, 2)
        A_val = A.load(A_k_ref)
        j_repsig = sam.repeat_signal(j_crd_B_0)
        A_val_j = sam.repeat(A_val, j_repsig)
        B_val = B.load(B_j_ref)
        mul = sam.alu('mul', A_val_j, B_val)
        j_crd_acc, acc_k = sam.spacc1(j_crd_B_1, mul)
        X.write_level(0, i_crd_A_1)
        X.write_level(1, j_crd_acc)
        X.write_vals(acc_k)
