from dsl import sam


def kernel(A, B, **params):
    """spgemm_outer baseline: one fused graph, order kij.

    X(i,j) = A(i,k) * B(k,j)
    """
    X = sam.output('X', format=['compressed', 'compressed'], mode_order=[0, 1])
    with sam.graph('X'):
        k_crd_A, A_k_ref = A.scan(0)
        _, B_k_ref = B.locate(0, k_crd_A, sam.root())
        i_crd_A, A_i_ref = A.scan(1, A_k_ref)
        i_crd_A_0, i_crd_A_1 = sam.broadcast(i_crd_A, 2)
        i_repsig = sam.repeat_signal(i_crd_A_0)
        B_i_ref = sam.repeat(B_k_ref, i_repsig)
        j_crd_B, B_j_ref = B.scan(1, B_i_ref)
        j_crd_B_0, j_crd_B_1 = sam.broadcast(j_crd_B, 2)
        A_val = A.load(A_i_ref)
        j_repsig = sam.repeat_signal(j_crd_B_0)
        A_val_j = sam.repeat(A_val, j_repsig)
        B_val = B.load(B_j_ref)
        mul = sam.alu('mul', A_val_j, B_val)
        i_crd_held, j_crd = sam.crd_hold(i_crd_A_1, j_crd_B_1)
        i_crd_acc, j_crd_acc, acc_k = sam.spacc2(i_crd_held, j_crd, mul)
        X.write_level(0, i_crd_acc)
        X.write_level(1, j_crd_acc)
        X.write_vals(acc_k)
