from dsl import sam


def kernel(M, Q, K, **params):
    """sddmm baseline: one fused graph, order ijk.

    S(i,j) = M(i,j) * sum(k, Q(i,k) * K(j,k))
    """
    S = sam.output('S', format=['compressed', 'compressed'], mode_order=[0, 1])
    with sam.graph('S'):
        i_crd_M, M_i_ref = M.scan(0)
        i_crd_M_0, i_crd_M_1, i_crd_M_2 = sam.broadcast(i_crd_M, 3)
        _, Q_i_ref = Q.locate(0, i_crd_M_0, sam.root())
        i_repsig = sam.repeat_signal(i_crd_M_1)
        K_i_ref = sam.repeat(sam.root(), i_repsig)
        j_crd_M, M_j_ref = M.scan(1, M_i_ref)
        j_crd_M_0, j_crd_M_1, j_crd_M_2 = sam.broadcast(j_crd_M, 3)
        _, K_j_ref = K.locate(0, j_crd_M_0, K_i_ref)
        j_repsig = sam.repeat_signal(j_crd_M_1)
        Q_j_ref = sam.repeat(Q_i_ref, j_repsig)
        k_crd_Q, Q_k_ref = Q.scan(1, Q_j_ref)
        _, K_k_ref = K.locate(1, k_crd_Q, K_j_ref)
        Q_val = Q.load(Q_k_ref)
        K_val = K.load(K_k_ref)
        mul = sam.alu('mul', Q_val, K_val)
        sum_k = sam.reduce(mul)
        M_val = M.load(M_j_ref)
        mul_2 = sam.alu('mul', M_val, sum_k)
        S.write_level(0, i_crd_M_2)
        S.write_level(1, j_crd_M_2)
        S.write_vals(mul_2)
