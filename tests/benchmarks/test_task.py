"""The task-file loader: good files load, and every malformed field fails in one line."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import benchmarks.task as task_module
from benchmarks.generators import GeneratorError, generate
from benchmarks.task import (
    Task,
    TaskError,
    load_suite,
    load_task,
    parse_task,
    repeated_inputs_of,
    warn_repeated_inputs,
)

REFERENCES = """
import torch

def scale(x, M, K, **dims):
    return x * 2.0

def gen(rng, dims):
    return {"x": rng.normal(size=(dims["M"], dims["K"]))}
"""

GOOD = """
name = "scale"
dialect = "step"
description = "Multiply x by two."
target = "step_default"
reference = "references:scale"
[params]
tile = 16
[tolerance]
rtol = 1e-5
[[inputs]]
name = "x"
dtype = "float32"
shape = ["M", "K"]
init = { kind = "uniform", low = -1.0, high = 1.0 }
[[outputs]]
name = "y"
dtype = "float32"
shape = ["M", "K"]
[dims]
M = "symbolic"
K = 32
[[checks]]
M = 16
[[checks]]
M = 48
[[heldout]]
M = 80
"""


def write_suite(tmp_path: Path, body: str = GOOD, name: str = "scale") -> Path:
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    (suite / "references.py").write_text(textwrap.dedent(REFERENCES))
    path = suite / f"{name}.toml"
    path.write_text(body)
    return path


def test_good_task_loads_and_hides_check_values(tmp_path):
    task = parse_task(write_suite(tmp_path))
    assert task.key == "step/scale"
    assert task.dims == {"M": None, "K": 32}
    assert task.checks == ({"M": 16}, {"M": 48}) and task.heldout == ({"M": 80},)
    sig = task.signature({"tile": 32})
    assert sig["params"] == {"tile": 32}
    assert sig["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["M", "K"]}]
    assert "16" not in str(sig) and "80" not in str(sig)


def test_inputs_are_seeded_and_reference_runs(tmp_path):
    task = parse_task(write_suite(tmp_path))
    dims = task.full_dims({"M": 16})
    a, b, c = (task.make_inputs(dims, s) for s in (1, 1, 2))
    assert a["x"].shape == (16, 32) and a["x"].dtype == np.float32
    assert np.array_equal(a["x"], b["x"]) and not np.array_equal(a["x"], c["x"])
    assert -1.0 <= a["x"].min() and a["x"].max() <= 1.0
    out = task.reference_outputs(a, dims)
    np.testing.assert_allclose(out["y"], 2.0 * a["x"])


def test_generator_function_is_used(tmp_path):
    path = write_suite(
        tmp_path,
        GOOD.replace(
            'reference = "references:scale"',
            'reference = "references:scale"\ngenerator = "references:gen"',
        ),
    )
    task = parse_task(path)
    x = task.make_inputs(task.full_dims({"M": 4}), 0)["x"]
    assert x.shape == (4, 32) and x.min() < -1.0 or x.max() > 1.0  # normal, not uniform


@pytest.mark.parametrize(
    "change, message",
    [
        (('dialect = "step"', 'dialect = "cuda"'), "dialect 'cuda' not one of"),
        (('dtype = "float32"', 'dtype = "complex64"'), "dtype 'complex64'"),
        (('shape = ["M", "K"]', 'shape = ["M", "Q"]'), "dim 'Q' is not declared"),
        (("[[checks]]\nM = 16", "[[checks]]\nK = 16"), "must give exactly the symbolic dims"),
        (('reference = "references:scale"', 'reference = "scale"'), "'module:function'"),
        (('name = "scale"', "name = 3"), "'name' must be a non-empty string"),
        (("K = 32", "K = -1"), "dims.K"),
        (('name = "x"', 'name = "not an id"'), "must be a Python identifier"),
    ],
)
def test_malformed_fields_fail_in_one_line(tmp_path, change, message):
    path = write_suite(tmp_path, GOOD.replace(*change, 1))
    with pytest.raises(TaskError, match=message) as info:
        parse_task(path)
    assert "\n" not in str(info.value) and str(path.name) in str(info.value)


def test_a_missing_baseline_is_dropped_outside_the_suites(tmp_path):
    """A task file copied out on its own still loads (no speedup); a suite's must not."""
    body = GOOD.replace(
        'description = "Multiply x by two."', 'baseline = "missing.py"\ndescription = "d"'
    )
    assert parse_task(write_suite(tmp_path, body)).baseline is None


SHARED_BASELINE = """
from dsl import step


@step.tunable(tile_rows=[8, 16, 32], compute=range(1, 5))
def kernel(x, tile_rows=32, compute=1):
    return step.linear_offchip_store(x, "y")
"""


def with_baseline_params(tmp_path: Path, params: str) -> Path:
    """The GOOD task with a shared baseline file and `baseline_params = {params}`."""
    body = GOOD.replace(
        'description = "Multiply x by two."',
        f'baseline = "shared.py"\nbaseline_params = {{ {params} }}\ndescription = "d"',
    )
    path = write_suite(tmp_path, body)
    (path.parent / "shared.py").write_text(SHARED_BASELINE)
    return path


def test_baseline_params_become_the_shared_baselines_defaults(tmp_path):
    """The task's baseline is the shared file run with its values: the text says them."""
    task = parse_task(with_baseline_params(tmp_path, "tile_rows = 8, compute = 3"))
    assert task.baseline_params == {"tile_rows": 8, "compute": 3}
    source = task.baseline_source()
    assert source.startswith(SHARED_BASELINE.rstrip())
    namespace: dict = {}
    exec(compile(source, "shared.py", "exec"), namespace)
    defaults = inspect.signature(namespace["kernel"]).parameters
    assert (defaults["tile_rows"].default, defaults["compute"].default) == (8, 3)
    (tmp_path / "plain").mkdir()
    plain = parse_task(with_baseline_params(tmp_path / "plain", ""))
    assert plain.baseline_source() == SHARED_BASELINE


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("tile = 8", r"baseline_params.tile: shared.py declares no tunable 'tile' \(declared:"),
        ("tile_rows = 64", r"baseline_params.tile_rows = 64 is outside shared.py's domain"),
    ],
)
def test_baseline_params_outside_the_programs_declaration_fail_in_one_line(
    tmp_path, params, message
):
    path = with_baseline_params(tmp_path, params)
    with pytest.raises(TaskError, match=message) as info:
        parse_task(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_baseline_params_need_a_baseline(tmp_path):
    body = GOOD.replace(
        'description = "Multiply x by two."',
        'baseline_params = { tile_rows = 8 }\ndescription = "d"',
    )
    with pytest.raises(TaskError, match="baseline_params needs a baseline program"):
        parse_task(write_suite(tmp_path, body))


def test_invalid_toml_and_missing_files(tmp_path):
    path = write_suite(tmp_path, "name = [")
    with pytest.raises(TaskError, match="not valid TOML"):
        parse_task(path)
    with pytest.raises(TaskError, match="no task file"):
        parse_task(tmp_path / "nope.toml")
    with pytest.raises(TaskError, match="no suite"):
        load_suite("no_such_suite")
    with pytest.raises(TaskError, match="give a .toml file or suite/name"):
        load_task("scale")


def test_suite_loading_and_lookup(tmp_path):
    path = write_suite(tmp_path)
    write_suite(tmp_path, GOOD.replace('name = "scale"', 'name = "other"'), name="zz_other")
    tasks = load_suite(path.parent)
    assert [t.name for t in tasks] == ["scale", "other"]
    assert [t.name for t in load_suite(path.parent, "oth*")] == ["other"]
    assert load_task(f"{path.parent}/other").name == "other"
    with pytest.raises(TaskError, match="no task 'ghost'"):
        load_task(f"{path.parent}/ghost")


def test_generator_library():
    rng = np.random.default_rng(0)
    z = generate({"kind": "zipf", "n": 50, "alpha": 1.2}, (1000,), "int64", rng)
    assert z.dtype == np.int64 and 0 <= z.min() and z.max() < 50
    counts = np.bincount(z, minlength=50)
    assert counts.max() > 5 * np.median(counts)  # skewed popularity
    s = generate({"kind": "sparse", "density": 0.1}, (100, 100), "float32", rng)
    assert 0.05 < (s != 0).mean() < 0.15
    with pytest.raises(GeneratorError, match="unknown init kind 'gaussian'"):
        generate({"kind": "gaussian"}, (2,), "float32", rng)
    with pytest.raises(GeneratorError, match="init kind 'normal'"):
        generate({"kind": "normal", "sigma": 2}, (2,), "float32", rng)


# ---------------------------------------------------------------- inputs that catch shortcuts


def test_planted_rows_are_exactly_what_the_module_says():
    rng = np.random.default_rng(3)
    init = {"kind": "normal", "rows": ["zero", "tiny", "huge"]}
    x = generate(init, (40, 64), "float64", rng)
    plain = generate({"kind": "normal"}, (40, 64), "float64", np.random.default_rng(3))
    rms = np.sqrt((x**2).mean(axis=1))
    assert (rms == 0).sum() == 1  # exactly one zero row
    tiny = np.flatnonzero((rms > 0) & (rms < 1e-2))
    huge = np.flatnonzero(rms > 10)
    assert len(tiny) == 1 and len(huge) == 1
    # the planted rows are the drawn rows scaled, the others untouched
    np.testing.assert_allclose(x[tiny[0]], plain[tiny[0]] * 1e-3)
    np.testing.assert_allclose(x[huge[0]], plain[huge[0]] * 40.0)
    untouched = np.setdiff1d(np.arange(40), [*tiny, *huge, np.flatnonzero(rms == 0)[0]])
    np.testing.assert_array_equal(x[untouched], plain[untouched])
    one_row = generate(init, (1, 8), "float32", rng)  # fewer rows than kinds: no error
    assert one_row.shape == (1, 8)


def test_empty_rows_of_a_sparse_input():
    rng = np.random.default_rng(0)
    s = generate({"kind": "sparse", "density": 0.5, "empty_rows": 3}, (10, 4, 6), "float32", rng)
    empty = [i for i in range(10) if not s[i].any()]
    assert len(empty) >= 3 and (s != 0).mean() > 0.3


@pytest.mark.parametrize(
    "init, message",
    [
        ({"kind": "normal", "rows": ["zeros"]}, "unknown row kinds \\['zeros'\\]"),
        ({"kind": "normal", "rows": "zero"}, "rows must be a list of names"),
        ({"kind": "normal", "empty_rows": 2}, "empty_rows only applies to kind 'sparse'"),
        ({"kind": "sparse", "empty_rows": -1}, "empty_rows must be an int >= 0"),
    ],
)
def test_bad_planting_fails_when_the_task_loads(tmp_path, init, message):
    table = "{ " + ", ".join(f"{k} = {v!r}".replace("'", '"') for k, v in init.items()) + " }"
    body = GOOD.replace('init = { kind = "uniform", low = -1.0, high = 1.0 }', f"init = {table}")
    path = write_suite(tmp_path, body)
    with pytest.raises(TaskError, match=message) as info:
        parse_task(path)
    assert "inputs[0] (x).init" in str(info.value) and "\n" not in str(info.value)


FIXED = """
import numpy as np

def scale(x, M, K, **dims):
    return x * 2.0

def fixed(rng, dims):
    return {"x": np.ones((dims["M"], dims["K"]))}
"""


def _suite_with_fixed_input(tmp_path):
    """A task whose generator draws input x the same in every check."""
    path = write_suite(
        tmp_path,
        GOOD.replace(
            'reference = "references:scale"',
            'reference = "references:scale"\ngenerator = "fixed:fixed"',
        ),
    )
    (path.parent / "fixed.py").write_text(FIXED)
    return path


def test_an_input_drawn_the_same_in_every_check_is_warned_about(tmp_path, caplog):
    path = _suite_with_fixed_input(tmp_path)
    assert parse_task(path).repeated_inputs() == ["x"]
    with caplog.at_level("WARNING", logger="benchmarks.task"):
        warn_repeated_inputs(load_task(path))
    assert "inputs x are identical in every check" in caplog.text
    declared = path.read_text().replace(
        'generator = "fixed:fixed"', 'generator = "fixed:fixed"\nconstant_inputs = ["x"]'
    )
    path.write_text(declared)
    assert parse_task(path).repeated_inputs() == []
    path.write_text(declared.replace('constant_inputs = ["x"]', 'constant_inputs = ["w"]'))
    with pytest.raises(TaskError, match="constant_inputs must list input names"):
        parse_task(path)


def test_repeated_inputs_are_drawn_once_per_task_file_version(tmp_path, monkeypatch):
    path = _suite_with_fixed_input(tmp_path)
    monkeypatch.setattr(task_module, "REPEATED", {})
    assert repeated_inputs_of(load_task(path)) == ("x",)
    drawn = []
    monkeypatch.setattr(Task, "repeated_inputs", lambda task: drawn.append(task) or [])
    assert repeated_inputs_of(load_task(path)) == ("x",) and not drawn
    path.write_text(path.read_text() + "\n")  # another version: drawn again
    assert repeated_inputs_of(load_task(path)) == () and drawn


@pytest.mark.parametrize("suite", ["step", "sam", "dae"])
def test_no_suite_task_draws_the_same_input_twice(suite):
    """Fixed data (a dataset's graph) is redrawn per run, or declared constant with a
    reason in the task file (rotary tables, BigBird's all-ones U)."""
    for task in load_suite(suite):
        assert task.repeated_inputs() == [], task.key


def _rows(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1, array.shape[-1]).astype(np.float64)


@pytest.mark.parametrize("name, input_name", [("rmsnorm", "x"), ("layernorm", "x")])
def test_norm_tasks_have_zero_and_tiny_rows_in_every_run(name, input_name):
    task = load_task(f"step/{name}")
    for i, assignment in enumerate(task.checks + task.heldout):
        dims = task.full_dims(assignment)
        rows = _rows(task.make_inputs(dims, i)[input_name])
        spread = rows.std(axis=1) if name == "layernorm" else np.sqrt((rows**2).mean(axis=1))
        assert (np.abs(rows).max(axis=1) == 0).any(), dims
        assert ((spread > 0) & (spread**2 < 1e-5)).any(), dims  # below eps: eps decides


def test_add_rmsnorm_residual_cancels_to_zero_and_tiny_rows():
    task = load_task("step/add_rmsnorm")
    for i, assignment in enumerate(task.checks + task.heldout):
        inputs = task.make_inputs(task.full_dims(assignment), i)
        h = _rows(inputs["x"] + inputs["residual"])  # the float32 add kernels do
        mean_square = (h**2).mean(axis=1)
        assert (mean_square == 0).any() and ((mean_square > 0) & (mean_square < 1e-5)).any()


def test_softmax_has_rows_that_overflow_without_the_max():
    task = load_task("step/softmax")
    for i, assignment in enumerate(task.checks + task.heldout):
        x = task.make_inputs(task.full_dims(assignment), i)["x"]
        assert (x.max(axis=1) > np.log(np.finfo(np.float32).max)).any()


# Tasks whose symbolic dim is a batch or head count, or limited by a trace's batch sizes.
NOT_ROW_DIMS = {
    "bmm",
    "bmm_shared_weight",
    "bmm_transposed",
    "multi_head_attention",
    "attention_decode_azure",
    "attention_decode_azure_gqa",
}


def test_step_held_out_sizes_pass_every_plausible_tile():
    """A program valid only up to a hard-coded tile of 128 rows (or only for multiples of
    a tile) fails a held-out size: one is above 128 and a multiple of none of 64, 128, 256."""
    for task in load_suite("step"):
        if task.name in NOT_ROW_DIMS or not task.heldout:
            continue
        values = [v for held in task.heldout for v in held.values()]
        assert any(v > 128 and v % 64 for v in values), (task.name, task.heldout)


def test_dae_held_out_sizes_exceed_the_checks():
    for task in load_suite("dae"):
        biggest_check = max(max(c.values()) for c in task.checks)
        assert any(max(h.values()) > biggest_check for h in task.heldout), task.name


@pytest.mark.parametrize("name", ["eb_sum_hot", "eb_sum_cold", "eb_mean", "eb_weighted"])
def test_bags_include_empty_ones_and_a_repeated_index(name):
    task = load_task(f"dae/{name}")
    for i, assignment in enumerate(task.checks + task.heldout):
        dims = task.full_dims(assignment)
        inputs = task.make_inputs(dims, i)
        offsets, indices = inputs["offsets"], inputs["indices"]
        lengths = np.diff(offsets)
        assert lengths.sum() == dims["NNZ"] and (lengths == 0).sum() >= 2
        bags = [indices[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        assert any(len(bag) >= 2 and (bag == bag[0]).all() for bag in bags)


def test_graphs_include_isolated_rows_unless_the_task_forbids_them():
    mean = load_task("dae/mp_mean")
    dims = mean.full_dims(mean.checks[0])
    assert (np.diff(mean.make_inputs(dims, 0)["offsets"]) == 0).sum() >= 2
    spmm = load_task("dae/spmm_gnn")
    dims = spmm.full_dims(spmm.checks[0])
    assert (np.diff(spmm.make_inputs(dims, 0)["rowptr"]) == 0).sum() >= 2
    maximum = load_task("dae/mp_max")  # the max of no neighbours is undefined: none isolated
    dims = maximum.full_dims(maximum.checks[0])
    assert (np.diff(maximum.make_inputs(dims, 0)["offsets"]) > 0).all()


@given(
    lengths=st.lists(st.integers(0, 40), min_size=1, max_size=60),
    n=st.integers(0, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_emptying_bags_keeps_every_item(lengths, n, seed):
    from benchmarks.dae.generators import with_empty, with_repeated_row

    rng = np.random.default_rng(seed)
    before = np.array(lengths, dtype=np.int64)
    after = with_empty(rng, before, n)
    assert after.sum() == before.sum() and (after >= 0).all()
    if len(before) > n:
        assert (after == 0).sum() >= n
    offsets = np.concatenate([[0], np.cumsum(after)])
    indices = rng.integers(0, 1000, size=int(after.sum()))
    repeated = with_repeated_row(rng, offsets, indices)
    changed = np.flatnonzero(repeated != indices)
    if changed.size:  # all changes sit in one bag, which now holds a single row id
        bag = np.searchsorted(offsets, changed[0], side="right") - 1
        assert (repeated[offsets[bag] : offsets[bag + 1]] == repeated[offsets[bag]]).all()
        assert changed.max() < offsets[bag + 1]


def test_a_folder_without_tasks_does_not_hide_a_shipped_suite(tmp_path, monkeypatch):
    """A `dae/` of notes in the working directory: `dae` still means the shipped suite, and
    `dae/eb_sum_hot` its task; a folder that does hold task files is the user's suite."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dae").mkdir()
    (tmp_path / "dae" / "notes.txt").write_text("not a task")
    assert load_task("dae/eb_sum_hot").name == "eb_sum_hot"
    assert [t.name for t in load_suite("dae")][:1] == ["eb_max"]
    (tmp_path / "empty").mkdir()
    assert load_suite("empty") == []
