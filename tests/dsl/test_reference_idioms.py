"""The worked examples of the three REFERENCE.md files are programs for real suite tasks: each
block opened with ```` ```python example task=SUITE/NAME ```` must build in the sandbox and pass
the verifier on that task, as a model's answer would. A model copies these idioms (padding,
empty segments, symbolic lengths, equal dynamic dims), so an example that rots teaches a bug.

The cheap test traces every example; the verifier runs are slow (seconds each) and marked so.
The mutation tests remove the one line an idiom is about and expect the verifier to refuse the
result: they show the examples' tasks actually exercise the idiom."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from benchmarks.task import load_task
from interpreter.verifier import verify
from sandbox import build_ir

ROOT = Path(__file__).resolve().parents[2] / "dsl"
MARK = re.compile(r"^```python example task=(\S+)\n(.*?)^```", re.M | re.S)


def examples() -> list[tuple[str, str, str]]:
    """(dialect, task key, program text) of every marked block, in file order."""
    found = []
    for dialect in ("step", "sam", "dae"):
        text = (ROOT / dialect / "REFERENCE.md").read_text()
        found += [(dialect, key, code) for key, code in MARK.findall(text)]
    return found


EXAMPLES = examples()
IDS = [f"{dialect}:{key}:{i}" for i, (dialect, key, _) in enumerate(EXAMPLES)]


def _verify(key: str, code: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return verify(load_task(key), code, seed=11, seeds=1, simulate=False)


def test_each_dialect_has_worked_examples_on_tasks() -> None:
    dialects = [d for d, _, _ in EXAMPLES]
    assert {d: dialects.count(d) for d in ("step", "sam", "dae")} == {"step": 6, "sam": 1, "dae": 3}


@pytest.mark.parametrize(("dialect", "key", "code"), EXAMPLES, ids=IDS)
def test_example_builds_for_its_task(dialect: str, key: str, code: str) -> None:
    task = load_task(key)
    assert task.dialect == dialect, f"{key} is a {task.dialect} task, documented under {dialect}"
    built = build_ir(code, dialect=dialect, signature=task.signature())
    assert built.status == "ok", built.message


@pytest.mark.slow
@pytest.mark.parametrize(("dialect", "key", "code"), EXAMPLES, ids=IDS)
def test_example_passes_the_verifier(dialect: str, key: str, code: str) -> None:
    verdict = _verify(key, code)
    assert verdict.correct, f"{key}: {verdict.status}: {verdict.feedback}"


# (task, the idiom's code as documented, what a model would write without the idiom, the
# verdict that must follow: a wrong answer, or a program the checker refuses)
MUTATIONS = [
    ("dae/eb_padded", "dae.where(dae.not_equal(i, 0), row, 0.0)", "row", "incorrect"),
    ("dae/mp_max_empty", 'dae.where(n > 0, float("-inf"), 0.0)', 'float("-inf")', "incorrect"),
    ("dae/mp_max_empty", 'dae.where(n > 0, float("-inf"), 0.0)', "0.0", "incorrect"),
    (
        "step_new/softmax_cols",
        "step.copy(step.map([x_t, valid], step.fn.mask_after()))",
        "step.copy(x_t); step.sink(valid)",  # zero padding is not neutral for max and exp
        "incorrect",
    ),
    (
        "step/gemm",
        "step.partition(y_rows, step.map(flags, step.fn.to_selector(n=2)), 2)",
        "step.flatten(y_rows), flags",  # padding rows kept: M is then a false claim
        "invalid",
    ),
    (
        "step/moe_expert_counts",
        "step.assume_shape(step.promote(step.flatten(onehot)), (1, B * topk))",
        "step.promote(step.flatten(onehot))",
        "invalid",
    ),
    (
        "step/moe_expert_counts",
        "step.assume_shape(step.promote(step.flatten(onehot)), (1, B * topk))",
        "step.flatten(onehot)",
        "invalid",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("key", "idiom", "naive", "status"), MUTATIONS)
def test_the_example_without_its_idiom_fails(key: str, idiom: str, naive: str, status: str):
    (code,) = [c for _, k, c in EXAMPLES if k == key and idiom in c]
    verdict = _verify(key, code.replace(idiom, naive))
    assert verdict.status == status, f"{key}: {verdict.status}: {verdict.feedback}"
