from dsl import sam


def kernel(A, X, **params):
    """gnn_max_aggregate baseline: one graph, order ifj (X stored feature-major, so that
    the neighbours j are innermost); `reduce('max')` over each (i, f) fiber of neighbours
    (a node without neighbours gives 0)."""
    X.with_layout(format=['dense', 'dense'], mode_order=[1, 0])
    y = sam.output('y', format=['dense', 'dense'], mode_order=[0, 1])
    with sam.graph('y'):
        i_crd_A, A_i_ref = A.scan(0)
        i_crd_A_0, i_crd_A_1 = sam.broadcast(i_crd_A, 2)
        i_repsig = sam.repeat_signal(i_crd_A_0)
        X_i_ref = sam.repeat(sam.root(), i_repsig)
        f_crd_X, X_f_ref = X.scan(0, X_i_ref)
        f_crd_X_0, f_crd_X_1 = sam.broadcast(f_crd_X, 2)
        f_repsig = sam.repeat_signal(f_crd_X_0)
        A_f_ref = sam.repeat(A_i_ref, f_repsig)
        j_crd_A, A_j_ref = A.scan(1, A_f_ref)
        _, X_j_ref = X.locate(1, j_crd_A, X_f_ref)
        A_val = A.load(A_j_ref)
        X_val = X.load(X_j_ref)
        mul = sam.alu('mul', A_val, X_val)
        y.write_level(0, i_crd_A_1)
        y.write_level(1, f_crd_X_1)
        y.write_vals(sam.reduce(mul, 'max'))
