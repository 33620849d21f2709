"""The SAM suite: task files, references against the statements, baselines, verification."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from benchmarks.sam.regenerate_baselines import baseline_text
from benchmarks.task import SUITES_DIR, load_suite
from dsl.sam.compiler import compile_task
from tests.dsl.sam.compiler_harness import dense_eval

TASKS = load_suite("sam")
BY_NAME = {t.name: t for t in TASKS}
KERNELS = {
    "spmv",
    "spmm",
    "sddmm",
    "spgemm_gustavson",
    "spgemm_inner",
    "spgemm_outer",
    "elemadd",
    "elemmul",
    "mttkrp",
    "ttv",
}
MODELS = {
    "gcn_karate",
    "gcn_powerlaw",
    "gcn_layer_karate",
    "gcn_layer_powerlaw",
    "graphsage_karate",
    "graphsage_powerlaw",
    "sparse_autoencoder",
    "bigbird_attention_b16",
    "bigbird_attention_b32",
    "bigbird_attention_b64",
}
QUICK = ["spmv", "spgemm_outer", "gcn_layer_karate", "bigbird_attention_b16"]


def test_suite_covers_the_issue() -> None:
    assert len(TASKS) >= 20
    assert KERNELS | MODELS <= set(BY_NAME)
    for task in TASKS:
        assert task.dialect == "sam" and task.target == "sam_comal"
        assert task.heldout, f"{task.name} has no held-out dims"
        assert task.spec.get("expr"), task.name
        for spec in task.inputs:
            assert "format" in spec.extra, f"{task.name}.{spec.name} has no format"
    assert "karate" in BY_NAME["gcn_karate"].description
    assert "power-law" in BY_NAME["gcn_powerlaw"].description
    assert {BY_NAME[f"bigbird_attention_b{b}"].spec["block"] for b in (16, 32, 64)} == {16, 32, 64}


def test_a_shared_blocked_baseline_runs_at_each_tasks_own_block() -> None:
    """The block tasks share one baseline declaring every block mode; each runs it at the
    block its mask is laid out in (a larger one stores the mask's zeros: wrong results)."""
    for b in (16, 32, 64):
        task = BY_NAME[f"bigbird_attention_b{b}"]
        assert task.baseline == "baselines/bigbird_attention_blocked.py"
        assert task.baseline_params == {"block": task.spec["block"]} == {"block": task.dims["B"]}


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_baseline_is_the_unfused_compile(name: str) -> None:
    path, text = baseline_text(BY_NAME[name].path)
    assert path.read_text() == text, "run python -m benchmarks.sam.regenerate_baselines"
    statements = BY_NAME[name].spec["expr"]
    graphs = len(statements) if isinstance(statements, list) else 1
    assert text.count("with sam.graph(") == graphs


@pytest.mark.parametrize("name", sorted(n for n in BY_NAME if not n.startswith("bigbird")))
def test_statements_compute_the_reference(name: str) -> None:
    """The [spec] statements, evaluated densely, equal the PyTorch reference. (Attention
    applies exp on the mask's entries only, which a dense evaluation cannot mirror; its
    statements are checked through the verifier instead.)"""
    task = BY_NAME[name]
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, seed=11)
    want = task.reference_outputs(inputs, dims)
    statements = task.spec["expr"]
    got = dense_eval(
        statements if isinstance(statements, list) else [statements],
        {k: v.astype(np.float64) for k, v in inputs.items()},
    )
    for out in task.outputs:
        np.testing.assert_allclose(got[out.name], want[out.name], rtol=2e-4, atol=2e-5)


def test_the_written_out_karate_club_is_networkx_s() -> None:
    """The generators write Zachary's graph out instead of importing networkx for it (an
    import per evaluation); it must stay the very graph networkx ships, node for node."""
    import networkx as nx

    from benchmarks.sam.generators import karate_adjacency

    graph = nx.karate_club_graph()
    expected = nx.to_numpy_array(graph, nodelist=sorted(graph.nodes), weight=None)
    a = karate_adjacency()
    assert a.dtype == expected.dtype and np.array_equal(a, expected)
    a[0, 1] = 5.0  # a copy per call: a caller cannot change the next draw's graph
    assert karate_adjacency()[0, 1] == 1.0


def test_generators_follow_the_task_description() -> None:
    karate = BY_NAME["gcn_karate"]
    inputs = karate.make_inputs(karate.full_dims(karate.checks[0]), seed=0)
    a = inputs["A"]
    assert a.shape == (34, 34) and np.count_nonzero(a) == 2 * 78 + 34  # edges + self loops
    mask_task = BY_NAME["bigbird_attention_b32"]
    dims = mask_task.full_dims(mask_task.heldout[0])
    mask = mask_task.make_inputs(dims, seed=1)["M"]
    blocks = mask.reshape(dims["N"] // 32, 32, dims["N"] // 32, 32).sum(axis=(1, 3))
    assert set(np.unique(blocks)) <= {0, 32 * 32} and np.all(np.diag(blocks) > 0)
    power = BY_NAME["spmv"]
    degrees = np.count_nonzero(power.make_inputs({"N": 400}, seed=2)["A"], axis=1)
    assert degrees.max() > 4 * max(1, np.median(degrees))  # hubs: a heavy tail


def _verify(name: str, which: str):
    from interpreter.verifier import verify

    task = BY_NAME[name]
    source = task.baseline_source() if which == "baseline" else compile_task(task)
    return verify(task, source)


@pytest.mark.parametrize("name", QUICK)
@pytest.mark.parametrize("which", ["baseline", "compiled"])
def test_quick_tasks_pass_the_verifier(name: str, which: str) -> None:
    verdict = _verify(name, which)
    assert verdict.status == "passed", verdict.feedback


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(BY_NAME) - set(QUICK)))
@pytest.mark.parametrize("which", ["baseline", "compiled"])
def test_every_task_passes_the_verifier(name: str, which: str) -> None:
    verdict = _verify(name, which)
    assert verdict.status == "passed", verdict.feedback


def test_fusion_variants_compile() -> None:
    from dataclasses import replace

    for task in TASKS:
        for fuse in task.spec.get("fusion_variants", {}).values():
            text = compile_task(replace(task, spec=dict(task.spec, fuse=fuse)))
            assert "def kernel(" in text


def test_task_files_parse_without_the_loader() -> None:
    for path in sorted((SUITES_DIR / "sam").glob("*.toml")):
        data = tomllib.loads(path.read_text())
        assert data["name"] == path.stem
