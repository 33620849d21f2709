"""flat_map nests its runs with `nest_runs`, vectorised: it must give `nest`'s stops and
flags on every mix of bare stops, empty runs and runs, and refuse what `nest` refuses."""

from __future__ import annotations

import numpy as np
import pytest

from interpreter.errors import ExecutionError
from interpreter.step.streams import StreamData, nest, nest_runs, regular_stops


@pytest.mark.parametrize("seed", range(40))
def test_nest_runs_matches_nest(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 12))
    has = rng.random(n) < 0.7
    outer = StreamData(rng.integers(0, 3, n).astype(np.int8), has, [0] * int(has.sum()))
    lengths = rng.integers(0, 4, outer.n_values).astype(np.int64)
    sub_rank = int(rng.integers(0, 2))
    subs = [regular_stops((k,), nested=True) if k else np.zeros(0, np.int8) for k in lengths]
    want_stop, want_has = nest(outer, subs, sub_rank)
    stop, has = nest_runs(outer, lengths, sub_rank)
    assert stop.dtype == want_stop.dtype and np.array_equal(stop, want_stop)
    assert has.dtype == want_has.dtype and np.array_equal(has, want_has)


def test_a_negative_run_is_refused() -> None:
    outer = StreamData(np.array([0, 1], np.int8), np.ones(2, bool), [0, 0])
    with pytest.raises(ExecutionError, match="negative dimension"):
        nest_runs(outer, np.array([2, -1]), 0)
