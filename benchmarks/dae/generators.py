"""Input generators of the DAE suite (trusted side): correlated inputs that a per-input
`init` table cannot express.

- Embedding bags in the style of FBGEMM's synthetic TBE generator: row popularity Zipf
  `(x + q)^-s` over the table (popular rows scattered by a permutation), bag lengths
  normal(L, sigma_L) adjusted to the run's total `NNZ`.
- Graphs in CSR with power-law degrees (Pareto out-degree, Zipf in-degree popularity),
  the shape of OGB / SNAP graphs.
- Paged KV block tables whose sequence lengths follow the Azure conversation trace
  (benchmarks/data/step_traces/azure_kv_lengths), with physical blocks allocated at random.
- Every run of a task that allows them has empty bags / rows / nodes (`with_empty`) and a bag
  or row that repeats one index (`with_repeated_row`): the inputs where a sloppy kernel
  (reading before checking a length, dividing by a zero count, deduplicating) goes wrong.
- MoE token-to-expert gathers from recorded Mixtral / Qwen3 routing decisions
  (benchmarks/data/step_traces/expert_routing), grouped by expert in CSR.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

TRACES = Path(__file__).resolve().parent.parent / "data" / "step_traces"


EMPTY_SEGMENTS = 2
"""Bags, rows or nodes emptied in every run of a task that allows empty ones."""


class GeneratorDimsError(ValueError):
    """Dims of one run that do not fit together (e.g. NOFF != B + 1)."""


def _need(dims: dict[str, int], a: str, value: int) -> None:
    if dims[a] != value:
        raise GeneratorDimsError(f"dim {a} must be {value} for this run, got {dims[a]}")


def zipf_rows(rng: np.random.Generator, n: int, size: int, s: float, q: float = 0.0) -> np.ndarray:
    """Row ids in [0, n) with popularity (rank + q)^-s, popular rows spread over the table."""
    p = (np.arange(n, dtype=np.float64) + 1.0 + q) ** (-s)
    p /= p.sum()
    return rng.permutation(n)[rng.choice(n, size=size, p=p)]


def lengths_with_total(
    rng: np.random.Generator, segments: int, total: int, sigma: float, minimum: int = 0
) -> np.ndarray:
    """Normal(total/segments, sigma) lengths, at least `minimum`, summing to `total`."""
    if total < segments * minimum:
        raise GeneratorDimsError(
            f"{total} items cannot fill {segments} segments with at least {minimum} each"
        )
    mean = total / max(segments, 1)
    lengths = np.maximum(minimum, np.rint(rng.normal(mean, sigma, segments))).astype(np.int64)
    diff = total - int(lengths.sum())
    if diff > 0:
        lengths += np.bincount(rng.integers(0, segments, diff), minlength=segments)
    elif diff < 0:
        spare = np.repeat(np.arange(segments), lengths - minimum)
        lengths -= np.bincount(
            spare[rng.choice(len(spare), -diff, replace=False)], minlength=segments
        )
    return lengths


def powerlaw_lengths(
    rng: np.random.Generator, segments: int, total: int, exponent: float = 2.1, minimum: int = 0
) -> np.ndarray:
    """Pareto-distributed degrees (a few hubs, many leaves, each at least `minimum`)
    summing to `total`."""
    if minimum:
        return minimum + powerlaw_lengths(rng, segments, total - minimum * segments, exponent)
    raw = rng.pareto(exponent - 1.0, segments) + 1.0
    lengths = np.floor(raw / raw.sum() * total).astype(np.int64)
    short = total - int(lengths.sum())
    lengths += np.bincount(rng.choice(segments, short, p=raw / raw.sum()), minlength=segments)
    return lengths


def with_empty(rng: np.random.Generator, lengths: np.ndarray, n: int) -> np.ndarray:
    """`lengths` with n randomly chosen segments emptied and their items moved to others, so
    every run has empty bags / rows / nodes (where a kernel that reads one item before
    checking the length, or divides by a zero count, goes wrong). The total is kept."""
    if n <= 0 or len(lengths) <= n:
        return lengths
    out = lengths.copy()
    emptied = rng.choice(len(out), size=n, replace=False)
    moved = int(out[emptied].sum())
    out[emptied] = 0
    others = np.setdiff1d(np.arange(len(out)), emptied)
    out += np.bincount(rng.choice(others, moved), minlength=len(out))
    return out


def with_repeated_row(
    rng: np.random.Generator, offsets: np.ndarray, indices: np.ndarray
) -> np.ndarray:
    """`indices` with one bag of two or more items made of a single row repeated (duplicate
    indices: each occurrence counts, in a sum as in a mean)."""
    lengths = np.diff(offsets)
    candidates = np.flatnonzero(lengths >= 2)
    if not len(candidates):
        return indices
    bag = rng.choice(candidates)
    out = indices.copy()
    out[offsets[bag] : offsets[bag + 1]] = out[offsets[bag]]
    return out


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _table(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.standard_normal((rows, cols), dtype=np.float32)


def _bags(
    rng: np.random.Generator,
    dims: dict[str, int],
    s: float,
    q: float,
    sigma: float,
    minimum: int = 0,
) -> dict[str, np.ndarray]:
    _need(dims, "NOFF", dims["B"] + 1)
    lengths = lengths_with_total(rng, dims["B"], dims["NNZ"], sigma, minimum)
    offsets = _offsets(with_empty(rng, lengths, 0 if minimum else EMPTY_SEGMENTS))
    indices = zipf_rows(rng, dims["N"], dims["NNZ"], s, q)
    return {
        "offsets": offsets,
        "indices": with_repeated_row(rng, offsets, indices),
        "table": _table(rng, dims["N"], dims["D"]),
    }


# Embedding bags: FBGEMM-style (zipf_s = alpha, zipf_q, L, sigma_L).
def eb_hot(rng, dims):
    return _bags(rng, dims, s=1.2, q=0.0, sigma=4.0)


def eb_cold(rng, dims):
    return _bags(rng, dims, s=0.8, q=10.0, sigma=8.0)


def eb_mean(rng, dims):
    return _bags(rng, dims, s=1.05, q=0.0, sigma=6.0)


def eb_max(rng, dims):
    return _bags(rng, dims, s=1.05, q=0.0, sigma=6.0, minimum=1)


def eb_weighted(rng, dims):
    bags = _bags(rng, dims, s=1.05, q=0.0, sigma=6.0)
    bags["weights"] = rng.uniform(0.0, 1.0, dims["NNZ"]).astype(np.float32)
    return bags


def eb_padded(rng, dims):
    """Bags whose index lists are padded: about a fifth of the entries are index 0."""
    bags = _bags(rng, dims, s=1.05, q=0.0, sigma=6.0)
    pad = rng.random(dims["NNZ"]) < 0.2
    bags["indices"] = np.where(pad, 0, bags["indices"]).astype(np.int64)
    return bags


def eb_multi_table(rng, dims):
    """Table-batched bags (DLRM / FBGEMM TBE): per table t its own CSR bags over the same B,
    the smaller the table the hotter its rows (Zipf s from 1.0 to 1.2)."""
    arrays = {}
    for t in range(sum(1 for d in dims if d.startswith("NNZ"))):
        one = {"B": dims["B"], "NOFF": dims["NOFF"], "NNZ": dims[f"NNZ{t}"], "D": dims["D"]}
        bags = _bags(rng, {**one, "N": dims[f"N{t}"]}, s=1.0 + 0.1 * t, q=0.0, sigma=4.0)
        arrays.update({f"{name}_{t}": array for name, array in bags.items()})
    return arrays


def _graph(
    rng: np.random.Generator, dims: dict[str, int], rows: str, cols: str, minimum: int = 0
) -> tuple:
    _need(dims, "NOFF", dims[rows] + 1)
    degrees = powerlaw_lengths(rng, dims[rows], dims["NNZ"], minimum=minimum)
    offsets = _offsets(with_empty(rng, degrees, 0 if minimum else EMPTY_SEGMENTS))
    neighbours = zipf_rows(rng, dims[cols], dims["NNZ"], s=0.9)
    return offsets, with_repeated_row(rng, offsets, neighbours)


def spmm_powerlaw(rng, dims):
    rowptr, colidx = _graph(rng, dims, "R", "N")
    return {
        "rowptr": rowptr,
        "colidx": colidx,
        "values": rng.standard_normal(dims["NNZ"], dtype=np.float32),
        "x": _table(rng, dims["N"], dims["D"]),
    }


def graph_features(rng, dims):
    offsets, indices = _graph(rng, dims, "V", "N")
    return {"offsets": offsets, "indices": indices, "features": _table(rng, dims["N"], dims["D"])}


def graph_features_connected(rng, dims):
    """Like graph_features, but every node has at least one in-neighbour."""
    offsets, indices = _graph(rng, dims, "V", "N", minimum=1)
    return {"offsets": offsets, "indices": indices, "features": _table(rng, dims["N"], dims["D"])}


def kg_triples(rng, dims):
    q = dims["Q"]
    return {
        "heads": zipf_rows(rng, dims["NE"], q, s=1.0),
        "relations": zipf_rows(rng, dims["NR"], q, s=1.3),
        "tails": zipf_rows(rng, dims["NE"], q, s=1.0),
        "entities": _table(rng, dims["NE"], dims["D"]),
        "relation_table": _table(rng, dims["NR"], dims["D"]),
    }


@cache
def _azure_lengths() -> np.ndarray:
    files = sorted((TRACES / "azure_kv_lengths").glob("*/*.npy"))
    return np.concatenate([np.load(f) for f in files]).astype(np.int64)


def paged_kv(rng, dims):
    """S sequences whose block counts are proportional to Azure KV-cache lengths."""
    s, nblk, bs = dims["S"], dims["NBLK"], dims["BS"]
    _need(dims, "NOFF", s + 1)
    _need(dims, "NTOK", nblk * bs)
    if nblk > dims["NB"]:
        raise GeneratorDimsError(f"NBLK={nblk} blocks do not fit a cache of NB={dims['NB']}")
    lengths = rng.choice(_azure_lengths(), s).astype(np.float64)
    blocks = np.maximum(1, np.floor(lengths / lengths.sum() * nblk)).astype(np.int64)
    while blocks.sum() > nblk:
        blocks[np.argmax(blocks)] -= 1
    blocks += np.bincount(
        rng.choice(s, nblk - int(blocks.sum()), p=lengths / lengths.sum()), minlength=s
    )
    return {
        "block_offsets": _offsets(blocks),
        "block_ids": rng.choice(dims["NB"], nblk, replace=False).astype(np.int64),
        "kv_cache": rng.standard_normal((dims["NB"], bs, dims["D"]), dtype=np.float32),
    }


@cache
def _routing(name: str) -> np.ndarray:
    files = sorted((TRACES / "expert_routing" / name).glob("*.npz"))
    return np.load(files[0])["data"].astype(np.int64)


def _moe(rng: np.random.Generator, dims: dict[str, int], trace: str) -> dict[str, np.ndarray]:
    routing = _routing(trace)
    t, k, e = dims["T"], dims["K"], dims["E"]
    if routing.shape[1] != k or routing.max() >= e:
        raise GeneratorDimsError(
            f"trace {trace} has top-{routing.shape[1]} of"
            f" {routing.max() + 1} experts; task says K={k}, E={e}"
        )
    if t > len(routing):
        raise GeneratorDimsError(f"T={t} tokens but trace {trace} has {len(routing)}")
    _need(dims, "NA", t * k)
    _need(dims, "NOFF", e + 1)
    chosen = routing[rng.choice(len(routing), t, replace=False)]
    order = np.argsort(chosen.reshape(-1), kind="stable")
    counts = np.bincount(chosen.reshape(-1), minlength=e)
    return {
        "expert_offsets": _offsets(counts),
        "token_ids": (order // k).astype(np.int64),
        "x": _table(rng, t, dims["D"]),
    }


def moe_mixtral(rng, dims):
    return _moe(rng, dims, "mixtral_b1024")


def moe_qwen(rng, dims):
    return _moe(rng, dims, "qwen_b1024")
