"""Signatures and tiny programs shared by the DAE tests."""

from __future__ import annotations

from typing import Any

from dsl import dae


def eb_signature(d: int = 16, n: int = 50) -> dict[str, Any]:
    """An embedding-bag signature: offsets [NOFF], indices [NNZ], table [N, D] -> out [B, D]."""
    return {
        "dialect": "dae",
        "inputs": [
            {"name": "offsets", "dtype": "int64", "shape": ["NOFF"]},
            {"name": "indices", "dtype": "int64", "shape": ["NNZ"]},
            {"name": "table", "dtype": "float32", "shape": ["N", "D"]},
        ],
        "outputs": [{"name": "out", "dtype": "float32", "shape": ["B", "D"]}],
        "dims": {"B": None, "NOFF": None, "NNZ": None, "N": n, "D": d},
        "params": {},
    }


def copy_signature(n: int = 4) -> dict[str, Any]:
    """x [N] int64 -> out [N] int64."""
    return {
        "dialect": "dae",
        "inputs": [{"name": "x", "dtype": "int64", "shape": ["N"]}],
        "outputs": [{"name": "out", "dtype": "int64", "shape": ["N"]}],
        "dims": {"N": n},
        "params": {},
    }


def copy_kernel(x, **params):
    """out[i] = x[i], one callback per element (the smallest complete program)."""
    out = dae.output("out")
    with dae.loop(0, out.shape[0]) as i:
        v = dae.load(x, i)

        @dae.callback(i, "ite", i, v)
        def put(k, value):
            dae.store(out, (k,), value)

    return out
