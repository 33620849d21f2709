"""The DAE suite: tasks load, inputs have the promised shape, and every builtin program
(O0..O3) matches the PyTorch reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from benchmarks.dae.generators import (
    GeneratorDimsError,
    lengths_with_total,
    paged_kv,
    powerlaw_lengths,
    zipf_rows,
)
from benchmarks.dae.regenerate_baselines import baseline_text
from benchmarks.task import load_suite
from dsl import dae
from dsl.dae.compiler import compile_spec, compile_task
from dsl.errors import NotCovered
from interpreter.dae import BACKEND

TASKS = load_suite("dae")
NAMES = [t.name for t in TASKS]


def test_suite_size_and_target():
    assert len(TASKS) >= 12
    assert {t.target for t in TASKS} == {"dae_default"}
    assert all(t.heldout and t.checks for t in TASKS)
    families = {t.spec["op"] for t in TASKS}
    assert families == {
        "embedding_bag",
        "spmm",
        "message_passing",
        "kg_lookup",
        "paged_kv_gather",
        "moe_gather",
    }


@pytest.mark.parametrize("task", TASKS, ids=NAMES)
def test_baseline_is_the_compilers_o0(task):
    path, text = baseline_text(task.path)
    assert path.read_text() == text, "run python -m benchmarks.dae.regenerate_baselines"
    # tasks sharing a baseline file differ only in data: the file is titled after itself
    titled = compile_task(task, 0).replace(f'"""{task.name}:', f'"""{path.stem}:', 1)
    assert task.baseline_source() == titled


@pytest.mark.parametrize("task", TASKS, ids=NAMES)
def test_every_level_matches_the_reference(task):
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = task.reference_outputs(inputs, dims)["out"]
    for level in range(4):
        namespace: dict = {}
        exec(compile_task(task, level), namespace)
        program = BACKEND.load(dae.trace(namespace["kernel"], task.signature()))
        out = {"out": np.full(expected.shape, np.nan, dtype=np.float32)}
        BACKEND.execute(program, inputs, out, dims)
        np.testing.assert_allclose(
            out["out"], expected, rtol=task.rtol, atol=task.atol, err_msg=f"{task.name} O{level}"
        )


def _verify(task, level):
    from interpreter.verifier import verify

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return verify(task, compile_task(task, level), seed=11, seeds=1)


@pytest.mark.parametrize("name", ["eb_sum_hot", "spmm_gnn", "paged_kv_bs8"])
def test_o3_passes_the_verifier(name):
    task = TASKS[NAMES.index(name)]
    verdict = _verify(task, 3)
    assert verdict.status == "passed", verdict.feedback
    assert verdict.cycles >= verdict.floor_cycles


@pytest.mark.slow
@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("task", TASKS, ids=NAMES)
def test_every_level_passes_the_verifier(task, level):
    verdict = _verify(task, level)
    assert verdict.status == "passed", verdict.feedback


def test_zipf_rows_are_skewed():
    rng = np.random.default_rng(0)
    rows = zipf_rows(rng, 1000, 20000, s=1.2)
    counts = np.sort(np.bincount(rows, minlength=1000))[::-1]
    assert counts[:10].sum() > 0.3 * len(rows)  # a few hot rows take a large share
    assert rows.min() >= 0 and rows.max() < 1000


def test_lengths_hit_the_total_and_minimum():
    rng = np.random.default_rng(1)
    for minimum in (0, 1):
        lengths = lengths_with_total(rng, 100, 1500, sigma=6.0, minimum=minimum)
        assert lengths.sum() == 1500 and lengths.min() >= minimum
    with pytest.raises(GeneratorDimsError):
        lengths_with_total(rng, 100, 50, sigma=1.0, minimum=1)


def test_powerlaw_degrees_have_hubs():
    degrees = powerlaw_lengths(np.random.default_rng(2), 500, 4000, minimum=1)
    assert degrees.sum() == 4000 and degrees.min() >= 1
    assert degrees.max() > 8 * degrees.mean()


def test_paged_kv_dims_must_agree():
    dims = {"S": 4, "NOFF": 5, "NBLK": 10, "NTOK": 20, "NB": 64, "BS": 2, "D": 8}
    arrays = paged_kv(np.random.default_rng(3), dims)
    assert arrays["block_offsets"][-1] == 10 and len(set(arrays["block_ids"])) == 10
    with pytest.raises(GeneratorDimsError, match="NTOK must be 20"):
        paged_kv(np.random.default_rng(3), {**dims, "NTOK": 21})


def test_moe_inputs_follow_the_trace():
    task = TASKS[NAMES.index("moe_gather_mixtral")]
    dims = task.full_dims(task.checks[0])
    arrays = task.make_inputs(dims, seed=5)
    offsets, tokens = arrays["expert_offsets"], arrays["token_ids"]
    assert offsets[-1] == dims["T"] * dims["K"] and np.all(np.diff(offsets) >= 0)
    assert np.all(np.bincount(tokens, minlength=dims["T"]) == dims["K"])  # top-K per token


@pytest.mark.parametrize(
    "spec, inputs, match",
    [
        ({"op": "conv2d"}, ("x",), "not one the DAE compiler lowers"),
        (
            {"op": "embedding_bag", "mode": "median"},
            ("offsets", "indices", "table"),
            "mode 'median'",
        ),
        (
            {"op": "embedding_bag", "mode": "mean", "weighted": True},
            ("offsets", "indices", "table", "weights"),
            "mode 'sum' only",
        ),
        ({"op": "spmm"}, ("a", "b"), "expects inputs"),
        ({"op": "embedding_bag", "tables": 4}, (), "tables=4: covered for 1 to 3"),
        ({"op": "embedding_bag", "tables": True}, (), "tables=True"),
        ({"op": "embedding_bag", "mode": "max", "tables": 2}, (), "mode 'sum' without"),
        (
            {"op": "embedding_bag", "tables": 2},
            ("offsets_0", "indices_0", "table_0", "offsets", "indices", "table"),
            "expects inputs",
        ),
    ],
)
def test_compiler_says_what_it_does_not_cover(spec, inputs, match):
    with pytest.raises(NotCovered, match=match):
        compile_spec(spec, inputs, 3)


def _tables_signature(d: int) -> dict:
    """Two tables (5 and 3 rows, width d) with their own bags -> out [B, 2d]."""
    inputs = []
    for t in range(2):
        inputs += [
            {"name": f"offsets_{t}", "dtype": "int64", "shape": ["NOFF"]},
            {"name": f"indices_{t}", "dtype": "int64", "shape": [f"NNZ{t}"]},
            {"name": f"table_{t}", "dtype": "float32", "shape": [f"N{t}", "D"]},
        ]
    dims = {"B": None, "NOFF": None, "NNZ0": None, "NNZ1": None, "N0": 5, "N1": 3, "D": d}
    return {
        "dialect": "dae",
        "inputs": inputs,
        "outputs": [{"name": "out", "dtype": "float32", "shape": ["B", "TD"]}],
        "dims": {**dims, "TD": 2 * d},
        "params": {},
    }


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_table_batched_bags_by_hand(level):
    """Row r of table t holds 10 * t + r in every column: bag sums are easy to add by hand,
    and an empty bag of either table must leave its block 0 (the output starts as NaN)."""
    d = 16  # two 8-lane chunks per row
    signature = _tables_signature(d)
    spec = {"op": "embedding_bag", "mode": "sum", "tables": 2}
    inputs = tuple(i["name"] for i in signature["inputs"])
    namespace: dict = {}
    exec(compile_spec(spec, inputs, level), namespace)
    program = BACKEND.load(dae.trace(namespace["kernel"], signature))
    arrays = {
        "offsets_0": np.array([0, 2, 2, 5]),  # bags {0, 4}, {}, {1, 1, 3}
        "indices_0": np.array([0, 4, 1, 1, 3]),
        "table_0": np.repeat(np.arange(5, dtype=np.float32)[:, None], d, axis=1),
        "offsets_1": np.array([0, 0, 1, 3]),  # bags {}, {2}, {0, 2}
        "indices_1": np.array([2, 0, 2]),
        "table_1": np.repeat(10 + np.arange(3, dtype=np.float32)[:, None], d, axis=1),
    }
    dims = {"B": 3, "NOFF": 4, "NNZ0": 5, "NNZ1": 3, "N0": 5, "N1": 3, "D": d, "TD": 2 * d}
    out = {"out": np.full((3, 2 * d), np.nan, dtype=np.float32)}
    BACKEND.execute(program, arrays, out, dims)
    expected = np.repeat(np.array([[4.0, 0.0], [0.0, 12.0], [5.0, 22.0]]), d, axis=1)
    np.testing.assert_array_equal(out["out"], expected)
