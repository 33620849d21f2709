"""Honest programs and honest mistakes: the result says what happened, in one line, with the
line number when there is one. What depends on the backend runs under each; what only the
harness decides runs under the default one."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from dsl.step import load_ir
from sandbox import BuildResult, Limits, build_ir
from tests.sandbox.conftest import SIGNATURE, TEST_LIMITS, VALID


def run(source: str, backend: str | None, **kwargs) -> BuildResult:
    return build_ir(
        source,
        dialect="step",
        signature=SIGNATURE,
        backend=backend,
        limits=kwargs.pop("limits", TEST_LIMITS),
        **kwargs,
    )


def test_valid_program_gives_loadable_ir(backend: str) -> None:
    result = run(VALID, backend)
    assert result.status == "ok" and result.message == "" and result.line is None
    assert result.backend == backend and 0 < result.seconds < TEST_LIMITS.wall_seconds
    assert result.ir["dialect"] == "step"
    load_ir(result.ir)  # the trusted side accepts it
    assert json.loads(json.dumps(result.ir)) == result.ir


def test_builder_error_is_invalid_with_the_line(backend_extra: str) -> None:
    result = run(VALID.replace('"exp"', '"no_such_function"'), backend_extra, filename="k.py")
    assert result.status == "invalid" and result.line == 6
    assert result.message.startswith("k.py:6: ") and "no_such_function" in result.message


def test_syntax_error(backend_extra: str) -> None:
    result = run("def kernel(x):\n    return (\n", backend_extra)
    assert result.status == "error" and result.line == 2
    assert result.message.startswith("program.py:2: SyntaxError")


@pytest.mark.parametrize(
    "source, line, words",
    [
        ("x = 1\n", None, "defines no function `kernel`"),
        ("kernel = 3\n", None, "defines no function `kernel`"),
        ("def kernel(x):\n    return 1 / 0\n", 2, "ZeroDivisionError: division by zero"),
        ("def kernel(x):\n    return kernel(x)\n", 2, "RecursionError"),
        ("def kernel(x):\n    return None\n", None, "store handle"),
    ],
)
def test_program_failures_are_errors_or_invalid(source: str, line, words) -> None:
    result = run(source, None)
    assert result.status in ("error", "invalid") and words in result.message, result
    if line is not None:
        assert result.line == line


def test_program_output_is_kept_as_a_capped_tail() -> None:
    result = run('for i in range(2000):\n    print("line", i)\n' + VALID, None)
    assert result.status == "ok"
    assert result.stderr.endswith("line 1999\n") and len(result.stderr) <= 4096


def test_text_beyond_ascii_survives_the_round_trip() -> None:
    source = "# déjà vu: 行列 €\n" + VALID + 'print("ünïcödé ✓")\n'
    result = run(source, None)
    assert result.status == "ok" and "ünïcödé ✓" in result.stderr
    failing = run('def kernel(x):\n    raise ValueError("größe ≠ 3")\n', None)
    assert failing.message == "program.py:2: ValueError: größe ≠ 3"


def test_oversized_source_is_rejected_before_starting() -> None:
    result = build_ir("#" * 300_000, dialect="step", signature=SIGNATURE, backend="plain")
    assert result.status == "rejected" and "larger than the 256 KiB limit" in result.message
    assert result.seconds < 1


def test_bad_dialect_name() -> None:
    result = build_ir(VALID, dialect="../etc", signature=SIGNATURE, backend="plain")
    assert result.status == "error" and "not a dialect name" in result.message


def test_unknown_dialect_is_an_error() -> None:
    result = build_ir(VALID, dialect="nosuch", signature=SIGNATURE, backend="plain")
    assert result.status == "error" and "dialect 'nosuch' cannot trace" in result.message


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="wall_seconds must be positive"):
        Limits(wall_seconds=0)


def test_concurrent_builds_do_not_mix() -> None:
    """The verifier may build several proposals at once: each gets its own IR back."""
    sources = [VALID.replace('"exp"', f'"{fn}"') for fn in ("exp", "relu", "sigmoid", "tanh")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda source: run(source, None), sources))
    assert [r.status for r in results] == ["ok"] * 4
    functions = [json.dumps(r.ir) for r in results]
    for fn, text in zip(("exp", "relu", "sigmoid", "tanh"), functions, strict=True):
        assert f'"{fn}"' in text
