from dsl import sam


def kernel(A, B, **params):
    """elemadd baseline: one fused graph.

    C(i,j) = A(i,j) + B(i,j)
    """
    C = sam.output('C', format=['compressed', 'compressed'], mode_order=[0, 1])
    with sam.graph('C'):
        i_crd_A, A_i_ref = A.scan(0)
        i_crd_B, B_i_ref = B.scan(0)
        i_crd, A_i_ref_2, B_i_ref_2 = sam.union((i_crd_A, A_i_ref), (i_crd_B, B_i_ref))
        j_crd_A, A_j_ref = A.scan(1, A_i_ref_2)
        j_crd_B, B_j_ref = B.scan(1, B_i_ref_2)
        j_crd, A_j_ref_2, B_j_ref_2 = sam.union((j_crd_A, A_j_ref), (j_crd_B, B_j_ref))
        A_val = A.load(A_j_ref_2)
        B_val = B.load(B_j_ref_2)
        add = sam.alu('add', A_val, B_val)
        C.write_level(0, i_crd)
        C.write_level(1, j_crd)
        C.write_vals(add)
