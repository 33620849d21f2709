"""Input generators of the SAM suite: real graphs where a package ships one offline
(networkx's karate club), synthetic power-law graphs otherwise, and BigBird block masks.

Each generator takes (rng, dims) and returns the inputs it owns as dense arrays; zeros are
absent entries in the sparse formats the task declares. Inputs it does not return are drawn
from their `init` table by the task loader.
"""

from __future__ import annotations

from functools import cache

import numpy as np

# ---------------------------------------------------------------------------- graphs


def powerlaw_adjacency(
    rng: np.random.Generator, n: int, avg_degree: float = 4.0, alpha: float = 2.1
) -> np.ndarray:
    """Symmetric 0/1 adjacency of a Chung-Lu graph with Pareto(alpha) expected degrees:
    a few hubs and many low-degree nodes, as in citation and social graphs."""
    weights = rng.pareto(alpha - 1.0, size=n) + 1.0
    weights *= avg_degree / weights.mean()
    total = weights.sum()
    p = np.minimum(np.outer(weights, weights) / total, 1.0)
    upper = np.triu(rng.random((n, n)) < p, k=1)
    return (upper | upper.T).astype(np.float64)


# Zachary's karate club as networkx ships it (`karate_club_graph`): member i's friends
# numbered above i. Written out rather than imported: importing networkx cost every
# `agent eval` of a karate task ~0.15 s CPU, twice (the program's checks and the baseline's
# timing child); tests/benchmarks/sam/test_sam_suite.py checks it against networkx.
KARATE_FRIENDS: tuple[tuple[int, ...], ...] = (
    (1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 17, 19, 21, 31),
    (2, 3, 7, 13, 17, 19, 21, 30),
    (3, 7, 8, 9, 13, 27, 28, 32),
    (7, 12, 13),
    (6, 10),
    (6, 10, 16),
    (16,),
    (),
    (30, 32, 33),
    (33,),
    (),
    (),
    (),
    (33,),
    (32, 33),
    (32, 33),
    (),
    (),
    (32, 33),
    (33,),
    (32, 33),
    (),
    (32, 33),
    (25, 27, 29, 32, 33),
    (25, 27, 31),
    (31,),
    (29, 33),
    (33,),
    (31, 33),
    (32, 33),
    (32, 33),
    (32, 33),
    (33,),
    (),
)


@cache
def _karate() -> np.ndarray:
    a = np.zeros((len(KARATE_FRIENDS),) * 2)
    for i, friends in enumerate(KARATE_FRIENDS):
        a[i, list(friends)] = 1.0
    return np.maximum(a, a.T)


def karate_adjacency() -> np.ndarray:
    """Zachary's karate club (34 members, 78 friendships), as networkx ships it."""
    return _karate().copy()


def gcn_normalize(adjacency: np.ndarray) -> np.ndarray:
    """D^-1/2 (A + I) D^-1/2, Kipf and Welling's propagation matrix."""
    a = adjacency + np.eye(len(adjacency))
    d = 1.0 / np.sqrt(a.sum(axis=1))
    return a * d[:, None] * d[None, :]


def mean_normalize(adjacency: np.ndarray) -> np.ndarray:
    """Row-normalised adjacency (GraphSAGE's mean aggregator); isolated rows stay zero."""
    degree = adjacency.sum(axis=1, keepdims=True)
    return np.divide(adjacency, degree, out=np.zeros_like(adjacency), where=degree > 0)


def _graph(rng: np.random.Generator, dims: dict[str, int], source: str) -> np.ndarray:
    """The karate club under a fresh numbering of its members per draw: the same real
    graph, but a program that hard-codes its structure (or an output that depends only on
    it) cannot pass two checks."""
    if source == "karate":
        order = rng.permutation(dims["N"])
        return karate_adjacency()[np.ix_(order, order)]
    return powerlaw_adjacency(rng, dims["N"])


def _weights(
    rng: np.random.Generator, shape: tuple[int, ...], density: float = 1.0, std: float | None = None
) -> np.ndarray:
    scale = std if std is not None else 1.0 / np.sqrt(shape[0])
    w = rng.normal(0.0, scale, size=shape)
    if density < 1.0:
        w[rng.random(shape) >= density] = 0.0
    return w


def _features(rng: np.random.Generator, n: int, f: int, density: float) -> np.ndarray:
    """Sparse nonnegative node features (bag-of-words like, as Cora's)."""
    x = rng.random((n, f))
    x[rng.random((n, f)) >= density] = 0.0
    return x


# ---------------------------------------------------------------------------- kernels


def powerlaw_matrix(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """`A`: a power-law graph's adjacency with normal values (N x N)."""
    a = powerlaw_adjacency(rng, dims["N"])
    return {"A": a * rng.normal(size=a.shape)}


def two_powerlaw_matrices(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """`A`, `B`: two independent power-law graphs with normal values (N x N)."""
    out = {}
    for name in ("A", "B"):
        a = powerlaw_adjacency(rng, dims["N"])
        out[name] = a * rng.normal(size=a.shape)
    return out


def sddmm_mask(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """`M`: a power-law graph's 0/1 adjacency (N x N), the sampling mask."""
    return {"M": powerlaw_adjacency(rng, dims["N"])}


# ---------------------------------------------------------------------------- models


def gcn_karate(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    return _gcn(rng, dims, "karate")


def gcn_powerlaw(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    return _gcn(rng, dims, "powerlaw")


def _gcn(rng: np.random.Generator, dims: dict[str, int], source: str) -> dict[str, np.ndarray]:
    """Normalised adjacency `A`, sparse features `X`, weights 50% sparse (FuseFlow's
    setting), biases."""
    a = gcn_normalize(_graph(rng, dims, source))
    n, f, h = len(a), dims["F"], dims["H"]
    out = {
        "A": a,
        "X": _features(rng, n, f, 0.2),
        "W1": _weights(rng, (f, h), 0.5),
        "b1": rng.normal(0, 0.1, h),
    }
    if "C" in dims:
        out["W2"] = _weights(rng, (h, dims["C"]), 0.5)
        out["b2"] = rng.normal(0, 0.1, dims["C"])
    return out


def graphsage_karate(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    return _graphsage(rng, dims, "karate")


def graphsage_powerlaw(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    return _graphsage(rng, dims, "powerlaw")


def _graphsage(
    rng: np.random.Generator, dims: dict[str, int], source: str
) -> dict[str, np.ndarray]:
    """Mean-aggregation adjacency `Am`, features, self and neighbour weights, bias."""
    am = mean_normalize(_graph(rng, dims, source))
    n, f, h = len(am), dims["F"], dims["H"]
    return {
        "Am": am,
        "X": _features(rng, n, f, 0.2),
        "Ws": _weights(rng, (f, h), 0.5),
        "Wn": _weights(rng, (f, h), 0.5),
        "b": rng.normal(0, 0.1, h),
    }


def sparse_autoencoder(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """A batch of nonnegative inputs; encoder and decoder weights 90% sparse (FuseFlow)."""
    n, d, h = dims["N"], dims["D"], dims["H"]
    return {
        "X": rng.random((n, d)),
        "W1": _weights(rng, (d, h), 0.1, std=0.3),
        "b1": rng.normal(0, 0.1, h),
        "W2": _weights(rng, (h, d), 0.1, std=0.3),
        "b2": rng.normal(0, 0.1, d),
    }


def bigbird_mask(
    rng: np.random.Generator,
    n: int,
    block: int,
    window: int = 1,
    global_blocks: int = 1,
    random_blocks: int = 1,
) -> np.ndarray:
    """BigBird's block-sparse attention pattern (N x N of 0/1): a sliding window of blocks,
    global blocks attending to and from everything, and a few random blocks per row."""
    nb = -(-n // block)
    pattern = np.zeros((nb, nb), dtype=bool)
    for i in range(nb):
        pattern[i, max(0, i - window) : i + window + 1] = True
        if random_blocks:
            pattern[i, rng.choice(nb, size=min(random_blocks, nb), replace=False)] = True
    pattern[:global_blocks, :] = True
    pattern[:, :global_blocks] = True
    mask = np.kron(pattern, np.ones((block, block)))
    return mask[:n, :n]


def bigbird_attention(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Mask `M` with blocks of size dims['B'], queries, keys and values of one head, and
    the all-ones `U` that turns the softmax denominator into a (block) matmul."""
    n, d = dims["N"], dims["Dh"]
    out = {
        "M": bigbird_mask(rng, n, dims["B"]),
        "Q": rng.normal(size=(n, d)),
        "K": rng.normal(size=(n, d)),
        "V": rng.normal(size=(n, d)),
    }
    out["U"] = np.ones((n, d))
    return out


def graphsage_two_layers(rng: np.random.Generator, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Two layers of GraphSAGE weights over a power-law graph's mean adjacency."""
    am = mean_normalize(powerlaw_adjacency(rng, dims["N"]))
    n, f, h, c = len(am), dims["F"], dims["H"], dims["C"]
    return {
        "Am": am,
        "X": _features(rng, n, f, 0.2),
        "Ws1": _weights(rng, (f, h), 0.5),
        "Wn1": _weights(rng, (f, h), 0.5),
        "b1": rng.normal(0, 0.1, h),
        "Ws2": _weights(rng, (h, c), 0.5),
        "Wn2": _weights(rng, (h, c), 0.5),
        "b2": rng.normal(0, 0.1, c),
    }
