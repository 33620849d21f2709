"""Input generators of the STeP suite for inputs that depend on each other or on real traces.

Each generator is `fn(rng, dims) -> {input name: array}`; inputs it does not return are drawn
from their `init` tables (`benchmarks/generators.py`). All randomness comes from `rng`, so a
seed fixes the inputs.

Real traces (benchmarks/data/step_traces, taken unchanged from the public STeP artifact,
github stanford-ppl/step_artifact at commit 42f9250; see the README there):
- expert routing of Mixtral-8x7B (8 experts, top-2) and Qwen3-30B-A3B (128 experts, top-8)
  run on HH-RLHF prompts: int64 [batch, top_k] per file;
- KV-cache lengths of decode batches from the Azure LLM inference trace: int64 [batch].
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from benchmarks.generators import TINY

TRACES = Path(__file__).resolve().parent.parent / "data" / "step_traces"
KV_ROWS_PER_TRACE_TOKEN = 64
"""Azure KV lengths (up to ~8k tokens) are divided by this so a verification stays fast;
the spread between requests, which is what dynamic parallelization exploits, is kept."""


class TraceError(ValueError):
    """A trace file or folder a task needs is missing or does not fit the task's dims."""


@cache
def routing_trace(model: str) -> np.ndarray:
    """All routing rows of one model's traces (batch 1024 and 64 files), int64 [n, top_k]."""
    files = sorted(TRACES.glob(f"expert_routing/{model}_b*/*.npz"))
    if not files:
        raise TraceError(f"no expert-routing trace for {model!r} under {TRACES}")
    return np.concatenate([np.load(f)["data"].astype(np.int64) for f in files])


@cache
def kv_length_files(batch: int) -> tuple[Path, ...]:
    files = tuple(sorted(TRACES.glob(f"azure_kv_lengths/b{batch}/*.npy")))
    if not files:
        known = sorted(p.name for p in (TRACES / "azure_kv_lengths").glob("b*"))
        raise TraceError(f"no Azure KV-length trace for batch {batch}; known: {known}")
    return files


def _sample_rows(rng: np.random.Generator, table: np.ndarray, n: int) -> np.ndarray:
    """n rows of a trace, in trace order (a contiguous-looking decode batch)."""
    if n > len(table):
        raise TraceError(f"asked for {n} routing rows, the trace has {len(table)}")
    return table[np.sort(rng.choice(len(table), size=n, replace=False))]


def _random_routing(rng: np.random.Generator, batch: int, experts: int, top_k: int) -> np.ndarray:
    """Distinct experts per token, chosen uniformly (a synthetic router)."""
    return np.argsort(rng.random((batch, experts)), axis=1)[:, :top_k].astype(np.int64)


def _routing(rng: np.random.Generator, dims: dict[str, int], source: str) -> np.ndarray:
    if source == "random":
        return _random_routing(rng, dims["B"], dims["E"], dims["TOPK"])
    table = routing_trace(source)
    if table.shape[1] != dims["TOPK"] or table.max() >= dims["E"]:
        raise TraceError(
            f"{source} trace is top-{table.shape[1]} over {table.max() + 1}"
            f" experts; the task declares top-{dims['TOPK']} of {dims['E']}"
        )
    return _sample_rows(rng, table, dims["B"])


def _gate_weights(rng: np.random.Generator, batch: int, top_k: int) -> np.ndarray:
    """Softmax-normalised router weights of the chosen experts (rows sum to 1)."""
    logits = rng.normal(size=(batch, top_k))
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _expert_sorted_positions(expert_idx: np.ndarray) -> np.ndarray:
    """Row of each (token, slot) pair in the expert-sorted order (stable by token)."""
    flat = expert_idx.reshape(-1)
    order = np.argsort(flat, kind="stable")
    positions = np.empty_like(order)
    positions[order] = np.arange(len(order))
    return positions.reshape(expert_idx.shape).astype(np.int64)


def _routing_inputs(source: str):
    def generate(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
        idx = np.sort(_routing(rng, dims, source), axis=1)  # a token's experts, ascending
        return {"expert_idx": idx, "expert_weight": _gate_weights(rng, *idx.shape)}

    generate.__doc__ = f"expert_idx and expert_weight from {source} routing"
    return generate


random_routing = _routing_inputs("random")
mixtral_routing = _routing_inputs("mixtral")
qwen_routing = _routing_inputs("qwen")


def dispatch_positions(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Destination rows that group Mixtral-routed tokens by expert (stable order)."""
    return {"dest": _expert_sorted_positions(_routing(rng, dims, "mixtral"))}


def combine_positions(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Source rows and gate weights for combining expert-sorted outputs (Mixtral routing)."""
    idx = _routing(rng, dims, "mixtral")
    return {"src": _expert_sorted_positions(idx), "weight": _gate_weights(rng, *idx.shape)}


def azure_kv_lengths(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """KV lengths of one real decode batch of B requests, scaled to at most L cache rows."""
    path = kv_length_files(dims["B"])[rng.integers(len(kv_length_files(dims["B"])))]
    lengths = np.load(path).astype(np.int64)
    scaled = np.clip(-(-lengths // KV_ROWS_PER_TRACE_TOKEN), 1, dims["L"])
    return {"kv_len": scaled}


def cancelling_residual(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """x and residual whose sum h has one all-zero row and one row of a tiny norm (about 1e-3,
    a mean square below eps = 1e-5): dropping or changing eps changes y there. Both rows are
    computed by the same float32 add in a kernel and in the reference, so they agree."""
    shape = (dims["M"], dims["H"])
    residual = rng.normal(size=shape).astype(np.float32)
    x = rng.normal(size=shape).astype(np.float32)
    rows = rng.choice(dims["M"], size=min(2, dims["M"]), replace=False)
    planted = [np.zeros(dims["H"], np.float32), (TINY * rng.normal(size=dims["H"]))]
    for row, h in zip(rows, planted, strict=False):
        x[row] = (h - residual[row]).astype(np.float32)
    return {"x": x, "residual": residual}


def rope_tables(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """cos/sin of the usual rotary frequencies for S consecutive positions from a random start."""
    start = int(rng.integers(0, 4096))
    cos, sin = _rope_angles(np.arange(start, start + dims["S"]), dims["D"])
    return {"cos": cos, "sin": sin}


def rope_position_tables(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Full cos/sin tables for P positions and one random position per token."""
    cos, sin = _rope_angles(np.arange(dims["P"]), dims["D"])
    pos = rng.integers(0, dims["P"], size=dims["B"]).astype(np.int64)
    return {"cos_table": cos, "sin_table": sin, "pos": pos}


def _rope_angles(positions: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    inv_freq = 10000.0 ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
    angles = positions[:, None] * inv_freq[None, :]
    angles = np.concatenate([angles, angles], axis=1)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
