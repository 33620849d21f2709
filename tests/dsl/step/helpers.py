"""Signatures and small kernels shared by the STeP tests."""

from __future__ import annotations


def signature(
    inputs: dict, outputs: dict, dims: dict | None = None, params: dict | None = None
) -> dict:
    """Build a trace signature from {name: (dtype, shape)} maps."""
    return {
        "dialect": "step",
        "inputs": [{"name": n, "dtype": d, "shape": list(s)} for n, (d, s) in inputs.items()],
        "outputs": [{"name": n, "dtype": d, "shape": list(s)} for n, (d, s) in outputs.items()],
        "dims": dims or {},
        "params": params or {},
    }
