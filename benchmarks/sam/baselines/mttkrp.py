from dsl import sam


def kernel(B, C, D, **params):
    """mttkrp baseline: one fused graph, order iklj.

    A(i,j) = B(i,k,l) * C(k,j) * D(l,j)
    """
    A = sam.output('A', format=['dense', 'dense'], mode_order=[0, 1])
    with sam.graph('A'):
        i_crd_B, B_i_ref = B.scan(0)
        i_crd_B_0, i_crd_B_1 = sam.broadcast(i_crd_B, 2)
        i_repsig = sam.repeat_signal(i_crd_B_0)
        C_i_ref = sam.repeat(sam.root(), i_repsig)
        C_i_ref_0, C_i_ref_1 = sam.broadcast(C_i_ref, 2)
        k_crd_B, B_k_ref = B.scan(1, B_i_ref)
        k_crd_B_0, k_crd_B_1 = sam.broadcast(k_crd_B, 2)
        _, C_k_ref = C.locate(0, k_crd_B_0, C_i_ref_0)
        k_repsig = sam.repeat_signal(k_crd_B_1)
        D_k_ref = sam.repeat(C_i_ref_1, k_repsig)
        l_crd_B, B_l_ref = B.scan(2, B_k_ref)
        l_crd_B_0, l_crd_B_1 = sam.broadcast(l_crd_B, 2)
        _, D_l_ref = D.locate(0, l_crd_B_0, D_k_ref)
        l_repsig = sam.repeat_signal(l_crd_B_1)
        C_l_ref = sam.repeat(C_k_ref, l_repsig)
        j_crd_C, C_j_ref = C.scan(1, C_l_ref)
        j_crd_C_0, j_crd_C_1, j_crd_C_2 = sam.broadcast(j_crd_C, 3)
        _, D_j_ref = D.locate(1, j_crd_C_0, D_l_ref)
        B_val = B.load(B_l_ref)
        j_repsig = sam.repeat_signal(j_crd_C_1)
        B_val_j = sam.repeat(B_val, j_repsig)
        C_val = C.load(C_j_ref)
        mul = sam.alu('mul', B_val_j, C_val)
        D_val = D.load(D_j_ref)
        mul_2 = sam.alu('mul', mul, D_val)
        j_crd_acc, acc_l = sam.spacc1(j_crd_C_2, mul_2)
        j_crd_acc_2, acc_k = sam.spacc1(j_crd_acc, acc_l)
        A.write_level(0, i_crd_B_1)
        A.write_level(1, j_crd_acc_2)
        A.write_vals(acc_k)
