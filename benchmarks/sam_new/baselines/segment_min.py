from dsl import sam


def kernel(A, **params):
    """segment_min baseline: one graph, order ij; `reduce('min')` over each row's stored
    values (an empty row gives 0)."""
    y = sam.output('y', format=['dense'], mode_order=[0])
    with sam.graph('y'):
        i_crd, A_i_ref = A.scan(0)
        j_crd, A_j_ref = A.scan(1, A_i_ref)
        A_val = A.load(A_j_ref)
        y.write_level(0, i_crd)
        y.write_vals(sam.reduce(A_val, 'min'))
