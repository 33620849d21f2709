"""The SAM compiler against a dense NumPy evaluation: random inputs, every legal dataflow
order of each expression, several storage formats, fused and unfused."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dsl.errors import NotCovered
from dsl.sam.compiler import Operand, compile_spec
from tests.dsl.sam.compiler_harness import compile_and_run, dense_eval, sparse

SIZES = {"I": 6, "J": 5, "K": 7, "L": 4}
VARS = {"i": "I", "j": "J", "k": "K", "l": "L"}

# (statements, {input: (indices, density)}, {output: indices})
CASES = {
    "spmv": (["y(i) = A(i,j) * x(j)"], {"A": ("ij", 0.4), "x": ("j", 0.7)}, {"y": "i"}),
    "spmm": (["X(i,j) = B(i,k) * C(k,j)"], {"B": ("ik", 0.35), "C": ("kj", 0.4)}, {"X": "ij"}),
    "sddmm": (
        ["S(i,j) = M(i,j) * Q(i,k) * K(j,k)"],
        {"M": ("ij", 0.3), "Q": ("ik", 0.9), "K": ("jk", 0.9)},
        {"S": "ij"},
    ),
    "add": (["C(i,j) = A(i,j) + B(i,j)"], {"A": ("ij", 0.3), "B": ("ij", 0.3)}, {"C": "ij"}),
    "sub_mul": (
        ["C(i,j) = A(i,j) * B(i,j) - 2 * D(i,j)"],
        {"A": ("ij", 0.5), "B": ("ij", 0.5), "D": ("ij", 0.3)},
        {"C": "ij"},
    ),
    "ttv": (["A(i,j) = B(i,j,k) * c(k)"], {"B": ("ijk", 0.3), "c": ("k", 0.8)}, {"A": "ij"}),
    "mttkrp": (
        ["A(i,j) = B(i,k,l) * C(k,j) * D(l,j)"],
        {"B": ("ikl", 0.25), "C": ("kj", 0.8), "D": ("lj", 0.8)},
        {"A": "ij"},
    ),
    "matmul_plus": (
        ["X(i,j) = B(i,k) * C(k,j) + D(i,j)"],
        {"B": ("ik", 0.4), "C": ("kj", 0.4), "D": ("ij", 0.3)},
        {"X": "ij"},
    ),
    "bias_relu": (
        ["T(i,j) = A(i,k) * W(k,j)", "Y(i,j) = relu(T(i,j) + b(j))"],
        {"A": ("ik", 0.4), "W": ("kj", 1.0), "b": ("j", 1.0)},
        {"Y": "ij"},
    ),
    "chain": (
        ["T(i,l) = A(i,k) * B(k,l)", "Y(i,j) = T(i,l) * C(l,j)"],
        {"A": ("ik", 0.4), "B": ("kl", 0.5), "C": ("lj", 0.5)},
        {"Y": "ij"},
    ),
    "rowscale": (["s(i) = A(i,j)", "Y(i,j) = A(i,j) * s(i)"], {"A": ("ij", 0.4)}, {"Y": "ij"}),
}


def _operands(case: str, formats: dict[str, object]) -> tuple[list[Operand], list[Operand]]:
    """Task operands; a format is a name or {format, mode_order}."""
    _, inputs, outputs = CASES[case]

    def operand(name: str, idx: str) -> Operand:
        fmt = formats.get(name, "dense")
        if isinstance(fmt, dict):
            return Operand(name, tuple(VARS[v] for v in idx), fmt["format"], fmt["mode_order"])
        return Operand(name, tuple(VARS[v] for v in idx), fmt)

    return (
        [operand(n, idx) for n, (idx, _) in inputs.items()],
        [operand(n, idx) for n, idx in outputs.items()],
    )


def _arrays(case: str, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    _, inputs, _ = CASES[case]
    return {n: sparse(rng, tuple(SIZES[VARS[v]] for v in idx), d) for n, (idx, d) in inputs.items()}


def _check(case: str, spec: dict, formats: dict[str, str], seed: int) -> str:
    statements, _, outputs = CASES[case]
    arrays = _arrays(case, seed)
    ins, outs = _operands(case, formats)
    got, source, _ = compile_and_run({"expr": statements, **spec}, ins, outs, arrays, SIZES)
    want = dense_eval(statements, arrays)
    for name in outputs:
        np.testing.assert_allclose(
            got[name],
            want[name],
            rtol=1e-9,
            atol=1e-9,
            err_msg=f"{case} {spec} {formats}\n{source}",
        )
    return source


def _rank_formats(rank: int) -> list[str]:
    return ["".join(p) for p in itertools.product("dc", repeat=rank)]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("style", ["c", "dc"])
def test_every_legal_order_matches_numpy(case: str, style: str) -> None:
    """Each expression in every order the compiler accepts, inputs stored in the order's
    mode order, all compressed ("c") or dense outermost then compressed ("dc")."""
    statements, inputs, outputs = CASES[case]
    all_vars = sorted({v for idx, _ in inputs.values() for v in idx})
    checked = 0
    for perm in itertools.permutations(all_vars):
        order = "".join(perm)
        layouts: dict[str, object] = {}
        for name, (idx, _) in inputs.items():
            mode_order = sorted(range(len(idx)), key=lambda m: order.index(idx[m]))
            levels = (style + "c" * len(idx))[: len(idx)]
            layouts[name] = {"format": levels, "mode_order": mode_order}
        outs = {
            n: {
                "format": "dense",
                "mode_order": sorted(range(len(idx)), key=lambda m: order.index(idx[m])),
            }
            for n, idx in outputs.items()
        }
        try:
            _check(case, {"order": order, "formats": layouts}, outs, seed=len(order) + checked)
        except NotCovered as exc:
            assert any(w in str(exc) for w in ("sum over", "order", "densely")), str(exc)
            continue
        checked += 1
    assert checked >= 1 or (case == "bias_relu" and style == "c")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", [1, 2])
def test_random_formats_match_numpy(case: str, seed: int) -> None:
    """Default order, each tensor in a random per-level format (dense / compressed)."""
    rng = np.random.default_rng(seed * 100 + len(case))
    _, inputs, outputs = CASES[case]
    formats = {}
    for name, (idx, _) in {**inputs, **{n: (i, 1) for n, i in outputs.items()}}.items():
        formats[name] = str(rng.choice(_rank_formats(len(idx))))
    try:
        _check(case, {}, formats, seed)
    except NotCovered as exc:
        assert "densely" in str(exc), str(exc)


@pytest.mark.parametrize("case", ["bias_relu", "chain", "rowscale"])
@pytest.mark.parametrize("fuse", [True, False])
def test_fused_and_unfused_agree(case: str, fuse: bool) -> None:
    formats = {"A": "csr", "B": "csr", "C": "csr"}
    _check(case, {"fuse": fuse}, formats, seed=3)


# ---------------------------------------------------------------- parallel lanes, blocks


@pytest.mark.parametrize(
    ("order", "level", "lanes"),
    [("ikj", "i", 2), ("ikj", "i", 3), ("ikj", "j", 2), ("ijk", "i", 4), ("ijk", "j", 3)],
)
def test_parallel_lanes_match_numpy(order: str, level: str, lanes: int) -> None:
    formats = {"B": "csr", "C": "csc" if order == "ijk" else "csr"}
    spec = {
        "order": order,
        "parallel": {"level": level, "factor": lanes},
        "formats": {"C": formats["C"]},
    }
    source = _check("spmm", spec, {"B": "csr", "C": "csr"}, seed=lanes)
    assert "sam.fork(" in source and f", {lanes})" in source and "sam.join(" in source


def test_parallel_lanes_cut_cycles() -> None:
    rng = np.random.default_rng(5)
    arrays = {"B": sparse(rng, (48, 48), 0.15), "C": sparse(rng, (48, 8), 0.6)}
    dims = {"I": 48, "K": 48, "J": 8}
    ins = [Operand("B", ("I", "K"), "csr"), Operand("C", ("K", "J"), "csr")]
    outs = [Operand("X", ("I", "J"), "dense")]
    cycles = []
    for lanes in (1, 4):
        spec = {"expr": "X(i,j) = B(i,k) * C(k,j)", "parallel": {"level": "i", "factor": lanes}}
        got, _, report = compile_and_run(spec, ins, outs, arrays, dims, simulate=True)
        np.testing.assert_allclose(got["X"], arrays["B"] @ arrays["C"], atol=1e-12)
        cycles.append(report.cycles)
    assert cycles[1] < 0.5 * cycles[0], cycles


@pytest.mark.parametrize("block", [2, 4])
def test_block_sparse_attention_matches_numpy(block: int) -> None:
    """Blocked SDDMM, exp, two block SpMMs and a divide against the dense formula."""
    rng = np.random.default_rng(block)
    n, d = 4 * block, 2 * block
    pattern = rng.random((4, 4)) < 0.5
    np.fill_diagonal(pattern, True)
    mask = np.kron(pattern, np.ones((block, block)))
    arrays = {
        "M": mask,
        "Q": rng.normal(size=(n, d)),
        "K": rng.normal(size=(n, d)),
        "V": rng.normal(size=(n, d)),
        "U": np.ones((n, d)),
    }
    statements = [
        "S(i,j) = M(i,j) * sum(k, Q(i,k) * K(j,k))",
        "E(i,j) = exp(0.125 * S(i,j))",
        "Nm(i,e) = E(i,j) * V(j,e)",
        "Dn(i,e) = E(i,j) * U(j,e)",
        "O(i,e) = Nm(i,e) / Dn(i,e)",
    ]
    ins = [Operand("M", ("N", "N"), "dcsr")] + [Operand(x, ("N", "H"), "dense") for x in "QKVU"]
    e = np.exp(0.125 * (arrays["Q"] @ arrays["K"].T)) * mask
    want = (e @ arrays["V"]) / (e @ arrays["U"])
    for fuse in (True, False):
        spec = {
            "expr": statements,
            "block": block,
            "fuse": fuse,
            "formats": {"K": {"format": "dense", "mode_order": [1, 0]}},
        }
        got, source, _ = compile_and_run(
            spec, ins, [Operand("O", ("N", "H"), "dense")], arrays, {"N": n, "H": d}
        )
        assert "'matmul'" in source and f"block={block}" in source
        np.testing.assert_allclose(got["O"], want, rtol=1e-9)


def test_block_mode_rejects_misaligned_blocks() -> None:
    ins = [Operand("M", ("N", "N"), "dcsr")] + [Operand(x, ("N", "H"), "dense") for x in "QK"]
    spec = {"expr": "S(i,j) = M(i,j) * sum(k, Q(i,k) * K(j,k))", "block": 4}
    with pytest.raises(NotCovered, match="do not line up"):
        compile_spec(spec, ins, [Operand("S", ("N", "N"), "dcsr")])
    with pytest.raises(NotCovered, match="rank 1"):
        compile_spec(
            {"expr": "y(i) = A(i,j) * x(j)", "block": 4},
            [Operand("A", ("N", "N"), "csr"), Operand("x", ("N",), "dense")],
            [Operand("y", ("N",), "dense")],
        )


# ---------------------------------------------------------------- what is not covered


def _spmm(spec: dict) -> str:
    return compile_spec(
        spec,
        [Operand("B", ("I", "K"), "csr"), Operand("C", ("K", "J"), "csr")],
        [Operand("X", ("I", "J"), "csr")],
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"order": "ikj"}, "needs expr"),
        ({"expr": "X(i,j) = B(i,k) * C(k,j)", "speed": 1}, "unknown keys ['speed']"),
        ({"expr": "X(i,j) = B(i,k) * Q(k,j)"}, "reads Q, which is neither"),
        ({"expr": "Y(i,j) = B(i,k) * C(k,j)"}, "no statement computes the task output X"),
        (
            {"expr": ["T(i,j) = B(i,j)", "X(i,j) = B(i,k) * C(k,j)"]},
            "result T of statement 0 is never used",
        ),
        ({"expr": "X(i,j) = B(i,k) * C(j,k)"}, "index k has size K in B but J in C"),
        ({"expr": "X(i,j) = B(i,k) * C(k,j)", "order": "ijk"}, "visits j before k, but C stores k"),
        ({"expr": "X(i,j) = B(i,k) * C(k,j)", "formats": {"X": "csr"}}, "output's format"),
        ({"expr": "X(i,j) = B(i,k) * C(k,j)", "parallel": {"level": "i"}}, "parallel must be"),
        (
            {"expr": "X(i,j) = B(i,k) * C(k,j)", "parallel": {"level": "k", "factor": 2}},
            "parallel level k is not an index of any result",
        ),
        ({"expr": "X(i,j) = B(i,k) * C(k,j)", "fuse": "yes"}, "fuse must be"),
        ({"expr": "X(i,j) = B(i,k) * C(k,j) +"}, "at column 27"),
    ],
)
def test_not_covered_says_why(spec: dict, message: str) -> None:
    with pytest.raises(NotCovered) as info:
        _spmm(spec)
    assert message in str(info.value)


def test_cycles_and_densities_are_refused() -> None:
    ins = [Operand("A", ("I", "J"), "csr"), Operand("B", ("I", "J"), "csc")]
    outs = [Operand("X", ("I", "J"), "csr")]
    with pytest.raises(NotCovered, match="cycle i .A stores i above j. -> j .B stores j above"):
        compile_spec({"expr": "X(i,j) = A(i,j) + B(i,j)"}, ins, outs)
    with pytest.raises(NotCovered, match="index i must be walked densely"):
        compile_spec({"expr": "X(i,j) = A(i,j) + 1", "formats": {"A": "dcsr"}}, ins, outs)


def test_rewalk_of_a_partial_sum_is_refused() -> None:
    spec = {"expr": ["T(i,l) = A(i,k) * B(k,l)", "Y(i,j) = T(i,l) * C(l,j)"], "order": "ikjl"}
    ins = [
        Operand("A", ("I", "K"), "csr"),
        Operand("B", ("K", "L"), "csr"),
        Operand("C", ("L", "J"), "csc"),
    ]
    with pytest.raises(NotCovered, match="re-walked"):
        compile_spec(spec, ins, [Operand("Y", ("I", "J"), "dense")])
    # the same statements unfused are fine in that order
    assert compile_spec(dict(spec, fuse=False), ins, [Operand("Y", ("I", "J"), "dense")])


# ---------------------------------------------------------------- the program text


SPMV_TEXT = '''from dsl import sam


def kernel(A, x, **params):
    """spmv: one fused graph, order ij.

    y(i) = A(i,j) * x(j)
    """
    y = sam.output('y', format=['dense'], mode_order=[0])
    with sam.graph('y'):
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
        y.write_level(0, i_crd_A_1)
        y.write_vals(sum_j)
'''


def test_spmv_program_reads_like_the_reference_example() -> None:
    text = compile_spec(
        {"expr": "y(i) = A(i,j) * x(j)", "order": "ij"},
        [Operand("A", ("N", "N"), "csr"), Operand("x", ("N",), "dense")],
        [Operand("y", ("N",), "dense")],
        title="spmv",
    )
    assert text == SPMV_TEXT


def test_unfused_program_has_one_graph_per_statement() -> None:
    spec = {
        "expr": ["T(i,j) = A(i,k) * W(k,j)", "U(i,j) = T(i,j) + b(j)", "Y(i,j) = relu(U(i,j))"],
        "fuse": False,
    }
    ins = [
        Operand("A", ("N", "N"), "csr"),
        Operand("W", ("N", "H"), "dense"),
        Operand("b", ("H",), "dense"),
    ]
    text = compile_spec(spec, ins, [Operand("Y", ("N", "H"), "dense")])
    assert text.count("with sam.graph(") == 3
    assert "T = sam.tensor('T', ['N', 'H'], format=['dense', 'compressed']" in text
    assert "U = sam.tensor('U', ['N', 'H'], format=['dense', 'dense']" in text
    grouped = compile_spec(
        dict(spec, fuse=[["T"], ["U", "Y"]]), ins, [Operand("Y", ("N", "H"), "dense")]
    )
    assert grouped.count("with sam.graph(") == 2 and "sam.tensor('U'" not in grouped


def _random_expression(rng: np.random.Generator, depth: int = 0) -> str:
    """A random well-formed right-hand side for X(i,j) over B(i,k), C(k,j), D(i,j)."""
    if depth > 2 or rng.random() < 0.3:
        return str(
            rng.choice(["B(i,k) * C(k,j)", "D(i,j)", "C(k,j) * B(i,k)", "sum(k, B(i,k) * C(k,j))"])
        )
    kind = rng.integers(0, 4)
    if kind == 0:
        return f"relu({_random_expression(rng, depth + 1)})"
    if kind == 1:
        return f"{rng.integers(1, 4)} * ({_random_expression(rng, depth + 1)})"
    op = str(rng.choice(["+", "-", "*"]))
    return f"({_random_expression(rng, depth + 1)}) {op} ({_random_expression(rng, depth + 1)})"


def test_random_expressions_match_numpy_or_say_why() -> None:
    """Random expressions (some corrupted) in random orders: the compiler returns a program
    that computes the dense result, or raises NotCovered; never anything else."""
    rng = np.random.default_rng(7)
    arrays = {
        "B": sparse(rng, (5, 4), 0.5),
        "C": sparse(rng, (4, 6), 0.5),
        "D": sparse(rng, (5, 6), 0.4),
    }
    dims = {"I": 5, "K": 4, "J": 6}
    ins = [
        Operand("B", ("I", "K"), "csr"),
        Operand("C", ("K", "J"), "csr"),
        Operand("D", ("I", "J"), "dcsr"),
    ]
    outs = [Operand("X", ("I", "J"), "dense")]
    checked = 0
    for _ in range(60):
        text = "X(i,j) = " + _random_expression(rng)
        if rng.random() < 0.25:  # corrupt one character
            cut = int(rng.integers(0, len(text)))
            text = text[:cut] + text[cut + 1 :]
        spec = {
            "expr": text,
            "order": str(rng.choice(["ikj", "ijk"])),
            "formats": {"C": "csc"} if rng.random() < 0.5 else {},
        }
        try:
            got, source, _ = compile_and_run(spec, ins, outs, arrays, dims)
        except NotCovered:
            continue
        want = dense_eval([text], arrays)["X"]
        np.testing.assert_allclose(got["X"], want, atol=1e-9, err_msg=f"{spec}\n{source}")
        checked += 1
    assert checked >= 15


def test_shared_walks_are_built_once() -> None:
    """Fusing Y = A / rowsum(A): both uses of A walk rows from the same scan (CSE), and the
    row sum's copy of the column index is walked before the division's."""
    text = compile_spec(
        {"expr": ["s(i) = A(i,j)", "Y(i,j) = A(i,j) / s(i)"]},
        [Operand("A", ("N", "M"), "csr")],
        [Operand("Y", ("N", "M"), "csr")],
    )
    assert text.count("A.scan(0)") == 1
    assert text.count("A.scan(1,") == 2
    assert text.index("sam.reduce(") < text.index("sam.alu('div'")


@pytest.mark.parametrize("case", ["bias_relu", "chain", "rowscale", "mttkrp"])
@pytest.mark.parametrize("fuse", [True, False])
def test_parallel_fused_statements_match_numpy(case: str, fuse: bool) -> None:
    formats = {"A": "csr", "B": "csf", "C": "dense", "D": "dense"}
    spec = {"fuse": fuse, "parallel": {"level": "i", "factor": 3}}
    assert "sam.fork(" in _check(case, spec, formats, seed=4)


def test_dataflow_orders_enumerate_the_order_knob() -> None:
    from types import SimpleNamespace

    from benchmarks.task import TensorSpec
    from dsl.sam.compiler import dataflow_orders

    def task(fmt_b: str, fmt_c: str) -> SimpleNamespace:
        return SimpleNamespace(
            name="t",
            spec={"expr": "X(i,j) = B(i,k) * C(k,j)"},
            inputs=[
                TensorSpec("B", "float32", ("I", "K"), extra={"format": fmt_b}),
                TensorSpec("C", "float32", ("K", "J"), extra={"format": fmt_c}),
            ],
            outputs=[TensorSpec("X", "float32", ("I", "J"), extra={"format": "dense"})],
        )

    assert dataflow_orders(task("csr", "csr")) == ["ikj"]
    assert dataflow_orders(task("csr", "csc")) == ["ijk"]
    assert dataflow_orders(task("csc", "csr")) == ["kij"]
    with pytest.raises(NotCovered, match="cycle"):
        dataflow_orders(task("csc", "csc"))
