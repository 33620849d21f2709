"""The tuning problems of the tuner benchmark, each drawn from one of our dialects.

Each configuration is one program, built in-process from trusted text, verified and simulated by
the trusted checker on one fixed input; a configuration that does not build, breaks a hardware
budget or fails verification is `invalid` (an unknown constraint the tuner must learn).

- `step_gemm_silu`: silu(x @ w) on 128 x 128 x 128 written as a tiled GEMM (the REFERENCE's
  example) followed by the activation: tile sizes tm, tn, tk, the compute units of the
  accumulating matmul and of the activation, and the loop order of the two output tiles, on
  the small STeP chip (64 compute units, 1 MiB on chip: over either budget is invalid).
- `sam_mttkrp`: MTTKRP's dataflow order (a permutation of i, j, k, l), the stored level order
  of B (a permutation of its three modes) and the layouts of C and D (which make an order
  legal: known constraints), and the parallel level and factor (lanes budget 16).
- `dae_embedding`: EmbeddingBag-sum's optimisation level, vector length (the compiler's
  declared `lanes` knob, whose domain is 1 or 8: 2 and 4 are refused by that declaration and
  16 and 32 are over the 8-lane budget, all invalid), contiguous row loads,
  non-temporal index loads and rows per callback (O3 only).

The three above are small (5,376, 180 and 54 feasible configurations): a good tuner can only
be so much better than random sampling on them. The two below have the size of real kernels'
spaces, with several parameters of each kind (BaCO's spaces have 10^4 to 10^8 points):

- `step_swiglu`: the SwiGLU feed-forward block (one MoE expert; the suite's `swiglu` task,
  M = 64, H = 64, I = 128) as five tiled operators: the gate and up GEMMs, SiLU, the product
  and the down GEMM, each with its own compute allocation, and the row, hidden, model and
  output tile sizes, on the small chip (583,200 configurations; over the compute, port or
  on-chip budget is invalid).
- `sam_spgemm`: SpGEMM on two power-law matrices (the suite's Gustavson task): the dataflow
  order (a permutation of i, k, j), each operand's level formats (dense or compressed per
  level; its level order follows the dataflow order: known constraints, as is the result's
  row-major order), the parallel level and factor and the block size. The compiler refuses
  block products whose blocks do not line up and parallel levels below a pending sum: those
  are unknown constraints (2,880 configurations).

DAE has no larger problem: its programs' only knobs are the ones `dae_embedding` tunes
(queue depths and miss slots are the target's, not the program's).

Evaluations are cached per configuration: every method reads the same black box, and a
configuration is simulated once per process (or once ever, with a cache file).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.params import Categorical, Ordinal, Permutation
from tuner.space import Config, Space

_TIMING_SEED = 20261207

STEP_GEMM_SILU = """
from dsl import step


@step.tunable(
    tm=[16, 32, 64, 128],
    tn=[16, 32, 64, 128],
    tk=[16, 32, 64, 128],
    compute=[1, 2, 4, 8, 16, 32, 64],
    act_compute=[1, 2, 4, 8, 16, 32],
    n_outer=[False, True],
)
def kernel(x, w, tm=64, tn=64, tk=64, compute=4, act_compute=1, n_outer=False):
    M, K = x.shape
    N = w.shape[1]
    mt, nt, kt = step.cdiv(M, tm), step.cdiv(N, tn), step.cdiv(K, tk)
    if n_outer:  # output tiles column by column: w's tiles change least often
        shape, x_stride, w_stride = (nt, mt, kt), (0, kt, 1), (1, 0, nt)
    else:
        shape, x_stride, w_stride = (mt, nt, kt), (kt, 0, 1), (0, 1, nt)
    x_t = step.linear_offchip_load(x, (tm, tk), shape=shape, stride=x_stride)
    w_t = step.linear_offchip_load(w, (tk, tn), shape=shape, stride=w_stride)
    xw = step.accum([x_t, w_t], "matmul", rank=1, compute=compute)
    y = step.map(xw, "silu", compute=act_compute)
    return step.linear_offchip_store(y, "y", stride=(1, nt) if n_outer else None)
"""


STEP_SWIGLU = """
from dsl import step


@step.tunable(
    tm=[16, 32, 64],
    ti=[16, 32, 64, 128],
    th=[16, 32, 64],
    to=[16, 32, 64],
    c_gate=[1, 2, 4, 8, 16, 32],
    c_up=[1, 2, 4, 8, 16, 32],
    c_act=[1, 2, 4, 8, 16],
    c_mul=[1, 2, 4, 8, 16],
    c_down=[1, 2, 4, 8, 16, 32],
)
def kernel(
    x, w_gate, w_up, w_down, tm=32, ti=64, th=64, to=64,
    c_gate=4, c_up=4, c_act=1, c_mul=1, c_down=4,
):
    M, H = x.shape
    I = w_gate.shape[1]
    mt, it, ht, ot = step.cdiv(M, tm), step.cdiv(I, ti), step.cdiv(H, th), step.cdiv(H, to)
    # Loop nest (row tile, output tile, hidden tile, model tile): the hidden tiles are
    # recomputed for every output tile (ot of them), never stored.
    shape = (mt, ot, it, ht)
    x_g = step.linear_offchip_load(x, (tm, th), shape=shape, stride=(ht, 0, 0, 1))
    x_u = step.linear_offchip_load(x, (tm, th), shape=shape, stride=(ht, 0, 0, 1))
    wg = step.linear_offchip_load(w_gate, (th, ti), shape=shape, stride=(0, 0, 1, it))
    wu = step.linear_offchip_load(w_up, (th, ti), shape=shape, stride=(0, 0, 1, it))
    gate = step.accum([x_g, wg], "matmul", rank=1, compute=c_gate)
    up = step.accum([x_u, wu], "matmul", rank=1, compute=c_up)
    act = step.map(gate, "silu", compute=c_act)
    hidden = step.map([act, up], "mul", compute=c_mul)
    wd = step.linear_offchip_load(w_down, (ti, to), shape=(mt, ot, it), stride=(0, 1, ot))
    y = step.accum([hidden, wd], "matmul", rank=1, compute=c_down)
    return step.linear_offchip_store(y, "y")
"""


@dataclass
class Problem:
    """A space and a cached black box from configuration to cycles (None: invalid)."""

    name: str
    space: Space
    program: Callable[[Config], tuple[Any, str, dict[str, Any]]]  # -> (task, text, params)
    cache: dict[tuple, float | None] = field(default_factory=dict)
    seconds: float = 0.0

    def __call__(self, config: Config) -> float | None:
        key = self.space.key(config)
        if key not in self.cache:
            from dsl.errors import DialectError

            start = time.perf_counter()
            try:
                self.cache[key] = _cycles(*self.program(config))
            except DialectError:  # the compiler cannot lower it: an unknown constraint
                self.cache[key] = None
            self.seconds += time.perf_counter() - start
        return self.cache[key]

    def load(self, path: Path) -> None:
        """Read cached evaluations of this problem from ``path`` (a JSON file of all problems)."""
        if path.exists():
            rows = json.loads(path.read_text()).get(self.name, [])
            for row in rows:
                config = self.space.from_json(row["config"])
                self.cache[self.space.key(config)] = row["cycles"]

    def save(self, path: Path) -> None:
        data = json.loads(path.read_text()) if path.exists() else {}
        names = [p.name for p in self.space.params]
        data[self.name] = [
            {"config": self.space.to_json(dict(zip(names, key, strict=True))), "cycles": value}
            for key, value in self.cache.items()
        ]
        path.write_text(json.dumps(data))


def _cycles(task: Any, source: str, params: dict[str, Any]) -> float | None:
    """Cycles of `source` run with `params` on `task`'s timed input, None unless it passed."""
    import importlib

    from dsl.errors import DialectError
    from interpreter.verify.trusted import check_ir

    namespace: dict[str, Any] = {}
    exec(compile(source, "bench_program.py", "exec"), namespace)  # our own trusted text
    dialect = importlib.import_module(f"dsl.{task.dialect}")
    try:
        ir = dialect.trace(namespace["kernel"], {**task.signature(), "params": params})
    except DialectError:
        return None
    verdict = check_ir(task, ir, seeds=1, seed=1, timing_seed=_TIMING_SEED)
    return float(verdict.cycles) if verdict.status == "passed" and verdict.cycles else None


def _variant(path: str, **changes: Any) -> Any:
    from benchmarks.task import load_task

    return dataclasses.replace(load_task(path), heldout=(), **changes)


def step_gemm_silu() -> Problem:
    tiles = (16, 32, 64, 128)
    space = Space(
        [
            Ordinal("tm", tiles, log=True),
            Ordinal("tn", tiles, log=True),
            Ordinal("tk", tiles, log=True),
            Ordinal("compute", (1, 2, 4, 8, 16, 32, 64), log=True),
            Ordinal("act_compute", (1, 2, 4, 8, 16, 32), log=True),
            Categorical("n_outer", (False, True)),
        ]
    )
    task = _variant(
        "benchmarks/step/gemm_silu.toml",
        dims={"M": None, "K": 128, "N": 128},
        checks=({"M": 128},),
        target="step_small",
    )
    return Problem("step_gemm_silu", space, lambda c: (task, STEP_GEMM_SILU, dict(c)))


MTTKRP_INDICES = ("i", "j", "k", "l")
B_MODES = ("i", "k", "l")  # B(i,k,l): mode 0 is i, 1 is k, 2 is l


def sam_mttkrp() -> Problem:
    from dsl.sam.compiler import compile_task

    def before(perm: str, a: str, b: str) -> str:
        return f'pos({perm}, "{a}") < pos({perm}, "{b}")'

    space = Space(
        [
            Permutation("order", 4, items=MTTKRP_INDICES),
            Permutation("b_levels", 3, items=B_MODES),
            Categorical("c_layout", ("kj", "jk")),
            Categorical("d_layout", ("lj", "jl")),
            Categorical("par_level", ("i", "j")),
            Ordinal("factor", (1, 2, 3, 4, 6, 8, 12, 16), log=True),
        ],
        [
            # A is stored i above j; each operand's level order fixes the order of its indices.
            before("order", "i", "j"),
            *(
                f"({before('order', a, b)}) == ({before('b_levels', a, b)})"
                for a, b in (("i", "k"), ("i", "l"), ("k", "l"))
            ),
            f'({before("order", "k", "j")}) == (c_layout == "kj")',
            f'({before("order", "l", "j")}) == (d_layout == "lj")',
            # One lane has no level: the same program whichever level is named.
            'factor > 1 or par_level == "i"',
        ],
    )
    base = _variant("benchmarks/sam/mttkrp.toml", checks=({"I": 32, "K": 24, "L": 16, "J": 16},))

    def program(c: Config) -> tuple[Any, str, dict[str, Any]]:
        spec = {
            **base.spec,
            "order": "".join(c["order"]),
            "formats": {
                "B": {"format": "csf", "mode_order": [B_MODES.index(m) for m in c["b_levels"]]},
                "C": {"format": "dense", "mode_order": [0, 1] if c["c_layout"] == "kj" else [1, 0]},
                "D": {"format": "dense", "mode_order": [0, 1] if c["d_layout"] == "lj" else [1, 0]},
            },
            "parallel": {"level": c["par_level"], "factor": c["factor"]},
        }
        task = dataclasses.replace(base, spec=spec)
        return task, compile_task(task), {}

    return Problem("sam_mttkrp", space, program)


def dae_embedding() -> Problem:
    from dsl.dae.compiler import compile_spec

    space = Space(
        [
            Ordinal("level", (0, 1, 2, 3)),
            # 2 and 4 lanes are outside the program's declared domain, 16 and 32 over the
            # target's 8-lane budget: unknown constraints.
            Ordinal("lanes", (1, 2, 4, 8, 16, 32), log=True),
            Categorical("contiguous", (True, False)),
            Categorical("nontemporal", (True, False)),
            Ordinal("rows", (1, 2, 3, 4, 6, 8), log=True),
        ],
        [
            # O0 is scalar and O3 (or contiguous rows) has 8 lanes in its loops; only O1 and
            # O2 without contiguous rows declare `lanes` tunable.
            "(1 <= level <= 2 and not contiguous) or lanes == 1 and level == 0"
            " or lanes == 8 and level >= 1",
            "level >= 1 or not contiguous",
            "level == 3 or rows == 1",  # several rows per callback need O3
        ],
    )
    task = _variant("benchmarks/dae/eb_sum_hot.toml")
    inputs = tuple(s.name for s in task.inputs)

    def program(c: Config) -> tuple[Any, str, dict[str, Any]]:
        text = compile_spec(
            dict(task.spec),
            inputs,
            c["level"],
            title=task.name,
            contiguous=c["contiguous"],
            nontemporal=c["nontemporal"],
            rows_per_callback=c["rows"],
        )
        return task, text, ({"lanes": c["lanes"]} if "lanes=lanes" in text else {})

    return Problem("dae_embedding", space, program)


def step_swiglu() -> Problem:
    computes = (1, 2, 4, 8, 16, 32)
    space = Space(
        [
            Ordinal("tm", (16, 32, 64), log=True),
            Ordinal("ti", (16, 32, 64, 128), log=True),
            Ordinal("th", (16, 32, 64), log=True),
            Ordinal("to", (16, 32, 64), log=True),
            Ordinal("c_gate", computes, log=True),
            Ordinal("c_up", computes, log=True),
            Ordinal("c_act", computes[:-1], log=True),
            Ordinal("c_mul", computes[:-1], log=True),
            Ordinal("c_down", computes, log=True),
        ]
    )
    task = _variant(
        "benchmarks/step/swiglu.toml",
        dims={"M": None, "H": 64, "I": 128},
        checks=({"M": 64},),
        target="step_small",
    )
    return Problem("step_swiglu", space, lambda c: (task, STEP_SWIGLU, dict(c)))


SPGEMM_INDICES = ("i", "k", "j")
LEVEL_FORMATS = ("dd", "dc", "cd", "cc")  # per stored level: d dense, c compressed


def sam_spgemm() -> Problem:
    from dsl.sam.compiler import compile_task

    space = Space(
        [
            Permutation("order", 3, items=SPGEMM_INDICES),
            Categorical("a_levels", LEVEL_FORMATS),
            Categorical("b_levels", LEVEL_FORMATS),
            Categorical("par_level", ("i", "j")),
            Ordinal("factor", (1, 2, 3, 4, 6, 8, 12, 16), log=True),
            Ordinal("block", (1, 2, 4, 8), log=True),
        ],
        [
            # The result X is stored row-major (i above j); A and B are stored in the level
            # order the dataflow order visits their indices (fixed by `order`, not tuned).
            'pos(order, "i") < pos(order, "j")',
            'factor > 1 or par_level == "i"',  # one lane: the same program at either level
        ],
    )
    base = _variant("benchmarks/sam/spgemm_gustavson.toml", checks=({"N": 40},))

    def program(c: Config) -> tuple[Any, str, dict[str, Any]]:
        order = c["order"]

        def stored(a: str, b: str) -> list[int]:  # mode order following the dataflow order
            return [0, 1] if order.index(a) < order.index(b) else [1, 0]

        spec = {
            **base.spec,
            "order": "".join(order),
            "formats": {
                "A": {"format": c["a_levels"], "mode_order": stored("i", "k")},
                "B": {"format": c["b_levels"], "mode_order": stored("k", "j")},
            },
            "parallel": {"level": c["par_level"], "factor": c["factor"]},
            "block": c["block"],
        }
        task = dataclasses.replace(base, spec=spec)
        return task, compile_task(task), ({"block": c["block"]} if c["block"] > 1 else {})

    return Problem("sam_spgemm", space, program)


# The bench's original small problems, then the realistic-size ones.
SMALL = ("step_gemm_silu", "sam_mttkrp", "dae_embedding")
LARGE = ("step_swiglu", "sam_spgemm")
PROBLEMS = {
    "step_gemm_silu": step_gemm_silu,
    "sam_mttkrp": sam_mttkrp,
    "dae_embedding": dae_embedding,
    "step_swiglu": step_swiglu,
    "sam_spgemm": sam_spgemm,
}
