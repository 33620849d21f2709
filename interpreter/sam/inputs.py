"""A program's inputs in storage form, from dense arrays or straight from sparse ones.

A SAM input is stored as a fibertree of its nonzeros. Given a dense array, finding them
means scanning every entry (at n = 8000 a 512 MB float64 matrix, most of a run's time);
given a scipy.sparse matrix or array, or `Coords` (coordinates and values), the
nonzeros are already listed, and they go to `Fibertree.from_coords` in storage order
without a dense array ever being built. Both give the same fibertree: duplicates are
summed (as scipy's `toarray` does) and explicit zeros dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dsl.sam.ir import Program, TensorDecl
from interpreter.errors import ExecutionError
from interpreter.sam.fibertree import Fibertree, resolve_shape


@dataclass(frozen=True)
class Coords:
    """A sparse input as coordinates: `indices` (nnz x rank integers, in the tensor's
    declared mode order) and their `values` (nnz)."""

    indices: np.ndarray
    values: np.ndarray

    def copy(self) -> Coords:
        return Coords(self.indices.copy(), self.values.copy())


def load_inputs(
    program: Program, inputs: Mapping[str, Any], dims: dict[str, int]
) -> dict[str, Fibertree]:
    """Fibertrees of the program's inputs, in their declared layouts. An input may be a
    dense array, a scipy.sparse matrix or array, or `Coords`."""
    tensors: dict[str, Fibertree] = {}
    for name, decl in program.tensors.items():
        if decl.role == "input":
            if name not in inputs:
                raise ExecutionError(f"input {name!r} was not provided")
            tensors[name] = fibertree_of(inputs[name], decl, dims)
    return tensors


def fibertree_of(value: Any, decl: TensorDecl, dims: dict[str, int]) -> Fibertree:
    """The storage of one input given dense or sparse."""
    if isinstance(value, Coords):
        indices, values = value.indices, value.values
    elif hasattr(value, "tocoo"):  # scipy.sparse, recognised without importing scipy
        indices, values = _scipy_coords(value, decl, dims)
    else:
        return Fibertree.from_dense(value, decl, dims)
    return from_sparse(indices, values, decl, dims)


def _scipy_coords(
    matrix: Any, decl: TensorDecl, dims: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    shape = resolve_shape(decl, dims)
    if tuple(matrix.shape) != shape:
        raise ExecutionError(
            f"input {decl.name!r} has shape {tuple(matrix.shape)}, expected {shape}"
        )
    coo = matrix.tocoo()
    axes = getattr(coo, "coords", None) or (coo.row, coo.col)
    return np.stack([np.asarray(a) for a in axes], axis=1), np.asarray(coo.data)


def from_sparse(
    indices: np.ndarray, values: np.ndarray, decl: TensorDecl, dims: dict[str, int]
) -> Fibertree:
    """The fibertree of the nonzeros at `indices` (nnz x rank, declared mode order),
    duplicates summed: what `Fibertree.from_dense` gives for the same dense array."""
    shape = resolve_shape(decl, dims)
    idx, vals = _checked(np.asarray(indices), np.asarray(values), shape, decl.name)
    storage = idx[:, list(decl.mode_order)]
    sizes = tuple(shape[m] for m in decl.mode_order)
    storage, vals = _sorted_unique(storage, vals, sizes)
    keep = vals != 0  # NaN stays, as from a dense array
    storage, vals = storage[keep], vals[keep]
    b = decl.block
    if b == 1:
        return Fibertree.from_coords(decl, sizes, storage, vals)
    # b x b blocks of a matrix (declarations allow blocks on matrices only)
    block_sizes = tuple(-(-n // b) for n in sizes)
    blocks = storage // b
    key = blocks[:, 0] * block_sizes[1] + blocks[:, 1]
    order = np.argsort(key, kind="stable")
    key, storage, vals = key[order], storage[order], vals[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    which = np.cumsum(first) - 1
    full = np.zeros((int(first.sum()), b, b))
    full[which, storage[:, 0] % b, storage[:, 1] % b] = vals
    return Fibertree.from_coords(decl, block_sizes, (storage // b)[first], full)


def _checked(
    idx: np.ndarray, vals: np.ndarray, shape: tuple[int, ...], name: str
) -> tuple[np.ndarray, np.ndarray]:
    if idx.ndim != 2 or idx.shape[1] != len(shape) or not np.issubdtype(idx.dtype, np.integer):
        raise ExecutionError(
            f"input {name!r}: coordinates must be integers of shape (nnz, {len(shape)}),"
            f" got {idx.dtype} {idx.shape}"
        )
    if vals.shape != (len(idx),):
        raise ExecutionError(
            f"input {name!r}: {len(idx)} coordinates but values of shape {vals.shape}"
        )
    if len(idx) and ((idx < 0).any() or (idx >= np.array(shape)).any()):
        raise ExecutionError(f"input {name!r}: a coordinate lies outside shape {shape}")
    return idx.astype(np.int64, copy=False), vals.astype(np.float64, copy=False)


def _sorted_unique(
    storage: np.ndarray, vals: np.ndarray, sizes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate rows in lexicographic (storage) order, each once, its values summed."""
    if len(storage) == 0 or not sizes:
        return storage, vals
    if float(np.prod([max(n, 1) for n in sizes], dtype=np.float64)) < 2**62:
        key = np.ravel_multi_index(tuple(storage.T), sizes)
        order = np.argsort(key, kind="stable")
        key = key[order]
        new = np.ones(len(key), dtype=bool)
        new[1:] = key[1:] != key[:-1]
    else:  # a linear index would overflow: sort the columns themselves
        order = np.lexsort(storage.T[::-1])
        new = np.ones(len(order), dtype=bool)
        new[1:] = (np.diff(storage[order], axis=0) != 0).any(axis=1)
    storage, vals = storage[order], vals[order]
    if new.all():
        return storage, vals
    starts = np.flatnonzero(new)
    return storage[starts], np.add.reduceat(vals, starts)
